// The long-sequence references (fixtures/<name>/long_reference*.json, see scripts/reference/long_cases.py): reading
// them, and the worst difference between a model's logits and one case. Shared by the CPU and emulator tests.
import { readFileSync } from 'node:fs';
import type { DecoderModel } from '../src/nn/model.ts';
import { noGrad } from '../src/tensor/autograd.ts';
import { ids } from '../src/tensor/ops.ts';

export interface LongCase {
  name: string;
  input_ids: number[][];
  position_ids: number[][];
  checked_positions: number[];
  logits: number[][][];
  next_token_logprobs: number[][];
}

export function readLongReference(path: string): { cases: LongCase[] } {
  return JSON.parse(readFileSync(path, 'utf8')) as { cases: LongCase[] };
}

/**
 * The model's worst |logit − reference| over the kept logit rows, and over the next-token log-probabilities
 * (every row). Runs on the backend the model's weights live on.
 */
export function longCaseErrors(model: DecoderModel, c: LongCase): { logits: number; logprobs: number } {
  const [b, t] = [c.input_ids.length, c.input_ids[0].length];
  const vocab = model.config.vocabSize;
  const logits = noGrad(() => model.forward(ids(c.input_ids.flat(), [b, t]), { positions: ids(c.position_ids.flat(), [b, t]) })).toArray();
  let worstLogit = 0;
  let worstLogprob = 0;
  c.input_ids.forEach((row, bi) => {
    c.checked_positions.forEach((p, k) => {
      const got = logits.subarray((bi * t + p) * vocab, (bi * t + p + 1) * vocab);
      c.logits[bi][k].forEach((want, j) => (worstLogit = Math.max(worstLogit, Math.abs(got[j] - want))));
    });
    for (let p = 0; p + 1 < t; p++) {
      const got = logits.subarray((bi * t + p) * vocab, (bi * t + p + 1) * vocab);
      let max = -Infinity;
      for (const v of got) max = Math.max(max, v);
      let sum = 0;
      for (const v of got) sum += Math.exp(v - max);
      const logprob = got[row[p + 1]] - max - Math.log(sum);
      worstLogprob = Math.max(worstLogprob, Math.abs(logprob - c.next_token_logprobs[bi][p]));
    }
  });
  return { logits: worstLogit, logprobs: worstLogprob };
}

/**
 * For an f32 model. Ours computes in f32, the reference in f64 (with HF's f32-rounded RoPE angles, as ours):
 * measured worst errors 1.1e-5 (tiny-llama, |logits| up to ~5) and 1.8e-6 (tiny-qwen2) on the CPU, 1.5e-5 and
 * 1.8e-6 on the CUDA emulator. 5e-5 leaves room for another summation order and still fails on a RoPE angle
 * off by one f32 rounding at position 4000.
 */
export const LONG_REFERENCE_TOL = 5e-5;
