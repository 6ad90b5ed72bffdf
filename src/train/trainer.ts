// The SFT trainer: train(model, data, options, hooks) → per-step stats. LoRA when the model has an
// adapter attached (base frozen), full fine-tuning otherwise; the same loop serves `still sft`, `still
// imitate` and the STILL loop's from-scratch toy model.
//
// A step takes the next batchSize·gradAccum examples from an endless stream of epochs (each epoch a
// seeded shuffle, or file order), runs gradAccum packed micro-batches whose losses are normalized by the
// step's total target count (so accumulation equals one big batch exactly), clips by global norm,
// applies AdamW at the scheduled rate and frees the gradients. The data position is one integer and the
// only RNG (LoRA dropout) is checkpointed, which is what makes resume bit-exact.
import { targetCount, type Example } from '../data/example.ts';
import type { DecoderModel } from '../nn/model.ts';
import { AdamW } from './adamw.ts';
import { findCheckpoint, restoreCheckpoint, saveCheckpoint, CHECKPOINT_FORMAT, type TrainerState } from './checkpoint.ts';
import { clipGradients, globalGradNorm } from './clip.ts';
import { packExamples } from './pack.ts';
import { clearGrads, releaseMasters, trainableParams, trainMode } from './params.ts';
import { TrainRng, mixSeed, seededPermutation } from '../tensor/rng.ts';
import { checkSchedule, lrAt, type ScheduleKind } from './schedule.ts';
import { lossAndBackward, lossSum } from './step.ts';

export interface TrainOptions {
  /** Optimizer steps; or give epochs (steps = ceil(epochs·N / (batchSize·gradAccum))). */
  steps?: number;
  epochs?: number;
  lr: number;
  /** Examples per micro-batch. */
  batchSize: number;
  gradAccum?: number;
  schedule?: ScheduleKind;
  warmup?: number;
  /** Warmup as a fraction of the total steps (instead of warmup). */
  warmupRatio?: number;
  minLrRatio?: number;
  weightDecay?: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** Clip gradients to this global norm; 0 or undefined = no clipping. */
  maxGradNorm?: number;
  shuffle?: boolean;
  seed?: number;
  /** Tokens per packed row; default: the longest example. Examples longer than this get a row alone. */
  rowTokens?: number;
  /** false: one example per row, padded (no packing). */
  pack?: boolean;
  padId?: number;
  /** Evaluate on data.eval every this many steps (and at the end). */
  evalEvery?: number;
  /** Where checkpoints go; needed for saveEvery, stopAfter, interruption and resume. */
  checkpointDir?: string;
  saveEvery?: number;
  /** Continue from the latest checkpoint in checkpointDir. */
  resume?: boolean;
  /** Save a checkpoint and return after this step (to split a run in two). */
  stopAfter?: number;
  /**
   * Recompute each decoder layer in backward instead of keeping its activations (DecoderModel
   * .gradientCheckpointing): about one layer's activations live instead of all of them, for about one more
   * forward per step. The numbers are the plain tape's, so a resume may switch it.
   */
  gradientCheckpointing?: boolean;
}

export interface StepStats {
  step: number;
  loss: number;
  lr: number;
  grad_norm: number;
  tokens: number;
  tokens_per_s: number;
  epoch: number;
  eval_loss?: number;
}

export interface TrainHooks {
  onStart?(info: { totalSteps: number; startStep: number; mode: 'lora' | 'full'; params: number }): void;
  onStep?(stats: StepStats): void;
  onEval?(info: { step: number; evalLoss: number }): void;
  onCheckpoint?(info: { step: number; dir: string }): void;
  /** Polled between steps; true saves a checkpoint (when there is a checkpointDir) and returns (Ctrl-C). */
  shouldStop?(): boolean;
}

export interface TrainResult {
  stats: StepStats[];
  step: number;
  totalSteps: number;
  /** 'done', or why the run returned early (a checkpoint was saved in both early cases). */
  status: 'done' | 'interrupted' | 'stopped';
  checkpoint: string | null;
  evalLoss: number | null;
}

export interface TrainData {
  train: Example[];
  eval?: Example[];
}

