// One DPO run, as `still dpo` and the STILL loop's SFT+DPO improve step run it: load the policy (an HF
// directory, optionally with the SFT round's PEFT adapter), read preference pairs (TRL-layout JSONL;
// loop/pairs.ts builds them from an explore run's rollouts), compute the reference log-probs once with the starting policy
// and cache them, then train (a new LoRA adapter, the given adapter continued, or every weight) with
// checkpoints and exact resume, and save like `still sft` does. training_summary.json is written last.
//
//   const r = await runDpo({ model: 'Qwen2.5-Math-1.5B', adapter: 'runs/imitate', data: 'pairs.jsonl', out: 'runs/dpo', epochs: 1 });
//
// The reference is the policy DPO starts from. Its log-probs are computed before the first step and kept in
// reference_logps.json, so there is never a second copy of the weights: with LoRA the starting policy is
// the base plus the SFT adapter, which DPO then continues to train (or a new adapter on a full checkpoint).
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadPairs, type TokenPair } from '../data/pairs.ts';
import { writeJsonAtomic } from '../io/atomic.ts';
import { loadPeftAdapter } from '../io/peft.ts';
import { loadModel } from '../nn/load.ts';
import { LORA_TARGETS, createLora, parseTargets } from '../nn/lora.ts';
import type { DecoderModel } from '../nn/model.ts';
import { TrainRng, mixSeed, seededPermutation } from '../tensor/rng.ts';
import { AdamW } from './adamw.ts';
import { CHECKPOINT_FORMAT, findCheckpoint, restoreCheckpoint, saveCheckpoint, type TrainerState } from './checkpoint.ts';
import { clipGradients, globalGradNorm } from './clip.ts';
import { DpoMetricSums, checkDpoLossOptions, type DpoLossType, type DpoMetrics } from './dpo_loss.ts';
import { chosenTokens, dpoLossAndBackward, evalPairs, pairLogps, type DpoStepOptions, type RefLogps } from './dpo_step.ts';
import { applyMemoryPlan, memoryBudget } from './memory_budget.ts';
import type { PlanMode } from './memory_plan.ts';
import { clearGrads, releaseMasters, trainableParams, trainMode } from './params.ts';
import { checkSchedule, lrAt, type ScheduleKind } from './schedule.ts';
import type { OptimizerSettings } from './optimizer_settings.ts';
import { inOutputFolder, inTrainingFolder, prepareLog, type TrainingTargets } from './training_folder.ts';
import { SFT_RECIPE, type SftRecipe } from './sft_recipe.ts';
import { saveFinishedRun } from './save_run.ts';
import { finishedSft, sftRenderContext, type SftMode } from './sft_run.ts';

/** What is trained: a new LoRA adapter (default), a PEFT adapter continued (it is also the reference), or every weight. */
export type DpoMode = SftMode;

export interface DpoOptions extends OptimizerSettings {
  /** The policy DPO starts from: an HF directory (with `mode: adapter`, the base under that adapter). */
  model: string;
  /** Preference pairs, JSONL in TRL's layouts (data/pairs.ts). */
  data: string;
  out: string;
  mode?: DpoMode;
  beta?: number;
  lossType?: DpoLossType;
  labelSmoothing?: number;
  /** Score only each completion's thought block in the DPO term. */
  thoughtOnly?: boolean;
  /** Weight of the NLL term on the chosen completions (0 = off). */
  nllWeight?: number;
  /** Prompt + completion are cut to this many tokens (default the model's context). */
  maxLength?: number;
  /** Held-out pairs for eval metrics, or a fraction of the problems (prompts) held out. */
  evalData?: string;
  evalSplit?: number;
  evalEvery?: number;
  tokenizer?: string;
  /** One JSON line per optimizer step with TRL's metric names. */
  log?: string;
  saveEvery?: number;
  resume?: boolean | 'auto';
  /** Replace a finished run (or other files) in out: the new run is written beside it and swapped in when done. */
  overwrite?: boolean;
  stopAfter?: number;
  mergeTo?: string;
  /** Recompute each layer in backward (see SftOptions.gradientCheckpointing); undefined: the memory plan decides. */
  gradientCheckpointing?: boolean;
  /** GiB the run may use (see SftOptions.maxMemory): a micro-batch of n pairs runs 2n rows. */
  maxMemory?: number;
}

