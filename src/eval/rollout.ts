// One graded eval rollout: a generation result for a problem, its text made whole, its verdict and lengths.
import { SOLUTION_CLOSE, THOUGHT_OPEN } from '../data/still2.ts';
import type { FinishReason, GenerationResult } from '../sample/request.ts';
import { thoughtText } from '../tasks/still_format.ts';
import type { EvalItem } from '../verify/gold.ts';
import type { GradeResult } from '../verify/grade.ts';

/** A line of results.jsonl. */
export interface EvalRollout {
  id: string;
  sample: number;
  subject?: string;
  level?: string;
  problem: string;
  gold: string;
  text: string;
  pred_answer: string | null;
  correct: boolean;
  /** Generated tokens (a final EOS id counts, as in vLLM). */
  tokens: number;
  /** Tokens between the thought tags (to the end when the close tag never came), else all generated tokens. */
  thought_tokens: number;
  finish_reason: FinishReason;
  /** Each generated token's log-prob under the raw model, with --logprobs. */
  logprobs?: number[];
}

export type Grader = (text: string, gold: string, dataset?: string) => GradeResult;

/**
 * The text to grade: the sampler cuts a stop string from the text, so when generation stopped on the
 * solution's close tag, the tag goes back on and answer extraction sees a complete solution block.
 */
export function completedText(r: GenerationResult): string {
  const text = r.text ?? '';
  return r.finishReason === 'stop' && r.stopReason === SOLUTION_CLOSE ? text + SOLUTION_CLOSE : text;
}

export function gradeRollout(
  item: EvalItem, r: GenerationResult, grade: Grader, countTokens: (text: string) => number, dataset?: string,
): EvalRollout {
  const text = completedText(r);
  const verdict = grade(text, item.gold, dataset);
  return {
    id: item.id, sample: r.sample,
    ...(item.subject !== undefined ? { subject: item.subject } : {}),
    ...(item.level !== undefined ? { level: item.level } : {}),
    problem: item.problem, gold: verdict.gold_answer, text,
    pred_answer: verdict.pred_answer, correct: verdict.correct,
    tokens: r.tokens.length,
    thought_tokens: text.includes(THOUGHT_OPEN) ? countTokens(thoughtText(text)) : r.tokens.length,
    finish_reason: r.finishReason,
    ...(r.logprobs ? { logprobs: r.logprobs } : {}),
  };
}
