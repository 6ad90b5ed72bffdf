// One DPO micro-batch through the model. Each pair becomes two rows (chosen, rejected), one sequence per
// row, padded: the two completions of a pair have similar lengths, and a row per sequence keeps the
// mapping from targets to sequences trivial. The forward gives per-token log-probs of the targets (one
// differentiable op over the cross-entropy kernel); the sums per sequence, the loss and its derivative are
// computed on the host in float64 (dpo_loss.ts), and the derivative goes back as the seed gradient of the
// per-token log-probs, so the model sees one backward pass, as in SFT.
//
// Accumulation is exact: the DPO term is a mean over the optimizer step's pairs and the NLL term a mean over
// its chosen tokens, and both normalizers are known before the first micro-batch (StepNorm).
import { IGNORE, type Example } from '../data/example.ts';
import type { TokenPair } from '../data/pairs.ts';
import type { DecoderModel } from '../nn/model.ts';
import { backward, noGrad } from '../tensor/autograd.ts';
import { record } from '../tensor/ops.ts';
import { tidy } from '../tensor/scope.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { DpoMetricSums, dpoPairLoss, type DpoLossOptions } from './dpo_loss.ts';
import { packExamples } from './pack.ts';

export interface DpoStepOptions extends DpoLossOptions {
  /** Score only the thought block of each completion in the DPO term (the solution block is masked). */
  thoughtOnly: boolean;
  /** Weight of the NLL term on the chosen completions (0 = off); TRL calls it rpo_alpha. */
  nllWeight: number;
}

/** The reference model's summed log-probs of a pair's scored tokens (computed once, then cached). */
export interface RefLogps {
  chosen: number;
  rejected: number;
}

/** Divisors shared by every micro-batch of one optimizer step. */
export interface StepNorm {
  pairs: number;
  /** Completion tokens of the step's chosen sequences (the NLL term's mean). */
  nllTokens: number;
}

/** Rows 2i and 2i+1 are pair i's chosen and rejected sequences; masks are per target position. */
export interface PairBatch {
  rows: number;
  cols: number;
  ids: Int32Array;
  targets: Int32Array;
  positions: Int32Array;
  /** 1 where a target counts in the DPO term (completion, or its thought block with thoughtOnly). */
  dpoMask: Uint8Array;
  /** 1 where a target counts in the NLL term (every completion token of a chosen row). */
  nllMask: Uint8Array;
  tokens: number;
}

/** Completion tokens of a pair's chosen side (the NLL term's count). */
export function chosenTokens(p: TokenPair): number {
  return p.chosen.length;
}

/** Lay out pairs as rows of a batch; `thoughtOnly` limits the DPO mask to each completion's thought tokens. */
export function pairBatch(pairs: readonly TokenPair[], thoughtOnly: boolean, padId: number): PairBatch {
  const seqs: Example[] = [];
  const scored: number[] = [];
  for (const p of pairs) {
    for (const [completion, thought] of [[p.chosen, p.chosenThought], [p.rejected, p.rejectedThought]] as const) {
      seqs.push({ inputIds: [...p.prompt, ...completion], labels: [...p.prompt.map(() => IGNORE), ...completion], source: p.source });
      scored.push(thoughtOnly ? thought : completion.length);
    }
  }
  const packed = packExamples(seqs, 1, padId); // capacity 1: one sequence per row, in order
  const dpoMask = new Uint8Array(packed.ids.length);
  const nllMask = new Uint8Array(packed.ids.length);
  seqs.forEach((s, r) => {
    // Completion token j sits at column prompt + j and is the target of the column before it.
    const promptLen = pairs[r >> 1].prompt.length;
    for (let j = 0; j < s.inputIds.length - promptLen; j++) {
      const at = r * packed.cols + promptLen + j - 1;
      if (j < scored[r]) dpoMask[at] = 1;
      if (r % 2 === 0) nllMask[at] = 1;
    }
  });
  return { rows: packed.rows, cols: packed.cols, ids: packed.ids, targets: packed.targets, positions: packed.positions, dpoMask, nllMask, tokens: packed.tokens };
}

/** Log-prob of each row's target under logits [N, V] (0 where the target is ignored), differentiable. */
export function targetLogps(logits: Tensor, targets: Tensor): Tensor {
  const be = logits.backend;
  const { loss, lse } = be.crossEntropy(logits, targets, IGNORE);
  const out = be.affine(loss, -1, 0);
  loss.dispose();
  return record(out, [logits], (g) => {
    const neg = g.backend.affine(g, -1, 0);
    const gl = g.backend.crossEntropyBackward(neg, logits, targets, lse, IGNORE);
    neg.dispose();
    return [gl];
  });
}

/** Per-sequence sums of per-token log-probs under a mask: [rows] sums and counts. */
function maskedSums(logps: ArrayLike<number>, mask: Uint8Array, rows: number, cols: number): { sums: Float64Array; counts: Float64Array } {
  const sums = new Float64Array(rows);
  const counts = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const i = r * cols + c;
      if (mask[i]) {
        sums[r] += logps[i];
        counts[r]++;
      }
    }
  }
  return { sums, counts };
}

export interface DpoLossResult {
  /** This micro-batch's share of the step loss. */
  loss: number;
  /** The gradient to seed `logps` with. */
  seed: Float64Array;
}

/**
 * The loss of a batch's pairs from per-token log-probs (host side), and the seed gradient on them. Pure
 * function of numbers: the PyTorch fixture test and the model step both go through it.
 */
