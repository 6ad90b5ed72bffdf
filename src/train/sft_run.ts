// One SFT run on an HF checkpoint, as `still sft|imitate|improve` and the STILL-2 loop run it: load the
// base model, render the JSONL rows (any of the four formats) with its tokenizer and chat template, attach
// a new LoRA adapter, a given one, or train every weight, train with checkpoints (and resume from them),
// then save the adapter (and optionally the merged model) or the full model, and a training_summary.json.
//
//   const r = await runSft({ model: 'Qwen2.5-Math-1.5B', data: 'still2.jsonl', out: 'runs/imitate', epochs: 3 }, IMITATE_RECIPE);
//
// Resume is exact (trainer.ts): a run continued from a checkpoint ends with the weights an uninterrupted
// run ends with. training_summary.json is written last, so a folder that has it holds a finished run.
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { benchOverlapWarnings } from '../data/bench_overlap.ts';
import { loadSftDataset, splitHeldOut, type DatasetStats } from '../data/dataset.ts';
import type { Example } from '../data/example.ts';
import type { ChatRenderer, RenderContext } from '../data/render.ts';
import { loadAdapterFor } from '../io/adapter_base.ts';
import { loadHfTokenizer } from '../io/hf_tokenizer.ts';
import { loadPeftAdapter } from '../io/peft.ts';
import type { TextTokenizer } from '../io/text_tokenizer.ts';
import { loadModel } from '../nn/load.ts';
import type { DecoderModel } from '../nn/model.ts';
import { LORA_TARGETS, createLora, parseTargets } from '../nn/lora.ts';
import { CharTokenizer } from '../tasks/char_tokenizer.ts';
import { TrainRng, mixSeed } from '../tensor/rng.ts';
import { findCheckpoint } from './checkpoint.ts';
import { applyMemoryPlan, memoryBudget } from './memory_budget.ts';
import type { OptimizerSettings } from './optimizer_settings.ts';
import { inTrainingFolder, prepareLog, type TrainingTargets } from './training_folder.ts';
import { SFT_SUMMARY, saveFinishedRun } from './save_run.ts';
export { SFT_SUMMARY } from './save_run.ts';
import { SFT_RECIPE, type SftRecipe } from './sft_recipe.ts';
import { train, type StepStats, type TrainOptions } from './trainer.ts';

/** What is trained: a new LoRA adapter (the default), a PEFT adapter continued, or every weight. */
export type SftMode =
  | { kind: 'lora'; r?: number; alpha?: number; dropout?: number; targets?: string; rslora?: boolean }
  | { kind: 'adapter'; dir: string }
  | { kind: 'full' };

export interface SftOptions extends OptimizerSettings {
  /** The base model: an HF directory. */
  model: string;
  /** Training JSONL file(s), read in order. */
  data: string | readonly string[];
  /** The adapter (or full model) goes here; checkpoints/ holds the resume state until the run is done. */
  out: string;
  mode?: SftMode;
  maxLength?: number;
  rowTokens?: number;
  pack?: boolean;
  evalData?: string;
  evalSplit?: number;
  evalEvery?: number;
  /** Tokenizer for text rows: an HF directory, or 'char' (toy tasks); default the model's. */
  tokenizer?: string;
  /** The instruction before a STILL-2 row's question; '' = the bare question. Default: the paper's template. */
  still2Template?: string;
  /** Append one JSON line per optimizer step (step, loss, lr, grad_norm, tokens, tokens_per_s) to this file. */
  log?: string;
  /** Checkpoint every n steps (0 = only when stopped). */
  saveEvery?: number;
  /**
   * true: continue the checkpoint in out (it must exist); false: a fresh run (a checkpoint there is an
   * error); 'auto': continue one if there is one. A finished run in out (training_summary.json) is
   * never trained again: with 'auto' it is returned as it is.
   */
  resume?: boolean | 'auto';
  /** Replace a finished run (or other files) in out: the new run is written beside it and swapped in when done. */
  overwrite?: boolean;
  /** Load an initial adapter (mode 'adapter') even if it records another base model. */
  forceAdapter?: boolean;
  /** Checkpoint and return after this step. */
  stopAfter?: number;
  /** LoRA: also write the merged model here. */
  mergeTo?: string;
  /**
   * Recompute each decoder layer in backward instead of keeping its activations. true/false pins it;
   * undefined lets the memory plan turn it on when the job would not fit otherwise.
   */
  gradientCheckpointing?: boolean;
  /**
   * GiB the run may use (weights included). The memory plan lowers the micro-batch (raising accumulation to
   * keep the optimizer's batch) and turns on checkpointing to fit, or fails before the first step saying
   * what would fit. Default: the GPU's free memory; on the CPU the host's, as a warning only.
   */
  maxMemory?: number;
}

