// A long run's journal (JSONL), so a crash or Ctrl-C loses at most the work in flight: line 1 holds the
// settings that decide the results, every later line one finished result, appended and fsynced as soon as
// all n samples of its problem are done. `--resume` reads it back, checks the settings and redoes only what
// it lacks; the finished run writes its real output and deletes the journal. Used by `still eval`
// (DIR/results.partial.jsonl) and `still explore --data` (POOL.partial.jsonl).
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, truncateSync, unlinkSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

/** The settings a resumed run must share with the journal's: they decide which samples come out. */
export type JournalSettings = Record<string, unknown>;

/** What a journal line holds at least: the problem it belongs to and which of its samples. */
export interface JournalRow {
  id: string;
  sample: number;
}

export interface Journal<T extends JournalRow> {
  settings: JournalSettings;
  /** Rows of the problems whose n samples all finished, by problem id, in sample order. */
  done: Map<string, T[]>;
  /** Set when the last line was cut short (the run died writing it): it is dropped. */
  tornTail: boolean;
  /** Bytes up to the end of the last whole line: where appending goes on. */
  wholeBytes: number;
}

/** Read a journal; a problem counts as done only with all `n` samples present. */
export function readJournal<T extends JournalRow>(path: string, n: number): Journal<T> {
  const bytes = readFileSync(path);
  const wholeBytes = bytes.lastIndexOf(0x0a) + 1;
  const lines = bytes.toString('utf8').split('\n');
  const last = lines.length - 1; // text after the final newline: a line the writer did not finish
  const tornTail = lines[last] !== '';
  let settings: JournalSettings | null = null;
  const byId = new Map<string, T[]>();
  for (let i = 0; i < last; i++) {
    let row: unknown;
    try {
      row = JSON.parse(lines[i]!);
    } catch {
      throw new Error(`${path}:${i + 1}: not a JSON line (the journal is damaged; delete it to start over)`);
    }
    if (i === 0) {
      const s = (row as { settings?: unknown }).settings;
      if (typeof s !== 'object' || s === null) throw new Error(`${path}:1: expected {"settings": {...}} (is this a still journal?)`);
      settings = s as JournalSettings;
      continue;
    }
    const r = row as T;
    if (typeof r.id !== 'string' || !Number.isInteger(r.sample)) throw new Error(`${path}:${i + 1}: expected a row with "id" and "sample"`);
    const list = byId.get(r.id) ?? [];
    list.push(r);
    byId.set(r.id, list);
  }
  if (!settings) throw new Error(`${path}: empty journal (no settings line); delete it to start over`);
  const done = new Map<string, T[]>();
  for (const [id, list] of byId) {
    if (list.length === n) done.set(id, list.sort((a, b) => a.sample - b.sample));
  }
  return { settings, done, tornTail, wholeBytes };
}

/** The first setting that differs, as a phrase, or null when they all agree. */
export function settingsMismatch(was: JournalSettings, now: JournalSettings): string | null {
  for (const key of new Set([...Object.keys(was), ...Object.keys(now)])) {
    const [a, b] = [JSON.stringify(was[key]), JSON.stringify(now[key])];
    if (a !== b) return `${key} was ${a ?? 'unset'}, now ${b ?? 'unset'}`;
  }
  return null;
}

/**
 * The journal to continue (`resume`), after checking it was written with the same settings; null for a new
 * run, which refuses to start over an unfinished one (that would throw away its work).
 */
export function openJournal<T extends JournalRow>(
  path: string, settings: JournalSettings, n: number, resume: boolean, notice: (line: string) => void,
): Journal<T> | null {
  if (!resume) {
    if (existsSync(path)) throw new Error(`${path}: an unfinished run's journal is there; add --resume to continue it, or choose another --out`);
    mkdirSync(dirname(path), { recursive: true });
    return null;
  }
  if (!existsSync(path)) throw new Error(`nothing to resume: ${path} does not exist (the run finished, or never started here)`);
  const journal = readJournal<T>(path, n);
  const diff = settingsMismatch(journal.settings, settings);
  if (diff) throw new Error(`${path}: the run there used other settings (${diff}); resume with the same flags, or choose another --out`);
  if (journal.tornTail) notice(`${path}: the last line was cut short by the crash; its problem runs again`);
  return journal;
}

/** Delete a journal whose rows are now in the run's real output (nothing to do when there is none). */
export function discardJournal(path: string): void {
  if (existsSync(path)) unlinkSync(path);
}

/** Appends one problem's rows at a time; each append reaches the disk before the next problem starts. */
export class JournalWriter<T extends JournalRow> {
  private readonly fd: number;

  /** A new journal (settings line first), or more lines for `resumed`, cut back to its last whole line. */
  constructor(readonly path: string, settings: JournalSettings, resumed: Journal<T> | null) {
    if (resumed) truncateSync(path, resumed.wholeBytes);
    this.fd = openSync(path, resumed ? 'a' : 'w', 0o644);
    if (!resumed) this.write([{ settings }]);
  }

  append(rows: readonly T[]): void {
    this.write(rows);
  }

  /** Close, and delete the file once its rows are safely in the run's real output. */
  close(remove: boolean): void {
    closeSync(this.fd);
    if (remove) discardJournal(this.path);
  }

  private write(rows: readonly unknown[]): void {
    try {
      writeSync(this.fd, rows.map((r) => `${JSON.stringify(r)}\n`).join(''));
      fsyncSync(this.fd);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      // A torn last line is dropped on --resume, so the journal stays usable: say so.
      throw new Error(`${this.path}: cannot append to the journal (${code ?? (e as Error).message}); the problems journaled so far are kept, and --resume continues from them`, { cause: e });
    }
  }
}
