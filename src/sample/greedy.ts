// Greedy decoding with a KV cache: prefill the prompt once, then one token per step.
import type { DecoderModel } from '../nn/model.ts';
import { ConcatKVCache } from '../nn/kv_cache.ts';
import { noGrad } from '../tensor/autograd.ts';
import { ids } from '../tensor/ops.ts';
import { tidy } from '../tensor/scope.ts';

/** Extend each row of `prompts` (equal lengths) by up to maxNewTokens argmax tokens; stops early on eos. */
export function greedyGenerate(model: DecoderModel, prompts: number[][], maxNewTokens: number, eosIds: number[] = []): number[][] {
  const rows = prompts.map((p) => [...p]);
  if (rows.some((r) => r.length !== rows[0].length)) throw new Error('greedyGenerate: prompts must have equal lengths');
  const cache = new ConcatKVCache();
  const done = rows.map(() => false);
  let input = rows;
  try {
    for (let step = 0; step < maxNewTokens && !done.every(Boolean); step++) {
      const next = noGrad(() =>
        tidy(() => {
          const logits = model.forward(ids(input.flat(), [input.length, input[0].length]), { cache, output: 'last' });
          return argmaxRows(logits.toArray() as Float32Array, logits.shape[1]);
        }),
      );
      next.forEach((tok, r) => {
        if (done[r]) return;
        rows[r].push(tok);
        if (eosIds.includes(tok)) done[r] = true;
      });
      input = next.map((t) => [t]);
    }
  } finally {
    cache.dispose();
  }
  return rows;
}

export function argmaxRows(logits: ArrayLike<number>, vocab: number): number[] {
  const out: number[] = [];
  for (let o = 0; o < logits.length; o += vocab) {
    let best = 0;
    for (let j = 1; j < vocab; j++) if (logits[o + j] > logits[o + best]) best = j;
    out.push(best);
  }
  return out;
}
