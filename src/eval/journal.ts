// results.partial.jsonl: a running eval's journal, so a crash or Ctrl-C loses at most the problems in flight.
// Line 1 holds the settings that decide the samples; every later line is one graded rollout, appended (and
// fsynced) as soon as all n samples of its problem are done. `still eval --resume` reads it back, checks
// the settings, and samples only the problems it lacks. A finished run replaces it with results.jsonl.
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, truncateSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { EvalRollout } from './rollout.ts';

export const JOURNAL_FILE = 'results.partial.jsonl';

/** The settings a resumed run must share with the journal's: they decide which samples come out. */
export type JournalSettings = Record<string, unknown>;

export interface Journal {
  settings: JournalSettings;
  /** Rollouts of the problems whose n samples all finished, by problem id. */
  done: Map<string, EvalRollout[]>;
  /** Set when the last line was cut short (the run died writing it): it is dropped. */
  tornTail: boolean;
  /** Bytes up to the end of the last whole line: where appending goes on. */
  wholeBytes: number;
}

export function journalPath(out: string): string {
  return join(out, JOURNAL_FILE);
}

/** Read a journal; a problem counts as done only with all `n` samples present. */
export function readJournal(path: string, n: number): Journal {
  const bytes = readFileSync(path);
  const wholeBytes = bytes.lastIndexOf(0x0a) + 1;
  const lines = bytes.toString('utf8').split('\n');
  const last = lines.length - 1; // text after the final newline: a line the writer did not finish
  const tornTail = lines[last] !== '';
  let settings: JournalSettings | null = null;
  const byId = new Map<string, EvalRollout[]>();
  for (let i = 0; i < last; i++) {
    let row: unknown;
    try {
      row = JSON.parse(lines[i]!);
    } catch {
      throw new Error(`${path}:${i + 1}: not a JSON line (the journal is damaged; delete it to start the eval over)`);
    }
    if (i === 0) {
      const s = (row as { settings?: unknown }).settings;
      if (typeof s !== 'object' || s === null) throw new Error(`${path}:1: expected {"settings": {...}} (is this a still eval journal?)`);
      settings = s as JournalSettings;
      continue;
    }
    const r = row as EvalRollout;
    if (typeof r.id !== 'string' || !Number.isInteger(r.sample)) throw new Error(`${path}:${i + 1}: expected a rollout with "id" and "sample"`);
    const list = byId.get(r.id) ?? [];
    list.push(r);
    byId.set(r.id, list);
  }
  if (!settings) throw new Error(`${path}: empty journal (no settings line); delete it to start the eval over`);
  const done = new Map<string, EvalRollout[]>();
  for (const [id, list] of byId) {
    if (list.length === n) done.set(id, list.sort((a, b) => a.sample - b.sample));
  }
  return { settings, done, tornTail, wholeBytes };
}

/** The first setting that differs, as a sentence, or null when they all agree. */
export function settingsMismatch(was: JournalSettings, now: JournalSettings): string | null {
  for (const key of new Set([...Object.keys(was), ...Object.keys(now)])) {
    const [a, b] = [JSON.stringify(was[key]), JSON.stringify(now[key])];
    if (a !== b) return `${key} was ${a ?? 'unset'}, now ${b ?? 'unset'}`;
  }
  return null;
}

/** Appends one problem's rollouts at a time; each append reaches the disk before the next problem starts. */
export class JournalWriter {
  private fd: number;

  /** A new journal (settings line first), or more lines for `resumed`, cut back to its last whole line. */
  constructor(readonly path: string, settings: JournalSettings, resumed: Journal | null) {
    if (resumed) truncateSync(path, resumed.wholeBytes);
    this.fd = openSync(path, resumed ? 'a' : 'w', 0o644);
    if (!resumed) this.write([{ settings }]);
  }

  append(rollouts: readonly EvalRollout[]): void {
    this.write(rollouts);
  }

  /** Close, and delete the file once its rollouts are safely in results.jsonl. */
  close(remove: boolean): void {
    closeSync(this.fd);
    if (remove && existsSync(this.path)) unlinkSync(this.path);
  }

  private write(rows: readonly unknown[]): void {
    writeSync(this.fd, rows.map((r) => `${JSON.stringify(r)}\n`).join(''));
    fsyncSync(this.fd);
  }
}
