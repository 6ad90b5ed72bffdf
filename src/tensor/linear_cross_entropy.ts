// The LM head and the cross-entropy together, a chunk of rows at a time, so the logits [N, V] are never
// held whole: at 16k tokens and Qwen's 152k vocabulary they and their gradient are 9 GiB in bf16, more than
// the rest of a checkpointed step. Forward keeps only each row's log-sum-exp; backward recomputes a
// chunk's logits, turns them into their gradient, and folds that into the hidden states' and the head's
// gradients before the next chunk. The same numbers as linear() then crossEntropy() (one chunk is exactly
// that); with several, the head's gradient is a sum over chunks instead of one GEMM over all rows.
import { record } from './ops.ts';
import { countTargets, type CrossEntropyOptions } from './nn_ops.ts';
import { fmt } from './shape.ts';
import type { Tensor } from './tensor.ts';

export interface LinearCrossEntropyOptions extends CrossEntropyOptions {
  /** Rows per chunk (default 1024): the logits held at once are chunkRows × V. */
  chunkRows?: number;
}

/** Mean cross-entropy of hidden [N, D] · weightᵀ ([V, D], the HF Linear layout) against targets i32 [N]. */
export function linearCrossEntropy(hidden: Tensor, weight: Tensor, targets: Tensor, opts: LinearCrossEntropyOptions = {}): Tensor {
  const [n, d] = hidden.shape;
  if (hidden.rank !== 2 || weight.rank !== 2 || weight.shape[1] !== d || targets.rank !== 1 || targets.shape[0] !== n) {
    throw new Error(`linearCrossEntropy: hidden ${fmt(hidden.shape)}, weight ${fmt(weight.shape)} and targets ${fmt(targets.shape)} need [N, D], [V, D] and [N]`);
  }
  const chunkRows = opts.chunkRows ?? 1024;
  if (!Number.isInteger(chunkRows) || chunkRows < 1) throw new Error(`linearCrossEntropy: chunkRows must be a positive integer, got ${chunkRows}`);
  const be = hidden.backend;
  const ignore = opts.ignoreIndex ?? -100;
  const norm = opts.normalizer ?? Math.max(countTargets(targets, ignore), 1);
  const chunks: { start: number; end: number; targets: Tensor; lse: Tensor }[] = [];
  let total: Tensor | null = null;
  for (let start = 0; start < n; start += chunkRows) {
    const end = Math.min(start + chunkRows, n);
    const { logits, rows, t } = chunkLogits(hidden, weight, targets, start, end);
    const { loss, lse } = be.crossEntropy(logits, t, ignore);
    const part = be.sum(loss, [0], false);
    if (total) {
      const sum = be.binary('add', total, part);
      total.dispose();
      part.dispose();
      total = sum;
    } else total = part;
    for (const x of [logits, rows, loss]) x.dispose();
    chunks.push({ start, end, targets: t, lse });
  }
  const out = be.affine(total!, 1 / norm, 0);
  total!.dispose();
  return record(out, [hidden, weight], (g) => {
    const wantHidden = hidden.requiresGrad || hidden.node !== null;
    const wantWeight = weight.requiresGrad || weight.node !== null;
    const gScaled = be.affine(g, 1 / norm, 0);
    const gHidden: Tensor[] = [];
    let gWeight: Tensor | null = null;
    for (const c of chunks) {
      const { logits, rows } = chunkLogits(hidden, weight, targets, c.start, c.end, c.targets);
      const ones = be.full([c.end - c.start], 1, 'f32');
      const gRows = be.binary('mul', ones, gScaled);
      const gLogits = be.crossEntropyBackward(gRows, logits, c.targets, c.lse, ignore);
      if (wantHidden) gHidden.push(be.matmul(gLogits, weight, false, false));
      if (wantWeight) {
        let part = be.matmul(gLogits, rows, true, false);
        if ((part.dtype === 'bf16' || part.dtype === 'f16') && chunks.length > 1) {
          // bf16/f16 weights: sum the chunks' parts in f32, as one GEMM would have accumulated them.
          const wide = be.cast(part, 'f32');
          part.dispose();
          part = wide;
        }
        if (gWeight) {
          const sum = be.binary('add', gWeight, part);
          gWeight.dispose();
          part.dispose();
          gWeight = sum;
        } else gWeight = part;
      }
      for (const x of [logits, rows, ones, gRows, gLogits]) x.dispose();
    }
    gScaled.dispose();
    if (gWeight && gWeight.dtype !== weight.dtype) {
      const narrow = be.cast(gWeight, weight.dtype);
      gWeight.dispose();
      gWeight = narrow;
    }
    let gh: Tensor | null = null;
    if (wantHidden) {
      gh = gHidden.length === 1 ? gHidden[0] : be.concat(gHidden, 0);
      if (gHidden.length > 1) for (const x of gHidden) x.dispose();
    }
    return [gh, gWeight];
  });
}

/** Rows [start, end) of hidden, their logits, and their targets (sliced unless given). */
function chunkLogits(hidden: Tensor, weight: Tensor, targets: Tensor, start: number, end: number, t?: Tensor) {
  const be = hidden.backend;
  const whole = start === 0 && end === hidden.shape[0];
  const rows = whole ? hidden.view(hidden.shape) : be.slice(hidden, 0, start, end);
  const logits = be.matmul(rows, weight, false, true);
  return { rows, logits, t: t ?? (whole ? targets.view(targets.shape) : be.slice(targets, 0, start, end)) };
}