export interface SftHooks {
  /** One-line notes (data, mode, checkpoints, eval loss). */
  note?(line: string): void;
  onStart?(info: { totalSteps: number; startStep: number }): void;
  onStep?(stats: StepStats): void;
  /** Polled between steps: true checkpoints and returns ('interrupted'). */
  shouldStop?(): boolean;
}

/** training_summary.json: what a finished run trained and where it saved it. */
export interface SftResult {
  status: 'done' | 'interrupted' | 'stopped';
  step: number;
  totalSteps: number;
  loss: number | null;
  evalLoss: number | null;
  checkpoint: string | null;
  mode: 'lora' | 'full';
  /** Where the run saved its output (when done). */
  adapter?: string;
  merged?: string;
  model?: string;
  examples: number;
  /** Tokens trained on in this process (a resumed run counts only its own steps). */
  tokens: number;
  seconds: number;
}

/** The finished run in `out`, or null. */
export function finishedSft(out: string): SftResult | null {
  const file = join(out, SFT_SUMMARY);
  if (!existsSync(file)) return null;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as SftResult;
  } catch (e) {
    throw new Error(`${file}: not valid JSON (${(e as Error).message}); delete it to train this run again`);
  }
}

/** Tokenizer and chat renderer for text rows: `tokenizer`, else the model directory's, else none. */
export function sftRenderContext(o: Pick<SftOptions, 'model' | 'tokenizer' | 'still2Template'>, recipe: SftRecipe): RenderContext {
  let tokenizer: TextTokenizer | null = null;
  let chat: ChatRenderer | null = null;
  const dir = o.tokenizer ?? o.model;
  if (o.tokenizer === 'char') tokenizer = new CharTokenizer();
  else if (o.tokenizer !== undefined || existsSync(join(dir, 'tokenizer.json'))) {
    const hf = loadHfTokenizer(dir);
    tokenizer = hf;
    if (hf.chatTemplate) chat = (messages, opts) => hf.renderChat(messages, opts);
  }
  return { tokenizer, chat, tokenizerLabel: dir, requireStill2Format: recipe.requireStill2Format, still2Template: o.still2Template };
}

/** Every setting that cannot work, named, before anything is loaded or written. */
export function checkSftOptions(o: SftOptions, recipe: SftRecipe): void {
  const fail = (m: string) => {
    throw new Error(`sft: ${m}`);
  };
  const positiveInt = (v: number | undefined, name: string) => {
    if (v !== undefined && !(Number.isInteger(v) && v >= 1)) fail(`${name} must be a positive integer, got ${v}`);
  };
  if (o.steps === undefined && o.epochs === undefined && recipe.epochs === undefined) fail('give steps or epochs');
  positiveInt(o.steps, 'steps');
  if (o.epochs !== undefined && !(o.epochs > 0)) fail(`epochs must be > 0, got ${o.epochs}`);
  positiveInt(o.batchSize, 'batch size');
  positiveInt(o.gradAccum, 'gradient accumulation');
  positiveInt(o.maxLength, 'max length');
  if (o.lr !== undefined && !(o.lr > 0)) fail(`lr must be > 0, got ${o.lr}`);
  const warmup = o.warmup ?? recipe.warmup;
  if (!(warmup >= 0) || (warmup >= 1 && !Number.isInteger(warmup))) fail(`warmup expects whole steps or a fraction < 1, got ${warmup}`);
  if (o.evalData !== undefined && o.evalSplit !== undefined) fail('give eval data or an eval split, not both');
  if (o.mode?.kind === 'lora' && o.mode.r !== undefined) positiveInt(o.mode.r, 'LoRA r');
  if (typeof o.data !== 'string' && o.data.length === 0) fail('no training data files');
}

