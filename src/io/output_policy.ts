// The output policy every command shares: nothing the user made is lost.
//
// - A path that already holds a file, a finished run or someone else's files is refused, with a message
//   that names it and the ways out (--overwrite, another path, or --resume for an unfinished run).
// - --overwrite on a folder writes the new run beside it (.NAME.overwrite) and swaps it in only when the run
//   is complete, so a run that fails halfway leaves the old one intact. Files are replaced atomically
//   (io/atomic.ts) and their parent folders created.
// - One writer per folder (folder_lock.ts).
//
// Commands call this before their first write and after checking every flag and input, so a refused or
// invalid command leaves the disk as it found it.
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { LOCK_FILE, lockFolder } from './folder_lock.ts';

export interface OutputFileOptions {
  /** The flag that named the path, for messages (default --out). */
  flag?: string;
  overwrite?: boolean;
  /** Inputs the output may be (e.g. `--pool F --out F` reads and extends one pool). */
  inputs?: readonly (string | undefined)[];
}

/** Check that `path` may be written (absent, an input, or --overwrite) and create its folder. */
export function claimOutputFile(path: string, o: OutputFileOptions = {}): void {
  const flag = o.flag ?? '--out';
  if (existsSync(path)) {
    if (statSync(path).isDirectory()) throw new Error(`${flag} ${path} is a folder; expected a file path`);
    const isInput = (o.inputs ?? []).some((p) => p !== undefined && resolve(p) === resolve(path));
    if (!isInput && !o.overwrite) throw new Error(`${flag} ${path} already exists; choose another path, or pass --overwrite to replace it`);
  }
  mkdirSync(dirname(path), { recursive: true });
}

export interface OutputFolderOptions {
  /** The flag that named the folder, for messages (default --out). */
  flag?: string;
  /** What the command writes there, for messages ("training run", "eval"). */
  what: string;
  /** A file (or folder) only a finished run leaves, written last (e.g. training_summary.json). */
  finished: string;
  /** What an unfinished run leaves for --resume (e.g. checkpoints/latest.json), if the command can resume. */
  resumable?: string;
  overwrite?: boolean;
  /**
   * true: continue an unfinished run (one must be there). 'auto', for a workflow's own folders (a `still
   * run` stage): continue one if there is one, accept a finished one, and otherwise start over whatever a
   * killed attempt left (say, a checkpoints/ folder without its latest.json).
   */
  resume?: boolean | 'auto';
}

export interface OutputFolder {
  /** The folder the user named. */
  target: string;
  /** Where to write: `target`, or under --overwrite a staging folder beside it that commit() swaps in. */
  dir: string;
  /** The folder holds a finished run and resume was 'auto': nothing to do (dir is target). */
  finished: boolean;
  /** An unfinished run in dir is to be continued. */
  resume: boolean;
  /** After the last write: swap a staged run into place and release the folder. */
  commit(): void;
  /** Release the folder and leave what is there (an unfinished run --resume continues). */
  release(): void;
}

/** Claim `target` for one command's run: lock it, and decide between fresh, resume, refuse and overwrite. */
export function claimOutputFolder(target: string, o: OutputFolderOptions): OutputFolder {
  const flag = o.flag ?? '--out';
  if (existsSync(target) && !statSync(target).isDirectory()) throw new Error(`${flag} ${target} is a file; expected a folder (new, empty, or a ${o.what} to resume)`);
  if (o.overwrite && o.resume === true) throw new Error('--overwrite starts over and --resume continues: pass one of them');
  const release = lockFolder(target);
  try {
    const entries = readdirSync(target).filter((e) => !e.startsWith(LOCK_FILE));
    const has = (rel: string | undefined) => rel !== undefined && existsSync(join(target, rel));
    const here = { target, dir: target, finished: false, resume: false, commit: release, release };
    if (entries.length === 0) {
      if (o.resume === true) throw new Error(`${flag} ${target}: nothing to resume (the folder is empty)`);
      return here;
    }
    if (o.overwrite) return stageBeside(target, release);
    if (has(o.finished)) {
      if (o.resume === 'auto') return { ...here, finished: true };
      throw new Error(`${flag} ${target} already holds a finished ${o.what} (${o.finished}); choose another folder, or pass --overwrite to replace it`);
    }
    if (has(o.resumable)) {
      if (o.resume) return { ...here, resume: true };
      throw new Error(`${flag} ${target} holds an unfinished ${o.what} (${o.resumable}); add --resume to continue it, ` +
        'or pass --overwrite to start over, or choose another folder');
    }
    if (o.resume === true) throw new Error(`${flag} ${target}: nothing to resume (no ${o.resumable ?? o.finished} there)`);
    if (o.resume === 'auto') return here;
    const shown = entries.slice(0, 3).join(', ') + (entries.length > 3 ? `, … (${entries.length} entries)` : '');
    throw new Error(`${flag} ${target} holds files that are not a ${o.what} (${shown}); choose a new or empty folder, or pass --overwrite to replace them`);
  } catch (e) {
    release();
    throw e;
  }
}

/** Under --overwrite: a fresh staging folder beside target (locked by `release`'s holder), swapped in by commit(). */
export function stageBeside(target: string, release: () => void): OutputFolder {
  const dir = join(dirname(target), `.${basename(target)}.overwrite`);
  rmSync(dir, { recursive: true, force: true }); // an earlier --overwrite that did not finish
  mkdirSync(dir, { recursive: true });
  return {
    target, dir, finished: false, resume: false,
    // A new run that did not finish is dropped: an interrupted --overwrite starts over, the old run stays.
    release: () => {
      rmSync(dir, { recursive: true, force: true });
      release();
    },
    commit: () => {
      const old = join(dirname(target), `.${basename(target)}.replaced-${process.pid}`);
      renameSync(target, old);
      renameSync(dir, target);
      release();
      rmSync(old, { recursive: true, force: true });
    },
  };
}
