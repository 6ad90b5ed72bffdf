// Backend selection: --backend / STILL_BACKEND. 'auto' picks the best available backend and says why
// it passed over the others, so `still info` and the one-line fallback notice share one source of truth.
import type { Backend, BackendName } from './backend.ts';
import { CpuBackend } from './cpu/index.ts';
import { openCuda } from './cuda/open.ts';

export type BackendChoice = BackendName | 'auto';

export interface Availability {
  name: BackendName;
  available: boolean;
  /** Why it is (not) available: a device name, or the missing library. */
  detail: string;
}

interface Candidate {
  name: BackendName;
  /** Returns the backend, or throws an Error whose message says why it cannot start. */
  open(): Backend;
}

/** In order of preference for 'auto'. GPU backends register themselves here as they land. */
const candidates: Candidate[] = [{ name: 'cpu', open: () => new CpuBackend() }];

export function registerBackend(c: Candidate, preferBefore: BackendName = 'cpu'): void {
  const at = candidates.findIndex((x) => x.name === preferBefore);
  candidates.splice(at < 0 ? candidates.length : at, 0, c);
}

registerBackend({ name: 'cuda', open: openCuda });

export function probeBackends(): Availability[] {
  return candidates.map((c) => {
    try {
      const be = c.open();
      return { name: c.name, available: true, detail: describeBackend(be) };
    } catch (e) {
      return { name: c.name, available: false, detail: (e as Error).message };
    }
  });
}

/** The device a backend runs on, in words (the CPU backend says it is the reference). */
export function describeBackend(be: Backend): string {
  return 'device' in be ? String((be as { device: unknown }).device) : `${be.name} (pure TypeScript reference)`;
}

/** Open the chosen backend. 'auto' falls back down the list with a one-line notice per skipped backend. */
export function openBackend(choice: BackendChoice, notice: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): Backend {
  const names = candidates.map((c) => c.name);
  if (choice !== 'auto') {
    const c = candidates.find((x) => x.name === choice);
    if (!c) throw new Error(`unknown backend '${choice}': expected auto or one of ${names.join(', ')}`);
    return c.open();
  }
  for (const [i, c] of candidates.entries()) {
    try {
      return c.open();
    } catch (e) {
      // One short line: the reason without its trailing detail (search paths and the like); `still info` has it all.
      const next = candidates[i + 1]?.name ?? 'nothing';
      notice(`still: no ${c.name} backend (${withoutTrailingDetail((e as Error).message)}); using ${next} (\`still info\` says why)`);
    }
  }
  throw new Error('no backend could start');
}

/** "the CUDA driver (libcuda.so.1) was not found (searched A, B, …)" → "the CUDA driver (libcuda.so.1) was not found". */
function withoutTrailingDetail(message: string): string {
  const m = /^(.*\S)\s*\((?:[^()]|\([^()]*\))*\)$/.exec(message);
  return m && m[1]!.length >= 20 ? m[1]! : message;
}
