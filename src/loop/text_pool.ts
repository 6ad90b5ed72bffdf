// The pool of a text model: verified trajectories kept as STILL-2 rows {question, combined_text, domain}
// (what `still imitate --data` and the STILL-2 loop train on), over the same Pool the toy uses, keyed by
// question. And the verdict on one text rollout: strict, as the toy's gate is (verify.ts) — a rollout
// counts only in the long-thought format (thought block, then solution block) and with a \boxed{} answer
// inside its solution block that the grader accepts; a correct answer in any other shape would teach the
// format wrong.
import { readJsonl } from '../data/jsonl.ts';
import { still2FormatProblem } from '../data/still2.ts';
import { writeFileAtomic } from '../io/atomic.ts';
import { boxedAnswer, solutionBlock } from '../verify/extract.ts';
import { Pool, type KeepRule, type Trajectory } from './pool.ts';
import { questionId, readStill2Rows, type Still2Row } from './stage_pool_rows.ts';

/** Does a predicted answer equal the gold one (the math grader's gradeAnswer, or a stand-in in tests)? */
export type AnswerJudge = (pred: string, gold: string) => boolean;

export interface TextVerdict {
  correct: boolean;
  answer: string | null;
  /** Why the text is not in the long-thought format, or null. */
  formatProblem: string | null;
}

export function verifyText(text: string, gold: string, judge: AnswerJudge): TextVerdict {
  const formatProblem = still2FormatProblem(text);
  // Every box of the solution: an answer of several solutions is often boxed one by one.
  const answer = boxedAnswer(solutionBlock(text) ?? '');
  return { correct: formatProblem === null && answer !== null && judge(answer, gold), answer, formatProblem };
}

/** A pool of STILL-2 rows: trajectories keyed by question, and the domain each question's rows carry. */
export class TextPool {
  readonly pool: Pool;
  private readonly domains = new Map<string, string>();

  constructor(cap: number, keep: KeepRule = 'shortest') {
    this.pool = new Pool(cap, keep);
  }

  /**
   * A pool file: STILL-2 rows, each with the round that found it and its token count and mean log-prob
   * when the writer knew them (save() writes them; rows from elsewhere read as round 0).
   */
  static load(file: string, cap: number, keep: KeepRule = 'shortest'): TextPool {
    const p = new TextPool(cap, keep);
    const extras = readJsonl(file);
    readStill2Rows(file).forEach((row, i) => {
      const v = extras[i]!.value;
      const where = `${file}:${extras[i]!.line}`;
      const round = optionalNumber(v, 'round', where) ?? 0;
      const tokens = optionalNumber(v, 'tokens', where);
      const logprob = optionalNumber(v, 'logprob', where);
      p.pool.add(p.trajectory(row, round, { ...(tokens !== undefined ? { tokens } : {}), ...(logprob !== undefined ? { logprob } : {}) }));
    });
    return p;
  }

  /** The pool as STILL-2 rows (what SFT reads) with each row's round, tokens and log-prob beside them. */
  save(file: string): void {
    writeFileAtomic(file, this.pool.all().map((t) => Buffer.from(`${JSON.stringify({
      question: t.question, combined_text: t.completion, domain: this.domains.get(t.problemId) ?? 'math', round: t.round,
      ...(t.tokens !== undefined ? { tokens: t.tokens } : {}), ...(t.logprob !== undefined ? { logprob: t.logprob } : {}),
    })}\n`, 'utf8')));
  }

  /** The trajectory a STILL-2 row becomes in the pool (and `domain` remembered for its question). */
  trajectory(row: Still2Row, round: number, extra: Pick<Trajectory, 'tokens' | 'logprob'> = {}): Trajectory {
    const problemId = questionId(row.question);
    if (!this.domains.has(problemId)) this.domains.set(problemId, row.domain);
    return { problemId, level: 0, question: row.question, completion: row.combined_text, round, reflection: false, ...extra };
  }

  add(row: Still2Row, round: number): void {
    this.pool.add(this.trajectory(row, round));
  }

  get size(): number {
    return this.pool.size;
  }

  rows(): Still2Row[] {
    return this.pool.all().map((t) => ({ question: t.question, combined_text: t.completion, domain: this.domains.get(t.problemId) ?? 'math' }));
  }
}

function optionalNumber(v: Record<string, unknown>, key: string, where: string): number | undefined {
  const x = v[key];
  if (x === undefined) return undefined;
  if (typeof x !== 'number' || !Number.isFinite(x)) throw new Error(`${where}: field '${key}' must be a number, got ${JSON.stringify(x)}`);
  return x;
}