/** The defaults of `still dpo` (TRL's where it has them). */
export const DPO_RECIPE = {
  beta: 0.1,
  lossType: 'sigmoid' as DpoLossType,
  lrLora: 5e-6,
  lrFull: 1e-6,
  schedule: 'linear' as ScheduleKind,
  maxGradNorm: 1,
  epochs: 1,
};

export interface DpoStepStats extends DpoMetrics {
  step: number;
  lr: number;
  grad_norm: number;
  tokens: number;
  tokens_per_s: number;
  epoch: number;
  /** Held-out metrics at this step, with TRL's eval_ prefix. */
  eval?: Record<string, number>;
}

export interface DpoHooks {
  note?(line: string): void;
  onStart?(info: { totalSteps: number; startStep: number }): void;
  onStep?(stats: DpoStepStats): void;
  shouldStop?(): boolean;
  /** On a fresh run, write the pairs file `data` names (at `path`, inside the claimed folder) before it is read. */
  preparePairs?(path: string): void;
}

/** training_summary.json of a DPO run. */
export interface DpoResult {
  status: 'done' | 'interrupted' | 'stopped';
  step: number;
  totalSteps: number;
  loss: number | null;
  /** The last step's training metrics. */
  train: DpoMetrics | null;
  /** Held-out metrics at the start (the reference itself) and at the end. */
  evalStart: Record<string, number> | null;
  eval: Record<string, number> | null;
  checkpoint: string | null;
  mode: 'lora' | 'full';
  adapter?: string;
  merged?: string;
  model?: string;
  pairs: number;
  evalPairs: number;
  seconds: number;
}

export const REFERENCE_FILE = 'reference_logps.json';

function checkDpoOptions(o: DpoOptions): void {
  const fail = (m: string): never => {
    throw new Error(`dpo: ${m}`);
  };
  const positiveInt = (v: number | undefined, name: string) => {
    if (v !== undefined && !(Number.isInteger(v) && v >= 1)) fail(`${name} must be a positive integer, got ${v}`);
  };
  positiveInt(o.steps, 'steps');
  positiveInt(o.batchSize, 'batch size');
  positiveInt(o.gradAccum, 'gradient accumulation');
  positiveInt(o.maxLength, 'max length');
  if (o.steps !== undefined && o.epochs !== undefined) fail('give steps or epochs, not both');
  if (o.epochs !== undefined && !(o.epochs > 0)) fail(`epochs must be > 0, got ${o.epochs}`);
  if (o.lr !== undefined && !(o.lr > 0)) fail(`lr must be > 0, got ${o.lr}`);
  if (o.nllWeight !== undefined && !(o.nllWeight >= 0)) fail(`NLL weight must be ≥ 0, got ${o.nllWeight}`);
  if (o.evalData !== undefined && o.evalSplit !== undefined) fail('give eval data or an eval split, not both');
  if (o.evalSplit !== undefined && !(o.evalSplit > 0 && o.evalSplit < 1)) fail(`eval split must be a fraction in (0, 1), got ${o.evalSplit}`);
  const warmup = o.warmup ?? 0;
  if (!(warmup >= 0) || (warmup >= 1 && !Number.isInteger(warmup))) fail(`warmup expects whole steps or a fraction < 1, got ${warmup}`);
  checkDpoLossOptions(lossOptions(o));
}

function lossOptions(o: DpoOptions): DpoStepOptions {
  return {
    beta: o.beta ?? DPO_RECIPE.beta, lossType: o.lossType ?? DPO_RECIPE.lossType, labelSmoothing: o.labelSmoothing ?? 0,
    thoughtOnly: o.thoughtOnly ?? false, nllWeight: o.nllWeight ?? 0,
  };
}

