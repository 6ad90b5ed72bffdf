// The memory plan: how a training step (SFT or DPO) or a sampler's KV cache fits in a budget of bytes.
//
//   const plan = planTraining({ config, mode: { kind: 'lora', r: 16 }, dtype: 'bf16', objective: 'sft',
//                               seqLen: 16384, microBatch: 4, gradAccum: 4, budget: 24 * 2 ** 30 });
//   // → { microBatch: 1, gradAccum: 16, gradientCheckpointing: true, estimate: {...} }, or a MemoryPlanError
//   //   that says what would fit (shorter sequences, LoRA, checkpointing)
//
// The estimate counts the tensors this engine keeps, not a rule of thumb: a decoder layer (nn/model.ts)
// keeps per token its norms' outputs, q/k/v before and after RoPE, the attention output and its
// log-sum-exp, the projections' outputs, the residual sums and the MLP's gate, up and SwiGLU (plus, per
// LoRA projection, x·Aᵀ, its B product, the scaled update and the sum; with dropout the mask and the
// dropped input). Attention is never materialised as T × T (the kernels are blocked/flash), so all of it
// is linear in the tokens. With activation checkpointing a layer keeps only its input, and one layer at a
// time is recomputed. SFT's head and loss go a chunk of rows at a time, so only a chunk of logits [rows, V]
// and their gradient live at once; DPO keeps the logits [tokens, V] with their gradient, which is what
// dominates at long contexts with a 150k vocabulary. Tested against the CPU backend's measured
// peaks (test/memory_plan.test.ts); a budget keeps HEADROOM spare for the allocator's rounding and
// workspaces the estimate does not see.
import type { ModelConfig } from '../io/hf_config.ts';
import { expectedWeightShapes } from '../io/hf_weights.ts';
import { LORA_TARGETS, projectionShape, type LoraTarget } from '../nn/lora.ts';
import type { DType } from '../tensor/dtype.ts';
import { HEAD_CHUNK_ROWS } from './step.ts';

/**
 * Fraction of the budget the plan leaves unused: allocator block rounding, GEMM and attention workspaces.
 * The H200 run in bench/NOTES.md measured a 31.4 GiB peak for LoRA r16 on Qwen2.5-0.5B at 8 × 1024 tokens
 * (logits then held whole), where this estimate, counting the logits the same way, said 28.5 GiB (0.91×):
 * 15% covers that gap.
 */
export const HEADROOM = 0.15;

export type PlanMode =
  | { kind: 'lora'; r: number; targets?: readonly LoraTarget[]; dropout?: number }
  | { kind: 'full' };

export interface TrainMemoryRequest {
  config: ModelConfig;
  mode: PlanMode;
  /** Weights and activations (bf16 on CUDA, f32 on the CPU); trainable masters and optimizer state are f32. */
  dtype: DType;
  /** 'dpo': a micro-batch of n pairs runs 2n rows (chosen and rejected) through the policy. */
  objective: 'sft' | 'dpo';
  /** Tokens per row: the longest packed row (SFT) or prompt + completion (DPO). */
  seqLen: number;
  /** Examples (SFT) or pairs (DPO) per micro-batch asked for; the plan may lower it. */
  microBatch: number;
  /** Micro-batches per optimizer step asked for; the plan raises it to keep microBatch × gradAccum. */
  gradAccum: number;
  /** Bytes the job may use, weights included; Infinity for no limit. */
  budget: number;
  /** true/false: pinned by the user; undefined: the plan turns it on when it must. */
  gradientCheckpointing?: boolean;
  /** The micro-batch may not change (a resumed run keeps its checkpoint's): only checkpointing is planned. */
  fixedMicroBatch?: boolean;
}

/** Bytes by what holds them. */
export interface MemoryEstimate {
  /** The model's weights in their dtype. */
  weights: number;
  /** Gradients, f32 masters (bf16 weights) and AdamW's two moments of what is trained. */
  trainable: number;
  /** The step's peak of activations, logits and in-flight gradients. */
  activations: number;
  /** Of activations: the logits and their gradient ([tokens, V] for DPO; one chunk of rows for SFT's chunked head). */
  logits: number;
  total: number;
}

export interface TrainMemoryPlan {
  microBatch: number;
  gradAccum: number;
  gradientCheckpointing: boolean;
  estimate: MemoryEstimate;
  /** The budget the plan was made for (bytes; Infinity = none). */
  budget: number;
}

/** A job that does not fit its budget; the message says what would. */
export class MemoryPlanError extends Error {}

