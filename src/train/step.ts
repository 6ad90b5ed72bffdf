// One micro-batch through the model: forward, completion-only cross-entropy, backward into the leaves'
// .grad (which accumulates across micro-batches). Everything else is freed when the step returns.
import type { DecoderModel } from '../nn/model.ts';
import { backward, noGrad } from '../tensor/autograd.ts';
import { crossEntropy } from '../tensor/nn_ops.ts';
import { tidy } from '../tensor/scope.ts';
import type { PackedBatch } from './pack.ts';

/** Upload a packed batch and run the model: logits [rows·cols, V]. */
function forwardPacked(model: DecoderModel, batch: PackedBatch) {
  const be = model.weight('model.embed_tokens.weight').backend;
  const shape = [batch.rows, batch.cols];
  const ids = be.upload(batch.ids, shape, 'i32');
  const positions = be.upload(batch.positions, shape, 'i32');
  const segments = batch.segments ? be.upload(batch.segments, shape, 'i32') : undefined;
  const logits = model.forward(ids, { positions, segments });
  return { logits, targets: be.upload(batch.targets, [batch.rows * batch.cols], 'i32') };
}

/**
 * Forward and backward for one micro-batch. The loss is summed over its targets and divided by
 * `normalizer`, the target count of the whole optimizer step, so K accumulated micro-batches give exactly
 * the gradient of one batch K times larger. Returns this micro-batch's share of the step's mean loss.
 * A non-finite loss throws before any gradient is touched.
 */
export function lossAndBackward(model: DecoderModel, batch: PackedBatch, normalizer: number, where: () => string): number {
  return tidy(() => {
    const { logits, targets } = forwardPacked(model, batch);
    const loss = crossEntropy(logits, targets, { normalizer });
    const value = loss.item();
    if (!Number.isFinite(value)) {
      throw new Error(`loss is ${value} on ${where()}; the model diverged or the data is bad (lower --lr, enable --max-grad-norm, or check those rows)`);
    }
    backward(loss);
    return value;
  });
}

/** Summed loss and target count of a micro-batch, without gradients (eval). */
export function lossSum(model: DecoderModel, batch: PackedBatch): number {
  return noGrad(() => tidy(() => {
    const { logits, targets } = forwardPacked(model, batch);
    return crossEntropy(logits, targets, { normalizer: 1 }).item();
  }));
}
