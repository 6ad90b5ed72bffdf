// Per-dataset gold readers for the shipped eval sets (data/eval/*.jsonl): each row → {problem, gold, meta}.
//
// Field choices follow data/eval/PROVENANCE.md: MATH-500 `answer` (equal to the last box of `solution`),
// Minerva and AIME25 the last box of `solution`, OlympiadBench `final_answer[0]` without `$`,
// AIME24/AMC23 `answer` (a padded string or a float), GSM8K the text after `####`.

import { readFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { boxedAnswer } from './extract.ts';

export const EVAL_SETS = ['math500', 'aime24', 'aime25', 'amc23', 'minerva', 'olympiadbench', 'gsm8k'] as const;
export type EvalSetName = (typeof EVAL_SETS)[number];

const FILES: Record<EvalSetName, string> = {
  math500: 'math500.jsonl', aime24: 'aime24.jsonl', aime25: 'aime25.jsonl', amc23: 'amc23.jsonl',
  minerva: 'minerva_math.jsonl', olympiadbench: 'olympiadbench.jsonl', gsm8k: 'gsm8k.jsonl',
};
const ALIASES: Record<string, EvalSetName> = { minerva_math: 'minerva', olympiad: 'olympiadbench', math: 'math500' };

/** One evaluation problem: what to ask, the gold answer to grade against, and labels for breakdowns. */
export interface EvalItem {
  /** Stable id within the set (the dataset's own id, else the 1-based line number). */
  id: string;
  problem: string;
  gold: string;
  /** Subject / subfield / course where the set has one (MATH subject, OlympiadBench subfield, Minerva course). */
  subject?: string;
  /** MATH difficulty level 1–5. */
  level?: string;
}

/** Where a row came from, for error messages: "math500.jsonl:17". */
export interface RowSource {
  file: string;
  line: number;
}

type Row = Record<string, unknown>;

/** The canonical set name for a name or alias, or null when it is not one of ours. */
export function evalSetName(name: string): EvalSetName | null {
  const key = name.toLowerCase();
  if ((EVAL_SETS as readonly string[]).includes(key)) return key as EvalSetName;
  return ALIASES[key] ?? null;
}

/** The directory holding the shipped eval sets (data/eval at the package root). */
export function evalDataDir(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'data', 'eval');
}

function where(src: RowSource, field: string): string {
  return `${src.file}:${src.line}: field '${field}'`;
}

function requireString(row: Row, field: string, src: RowSource): string {
  const v = row[field];
  if (typeof v !== 'string' || v.trim().length === 0) {
    throw new Error(`${where(src, field)} must be a non-empty string, got ${v === undefined ? 'nothing' : JSON.stringify(v)}`);
  }
  return v;
}

function boxOf(row: Row, field: string, src: RowSource): string {
  const text = requireString(row, field, src);
  // The final box, with the boxes that only "and"/commas join to it (an answer in several boxes).
  const box = boxedAnswer(text);
  if (box === null || box.length === 0) throw new Error(`${where(src, field)} has no \\boxed{...} answer`);
  return box;
}

/** AIME/AMC answers: "025" stays a string, 27.0 (a JSON number) becomes "27". */
function numberOrString(row: Row, field: string, src: RowSource): string {
  const v = row[field];
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  if (typeof v === 'string' && v.trim().length > 0) return v.trim();
  throw new Error(`${where(src, field)} must be a number or a non-empty string, got ${JSON.stringify(v) ?? 'nothing'}`);
}

function optionalLabel(row: Row, field: string): string | undefined {
  const v = row[field];
  return typeof v === 'string' || typeof v === 'number' ? String(v) : undefined;
}

function idOf(row: Row, field: string, src: RowSource): string {
  return optionalLabel(row, field) ?? String(src.line);
}