/** Bytes for messages: GiB for what a GPU counts in, MiB and KiB for the toys. */
export function formatBytes(bytes: number): string {
  if (bytes >= 2 ** 30) return `${(bytes / 2 ** 30).toFixed(bytes < 10 * 2 ** 30 ? 2 : 1)} GiB`;
  if (bytes >= 2 ** 20) return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
  return `${(bytes / 2 ** 10).toFixed(1)} KiB`;
}

export function dtypeBytes(dtype: DType): number {
  return dtype === 'f64' ? 8 : dtype === 'bf16' || dtype === 'f16' ? 2 : 4;
}

/** Every weight of the model (tied embeddings counted once). */
export function parameterCount(config: ModelConfig): number {
  let n = 0;
  for (const shape of expectedWeightShapes(config).values()) n += shape.reduce((p, d) => p * d, 1);
  return n;
}

/** LoRA parameters: r·(in + out) per adapted projection per layer. */
export function loraParameterCount(config: ModelConfig, r: number, targets: readonly LoraTarget[] = LORA_TARGETS): number {
  return config.numLayers * targets.reduce((s, t) => {
    const [inF, outF] = projectionShape(config, t);
    return s + r * (inF + outF);
  }, 0);
}

/** Bytes per token one decoder layer keeps for backward (the plain tape), in the activation dtype. */
export function layerActivationBytes(config: ModelConfig, mode: PlanMode, dtype: DType): number {
  const { hiddenSize: d, intermediateSize: f, numHeads, numKvHeads, headDim } = config;
  const q = numHeads * headDim;
  const kv = numKvHeads * headDim;
  const b = dtypeBytes(dtype);
  // norm 1, q/k/v, RoPE'd q/k, attention output, o_proj, residual, norm 2, gate, up, SwiGLU, down, residual
  let elements = 6 * d + 3 * q + 3 * kv + 3 * f;
  if (config.attentionBias) elements += q + 2 * kv;
  if (config.oProjBias) elements += d;
  if (config.mlpBias) elements += 2 * f + d;
  let bytes = elements * b + (2 + numHeads) * 4; // + the norms' rstd and attention's log-sum-exp (f32)
  if (mode.kind === 'lora') {
    for (const t of mode.targets ?? LORA_TARGETS) {
      const [inF, outF] = projectionShape(config, t);
      bytes += (mode.r + 3 * outF) * b;
      if ((mode.dropout ?? 0) > 0) bytes += 2 * inF * 4; // the f32 mask and the dropped input
    }
  }
  return bytes;
}

/**
 * Bytes per token of gradients in flight while one layer is backpropagated (beyond what it keeps): the
 * residual's gradient and the SwiGLU backward's three [tokens, F] tensors, the largest moment of a layer.
 */
function layerBackwardBytes(config: ModelConfig, dtype: DType): number {
  return (3 * config.intermediateSize + 2 * config.hiddenSize) * dtypeBytes(dtype);
}

/** Bytes per token the head keeps beside its logits: the final norm's output, the loss's f32 rows. */
function headBytes(config: ModelConfig, dtype: DType): number {
  return config.hiddenSize * dtypeBytes(dtype) + 3 * 4;
}

/** The memory of one training step with this micro-batch (in rows of seqLen tokens) and checkpointing. */
export function estimateTrainMemory(req: TrainMemoryRequest, microBatch: number, checkpointing: boolean): MemoryEstimate {
  const { config, mode, dtype } = req;
  const b = dtypeBytes(dtype);
  const weights = parameterCount(config) * b;
  let trainable: number;
  if (mode.kind === 'lora') {
    trainable = loraParameterCount(config, mode.r, mode.targets) * 16; // f32 value, gradient, AdamW m and v
  } else {
    const masters = dtype === 'f32' ? 0 : 4; // bf16 weights train through f32 masters (train/params.ts)
    trainable = parameterCount(config) * (b + masters + 8);
  }
  const tokens = microBatch * (req.objective === 'dpo' ? 2 : 1) * req.seqLen;
  const layer = layerActivationBytes(config, mode, dtype);
  const layerBwd = layerBackwardBytes(config, dtype);
  // Held through the whole backward: every layer's activations, or with checkpointing every layer's input.
  const stored = checkpointing ? (config.numLayers + 1) * config.hiddenSize * b : config.numLayers * layer;
  // While one layer is backpropagated: its gradients in flight (and, checkpointed, its recomputed activations).
  const working = checkpointing ? layer + layerBwd : layerBwd;
  const v = config.vocabSize * b;
  let activations: number;
  let logits: number;
  if (req.objective === 'sft') {
    // The head and the loss go a chunk of rows at a time (train/step.ts): a chunk's logits and their
    // gradient, never the whole [tokens, V], and gone before the layers' backward begins.
    logits = 2 * Math.min(tokens, HEAD_CHUNK_ROWS) * v;
    // A trained head sums its gradient over the chunks in f32: the sum, a chunk's part and the new sum.
    if (mode.kind === 'full' && tokens > HEAD_CHUNK_ROWS) logits += 3 * config.vocabSize * config.hiddenSize * 4;
    activations = tokens * (stored + headBytes(config, dtype)) + Math.max(logits, tokens * working);
  } else {
    // DPO's per-token log-probs keep the logits all along; backward holds their gradient first, then one
    // layer at a time.
    logits = tokens * v * (v >= working ? 2 : 1);
    activations = tokens * (stored + headBytes(config, dtype) + v + Math.max(v, working));
  }
  return { weights, trainable, activations, logits, total: weights + trainable + activations };
}

