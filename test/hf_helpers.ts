// Helpers for the STILL-2-on-HF tests: a micro setup around a small text model (data files and a config in
// a temporary folder), running `still run` as a child process that can be killed, and the report's numbers
// without the ones that measure time.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';

export const longThought = (thought: string, answer: string) =>
  `<|begin_of_thought|>\n\n${thought}\n\n<|end_of_thought|>\n\n<|begin_of_solution|>\n\\boxed{${answer}}\n<|end_of_solution|>`;

export function writeJsonl(file: string, rows: object[]): string {
  writeFileSync(file, rows.map((r) => `${JSON.stringify(r)}\n`).join(''));
  return file;
}

/**
 * `still …` in a child process on the CPU backend; resolves with its exit code (null when killed). With
 * `kill`, it is killed with SIGKILL `delayMs` after `path` appears (a stage has started writing).
 */
export function runStill(args: string[], opts: { kill?: { path: string; delayMs: number } } = {}): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, ['bin/still.js', '--backend', 'cpu', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    let timer: NodeJS.Timeout | null = null;
    const poll = opts.kill === undefined ? null : setInterval(() => {
      if (timer || !existsSync(opts.kill!.path)) return;
      timer = setTimeout(() => child.kill('SIGKILL'), opts.kill!.delayMs);
    }, 10);
    child.on('error', reject);
    child.on('exit', (code) => {
      if (poll) clearInterval(poll);
      if (timer) clearTimeout(timer);
      resolvePromise({ code, stderr });
    });
  });
}

const TIMING = new Set(['seconds', 'tokensPerSec', 'sampleSeconds', 'totalWallSeconds', 'provenance']);

/** report.json without times, throughputs and provenance, paths inside the run as <out>/…: what an interrupted run must reproduce. */
export function reportNumbers(dir: string): unknown {
  const strip = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(strip);
    if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).filter(([k]) => !TIMING.has(k)).map(([k, x]) => [k, strip(x)]));
    return typeof v === 'string' ? v.replaceAll(dir, '<out>') : v;
  };
  const report = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as { rounds: { train: Record<string, unknown> }[] };
  // A resumed SFT counts only its own steps' tokens; every other count must match.
  for (const r of report.rounds) delete r.train.tokens;
  return strip(report);
}

/** Every rollout, pool and result file of a run, by path (paths inside the run as <out>/…): the samples themselves must match too. */
export function runFiles(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (/^(rollouts|pool|results)\.jsonl$/.test(name)) out[relative(dir, p)] = readFileSync(p, 'utf8').replaceAll(dir, '<out>');
    }
  };
  walk(dir);
  return out;
}
