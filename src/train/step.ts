// One micro-batch through the model: forward, completion-only cross-entropy, backward into the leaves'
// .grad (which accumulates across micro-batches). Everything else is freed when the step returns. The LM
// head and the loss run together a chunk of rows at a time (tensor/linear_cross_entropy.ts), so a long
// micro-batch never holds its whole [tokens, vocab] logits.
import type { DecoderModel } from '../nn/model.ts';
import { backward, noGrad } from '../tensor/autograd.ts';
import { linearCrossEntropy } from '../tensor/linear_cross_entropy.ts';
import { tidy } from '../tensor/scope.ts';
import type { PackedBatch } from './pack.ts';

/** Rows of logits computed at once by the LM head and the loss (1024 × Qwen's 152k vocabulary: 0.6 GiB in f32). */
export const HEAD_CHUNK_ROWS = 1024;

/** Upload a packed batch and run the model up to the final norm: hidden [rows·cols, D]. */
function forwardPacked(model: DecoderModel, batch: PackedBatch) {
  const be = model.weight('model.embed_tokens.weight').backend;
  const shape = [batch.rows, batch.cols];
  const ids = be.upload(batch.ids, shape, 'i32');
  const positions = be.upload(batch.positions, shape, 'i32');
  const segments = batch.segments ? be.upload(batch.segments, shape, 'i32') : undefined;
  const hidden = model.forward(ids, { positions, segments, output: 'hidden' });
  return { hidden, targets: be.upload(batch.targets, [batch.rows * batch.cols], 'i32') };
}

/**
 * Forward and backward for one micro-batch. The loss is summed over its targets and divided by
 * `normalizer`, the target count of the whole optimizer step, so K accumulated micro-batches give exactly
 * the gradient of one batch K times larger. Returns this micro-batch's share of the step's mean loss.
 * A non-finite loss throws before any gradient is touched.
 */
export function lossAndBackward(model: DecoderModel, batch: PackedBatch, normalizer: number, where: () => string): number {
  return tidy(() => {
    const { hidden, targets } = forwardPacked(model, batch);
    const loss = linearCrossEntropy(hidden, model.lmHead, targets, { normalizer, chunkRows: HEAD_CHUNK_ROWS });
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
    const { hidden, targets } = forwardPacked(model, batch);
    return linearCrossEntropy(hidden, model.lmHead, targets, { normalizer: 1, chunkRows: HEAD_CHUNK_ROWS }).item();
  }));
}
