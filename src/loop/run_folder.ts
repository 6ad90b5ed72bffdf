// A run's output folder and the config that made it. Resuming is only sound when the finished stages came
// from this very config: a different one is refused, naming the first field that differs, rather than
// silently mixing two experiments (or overwriting the old one). A folder that holds nothing but the old
// config (a run that failed before its first stage wrote anything) takes the new one. One process writes a
// run at a time (folder_lock.ts); --overwrite runs beside the old run and swaps it in at the end
// (output_policy.ts). Used by `still run` for toy and HF runs.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { writeJsonAtomic } from '../io/atomic.ts';
import { LOCK_FILE, lockFolder } from '../io/folder_lock.ts';
import { stageBeside, type OutputFolder } from '../io/output_policy.ts';

/**
 * Lock `outDir`, check that it holds no run of another config, and record this one (config.json). The run
 * writes into the returned folder's `dir` and calls commit() when it is done (release() on failure).
 */
export function claimRunFolder(outDir: string, config: unknown, o: { overwrite?: boolean } = {}): OutputFolder {
  const release = lockFolder(outDir);
  try {
    const folder = o.overwrite ? stageBeside(outDir, release) : { target: outDir, dir: outDir, finished: false, resume: false, commit: release, release };
    recordConfig(folder.dir, config);
    return folder;
  } catch (e) {
    release();
    throw e;
  }
}

function recordConfig(outDir: string, config: unknown): void {
  const file = join(outDir, 'config.json');
  const now = JSON.parse(JSON.stringify(config)) as unknown;
  // Whatever else is in the folder: a run's work, or someone else's files.
  const others = readdirSync(outDir).filter((e) => e !== 'config.json' && !e.startsWith(LOCK_FILE));
  if (existsSync(file) && others.length > 0) {
    let before: unknown;
    try {
      before = JSON.parse(readFileSync(file, 'utf8'));
    } catch (e) {
      throw new Error(`${file}: not valid JSON (${(e as Error).message}); it records the config of the run in ${outDir}: restore it, or choose another --out`);
    }
    const diff = firstDifference(before, now, '');
    if (diff !== null) {
      throw new Error(`${file}: this folder holds a run with a different config (field '${diff}' differs); ` +
        'choose another --out, or pass --overwrite to start over');
    }
    return;
  }
  if (others.length > 0) {
    throw new Error(`${outDir} holds files that are not a still run (${others.slice(0, 3).join(', ')}${others.length > 3 ? ', …' : ''}); ` +
      'choose a new or empty --out, or pass --overwrite to replace them');
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