function logLine(s: StepStats): Record<string, number> {
  const line: Record<string, number> = {
    step: s.step, loss: s.loss, lr: s.lr, grad_norm: s.grad_norm, tokens: s.tokens, tokens_per_s: s.tokens_per_s,
  };
  if (s.eval_loss !== undefined) line.eval_loss = s.eval_loss;
  return line;
}

export async function runSft(o: SftOptions, recipe: SftRecipe = SFT_RECIPE, hooks: SftHooks = {}): Promise<SftResult> {
  checkSftOptions(o, recipe);
  const started = performance.now();
  return inTrainingFolder(o, join('checkpoints', 'latest.json'), () => finishedSft(o.out)!, (t) => trainInto(t, o, recipe, hooks, started));
}

/** The run itself, writing into the folders `t` names (the output folder, or its --overwrite stand-in). */
async function trainInto(
  { out, mergeTo, log, resume }: TrainingTargets, o: SftOptions, recipe: SftRecipe, hooks: SftHooks, started: number,
): Promise<SftResult> {
  const note = hooks.note ?? (() => {});
  const checkpointDir = join(out, 'checkpoints');
  const existing = resume ? findCheckpoint(checkpointDir) : null;
  if (resume && !existing) throw new Error(`${checkpointDir}: no checkpoint to resume from (expected latest.json)`);

  const model = loadModel(o.model, { quiet: true });
  const cfg = model.config;
  const maxLength = Math.min(o.maxLength ?? recipe.maxLength ?? cfg.maxPositionEmbeddings, cfg.maxPositionEmbeddings);
  const ctx = sftRenderContext(o, recipe);
  const loadOpts = { vocabSize: cfg.vocabSize, maxLength };
  const { examples, stats } = loadSftDataset(o.data, ctx, loadOpts);
  const seed = o.seed ?? 0;
  let trainSet: Example[] = examples;
  let evalSet: Example[] | undefined;
  if (o.evalData) evalSet = loadSftDataset(o.evalData, ctx, loadOpts).examples;
  else if (o.evalSplit !== undefined) ({ train: trainSet, held: evalSet } = splitHeldOut(examples, o.evalSplit, seed));
  note(`${typeof o.data === 'string' ? o.data : o.data.join(' + ')}: ${describeStats(stats, maxLength)}`);
  for (const warning of benchOverlapWarnings(stats.questions, 'the training data')) note(warning);

  const mode = o.mode ?? { kind: 'lora' };
  let full = mode.kind === 'full';
  if (resume) {
    // The checkpoint's adapter has the right shape and config by construction; its values are restored anyway.
    full = existing!.state.mode === 'full';
    if (!full) model.adapter = loadPeftAdapter(existing!.dir, cfg);
  } else if (mode.kind === 'adapter') {
    model.adapter = loadAdapterFor(mode.dir, o.model, cfg, { force: o.forceAdapter, notice: note });
  } else if (mode.kind === 'lora') {
    const r = mode.r ?? 16;
    const init = new TrainRng(mixSeed(seed, 2));
    model.adapter = createLora(cfg, {
      r, alpha: mode.alpha ?? 2 * r, dropout: mode.dropout ?? 0, targets: parseTargets(mode.targets ?? LORA_TARGETS.map((t) => t.replace('_proj', '')).join(',')),
      useRslora: mode.rslora,
    }, () => init.next());
  }

  const warmup = o.warmup ?? recipe.warmup;
  const options: TrainOptions = {
    steps: o.steps,
    epochs: o.steps === undefined ? (o.epochs ?? recipe.epochs) : o.epochs,
    lr: o.lr ?? (full ? recipe.lrFull : recipe.lrLora),
    batchSize: o.batchSize ?? recipe.batchSize,
    gradAccum: o.gradAccum ?? recipe.gradAccum,
    schedule: o.schedule ?? recipe.schedule,
    ...(warmup > 0 && warmup < 1 ? { warmupRatio: warmup } : { warmup }),
    minLrRatio: o.minLrRatio ?? 0,
    weightDecay: o.weightDecay ?? 0,
    beta1: o.beta1 ?? 0.9,
    beta2: o.beta2 ?? 0.999,
    eps: o.adamEps ?? 1e-8,
    maxGradNorm: o.maxGradNorm ?? recipe.maxGradNorm,
    shuffle: o.shuffle ?? true,
    seed,
    rowTokens: o.rowTokens,
    pack: o.pack ?? true,
    padId: ctx.tokenizer?.padId ?? 0,
    evalEvery: o.evalEvery ?? 0,
    checkpointDir,
    saveEvery: o.saveEvery ?? 0,
    resume,
    stopAfter: o.stopAfter,
  };
  planMemory(model, trainSet, options, o, existing?.state.settings ?? null, note);
  if (log) prepareLog(log, resume ? existing!.state.step : null);

  let tokens = 0;
  const result = await train(model, { train: trainSet, eval: evalSet }, options, {
    onStart: (i) => {
      const what = i.mode === 'lora'
        ? `LoRA r=${model.adapter!.config.r} alpha=${model.adapter!.config.alpha} on ${model.adapter!.pairs.size} projections`
        : 'full fine-tuning';
      note(`${what}, ${i.params} trainable parameters, ${trainSet.length} training examples, steps ${i.startStep}→${i.totalSteps}`);
      hooks.onStart?.(i);
    },
    onStep: (s) => {
      tokens += s.tokens;
      if (log) appendFileSync(log, `${JSON.stringify(logLine(s))}\n`);
      hooks.onStep?.(s);
    },
    onEval: (e) => note(`step ${e.step}: eval loss ${e.evalLoss.toFixed(4)}`),
    onCheckpoint: (c) => note(`step ${c.step}: checkpoint ${c.dir}`),
    shouldStop: hooks.shouldStop,
  });

  const summary: SftResult = {
    status: result.status, step: result.step, totalSteps: result.totalSteps, loss: result.stats.at(-1)?.loss ?? null,
    evalLoss: result.evalLoss, checkpoint: result.checkpoint, mode: full ? 'full' : 'lora', examples: trainSet.length,
    tokens, seconds: (performance.now() - started) / 1000,
  };
  if (result.status !== 'done') return summary;
  return saveFinishedRun(model, { base: o.model, dir: out, out: o.out, mergeDir: mergeTo, mergeTo: o.mergeTo, checkpointDir }, summary);
}