export async function train(model: DecoderModel, data: TrainData, options: TrainOptions, hooks: TrainHooks = {}): Promise<TrainResult> {
  const o = resolveOptions(options, data.train);
  const examples = data.train;
  const n = examples.length;
  const mode = trainMode(model);
  const params = trainableParams(model);
  const opt = new AdamW(params, o);
  const rng = new TrainRng(mixSeed(o.seed, 1));
  if (model.adapter) model.adapter.useStream(rng);
  const settings = runSettings(o, mode, model, examples);

  let step = 0;
  let consumed = 0;
  if (o.resume) {
    if (!o.checkpointDir) throw new Error('resume needs a checkpoint directory (--out)');
    const found = findCheckpoint(o.checkpointDir);
    if (!found) throw new Error(`${o.checkpointDir}: no checkpoint to resume from (latest.json is missing)`);
    checkSettings(found.state.settings, settings, found.dir);
    if (found.state.mode !== mode) throw new Error(`${found.dir}: checkpoint is ${found.state.mode} fine-tuning, this run is ${mode}`);
    restoreCheckpoint(found.dir, found.state, params, opt);
    step = found.state.step;
    consumed = found.state.consumed;
    rng.state = found.state.rngState;
  }

  const stateNow = (): TrainerState => ({
    format: CHECKPOINT_FORMAT, version: 1, mode, step, consumed, rngState: rng.state,
    optimizerSteps: Object.fromEntries([...opt.state].map(([k, s]) => [k, s.step])), settings,
  });
  const checkpoint = (): string => {
    if (!o.checkpointDir) throw new Error('cannot save a checkpoint: no checkpoint directory (--out) was given');
    const dir = saveCheckpoint(o.checkpointDir, model, params, opt, stateNow());
    hooks.onCheckpoint?.({ step, dir });
    return dir;
  };
  const evaluate = (): number | null => {
    if (!data.eval || data.eval.length === 0) return null;
    const loss = evalLoss(model, data.eval, o.batchSize, o.rowTokens, o.pack, o.padId);
    hooks.onEval?.({ step, evalLoss: loss });
    return loss;
  };

  let order: number[] = [];
  let orderEpoch = -1;
  const take = (count: number): Example[] => {
    const out: Example[] = [];
    for (let i = 0; i < count; i++, consumed++) {
      const epoch = Math.floor(consumed / n);
      if (epoch !== orderEpoch) {
        order = o.shuffle ? seededPermutation(n, mixSeed(o.seed, epoch)) : Array.from({ length: n }, (_, j) => j);
        orderEpoch = epoch;
      }
      out.push(examples[order[consumed % n]]);
    }
    return out;
  };

  hooks.onStart?.({ totalSteps: o.steps, startStep: step, mode, params: params.reduce((s, p) => s + p.value.size, 0) });
  const stats: StepStats[] = [];
  let status: TrainResult['status'] = 'done';
  let savedAt: string | null = null;
  let lastEval: number | null = null;
  const wasTraining = model.adapter?.training ?? false;
  const wasCheckpointing = model.gradientCheckpointing;
  model.gradientCheckpointing = o.gradientCheckpointing;
  try {
    while (step < o.steps) {
      const started = performance.now();
      const epoch = Math.floor(consumed / n);
      const batch = take(o.batchSize * o.gradAccum);
      const normalizer = batch.reduce((s, e) => s + targetCount(e), 0);
      let loss = 0;
      let tokens = 0;
      if (model.adapter) model.adapter.training = true;
      for (let k = 0; k < o.gradAccum; k++) {
        const micro = batch.slice(k * o.batchSize, (k + 1) * o.batchSize);
        const packed = o.pack
          ? packExamples(micro, o.rowTokens, o.padId)
          : packExamples(micro, 1, o.padId); // capacity 1: every example alone in its row
        tokens += packed.tokens;
        loss += lossAndBackward(model, packed, Math.max(normalizer, 1), () => `step ${step + 1} (examples ${micro.map((e) => e.source).join(', ')})`);
      }
      if (model.adapter) model.adapter.training = wasTraining;
      const gradNorm = globalGradNorm(params);
      if (!Number.isFinite(gradNorm)) {
        throw new Error(`step ${step + 1}: gradient norm is ${gradNorm} (loss ${loss}); lower --lr or set --max-grad-norm`);
      }
      clipGradients(params, o.maxGradNorm, gradNorm);
      const lr = lrAt(o, step);
      opt.update(lr);
      clearGrads(params);
      step++;
      const seconds = (performance.now() - started) / 1000;
      const s: StepStats = { step, loss, lr, grad_norm: gradNorm, tokens, tokens_per_s: tokens / Math.max(seconds, 1e-9), epoch };
      // Eval every evalEvery steps and after the last one, before the step is reported, so its log line has it.
      if ((o.evalEvery > 0 && step % o.evalEvery === 0) || step === o.steps) {
        const e = evaluate();
        if (e !== null) s.eval_loss = lastEval = e;
      }
      stats.push(s);
      hooks.onStep?.(s);
      if (o.checkpointDir && o.saveEvery > 0 && step % o.saveEvery === 0 && step < o.steps) savedAt = checkpoint();
      if (o.stopAfter !== undefined && step >= o.stopAfter && step < o.steps) {
        status = 'stopped';
        break;
      }
      // Let signal handlers run: a SIGINT only sets a flag, which is read here between steps.
      await new Promise((resolve) => setImmediate(resolve));
      if (hooks.shouldStop?.() && step < o.steps) {
        status = 'interrupted';
        break;
      }
    }
    // Without a checkpoint directory (library use) an interrupted run just returns its stats.
    if (status !== 'done' && o.checkpointDir) savedAt = checkpoint();
  } finally {
    if (model.adapter) model.adapter.training = wasTraining;
    model.gradientCheckpointing = wasCheckpointing;
    clearGrads(params);
    opt.dispose();
    releaseMasters(params);
    // Back to inference: forward passes outside training should not record a tape.
    for (const p of params) p.value.requiresGrad = false;
  }
  return { stats, step, totalSteps: o.steps, status, checkpoint: savedAt, evalLoss: lastEval };
}

