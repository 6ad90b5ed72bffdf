// Sampling rollouts of the toy student for a set of problems through the shared rollout job
// (eval/rollout_job.ts), each verified by the task's own check.
import type { DecoderModel } from '../nn/model.ts';
import { runRolloutJob } from '../eval/rollout_job.ts';
import type { Problem, Task } from '../tasks/task.ts';
import { thoughtText } from '../tasks/still_format.ts';
import type { SamplingConfig } from './config.ts';
import { promptIds, tokenizer } from './toy.ts';
import { verifyRollout } from './verify.ts';

export interface Rollout {
  /** The problem's id (the rollout job's key). */
  id: string;
  problem: Problem;
  sample: number;
  completion: string;
  correct: boolean;
  answer: string | null;
  finished: boolean;
  tokens: number;
  thoughtChars: number;
  /** Mean log-prob per generated token under the sampling model (preference pairs choose by perplexity). */
  logprob?: number;
}

export interface RolloutStats {
  tokens: number;
  seconds: number;
}

/**
 * k rollouts per problem (temperature 0 → one greedy rollout). Seeds are keyed by the problem's position,
 * so a resumed or re-run round draws the same samples.
 */
export function sampleRollouts(
  model: DecoderModel, task: Task, problems: readonly Problem[], s: SamplingConfig, opts: { seed: number; maxBatch: number; maxLen: number; onProgress?: (done: number, total: number) => void },
): { rollouts: Rollout[]; stats: RolloutStats } {
  const greedy = s.temperature < 1e-5;
  const started = performance.now();
  const job = runRolloutJob<Rollout>({
    problems: problems.map((p) => ({ id: p.id, prompt: promptIds(p) })),
    n: greedy ? 1 : s.k,
    params: { temperature: s.temperature, topP: s.topP, maxNewTokens: s.maxNewTokens, logprobs: true }, // kept, not changed: the sampler always computes them
    context: opts.maxLen,
    generator: { maxBatch: opts.maxBatch, tokenizer, seed: opts.seed },
    model: () => model,
    grade: (i, results) => results.map((r) => {
      const problem = problems[i]!;
      const completion = r.text ?? tokenizer.decode(r.tokens);
      const v = verifyRollout(task, problem, completion);
      return {
        id: problem.id, problem, sample: r.sample, completion, correct: v.correct, answer: v.answer,
        finished: r.finishReason === 'stop', tokens: r.tokens.length, thoughtChars: thoughtText(completion).length,
        ...(r.logprobs && r.logprobs.length > 0 ? { logprob: r.logprobs.reduce((a, x) => a + x, 0) / r.logprobs.length } : {}),
      };
    }),
    onStep: (e) => opts.onProgress?.(e.finished, e.total),
  });
  const rollouts = job.rows.flat();
  return { rollouts, stats: { tokens: job.generatedTokens, seconds: (performance.now() - started) / 1000 } };
}
