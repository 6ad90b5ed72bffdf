// Greedy decoding of token-id prompts: the batched generator at temperature 0, returning prompt + output rows.
import type { DecoderModel } from '../nn/model.ts';
import { Generator } from './generator.ts';

/** Extend each row of `prompts` by up to maxNewTokens argmax tokens; a row stops after an id in eosIds. */
export function greedyGenerate(model: DecoderModel, prompts: number[][], maxNewTokens: number, eosIds: number[] = []): number[][] {
  const longest = Math.max(...prompts.map((p) => p.length));
  const gen = new Generator(model, { maxBatch: prompts.length, maxLen: longest + maxNewTokens, eosIds });
  try {
    const results = gen.generate(prompts.map((prompt) => ({ prompt, params: { temperature: 0, maxNewTokens } })));
    return results.map((r, i) => [...prompts[i], ...r.tokens]);
  } finally {
    gen.dispose();
  }
}

/** Index of the largest value in each row of a flat [rows, vocab] array (lowest index on ties). */
export function argmaxRows(logits: ArrayLike<number>, vocab: number): number[] {
  const out: number[] = [];
  for (let o = 0; o < logits.length; o += vocab) {
    let best = 0;
    for (let j = 1; j < vocab; j++) if (logits[o + j] > logits[o + best]) best = j;
    out.push(best);
  }
  return out;
}