export function dpoLossFromLogps(
  logps: ArrayLike<number>, batch: Pick<PairBatch, 'rows' | 'cols' | 'dpoMask' | 'nllMask'>, ref: readonly RefLogps[], o: DpoStepOptions, norm: StepNorm, metrics?: DpoMetricSums,
): DpoLossResult {
  const { rows, cols } = batch;
  const dpo = maskedSums(logps, batch.dpoMask, rows, cols);
  const seed = new Float64Array(rows * cols);
  let loss = 0;
  const dSeq = new Float64Array(rows);
  for (let p = 0; 2 * p < rows; p++) {
    const l = dpoPairLoss({
      chosen: dpo.sums[2 * p], rejected: dpo.sums[2 * p + 1], refChosen: ref[p].chosen, refRejected: ref[p].rejected,
      chosenTokens: dpo.counts[2 * p], rejectedTokens: dpo.counts[2 * p + 1],
    }, o);
    loss += l.loss / norm.pairs;
    dSeq[2 * p] = l.dChosen / norm.pairs;
    dSeq[2 * p + 1] = l.dRejected / norm.pairs;
    metrics?.addPair(l);
  }
  const nllScale = o.nllWeight / Math.max(norm.nllTokens, 1);
  let nllSum = 0;
  let nllCount = 0;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const i = r * cols + c;
      let g = batch.dpoMask[i] ? dSeq[r] : 0;
      if (o.nllWeight > 0 && batch.nllMask[i]) {
        g -= nllScale; // NLL = −Σ log p / tokens
        nllSum -= logps[i];
        nllCount++;
      }
      seed[i] = g;
    }
  }
  if (o.nllWeight > 0) {
    loss += nllScale * nllSum;
    metrics?.addNll(nllSum, nllCount);
  }
  if (metrics) metrics.loss += loss;
  return { loss, seed };
}

/** Upload a pair batch and run the model: logits [rows·cols, V] and targets. */
function forwardPairs(model: DecoderModel, batch: PairBatch): { logits: Tensor; targets: Tensor } {
  const be = model.weight('model.embed_tokens.weight').backend;
  const shape = [batch.rows, batch.cols];
  const ids = be.upload(batch.ids, shape, 'i32');
  const positions = be.upload(batch.positions, shape, 'i32');
  return { logits: model.forward(ids, { positions }), targets: be.upload(batch.targets, [batch.rows * batch.cols], 'i32') };
}

/**
 * Forward, loss and backward for one micro-batch of pairs; gradients accumulate into the trainable
 * leaves. Returns this micro-batch's share of the step loss. A non-finite loss throws before any
 * gradient is touched.
 */
export function dpoLossAndBackward(
  model: DecoderModel, pairs: readonly TokenPair[], ref: readonly RefLogps[], o: DpoStepOptions, norm: StepNorm, padId: number,
  metrics: DpoMetricSums, where: () => string,
): number {
  const batch = pairBatch(pairs, o.thoughtOnly, padId);
  return tidy(() => {
    const { logits, targets } = forwardPairs(model, batch);
    const logps = targetLogps(logits, targets);
    const { loss, seed } = dpoLossFromLogps(logps.toArray(), batch, ref, o, norm, metrics);
    if (!Number.isFinite(loss)) throw new Error(`loss is ${loss} on ${where()}; the model diverged or the data is bad (lower --lr, or check those pairs)`);
    backward(logps, logps.backend.upload(logps.dtype === 'f64' ? seed : Float32Array.from(seed), logps.shape, logps.dtype));
    return loss;
  });
}

/** Summed log-probs of each pair's scored tokens, without gradients: the reference pass. */
export function pairLogps(model: DecoderModel, pairs: readonly TokenPair[], thoughtOnly: boolean, padId: number): RefLogps[] {
  const batch = pairBatch(pairs, thoughtOnly, padId);
  const sums = noGrad(() => tidy(() => {
    const { logits, targets } = forwardPairs(model, batch);
    return maskedSums(targetLogps(logits, targets).toArray(), batch.dpoMask, batch.rows, batch.cols).sums;
  }));
  return pairs.map((_, p) => ({ chosen: sums[2 * p], rejected: sums[2 * p + 1] }));
}

/** Metrics of pairs without gradients (held-out evaluation), in micro-batches of `batchSize` pairs. */
export function evalPairs(
  model: DecoderModel, pairs: readonly TokenPair[], ref: readonly RefLogps[], o: DpoStepOptions, batchSize: number, padId: number,
): DpoMetricSums {
  const metrics = new DpoMetricSums();
  const training = model.adapter?.training ?? false;
  if (model.adapter) model.adapter.training = false;
  const norm = { pairs: pairs.length, nllTokens: pairs.reduce((s, p) => s + chosenTokens(p), 0) };
  try {
    for (let i = 0; i < pairs.length; i += batchSize) {
      const micro = pairs.slice(i, i + batchSize);
      const batch = pairBatch(micro, o.thoughtOnly, padId);
      noGrad(() => tidy(() => {
        const { logits, targets } = forwardPairs(model, batch);
        dpoLossFromLogps(targetLogps(logits, targets).toArray(), batch, ref.slice(i, i + batchSize), o, norm, metrics);
      }));
    }
  } finally {
    if (model.adapter) model.adapter.training = training;
  }
  return metrics;
}