/**
 * An adapter trained on another base model is refused: its base_model_name_or_path, when it names a local
 * directory other than `model`, must hold the same config.json and weight files.
 */
export function checkAdapterBase(adapterDir: string, model: string): void {
  const file = join(adapterDir, 'adapter_config.json');
  if (!existsSync(file)) return; // loadPeftAdapter names the missing file
  let base: unknown;
  try {
    base = (JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>).base_model_name_or_path;
  } catch {
    return;
  }
  if (typeof base !== 'string' || !existsSync(join(base, 'config.json')) || resolve(base) === resolve(model)) return;
  const config = (dir: string) => {
    const { _name_or_path: _n, ...rest } = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    return JSON.stringify(rest, Object.keys(rest).sort());
  };
  const weights = (dir: string) => {
    const f = join(dir, 'model.safetensors');
    return existsSync(f) ? readFileSync(f).length : -1;
  };
  if (config(base) !== config(model) || weights(base) !== weights(model)) {
    throw new Error(`${file}: field 'base_model_name_or_path' is '${base}', a different model from ${model} (config.json or weights differ); ` +
      'the adapter must come from the base model DPO trains');
  }
}

/** Hold out a fraction of the problems (pairs grouped by prompt), by a seeded shuffle. */
function splitByPrompt(pairs: TokenPair[], fraction: number, seed: number): { train: TokenPair[]; held: TokenPair[] } {
  const keys = [...new Set(pairs.map((p) => p.prompt.join(',')))];
  if (keys.length < 2) throw new Error(`dpo: eval split needs pairs of at least 2 problems, got ${keys.length}`);
  const k = Math.min(keys.length - 1, Math.max(1, Math.round(keys.length * fraction)));
  const order = seededPermutation(keys.length, mixSeed(seed, 0x5eed));
  const held = new Set(order.slice(0, k).map((i) => keys[i]));
  return { train: pairs.filter((p) => !held.has(p.prompt.join(','))), held: pairs.filter((p) => held.has(p.prompt.join(','))) };
}

function fingerprint(pairs: readonly TokenPair[]): string {
  let h = 0x811c9dc5;
  const mix = (x: number) => {
    h ^= x;
    h = Math.imul(h, 0x01000193);
  };
  for (const p of pairs) for (const list of [p.prompt, p.chosen, p.rejected, [p.chosenThought, p.rejectedThought]]) {
    mix(list.length);
    for (const id of list) mix(id);
  }
  return `${pairs.length}:${(h >>> 0).toString(16)}`;
}

interface ReferenceCache {
  key: Record<string, unknown>;
  train: [number, number][];
  eval: [number, number][];
}

function referenceLogps(
  model: DecoderModel, pairs: TokenPair[], thoughtOnly: boolean, batchSize: number, padId: number, onProgress: (done: number) => void,
): RefLogps[] {
  const out: RefLogps[] = [];
  for (let i = 0; i < pairs.length; i += batchSize) {
    out.push(...pairLogps(model, pairs.slice(i, i + batchSize), thoughtOnly, padId));
    onProgress(Math.min(i + batchSize, pairs.length));
  }
  return out;
}

function prefixed(m: DpoMetrics, prefix: string): Record<string, number> {
  return Object.fromEntries(Object.entries(m).map(([k, v]) => [`${prefix}${k}`, v as number]));
}

export async function runDpo(o: DpoOptions, hooks: DpoHooks = {}): Promise<DpoResult> {
  checkDpoOptions(o);
  const mode = o.mode ?? { kind: 'lora' };
  if (mode.kind === 'adapter') checkAdapterBase(mode.dir, o.model);
  const started = performance.now();
  // A folder holding only the reference cache (and built pairs) is a run that never reached its first checkpoint.
  return inTrainingFolder(o, REFERENCE_FILE, () => finishedSft(o.out) as unknown as DpoResult, (t) => trainInto(t, mode, o, hooks, started));
}

