// The pool files the standalone stages read and write, checked row by row: toy pools are the loop's
// Trajectory rows; pools of real models are STILL-2 rows {question, combined_text, domain}, so that
// `still imitate --data` trains on them as they are.
import { readFileSync } from 'node:fs';
import { writeFileAtomic } from '../io/atomic.ts';
import { hash64Hex } from '../tasks/hash.ts';
import { parseJsonl } from '../data/jsonl.ts';
import type { Trajectory } from './pool.ts';

export type PoolFormat = 'toy' | 'still2';

/** A STILL-2 row of a real model's pool (or of a distilled set). */
export interface Still2Row {
  question: string;
  combined_text: string;
  domain: string;
}

function readRows(file: string): { line: number; value: Record<string, unknown> }[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`${file}: cannot read the pool (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  return parseJsonl(text, file);
}

/** Which kind of pool a file holds, from its first row's keys; an empty file is null. */
export function poolFormat(file: string): PoolFormat | null {
  const rows = readRows(file);
  if (rows.length === 0) return null;
  const v = rows[0]!.value;
  if ('completion' in v && 'problemId' in v) return 'toy';
  if ('combined_text' in v && 'question' in v) return 'still2';
  throw new Error(`${file}:${rows[0]!.line}: cannot tell the pool format from the keys [${Object.keys(v).join(', ')}]; ` +
    'expected toy trajectories {"problemId","level","question","completion","round","reflection"} or STILL-2 rows {"question","combined_text","domain"}');
}

function field<T>(value: Record<string, unknown>, key: string, where: string, ok: (v: unknown) => boolean, want: string): T {
  const v = value[key];
  if (!ok(v)) throw new Error(`${where}: field '${key}' must be ${want}, got ${v === undefined ? 'nothing' : JSON.stringify(v).slice(0, 40)}`);
  return v as T;
}
const isString = (v: unknown) => typeof v === 'string' && v.length > 0;
const isNat = (v: unknown) => Number.isInteger(v) && (v as number) >= 0;

/** Toy trajectories (the loop's pool rows and `still imitate --task`'s distilled.jsonl). */
export function readTrajectories(file: string): Trajectory[] {
  return readRows(file).map(({ line, value }) => {
    const where = `${file}:${line}`;
    return {
      problemId: field<string>(value, 'problemId', where, isString, 'a non-empty string'),
      level: field<number>(value, 'level', where, isNat, 'a non-negative integer'),
      question: field<string>(value, 'question', where, isString, 'a non-empty string'),
      completion: field<string>(value, 'completion', where, isString, 'a non-empty string'),
      round: field<number>(value, 'round', where, isNat, 'a non-negative integer'),
      reflection: field<boolean>(value, 'reflection', where, (v) => typeof v === 'boolean', 'true or false'),
    };
  });
}

export function writeTrajectories(file: string, rows: readonly Trajectory[]): void {
  writeFileAtomic(file, rows.map((t) => `${JSON.stringify(t)}\n`).join(''));
}

/** STILL-2 rows; `domain` may be missing (it reads as "math", the grader's domain). */
export function readStill2Rows(file: string): Still2Row[] {
  return readRows(file).map(({ line, value }) => {
    const where = `${file}:${line}`;
    const domain = value.domain ?? 'math';
    if (typeof domain !== 'string') throw new Error(`${where}: field 'domain' must be a string, got ${JSON.stringify(domain)}`);
    return {
      question: field<string>(value, 'question', where, isString, 'a non-empty string'),
      combined_text: field<string>(value, 'combined_text', where, isString, 'a non-empty string'),
      domain,
    };
  });
}

export function writeStill2Rows(file: string, rows: readonly Still2Row[]): void {
  // One buffer per row: long-thought pools can pass the size of a single JS string.
  writeFileAtomic(file, rows.map((r) => Buffer.from(`${JSON.stringify({ question: r.question, combined_text: r.combined_text, domain: r.domain })}\n`, 'utf8')));
}

/** The pool key of a text problem: its question (rows of real data sets carry no stable id of ours). */
export function questionId(question: string): string {
  return `q-${hash64Hex(question)}`;
}
