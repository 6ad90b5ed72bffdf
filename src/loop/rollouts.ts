// Sampling rollouts for a set of problems with the batched generator, and verifying each one.
import type { DecoderModel } from '../nn/model.ts';
import { Generator } from '../sample/generator.ts';
import type { Problem, Task } from '../tasks/task.ts';
import { thoughtText } from '../tasks/still_format.ts';
import type { SamplingConfig } from './config.ts';
import { promptIds, tokenizer } from './toy.ts';
import { verifyRollout } from './verify.ts';

export interface Rollout {
  problem: Problem;
  sample: number;
  completion: string;
  correct: boolean;
  answer: string | null;
  finished: boolean;
  tokens: number;
  thoughtChars: number;
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
  const n = greedy ? 1 : s.k;
  const gen = new Generator(model, { maxBatch: opts.maxBatch, maxLen: opts.maxLen, tokenizer, seed: opts.seed });
  const started = performance.now();
  try {
    const results = gen.generate(
      problems.map((p, i) => ({
        prompt: promptIds(p),
        n,
        seedIndex: i,
        params: { temperature: s.temperature, topP: s.topP, maxNewTokens: Math.min(s.maxNewTokens, opts.maxLen - promptIds(p).length) },
      })),
      { onStep: (e) => opts.onProgress?.(e.finished, e.total) },
    );
    const rollouts = results.map((r) => {
      const problem = problems[r.request];
      const completion = r.text ?? tokenizer.decode(r.tokens);
      const v = verifyRollout(task, problem, completion);
      return {
        problem, sample: r.sample, completion, correct: v.correct, answer: v.answer,
        finished: r.finishReason === 'stop', tokens: r.tokens.length, thoughtChars: thoughtText(completion).length,
      };
    });
    const tokens = rollouts.reduce((a, r) => a + r.tokens, 0);
    return { rollouts, stats: { tokens, seconds: (performance.now() - started) / 1000 } };
  } finally {
    gen.dispose();
  }
}