/**
 * The memory plan for a DPO run (train/memory_budget.ts), before the reference pass: micro-batch (pairs),
 * accumulation and checkpointing, or a MemoryPlanError. A resume keeps its checkpoint's micro-batch.
 */
function planDpoMemory(
  model: DecoderModel, mode: DpoMode, saved: TrainerState | null, pairs: readonly TokenPair[], o: DpoOptions, note: (line: string) => void,
): { batchSize: number; gradAccum: number; gradientCheckpointing: boolean } {
  let batchSize = o.batchSize ?? 1;
  let gradAccum = o.gradAccum ?? 1;
  const s = saved?.settings;
  const fixed = typeof s?.batchSize === 'number' && typeof s.gradAccum === 'number' && s.batchSize * s.gradAccum === batchSize * gradAccum;
  if (fixed) [batchSize, gradAccum] = [s!.batchSize as number, s!.gradAccum as number];
  const savedLora = s?.lora as { r: number; dropout: number } | null | undefined;
  const planMode: PlanMode = saved
    ? (saved.mode === 'full' || !savedLora ? { kind: 'full' } : { kind: 'lora', r: savedLora.r, dropout: savedLora.dropout })
    : model.adapter ? { kind: 'lora', r: model.adapter.config.r, targets: model.adapter.config.targets, dropout: model.adapter.config.dropout }
    : mode.kind === 'lora' ? { kind: 'lora', r: mode.r ?? 16, dropout: mode.dropout ?? 0, targets: mode.targets ? parseTargets(mode.targets) : undefined }
    : { kind: 'full' };
  const embed = model.weight('model.embed_tokens.weight');
  const plan = applyMemoryPlan({
    config: model.config, dtype: embed.dtype, objective: 'dpo', mode: planMode,
    seqLen: pairs.reduce((m, p) => Math.max(m, p.prompt.length + Math.max(p.chosen.length, p.rejected.length)), 1),
    microBatch: batchSize, gradAccum, gradientCheckpointing: o.gradientCheckpointing,
  }, memoryBudget(embed.backend, o.maxMemory), fixed);
  for (const line of plan.notes) note(line);
  return { batchSize: plan.microBatch, gradAccum: plan.gradAccum, gradientCheckpointing: plan.gradientCheckpointing };
}

