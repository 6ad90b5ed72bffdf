// The pool of a text model: verified trajectories kept as STILL-2 rows {question, combined_text, domain}
// (what `still imitate --data` and the STILL-2 loop train on), over the same Pool the toy uses, keyed by
// question. And the verdict on one text rollout: strict, as the toy's gate is (verify.ts) — a rollout
// counts only in the long-thought format (thought block, then solution block) and with a \boxed{} answer
// inside its solution block that the grader accepts; a correct answer in any other shape would teach the
// format wrong.
import { still2FormatProblem } from '../data/still2.ts';
import { lastBoxed, solutionBlock } from '../verify/extract.ts';
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
  const answer = lastBoxed(solutionBlock(text) ?? '');
  return { correct: formatProblem === null && answer !== null && judge(answer, gold), answer, formatProblem };
}

/** A pool of STILL-2 rows: trajectories keyed by question, and the domain each question's rows carry. */
export class TextPool {
  readonly pool: Pool;
  private readonly domains = new Map<string, string>();

  constructor(cap: number, keep: KeepRule = 'shortest') {
    this.pool = new Pool(cap, keep);
  }

  static load(file: string, cap: number, keep: KeepRule = 'shortest'): TextPool {
    const p = new TextPool(cap, keep);
    for (const row of readStill2Rows(file)) p.add(row, 0);
    return p;
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