/** Candidate micro-batches: divisors of the step's rows that are ≤ the asked micro-batch, largest first. */
function microBatches(asked: number, perStep: number): number[] {
  const out: number[] = [];
  for (let m = Math.min(asked, perStep); m >= 1; m--) if (perStep % m === 0) out.push(m);
  return out;
}

/**
 * Pick micro-batch, gradient accumulation and checkpointing for the budget, keeping microBatch ×
 * gradAccum (the optimizer's batch) as asked. Preference: the asked micro-batch as it is; else the
 * largest smaller micro-batch without recompute, as long as it still holds ≥ 4096 tokens (enough rows to
 * keep a GPU's GEMMs busy) or checkpointing would not allow a larger one; else checkpointing with the
 * largest micro-batch that fits. Throws a MemoryPlanError naming what would fit.
 */
export function planTraining(req: TrainMemoryRequest): TrainMemoryPlan {
  checkRequest(req);
  const perStep = req.microBatch * req.gradAccum;
  const usable = req.budget * (1 - HEADROOM);
  const fits = (mb: number, ck: boolean) => estimateTrainMemory(req, mb, ck).total <= usable;
  const candidates = req.fixedMicroBatch ? [req.microBatch] : microBatches(req.microBatch, perStep);
  const plan = (mb: number, ck: boolean): TrainMemoryPlan => ({
    microBatch: mb, gradAccum: perStep / mb, gradientCheckpointing: ck, estimate: estimateTrainMemory(req, mb, ck), budget: req.budget,
  });
  const pinned = req.gradientCheckpointing;
  if (pinned !== undefined) {
    const mb = candidates.find((m) => fits(m, pinned));
    if (mb !== undefined) return plan(mb, pinned);
  } else {
    const plain = candidates.find((m) => fits(m, false));
    const recomputed = candidates.find((m) => fits(m, true));
    const rows = req.objective === 'dpo' ? 2 : 1;
    if (plain !== undefined && (plain === req.microBatch || plain * rows * req.seqLen >= 4096 || recomputed === plain)) return plan(plain, false);
    if (recomputed !== undefined) return plan(recomputed, true);
  }
  throw new MemoryPlanError(whyNot(req));
}

/** What the smallest job needs against the budget, and the changes that would make it fit. */
function whyNot(req: TrainMemoryRequest): string {
  const usable = req.budget * (1 - HEADROOM);
  const ck = req.gradientCheckpointing ?? true;
  const mb = req.fixedMicroBatch ? req.microBatch : 1;
  const least = estimateTrainMemory(req, mb, ck);
  const unit = req.objective === 'dpo' ? 'pair' : 'row';
  const what = mb === 1 ? `one ${unit}` : `a micro-batch of ${mb} ${unit}s (kept from the checkpoint)`;
  const parts = [
    `${req.objective}: does not fit in ${formatBytes(req.budget)} (${formatBytes(usable)} after ${HEADROOM * 100}% headroom): ` +
      `${what} of ${req.seqLen} tokens${ck ? ' with gradient checkpointing' : ''} needs ${formatBytes(least.total)} ` +
      `(weights ${formatBytes(least.weights)}, trained state ${formatBytes(least.trainable)}, activations ${formatBytes(least.activations)}).`,
  ];
  const fixed = least.weights + least.trainable;
  if (fixed >= usable) {
    parts.push(req.mode.kind === 'full'
      ? `The weights and full fine-tuning's gradients and AdamW state alone need ${formatBytes(fixed)}.`
      : `The weights alone need ${formatBytes(least.weights)}.`);
  } else {
    const maxLen = longestFitting(req, mb, ck, usable);
    if (maxLen >= 1) parts.push(`Sequences of up to ${maxLen} tokens would fit (--max-length).`);
    if (least.logits > least.activations / 3) {
      parts.push(`Of the activations, ${formatBytes(least.logits)} are the logits and their gradient ([tokens, ${req.config.vocabSize}]).`);
    }
  }
  const would: string[] = [];
  if (!ck && estimateTrainMemory(req, mb, true).total <= usable) would.push('gradient checkpointing (--gradient-checkpointing)');
  if (req.mode.kind === 'full') {
    const lora = estimateTrainMemory({ ...req, mode: { kind: 'lora', r: 16 } }, mb, ck);
    if (lora.total <= usable) would.push(`LoRA r=16 instead of full fine-tuning (${formatBytes(lora.total)})`);
  }
  if (would.length) parts.push(`Would fit: ${would.join('; ')}.`);
  return parts.join(' ');
}

