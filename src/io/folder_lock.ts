// One writer per output folder. Two processes writing one run would interleave checkpoints, journals and
// pools, so the second one is refused at once, naming the first's pid. The lock is a file in the folder that
// only one process can create (see lockFolder); a lock left by a process that no longer runs (killed, machine
// rebooted) is taken over, since nobody can be writing under it. Locks are per process: the same process may lock a folder
// again (a `still run` trains into its own round folders), and each release undoes one lock.
import { existsSync, linkSync, mkdirSync, readFileSync, readdirSync, rmdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const LOCK_FILE = '.still.lock';

interface LockRecord {
  pid: number;
  command: string;
  started: string;
}

const held = new Map<string, { count: number; createdDir: boolean }>();

/** Lock `dir` (created if missing) for this process; returns the release. */
export function lockFolder(dir: string): () => void {
  const key = resolve(dir);
  const mine = held.get(key);
  if (mine) {
    mine.count++;
    return once(() => release(key));
  }
  const createdDir = !existsSync(key);
  mkdirSync(key, { recursive: true });
  const file = join(key, LOCK_FILE);
  const record: LockRecord = { pid: process.pid, command: process.argv.slice(1).join(' '), started: new Date().toISOString() };
  // Written aside, then hard-linked into place: link(2) fails if the lock exists, and a lock that exists is
  // always whole, so a reader never mistakes a half-written lock for a stale one.
  const tmp = join(key, `${LOCK_FILE}.${process.pid}.tmp`);
  writeFileSync(tmp, `${JSON.stringify(record)}\n`);
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        linkSync(tmp, file);
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || attempt === 2) throw e;
        const holder = readLock(file);
        if (holder && holder.pid !== process.pid && alive(holder.pid)) {
          throw new Error(`${key} is in use by another still process (pid ${holder.pid}, since ${holder.started}: ${holder.command}); ` +
            'wait for it to finish or stop it, or choose another output folder');
        }
        unlinkSync(file); // a stale lock: its process is gone
      }
    }
  } finally {
    unlinkSync(tmp);
  }
  held.set(key, { count: 1, createdDir });
  return once(() => release(key));
}

function release(key: string): void {
  const mine = held.get(key);
  if (!mine || --mine.count > 0) return;
  held.delete(key);
  try {
    unlinkSync(join(key, LOCK_FILE));
    // A folder this lock created and nothing was written into (the command failed first) goes too.
    if (mine.createdDir && readdirSync(key).length === 0) rmdirSync(key);
  } catch {
    // The folder was moved or removed under us (an --overwrite swap): nothing left to release.
  }
}

function readLock(file: string): LockRecord | null {
  try {
    const v = JSON.parse(readFileSync(file, 'utf8')) as Partial<LockRecord>;
    return typeof v.pid === 'number' ? { pid: v.pid, command: String(v.command ?? '?'), started: String(v.started ?? '?') } : null;
  } catch {
    return null; // unreadable (locks are written whole, see lockFolder): treated as stale
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by someone else
  }
}

function once(fn: () => void): () => void {
  let done = false;
  return () => {
    if (!done) {
      done = true;
      fn();
    }
  };
}

// A process that exits without releasing (an uncaught error) leaves no lock behind.
process.on('exit', () => {
  for (const key of [...held.keys()]) {
    held.get(key)!.count = 1;
    release(key);
  }
});