type Resolved = Required<Omit<TrainOptions, 'stopAfter' | 'checkpointDir' | 'epochs' | 'warmupRatio'>> & {
  stopAfter?: number;
  checkpointDir?: string;
  total: number;
  kind: ScheduleKind;
};

function resolveOptions(t: TrainOptions, examples: Example[]): Resolved {
  if (examples.length === 0) throw new Error('train: no training examples');
  const int = (v: number | undefined, name: string, min: number, fallback: number): number => {
    const x = v ?? fallback;
    if (!Number.isInteger(x) || x < min) throw new Error(`${name} must be an integer ≥ ${min}, got ${v}`);
    return x;
  };
  const batchSize = int(t.batchSize, '--batch-size', 1, 1);
  const gradAccum = int(t.gradAccum, '--grad-accum', 1, 1);
  let steps: number;
  if (t.steps !== undefined) {
    if (t.epochs !== undefined) throw new Error('give --steps or --epochs, not both');
    steps = int(t.steps, '--steps', 1, 1);
  } else if (t.epochs !== undefined) {
    if (!(t.epochs > 0)) throw new Error(`--epochs must be positive, got ${t.epochs}`);
    steps = Math.ceil((t.epochs * examples.length) / (batchSize * gradAccum));
  } else throw new Error('give --steps or --epochs');
  let warmup = int(t.warmup, '--warmup', 0, 0);
  if (t.warmupRatio !== undefined) {
    if (t.warmup !== undefined) throw new Error('give --warmup (steps) or a warmup ratio, not both');
    if (!(t.warmupRatio >= 0 && t.warmupRatio < 1)) throw new Error(`warmup ratio must be in [0, 1), got ${t.warmupRatio}`);
    warmup = Math.round(t.warmupRatio * steps);
  }
  const longest = Math.max(...examples.map((e) => e.inputIds.length));
  const r: Resolved = {
    steps, total: steps, lr: t.lr, batchSize, gradAccum,
    schedule: t.schedule ?? 'constant', kind: t.schedule ?? 'constant',
    warmup, minLrRatio: t.minLrRatio ?? 0,
    weightDecay: t.weightDecay ?? 0, beta1: t.beta1 ?? 0.9, beta2: t.beta2 ?? 0.999, eps: t.eps ?? 1e-8,
    maxGradNorm: t.maxGradNorm ?? 0, shuffle: t.shuffle ?? true, seed: t.seed ?? 0,
    rowTokens: int(t.rowTokens, 'rowTokens', 1, longest), pack: t.pack ?? true, padId: t.padId ?? 0,
    evalEvery: int(t.evalEvery, '--eval-every', 0, 0), saveEvery: int(t.saveEvery, '--save-every', 0, 0),
    resume: t.resume ?? false, stopAfter: t.stopAfter, checkpointDir: t.checkpointDir,
    gradientCheckpointing: t.gradientCheckpointing ?? false,
  };
  checkSchedule({ kind: r.kind, lr: r.lr, warmup: r.warmup, total: r.total, minLrRatio: r.minLrRatio });
  if (!(r.maxGradNorm >= 0)) throw new Error(`--max-grad-norm must be ≥ 0 (0 = off), got ${r.maxGradNorm}`);
  if ((r.stopAfter !== undefined || r.saveEvery > 0) && !r.checkpointDir) throw new Error('stopAfter/saveEvery need a checkpoint directory');
  return r;
}