/** The longest seqLen whose step fits `usable` bytes (0 if none): the estimate grows with it, so bisect. */
function longestFitting(req: TrainMemoryRequest, microBatch: number, checkpointing: boolean, usable: number): number {
  const fits = (seqLen: number) => estimateTrainMemory({ ...req, seqLen }, microBatch, checkpointing).total <= usable;
  let [lo, hi] = [0, req.seqLen];
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (mid >= 1 && fits(mid)) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

function checkRequest(req: TrainMemoryRequest): void {
  const int = (v: number, name: string) => {
    if (!Number.isInteger(v) || v < 1) throw new Error(`memory plan: ${name} must be a positive integer, got ${v}`);
  };
  int(req.seqLen, 'seqLen');
  int(req.microBatch, 'microBatch');
  int(req.gradAccum, 'gradAccum');
  if (req.mode.kind === 'lora') int(req.mode.r, 'LoRA r');
  if (!(req.budget > 0)) throw new Error(`memory plan: budget must be a positive number of bytes, got ${req.budget}`);
}

/** One line for logs: what the plan chose and what it expects to use. */
export function describePlan(p: TrainMemoryPlan): string {
  const e = p.estimate;
  return `micro-batch ${p.microBatch} × ${p.gradAccum} accumulated${p.gradientCheckpointing ? ', gradient checkpointing' : ''}: ` +
    `about ${formatBytes(e.total)} (weights ${formatBytes(e.weights)}, trained state ${formatBytes(e.trainable)}, activations ${formatBytes(e.activations)})` +
    (Number.isFinite(p.budget) ? ` of ${formatBytes(p.budget)}` : '');
}

export interface KvSlotRequest {
  config: ModelConfig;
  dtype: DType;
  /** Positions per slot: prompt + new tokens. */
  maxLen: number;
  /** Slots asked for (--max-batch). */
  maxBatch: number;
  budget: number;
}

/**
 * KV-cache slots for sampling in a budget: what the weights and one forward's working set (a prefill of
 * maxLen tokens, one layer's activations at a time; a decode step's logits) leave, in slots of
 * 2·layers·kvHeads·headDim·maxLen elements. `reserved` is what the weights and the forward take.
 * Throws when not even one slot fits.
 */
export function planKvSlots(req: KvSlotRequest): { slots: number; kvBytes: number; perSlot: number; reserved: number } {
  const { config: c, dtype } = req;
  if (!(req.budget > 0)) throw new Error(`sampling: --max-memory must be a positive number of GiB, got ${req.budget / 2 ** 30}`);
  const b = dtypeBytes(dtype);
  const perSlot = 2 * c.numLayers * c.numKvHeads * c.headDim * req.maxLen * b;
  const weights = parameterCount(c) * b;
  // A prefill of maxLen tokens one layer at a time, and a decode step's f32 logits for every asked slot.
  const working = req.maxLen * (layerActivationBytes(c, { kind: 'full' }, dtype) + c.hiddenSize * b) + req.maxBatch * c.vocabSize * 4;
  const free = req.budget * (1 - HEADROOM) - weights - working;
  const slots = Math.min(req.maxBatch, Math.floor(free / perSlot));
  if (slots < 1) {
    throw new MemoryPlanError(`sampling: ${formatBytes(req.budget)} holds the weights (${formatBytes(weights)}) but no KV-cache slot of ` +
      `${req.maxLen} positions (${formatBytes(perSlot)} each); shorten --max-new-tokens or raise --max-memory`);
  }
  return { slots, kvBytes: slots * perSlot, perSlot, reserved: weights + working };
}
