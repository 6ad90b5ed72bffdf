// A run's output folder and the config that made it. Resuming is only sound when the finished stages came
// from this very config: a different one is refused, naming the first field that differs, rather than
// silently mixing two experiments (or overwriting the old one). Used by `still run` for toy and HF runs.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeJsonAtomic } from '../io/atomic.ts';

/** Check that `outDir` holds no run of another config, then record this one (config.json). */
export function claimRunFolder(outDir: string, config: unknown): void {
  mkdirSync(outDir, { recursive: true });
  const file = join(outDir, 'config.json');
  const now = JSON.parse(JSON.stringify(config)) as unknown;
  if (existsSync(file)) {
    let before: unknown;
    try {
      before = JSON.parse(readFileSync(file, 'utf8'));
    } catch (e) {
      throw new Error(`${file}: not valid JSON (${(e as Error).message}); it records the config of the run in ${outDir}: restore it, or choose another --out`);
    }
    const diff = firstDifference(before, now, '');
    if (diff !== null) {
      throw new Error(`${file}: this folder holds a run with a different config (field '${diff}' differs); ` +
        'choose another --out, or delete the folder to start over');
    }
    return;
  }
  writeJsonAtomic(file, now);
}

export function firstDifference(a: unknown, b: unknown, path: string): string | null {
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return a === b ? null : path || '(root)';
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const k of keys) {
    const d = firstDifference((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], path ? `${path}.${k}` : k);
    if (d !== null) return d;
  }
  return null;
}

/** A finished stage's JSON record, or null when there is none yet; a damaged one names itself. */
export function readRecord<T>(file: string): T | null {
  if (!existsSync(file)) return null;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as T;
  } catch (e) {
    throw new Error(`${file}: not valid JSON (${(e as Error).message}); delete it to redo that stage`);
  }
}
