// Crash-safe file writes: write a temp file in the same directory, fsync it, rename it over the target.
//
// A reader (or a resumed run) therefore sees either the old file or the complete new one, never a
// torn checkpoint. The temp file must live in the target's directory because rename(2) is only
// atomic within one file system. Synchronous on purpose: a SIGINT handler that sets a flag cannot
// interrupt a sync write halfway, so Ctrl-C during a checkpoint still leaves a whole file.
import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';

/** Bytes to write: one buffer, a string (UTF-8), or chunks written back to back (no concatenation, so >2 GB works). */
export type AtomicData = string | Uint8Array | readonly Uint8Array[];

// writeSync takes an int32 length; stay well below it.
const MAX_WRITE = 1 << 30;

/** A write failure the tests inject (a full disk, say): returns the error to throw for `path`, or null. */
export type WriteFault = (path: string) => NodeJS.ErrnoException | null;
let injectedFault: WriteFault | null = null;

/** For tests: make atomic writes fail as `fault` says (null: stop). */
export function injectWriteFault(fault: WriteFault | null): void {
  injectedFault = fault;
}

/**
 * Atomically replace `path` with `data`. Throws (and leaves `path` untouched) on any I/O error, with a
 * message that names the path: "ENOSPC: no space left on device, write" alone does not say which file.
 */
export function writeFileAtomic(path: string, data: AtomicData): void {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const chunks = typeof data === 'string' ? [Buffer.from(data, 'utf8')] : data instanceof Uint8Array ? [data] : data;
  let fd: number | null = null;
  try {
    fd = openSync(tmp, 'wx', 0o644);
    const fault = injectedFault?.(path);
    if (fault) throw fault;
    for (const chunk of chunks) writeAll(fd, chunk);
    fsyncSync(fd);
    closeSync(fd);
    fd = null;
    renameSync(tmp, path);
  } catch (err) {
    if (fd !== null) closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch {
      // The temp file may not exist (open failed) or is already renamed; nothing to clean up.
    }
    throw namedWriteError(path, err);
  }
  syncDirectory(dir);
}

/** Atomically write `value` as JSON (pretty-printed, trailing newline). */
export function writeJsonAtomic(path: string, value: unknown, indent = 2): void {
  writeFileAtomic(path, `${JSON.stringify(value, null, indent)}\n`);
}

function namedWriteError(path: string, err: unknown): Error {
  const e = err as NodeJS.ErrnoException;
  if (typeof e?.message === 'string' && e.message.includes(path)) return e;
  const named = new Error(`${path}: cannot write (${e?.code ? `${e.code}: ` : ''}${e?.message ?? String(err)})${e?.code === 'ENOSPC' ? '; free some disk space and rerun (finished work is kept)' : ''}`, { cause: err });
  (named as NodeJS.ErrnoException).code = e?.code;
  return named;
}

function writeAll(fd: number, chunk: Uint8Array): void {
  if (!(chunk instanceof Uint8Array)) throw new TypeError(`writeFileAtomic: chunks must be Uint8Array, got ${typeof chunk}`);
  let offset = 0;
  while (offset < chunk.byteLength) {
    const length = Math.min(MAX_WRITE, chunk.byteLength - offset);
    offset += writeSync(fd, chunk, offset, length);
  }
}

// fsync on the directory makes the rename itself durable across a power loss. Some file systems
// (and all of Windows) refuse to open or fsync a directory; the rename is still atomic there.
function syncDirectory(dir: string): void {
  let fd: number | null = null;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // best effort, see above
  } finally {
    if (fd !== null) closeSync(fd);
  }
}
