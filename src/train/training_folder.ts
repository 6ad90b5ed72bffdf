// A training run's outputs (runSft, runDpo): the output folder claimed under the output policy
// (io/output_policy.ts), the --merge-to folder and a --log outside the folder claimed with it, and the step
// log prepared for a fresh or a resumed run. The run itself writes into the folders it is handed, which
// under --overwrite are stand-ins swapped in only when the run finishes.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { writeFileAtomic } from '../io/atomic.ts';
import { claimOutputFile, claimOutputFolder, type OutputFolder } from '../io/output_policy.ts';
import { SFT_SUMMARY } from './save_run.ts';

export interface TrainingOutputs {
  out: string;
  mergeTo?: string;
  log?: string;
  overwrite?: boolean;
  resume?: boolean | 'auto';
}

/** Where a run writes: its folder (or the stand-in), the merged model's, and the step log. */
export interface TrainingTargets {
  out: string;
  mergeTo: string | null;
  /** --log, moved into the stand-in when the user put it inside the output folder. */
  log: string | undefined;
  /** An unfinished run is there to continue. */
  resume: boolean;
}

/**
 * Claim `o.out` (finished = training_summary.json, unfinished = `resumable`) and run `train` into it; a
 * finished run with resume 'auto' is returned by `finished` untouched. The folders are swapped in (under
 * --overwrite) only when the run reports status 'done'.
 */
export async function inTrainingFolder<R extends { status: string }>(
  o: TrainingOutputs, resumable: string, finished: () => R, train: (t: TrainingTargets) => Promise<R>,
): Promise<R> {
  const folder = claimOutputFolder(o.out, { what: 'training run', finished: SFT_SUMMARY, resumable, overwrite: o.overwrite, resume: o.resume });
  if (folder.finished) {
    folder.release();
    return finished();
  }
  let merged: OutputFolder | null = null;
  try {
    if (o.log && !folder.resume && !isInside(o.log, o.out)) claimOutputFile(o.log, { flag: '--log', overwrite: o.overwrite });
    if (o.mergeTo) merged = claimOutputFolder(o.mergeTo, { flag: '--merge-to', what: 'merged model', finished: 'config.json', overwrite: o.overwrite });
    // A log inside the output folder goes where the run is written (the --overwrite stand-in, swapped in at the end).
    const log = o.log ? inOutputFolder(o.log, o.out, folder.dir) : undefined;
    const result = await train({ out: folder.dir, mergeTo: merged?.dir ?? null, log, resume: folder.resume });
    if (result.status === 'done') {
      merged?.commit();
      folder.commit();
    }
    return result;
  } finally {
    merged?.release();
    folder.release();
  }
}

/** A fresh step log, or on resume the old one cut back to the checkpoint's step (later lines will be redone). */
export function prepareLog(file: string, resumeStep: number | null): void {
  mkdirSync(dirname(file), { recursive: true });
  if (resumeStep === null || !existsSync(file)) {
    writeFileAtomic(file, '');
    return;
  }
  const kept = readFileSync(file, 'utf8').split('\n').filter((line) => {
    try {
      return line.trim() !== '' && (JSON.parse(line) as { step?: number }).step! <= resumeStep;
    } catch {
      return false;
    }
  });
  writeFileAtomic(file, kept.map((l) => `${l}\n`).join(''));
}

/** A path the user gave inside the output folder `target`, moved to where the run writes (`dir`); others as they are. */
export function inOutputFolder(path: string, target: string, dir: string): string {
  return isInside(path, target) ? join(dir, relative(target, path)) : path;
}

function isInside(file: string, dir: string): boolean {
  const rel = relative(resolve(dir), resolve(file));
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
}
