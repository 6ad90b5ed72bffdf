// The causal-LM loss with HF semantics: position t predicts label t+1, -100 is ignored, mean over targets.
import { crossEntropy, type CrossEntropyOptions } from '../tensor/nn_ops.ts';
import { ids } from '../tensor/ops.ts';
import type { Tensor } from '../tensor/tensor.ts';

/** Shift labels left by one within each row (the last position has no target). */
export function shiftLabels(labels: number[][]): Int32Array {
  const t = labels[0].length;
  const out = new Int32Array(labels.length * t).fill(-100);
  labels.forEach((row, r) => {
    for (let i = 0; i + 1 < t; i++) out[r * t + i] = row[i + 1];
  });
  return out;
}

/** logits [B·T, V] against unshifted labels [B][T]. */
export function shiftedLoss(logits: Tensor, labels: number[][], opts: CrossEntropyOptions = {}): Tensor {
  const targets = shiftLabels(labels);
  return crossEntropy(logits, ids(targets), opts);
}