/** The run itself, writing into `out` (the output folder, or its --overwrite stand-in) and `mergeTo`. */
async function trainInto(
  { out, mergeTo, log, resume: resumeFolder }: TrainingTargets, mode: DpoMode, o: DpoOptions, hooks: DpoHooks, started: number,
): Promise<DpoResult> {
  const note = hooks.note ?? (() => {});
  const checkpointDir = join(out, 'checkpoints');
  const existing = resumeFolder ? findCheckpoint(checkpointDir) : null;
  // Resuming a run that cached its reference but saved no checkpoint yet starts its training from step 0.
  const resume = existing !== null;
  const data = inOutputFolder(o.data, o.out, out);
  if (!resumeFolder && hooks.preparePairs) hooks.preparePairs(data);

  const model = loadModel(o.model, { quiet: true });
  const cfg = model.config;
  const maxLength = Math.min(o.maxLength ?? cfg.maxPositionEmbeddings, cfg.maxPositionEmbeddings);
  const recipe: SftRecipe = { ...SFT_RECIPE };
  const ctx = sftRenderContext({ model: o.model, tokenizer: o.tokenizer }, recipe);
  const loadOpts = { vocabSize: cfg.vocabSize, maxLength };
  const loaded = loadPairs(data, ctx, loadOpts);
  const seed = o.seed ?? 0;
  let trainPairs = loaded.pairs;
  let heldPairs: TokenPair[] = [];
  if (o.evalData) heldPairs = loadPairs(o.evalData, ctx, loadOpts).pairs;
  else if (o.evalSplit !== undefined) ({ train: trainPairs, held: heldPairs } = splitByPrompt(loaded.pairs, o.evalSplit, seed));
  const s = loaded.stats;
  note(`${o.data}: ${s.rows} pairs, ${s.tokens} tokens${s.truncated ? `, ${s.truncated} cut to ${maxLength} tokens` : ''}` +
    `${s.dropped ? `, ${s.dropped} dropped (prompt reaches ${maxLength} tokens)` : ''}; ${trainPairs.length} to train, ${heldPairs.length} held out`);

  const lo = lossOptions(o);
  const padId = ctx.tokenizer?.padId ?? cfg.padTokenId ?? 0;

  // The starting policy: the model, with the given adapter when continuing one.
  if (mode.kind === 'adapter' && !resume) model.adapter = loadPeftAdapter(mode.dir, cfg);
  // Before the reference pass, which runs at the planned micro-batch too.
  const { batchSize, gradAccum, gradientCheckpointing } = planDpoMemory(model, mode, existing?.state ?? null, trainPairs, o, note);
  const refKey = {
    model: resolve(o.model), adapter: mode.kind === 'adapter' ? resolve(mode.dir) : null, thoughtOnly: lo.thoughtOnly,
    train: fingerprint(trainPairs), eval: fingerprint(heldPairs),
  };
  const refFile = join(out, REFERENCE_FILE);
  let cache: ReferenceCache | null = existsSync(refFile) ? (JSON.parse(readFileSync(refFile, 'utf8')) as ReferenceCache) : null;
  if (cache && JSON.stringify(cache.key) !== JSON.stringify(refKey)) {
    if (resumeFolder) throw new Error(`${refFile}: the cached reference log-probs are for other pairs or another reference model; resume with the same settings`);
    cache = null;
  }
  if (!cache) {
    const all = [...trainPairs, ...heldPairs];
    note(`reference log-probs for ${all.length} pairs (computed once, cached in ${refFile})`);
    const ref = referenceLogps(model, all, lo.thoughtOnly, batchSize, padId, () => {});
    cache = { key: refKey, train: ref.slice(0, trainPairs.length).map((r) => [r.chosen, r.rejected]), eval: ref.slice(trainPairs.length).map((r) => [r.chosen, r.rejected]) };
    writeJsonAtomic(refFile, cache);
  }
  const refTrain = cache.train.map(([chosen, rejected]) => ({ chosen, rejected }));
  const refEval = cache.eval.map(([chosen, rejected]) => ({ chosen, rejected }));

  let full = mode.kind === 'full';
  if (resume) {
    full = existing!.state.mode === 'full';
    if (!full) {
      model.adapter?.dispose();
      model.adapter = loadPeftAdapter(existing!.dir, cfg);
    }
  } else if (mode.kind === 'lora') {
    const r = mode.r ?? 16;
    const init = new TrainRng(mixSeed(seed, 2));
    model.adapter = createLora(cfg, {
      r, alpha: mode.alpha ?? 2 * r, dropout: mode.dropout ?? 0, useRslora: mode.rslora,
      targets: parseTargets(mode.targets ?? LORA_TARGETS.map((t) => t.replace('_proj', '')).join(',')),
    }, () => init.next());
  }

  const n = trainPairs.length;
  const perStep = batchSize * gradAccum;
  const totalSteps = o.steps ?? Math.ceil(((o.epochs ?? DPO_RECIPE.epochs) * n) / perStep);
  const warmupOpt = o.warmup ?? 0;
  const schedule = {
    kind: o.schedule ?? DPO_RECIPE.schedule, lr: o.lr ?? (full ? DPO_RECIPE.lrFull : DPO_RECIPE.lrLora),
    warmup: warmupOpt > 0 && warmupOpt < 1 ? Math.round(warmupOpt * totalSteps) : warmupOpt, total: totalSteps, minLrRatio: o.minLrRatio ?? 0,
  };
  checkSchedule(schedule);
  const maxGradNorm = o.maxGradNorm ?? DPO_RECIPE.maxGradNorm;
  const shuffle = o.shuffle ?? true;
  const mode2 = trainMode(model);
  const params = trainableParams(model);
  const opt = new AdamW(params, { beta1: o.beta1, beta2: o.beta2, eps: o.adamEps, weightDecay: o.weightDecay ?? 0 });
  const rng = new TrainRng(mixSeed(seed, 1));
  if (model.adapter) model.adapter.useStream(rng);
  model.gradientCheckpointing = gradientCheckpointing;
  const settings: Record<string, unknown> = {
    objective: 'dpo', mode: mode2, ...lo, steps: totalSteps, schedule, batchSize, gradAccum, maxGradNorm, shuffle, seed,
    weightDecay: o.weightDecay ?? 0, data: refKey.train, reference: refKey,
    lora: model.adapter ? { r: model.adapter.config.r, alpha: model.adapter.config.alpha, dropout: model.adapter.config.dropout, modules: model.adapter.pairs.size } : null,
  };
  let step = 0;
  let consumed = 0;
  if (resume) {
    const saved = existing!.state.settings;
    for (const key of Object.keys(settings)) {
      if (JSON.stringify(saved[key]) !== JSON.stringify(settings[key])) {
        throw new Error(`cannot resume: ${key} is ${JSON.stringify(settings[key])} but was ${JSON.stringify(saved[key])} in the checkpoint ${existing!.dir}; resume with the same settings and data`);
      }
    }
    restoreCheckpoint(existing!.dir, existing!.state, params, opt);
    step = existing!.state.step;
    consumed = existing!.state.consumed;
    rng.state = existing!.state.rngState;
  }
  if (log) prepareLog(log, resume ? step : null);
  const what = model.adapter ? `LoRA r=${model.adapter.config.r} on ${model.adapter.pairs.size} projections` : 'full fine-tuning';
  note(`DPO (${lo.lossType}, beta ${lo.beta}${lo.labelSmoothing ? `, label smoothing ${lo.labelSmoothing}` : ''}${lo.thoughtOnly ? ', thought only' : ''}` +
    `${lo.nllWeight ? `, NLL weight ${lo.nllWeight}` : ''}), ${what}, ${params.reduce((a, p) => a + p.value.size, 0)} trainable parameters, steps ${step}→${totalSteps}`);

  const evaluate = (): Record<string, number> | null =>
    heldPairs.length === 0 ? null : prefixed(evalPairs(model, heldPairs, refEval, lo, batchSize, padId).mean(lo.nllWeight > 0), 'eval_');
  const evalStart = !resume ? evaluate() : null;
  const stateNow = (): TrainerState => ({
    format: CHECKPOINT_FORMAT, version: 1, mode: mode2, step, consumed, rngState: rng.state,
    optimizerSteps: Object.fromEntries([...opt.state].map(([k, v]) => [k, v.step])), settings,
  });
  const checkpoint = (): string => {
    const dir = saveCheckpoint(checkpointDir, model, params, opt, stateNow());
    note(`step ${step}: checkpoint ${dir}`);
    return dir;
  };

  let order: number[] = [];
  let orderEpoch = -1;
  const take = (count: number): number[] => {
    const out: number[] = [];
    for (let i = 0; i < count; i++, consumed++) {
      const epoch = Math.floor(consumed / n);
      if (epoch !== orderEpoch) {
        order = shuffle ? seededPermutation(n, mixSeed(seed, epoch)) : Array.from({ length: n }, (_, j) => j);
        orderEpoch = epoch;
      }
      out.push(order[consumed % n]);
    }
    return out;
  };

  hooks.onStart?.({ totalSteps, startStep: step });
  let status: DpoResult['status'] = 'done';
  let savedAt: string | null = null;
  let last: DpoStepStats | null = null;
  let lastEval: Record<string, number> | null = null;
  try {
    while (step < totalSteps) {
      const t0 = performance.now();
      const epoch = Math.floor(consumed / n);
      const idx = take(perStep);
      const batch = idx.map((i) => trainPairs[i]);
      const norm = { pairs: batch.length, nllTokens: batch.reduce((a, p) => a + chosenTokens(p), 0) };
      const metrics = new DpoMetricSums();
      let tokens = 0;
      if (model.adapter) model.adapter.training = true;
      for (let k = 0; k < gradAccum; k++) {
        const micro = idx.slice(k * batchSize, (k + 1) * batchSize);
        tokens += micro.reduce((a, i) => a + 2 * trainPairs[i].prompt.length + trainPairs[i].chosen.length + trainPairs[i].rejected.length, 0);
        dpoLossAndBackward(model, micro.map((i) => trainPairs[i]), micro.map((i) => refTrain[i]), lo, norm, padId, metrics,
          () => `step ${step + 1} (pairs ${micro.map((i) => trainPairs[i].source).join(', ')})`);
      }
      if (model.adapter) model.adapter.training = false;
      const gradNorm = globalGradNorm(params);
      if (!Number.isFinite(gradNorm)) throw new Error(`step ${step + 1}: gradient norm is ${gradNorm}; lower --lr or set --max-grad-norm`);
      clipGradients(params, maxGradNorm, gradNorm);
      const lr = lrAt(schedule, step);
      opt.update(lr);
      clearGrads(params);
      step++;
      const seconds = (performance.now() - t0) / 1000;
      const stats: DpoStepStats = { step, ...metrics.mean(lo.nllWeight > 0), lr, grad_norm: gradNorm, tokens, tokens_per_s: tokens / Math.max(seconds, 1e-9), epoch };
      const evalEvery = o.evalEvery ?? 0;
      if ((evalEvery > 0 && step % evalEvery === 0) || step === totalSteps) {
        const e = evaluate();
        if (e) stats.eval = lastEval = e;
      }
      last = stats;
      if (log) {
        const { eval: ev, epoch: _e, ...line } = stats;
        appendFileSync(log, `${JSON.stringify({ ...line, ...ev })}\n`);
      }
      hooks.onStep?.(stats);
      if ((o.saveEvery ?? 0) > 0 && step % o.saveEvery! === 0 && step < totalSteps) savedAt = checkpoint();
      if (o.stopAfter !== undefined && step >= o.stopAfter && step < totalSteps) {
        status = 'stopped';
        break;
      }
      await new Promise((r) => setImmediate(r));
      if (hooks.shouldStop?.() && step < totalSteps) {
        status = 'interrupted';
        break;
      }
    }
    if (status !== 'done') savedAt = checkpoint();
  } finally {
    if (model.adapter) model.adapter.training = false;
    clearGrads(params);
    opt.dispose();
    releaseMasters(params);
    for (const p of params) p.value.requiresGrad = false;
  }

  const { loss: _l, ...trainMetrics } = last ?? {};
  const summary: DpoResult = {
    status, step, totalSteps, loss: last?.loss ?? null, train: last ? ({ loss: last.loss, ...(trainMetrics as object) } as DpoMetrics) : null,
    evalStart, eval: lastEval, checkpoint: savedAt, mode: full ? 'full' : 'lora', pairs: trainPairs.length, evalPairs: heldPairs.length,
    seconds: (performance.now() - started) / 1000,
  };
  if (summary.train) {
    for (const k of ['step', 'lr', 'grad_norm', 'tokens', 'tokens_per_s', 'epoch', 'eval']) delete (summary.train as unknown as Record<string, unknown>)[k];
  }
  if (status !== 'done') return summary;
  return saveFinishedRun(model, { base: o.model, dir: out, out: o.out, mergeDir: mergeTo, mergeTo: o.mergeTo, checkpointDir }, summary);
}
