// Every graded rollout of an explore run, kept beside its pool: `still explore --out P.jsonl` writes
// P.rollouts.jsonl, each round of the STILL-2 loop writes round-R/explore/rollouts.jsonl. The pool holds only
// what the gate admitted; this file holds all of it, correct or not, so failures can be read and
// preference pairs (a correct and an incorrect rollout of one problem) can be built from it.
//
// One line per rollout: the problem (id, question, gold) and the graded rollout (see TextRollout).
import { writeFileAtomic } from '../io/atomic.ts';
import { readJsonl } from '../data/jsonl.ts';
import type { FinishReason } from '../sample/request.ts';
import type { DataProblem, TextRollout } from './explore_text.ts';

export interface RolloutsFileRow extends TextRollout {
  question: string;
  gold: string;
}

/** Where `still explore --out POOL` keeps its rollouts: POOL with `.jsonl` replaced by `.rollouts.jsonl`. */
export function rolloutsPathFor(pool: string): string {
  return `${pool.replace(/\.jsonl$/, '')}.rollouts.jsonl`;
}

export function rolloutsFileRows(problems: readonly DataProblem[], graded: readonly (readonly TextRollout[])[]): RolloutsFileRow[] {
  return graded.flatMap((rows, i) => rows.map((r) => ({ id: r.id, question: problems[i]!.problem, gold: problems[i]!.gold, ...withoutId(r) })));
}

export function writeRolloutsFile(path: string, rows: readonly RolloutsFileRow[]): void {
  writeFileAtomic(path, rows.map((r) => `${JSON.stringify(r)}\n`).join(''));
}

const FINISH: readonly FinishReason[] = ['stop', 'length'];

/** Read a rollouts file back; errors name the file, the line and the field. */
export function readRolloutsFile(path: string): RolloutsFileRow[] {
  return readJsonl(path).map(({ line, value: v }) => {
    const where = `${path}:${line}`;
    const str = (k: string): string => {
      if (typeof v[k] !== 'string') throw new Error(`${where}: field '${k}' must be a string, got ${JSON.stringify(v[k])}`);
      return v[k] as string;
    };
    const int = (k: string): number => {
      if (!Number.isInteger(v[k]) || (v[k] as number) < 0) throw new Error(`${where}: field '${k}' must be a non-negative integer, got ${JSON.stringify(v[k])}`);
      return v[k] as number;
    };
    if (typeof v.correct !== 'boolean') throw new Error(`${where}: field 'correct' must be true or false, got ${JSON.stringify(v.correct)}`);
    const finish = str('finish_reason') as FinishReason;
    if (!FINISH.includes(finish)) throw new Error(`${where}: field 'finish_reason' must be one of ${FINISH.join(', ')}, got '${finish}'`);
    if (v.logprob !== undefined && typeof v.logprob !== 'number') throw new Error(`${where}: field 'logprob' must be a number, got ${JSON.stringify(v.logprob)}`);
    const nullableString = (k: string): string | null => (v[k] === null ? null : str(k));
    return {
      id: str('id'), question: str('question'), gold: str('gold'), sample: int('sample'), text: str('text'), tokens: int('tokens'),
      thought_tokens: int('thought_tokens'), finish_reason: finish, correct: v.correct, answer: nullableString('answer'),
      format_problem: nullableString('format_problem'), ...(typeof v.logprob === 'number' ? { logprob: v.logprob } : {}),
    };
  });
}

function withoutId(r: TextRollout): Omit<TextRollout, 'id'> {
  const { id: _id, ...rest } = r;
  return rest;
}