/** Reads the problem and gold answer of one row of a named set; errors name the file, line and field. */
export function readGold(dataset: EvalSetName, row: Row, src: RowSource): EvalItem {
  switch (dataset) {
    case 'math500': {
      // `answer` equals the last box of `solution` on every row; prefer it, fall back to the box.
      const gold = typeof row.answer === 'string' && row.answer.trim() ? row.answer.trim() : boxOf(row, 'solution', src);
      return {
        id: idOf(row, 'unique_id', src), problem: requireString(row, 'problem', src), gold,
        subject: optionalLabel(row, 'subject'), level: optionalLabel(row, 'level'),
      };
    }
    case 'minerva':
      return {
        id: idOf(row, 'idx', src), problem: requireString(row, 'problem', src), gold: boxOf(row, 'solution', src),
        subject: optionalLabel(row, 'type'),
      };
    case 'aime25':
      return { id: String(src.line), problem: requireString(row, 'problem', src), gold: boxOf(row, 'solution', src) };
    case 'aime24':
    case 'amc23':
      return { id: idOf(row, 'id', src), problem: requireString(row, 'problem', src), gold: numberOrString(row, 'answer', src) };
    case 'olympiadbench': {
      const fa = row.final_answer;
      if (!Array.isArray(fa) || fa.length === 0 || typeof fa[0] !== 'string') {
        throw new Error(`${where(src, 'final_answer')} must be a non-empty list of strings, got ${JSON.stringify(fa) ?? 'nothing'}`);
      }
      const gold = fa[0].replace(/\$/g, '').trim();
      if (gold.length === 0) throw new Error(`${where(src, 'final_answer')}[0] is empty once '$' is removed`);
      return { id: idOf(row, 'id', src), problem: requireString(row, 'question', src), gold, subject: optionalLabel(row, 'subfield') };
    }
    case 'gsm8k': {
      const answer = requireString(row, 'answer', src);
      const at = answer.lastIndexOf('####');
      const gold = at < 0 ? '' : answer.slice(at + 4).trim();
      if (gold.length === 0) throw new Error(`${where(src, 'answer')} has no final answer after '####'`);
      return { id: idOf(row, 'idx', src), problem: requireString(row, 'question', src), gold };
    }
  }
}

/**
 * Reads a row of a user-supplied eval file: the problem from `problem` or `question`, the gold from
 * `answer` (string or number), `gold`, or the last box of `solution`.
 */
export function readGenericGold(row: Row, src: RowSource): EvalItem {
  const problemField = typeof row.problem === 'string' ? 'problem' : 'question';
  const problem = requireString(row, problemField, src);
  let gold: string;
  if (row.answer !== undefined) gold = numberOrString(row, 'answer', src);
  else if (row.gold !== undefined) gold = numberOrString(row, 'gold', src);
  else if (row.solution !== undefined) gold = boxOf(row, 'solution', src);
  else throw new Error(`${src.file}:${src.line}: no gold answer: expected a field 'answer', 'gold' or 'solution' with a \\boxed{} answer`);
  return { id: idOf(row, 'id', src), problem, gold, subject: optionalLabel(row, 'subject'), level: optionalLabel(row, 'level') };
}

/** Parses JSONL text into rows, naming the file and line of any line that is not a JSON object. */
export function parseJsonl(text: string, file: string): { row: Row; line: number }[] {
  const rows: { row: Row; line: number }[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line.length === 0) continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (err) {
      throw new Error(`${file}:${i + 1}: not valid JSON (${(err as Error).message})`);
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      throw new Error(`${file}:${i + 1}: expected a JSON object, got ${JSON.stringify(value).slice(0, 40)}`);
    }
    rows.push({ row: value as Row, line: i + 1 });
  }
  return rows;
}

/**
 * Loads an eval set by name (math500, aime24, aime25, amc23, minerva, olympiadbench, gsm8k) from the
 * shipped data/eval, or any JSONL file by path (read with readGenericGold).
 */
export function loadEvalSet(nameOrPath: string, opts: { limit?: number } = {}): { name: string; items: EvalItem[] } {
  const set = evalSetName(nameOrPath);
  const path = set ? join(evalDataDir(), FILES[set]) : nameOrPath;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const known = EVAL_SETS.join(', ');
    throw new Error(`eval set '${nameOrPath}': cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); expected one of ${known} or a .jsonl file`);
  }
  const file = basename(path);
  const rows = parseJsonl(text, file);
  const limited = opts.limit !== undefined ? rows.slice(0, opts.limit) : rows;
  const items = limited.map(({ row, line }) => (set ? readGold(set, row, { file, line }) : readGenericGold(row, { file, line })));
  return { name: set ?? file.replace(/\.jsonl$/, ''), items };
}