/**
 * Fit the step in the memory budget (train/memory_budget.ts) before the first one: sets the options'
 * micro-batch, accumulation and checkpointing, or throws a MemoryPlanError. A resumed run keeps the
 * micro-batch its checkpoint was trained with when the optimizer's batch is the one asked for.
 */
function planMemory(
  model: DecoderModel, examples: Example[], options: TrainOptions, o: SftOptions, saved: Record<string, unknown> | null, note: (line: string) => void,
): void {
  let gradAccum = options.gradAccum ?? 1;
  let batchSize = options.batchSize;
  const resumed = saved !== null && typeof saved.batchSize === 'number' && typeof saved.gradAccum === 'number' &&
    saved.batchSize * saved.gradAccum === batchSize * gradAccum;
  if (resumed) [batchSize, gradAccum] = [saved.batchSize as number, saved.gradAccum as number];
  const lora = model.adapter?.config;
  const embed = model.weight('model.embed_tokens.weight');
  const plan = applyMemoryPlan({
    config: model.config, dtype: embed.dtype, objective: 'sft',
    mode: lora ? { kind: 'lora', r: lora.r, targets: lora.targets, dropout: lora.dropout } : { kind: 'full' },
    seqLen: options.rowTokens ?? examples.reduce((m, e) => Math.max(m, e.inputIds.length), 1),
    microBatch: batchSize, gradAccum, gradientCheckpointing: o.gradientCheckpointing,
  }, memoryBudget(embed.backend, o.maxMemory), resumed);
  for (const line of plan.notes) note(line);
  options.batchSize = plan.microBatch;
  options.gradAccum = plan.gradAccum;
  options.gradientCheckpointing = plan.gradientCheckpointing;
}


function describeStats(stats: DatasetStats, maxLength: number): string {
  const formats = Object.entries(stats.formats).map(([k, v]) => `${v} ${k === 'tokens' ? 'pre-tokenized' : k}`).join(', ');
  return `${stats.rows} rows (${formats}), ${stats.tokens} tokens, ${stats.targets} trained` +
    (stats.truncated ? `, ${stats.truncated} truncated to ${maxLength}` : '') + (stats.dropped ? `, ${stats.dropped} dropped (nothing to train on)` : '');
}