/** Everything that changes the numbers of a run: a resume must match it exactly. */
function runSettings(o: Resolved, mode: string, model: DecoderModel, examples: Example[]): Record<string, unknown> {
  const lora = model.adapter ? { r: model.adapter.config.r, alpha: model.adapter.config.alpha, dropout: model.adapter.config.dropout, modules: model.adapter.pairs.size } : null;
  return {
    mode, lora, steps: o.steps, lr: o.lr, schedule: o.kind, warmup: o.warmup, minLrRatio: o.minLrRatio,
    batchSize: o.batchSize, gradAccum: o.gradAccum, weightDecay: o.weightDecay, beta1: o.beta1, beta2: o.beta2,
    eps: o.eps, maxGradNorm: o.maxGradNorm, shuffle: o.shuffle, seed: o.seed, rowTokens: o.rowTokens, pack: o.pack,
    data: dataFingerprint(examples),
  };
}

function checkSettings(saved: Record<string, unknown>, now: Record<string, unknown>, dir: string): void {
  for (const key of Object.keys(now)) {
    const a = JSON.stringify(saved[key]);
    const b = JSON.stringify(now[key]);
    if (a !== b) {
      const what = key === 'data' ? 'the training data differs from' : `${key} is ${b} but was ${a} in`;
      throw new Error(`cannot resume: ${what} the checkpoint ${dir}; resume with the same settings and data`);
    }
  }
}

/** Count and a 32-bit FNV-1a hash of every id and label, in file order. */
export function dataFingerprint(examples: Example[]): string {
  let h = 0x811c9dc5;
  const mix = (x: number) => {
    h ^= x & 0xffff;
    h = Math.imul(h, 0x01000193);
    h ^= x >>> 16;
    h = Math.imul(h, 0x01000193);
  };
  for (const e of examples) {
    mix(e.inputIds.length);
    for (const id of e.inputIds) mix(id);
    for (const id of e.labels) mix(id + 128);
  }
  return `${examples.length}:${(h >>> 0).toString(16)}`;
}

/** Mean loss per target over `examples` (no gradients, dropout off). */
export function evalLoss(model: DecoderModel, examples: Example[], batchSize: number, rowTokens: number, pack = true, padId = 0): number {
  const training = model.adapter?.training ?? false;
  if (model.adapter) model.adapter.training = false;
  let sum = 0;
  let count = 0;
  try {
    for (let i = 0; i < examples.length; i += batchSize) {
      const batch = packExamples(examples.slice(i, i + batchSize), pack ? rowTokens : 1, padId);
      sum += lossSum(model, batch);
      count += batch.targetCount;
    }
  } finally {
    if (model.adapter) model.adapter.training = training;
  }
  return sum / Math.max(count, 1);
}
