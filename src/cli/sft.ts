// `still sft`: supervised fine-tuning (LoRA or full) on JSONL data, with checkpoints, resume and Ctrl-C.
// The options and the run live here; `still imitate` (imitate.ts) is the same command with STILL-2 defaults.
import { appendFileSync, existsSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command, Option } from 'commander';
import { loadSftDataset, splitHeldOut } from '../data/dataset.ts';
import type { Example } from '../data/example.ts';
import type { ChatRenderer, RenderContext } from '../data/render.ts';
import { writeFileAtomic } from '../io/atomic.ts';
import { loadHfTokenizer } from '../io/hf_tokenizer.ts';
import { loadPeftAdapter, savePeftAdapter } from '../io/peft.ts';
import type { TextTokenizer } from '../io/text_tokenizer.ts';
import { loadModel } from '../nn/load.ts';
import { LORA_TARGETS, createLora, parseTargets } from '../nn/lora.ts';
import { mergeLora } from '../nn/merge.ts';
import { saveHfModel } from '../nn/save.ts';
import { CharTokenizer } from '../tasks/char_tokenizer.ts';
import { findCheckpoint } from '../train/checkpoint.ts';
import { TrainProgress } from '../train/progress.ts';
import { TrainRng, mixSeed } from '../train/rng.ts';
import { SCHEDULES, type ScheduleKind } from '../train/schedule.ts';
import { train, type StepStats, type TrainOptions } from '../train/trainer.ts';
import { useBackend } from './backend_option.ts';

/** Defaults that differ between `still sft` and `still imitate`. */
export interface SftDefaults {
  name: string;
  description: string;
  lrLora: number;
  lrFull: number;
  schedule: ScheduleKind;
  /** Steps (≥ 1 or 0) or a fraction of the run (< 1). */
  warmup: string;
  maxGradNorm: number;
  batchSize: number;
  gradAccum: number;
  epochs?: number;
  maxLength?: number;
  /** Refuse STILL-2 rows without the thought/solution tags. */
  requireStill2Format: boolean;
}

interface SftCliOptions {
  model: string;
  data: string;
  out: string;
  evalData?: string;
  evalSplit?: number;
  evalEvery: number;
  initAdapter?: string;
  loraR?: number;
  loraAlpha?: number;
  loraDropout: number;
  loraTargets: string;
  rslora?: boolean;
  full?: boolean;
  steps?: number;
  epochs?: number;
  lr?: number;
  batchSize: number;
  gradAccum: number;
  weightDecay: number;
  warmup: string;
  schedule: string;
  minLrRatio: number;
  maxGradNorm: number;
  beta1: number;
  beta2: number;
  adamEps: number;
  shuffle: boolean;
  seed: number;
  maxLength?: number;
  rowTokens?: number;
  pack: boolean;
  tokenizer?: string;
  log?: string;
  saveEvery: number;
  resume?: boolean;
  stopAfter?: number;
  mergeTo?: string;
  quiet?: boolean;
}

const int = (name: string) => (v: string): number => {
  const x = Number(v);
  if (!Number.isInteger(x)) throw new Error(`${name} expects an integer, got '${v}'`);
  return x;
};
const num = (name: string) => (v: string): number => {
  const x = Number(v);
  if (!Number.isFinite(x)) throw new Error(`${name} expects a number, got '${v}'`);
  return x;
};

export const SFT_DEFAULTS: SftDefaults = {
  name: 'sft',
  description: 'supervised fine-tuning (LoRA or full) on JSONL data; completion-only loss, packed batches, resumable',
  lrLora: 2e-4,
  lrFull: 2e-5,
  schedule: 'linear',
  warmup: '0',
  maxGradNorm: 0,
  batchSize: 1,
  gradAccum: 1,
  requireStill2Format: false,
};

/** Add the trainer's options to `cmd` with the given defaults, and its action. */
export function defineSftCommand(program: Command, d: SftDefaults): Command {
  return program
    .command(d.name)
    .description(d.description)
    .requiredOption('--model <dir>', 'base model: HF directory (config.json + safetensors)')
    .requiredOption('--data <file>', 'training JSONL: {"input_ids","labels"} | {"prompt","completion"} | {"messages"} | {"question","combined_text","domain"}')
    .requiredOption('--out <dir>', 'output directory: the adapter (or full model); checkpoints/ holds resume state until the run completes')
    .option('--eval-data <file>', 'held-out JSONL for eval loss')
    .option('--eval-split <fraction>', 'hold out this fraction of --data for eval loss (seeded)', num('--eval-split'))
    .option('--eval-every <n>', 'eval loss every n steps (and at the end)', int('--eval-every'), 0)
    .option('--init-adapter <dir>', 'start from this PEFT LoRA adapter')
    .option('--lora-r <r>', 'new LoRA adapter of rank r (the default mode, r=16)', int('--lora-r'))
    .option('--lora-alpha <a>', 'LoRA alpha (scale = alpha / r); default 2r', num('--lora-alpha'))
    .option('--lora-dropout <p>', 'LoRA dropout', num('--lora-dropout'), 0)
    .option('--lora-targets <list>', 'projections to adapt', LORA_TARGETS.map((t) => t.replace('_proj', '')).join(','))
    .option('--rslora', 'rank-stabilized LoRA scale alpha/sqrt(r)')
    .option('--full', 'full fine-tuning: every weight trainable')
    .option('--steps <n>', 'optimizer steps', int('--steps'))
    .option('--epochs <e>', `passes over the data (instead of --steps)${d.epochs ? `; default ${d.epochs}` : ''}`, num('--epochs'))
    .option('--lr <lr>', `peak learning rate (default ${d.lrLora} LoRA, ${d.lrFull} full)`, num('--lr'))
    .option('--batch-size <b>', 'examples per micro-batch', int('--batch-size'), d.batchSize)
    .option('--grad-accum <k>', 'micro-batches per optimizer step', int('--grad-accum'), d.gradAccum)
    .option('--weight-decay <w>', 'AdamW decoupled weight decay (not on biases and norms in full mode)', num('--weight-decay'), 0)
    .option('--warmup <s>', 'linear warmup: steps, or a fraction of the run if < 1', d.warmup)
    .addOption(new Option('--schedule <kind>', 'learning-rate schedule after warmup').choices([...SCHEDULES]).default(d.schedule))
    .option('--min-lr-ratio <f>', 'decay floor as a fraction of --lr', num('--min-lr-ratio'), 0)
    .option('--max-grad-norm <g>', 'clip gradients to this global norm (0 = off)', num('--max-grad-norm'), d.maxGradNorm)
    .option('--beta1 <b>', 'AdamW beta1', num('--beta1'), 0.9)
    .option('--beta2 <b>', 'AdamW beta2', num('--beta2'), 0.999)
    .option('--adam-eps <e>', 'AdamW epsilon', num('--adam-eps'), 1e-8)
    .option('--no-shuffle', 'keep file order (default: a seeded shuffle per epoch)')
    .option('--seed <n>', 'seed for shuffling, the eval split, LoRA init and dropout', int('--seed'), 0)
    .option('--max-length <n>', `truncate examples to n tokens (default: ${d.maxLength ? `${d.maxLength}, capped by ` : ''}the model's max_position_embeddings)`, int('--max-length'))
    .option('--row-tokens <n>', 'tokens per packed row (default: the longest example)', int('--row-tokens'))
    .option('--no-pack', 'one example per row, padded, instead of packing with segment masks')
    .option('--tokenizer <dir|char>', 'tokenizer for text rows: an HF directory, or "char" (toy tasks); default --model')
    .option('--log <file>', 'append one JSON line per optimizer step: step, loss, lr, grad_norm, tokens, tokens_per_s')
    .option('--save-every <n>', 'checkpoint every n steps (Ctrl-C always checkpoints)', int('--save-every'), 0)
    .option('--resume', 'continue from the latest checkpoint in --out/checkpoints (same settings and data)')
    .option('--stop-after <n>', 'checkpoint and stop after step n (split a run; continue with --resume)', int('--stop-after'))
    .option('--merge-to <dir>', 'LoRA: also write the merged model here as an HF directory')
    .option('--quiet', 'no progress bar or notes')
    .action(async function (this: Command, o: SftCliOptions) {
      await runSft(this, o, d);
    });
}

export function registerSft(program: Command): void {
  defineSftCommand(program, SFT_DEFAULTS);
}

/** Tokenizer and chat renderer for text rows: --tokenizer, else the model directory's, else none. */
function renderContext(o: SftCliOptions, d: SftDefaults): RenderContext {
  let tokenizer: TextTokenizer | null = null;
  let chat: ChatRenderer | null = null;
  const dir = o.tokenizer ?? o.model;
  if (o.tokenizer === 'char') tokenizer = new CharTokenizer();
  else if (o.tokenizer !== undefined || existsSync(join(dir, 'tokenizer.json'))) {
    const hf = loadHfTokenizer(dir);
    tokenizer = hf;
    if (hf.chatTemplate) chat = (messages, opts) => hf.renderChat(messages, opts);
  }
  return { tokenizer, chat, tokenizerLabel: dir, requireStill2Format: d.requireStill2Format };
}

export async function runSft(cmd: Command, o: SftCliOptions, d: SftDefaults): Promise<void> {
  const modes = [o.initAdapter !== undefined, o.loraR !== undefined, o.full === true].filter(Boolean).length;
  if (modes > 1) throw new Error('choose one of --init-adapter DIR, --lora-r R or --full');
  if (o.steps === undefined && o.epochs === undefined && d.epochs === undefined) throw new Error('give --steps N or --epochs E');
  useBackend(cmd);
  const progress = new TrainProgress({ quiet: o.quiet, label: d.name });
  const note = (line: string) => progress.note(`${d.name}: ${line}`);

  const model = loadModel(o.model, { quiet: o.quiet });
  const cfg = model.config;
  const maxLength = Math.min(o.maxLength ?? d.maxLength ?? cfg.maxPositionEmbeddings, cfg.maxPositionEmbeddings);
  const ctx = renderContext(o, d);
  const loadOpts = { vocabSize: cfg.vocabSize, maxLength };
  const { examples, stats } = loadSftDataset(o.data, ctx, loadOpts);
  let trainSet: Example[] = examples;
  let evalSet: Example[] | undefined;
  if (o.evalData && o.evalSplit !== undefined) throw new Error('give --eval-data or --eval-split, not both');
  if (o.evalData) evalSet = loadSftDataset(o.evalData, ctx, loadOpts).examples;
  else if (o.evalSplit !== undefined) ({ train: trainSet, held: evalSet } = splitHeldOut(examples, o.evalSplit, o.seed));
  const formats = Object.entries(stats.formats).map(([k, v]) => `${v} ${k === 'tokens' ? 'pre-tokenized' : k}`).join(', ');
  note(`${o.data}: ${stats.rows} rows (${formats}), ${stats.tokens} tokens, ${stats.targets} trained` +
    (stats.truncated ? `, ${stats.truncated} truncated to ${maxLength}` : '') + (stats.dropped ? `, ${stats.dropped} dropped (nothing to train on)` : ''));

  const checkpointDir = join(o.out, 'checkpoints');
  const found = o.resume ? findCheckpoint(checkpointDir) : null;
  if (o.resume && !found) throw new Error(`${checkpointDir}: no checkpoint to resume from (expected latest.json)`);
  if (!o.resume && findCheckpoint(checkpointDir)) {
    throw new Error(`${o.out} already holds a training checkpoint; add --resume to continue it, or choose another --out`);
  }
  let full = o.full === true;
  if (found) {
    // The checkpoint's adapter has the right shape and config by construction; its values are restored anyway.
    full = found.state.mode === 'full';
    if (!full) model.adapter = loadPeftAdapter(found.dir, cfg);
  } else if (o.initAdapter) {
    model.adapter = loadPeftAdapter(o.initAdapter, cfg);
  } else if (!full) {
    const r = o.loraR ?? 16;
    const init = new TrainRng(mixSeed(o.seed, 2));
    model.adapter = createLora(cfg, {
      r, alpha: o.loraAlpha ?? 2 * r, dropout: o.loraDropout, targets: parseTargets(o.loraTargets), useRslora: o.rslora,
    }, () => init.next());
  }

  const warmup = Number(o.warmup);
  if (!(warmup >= 0) || (warmup >= 1 && !Number.isInteger(warmup))) {
    throw new Error(`--warmup expects whole steps or a fraction < 1, got '${o.warmup}'`);
  }
  const options: TrainOptions = {
    steps: o.steps,
    epochs: o.steps === undefined ? (o.epochs ?? d.epochs) : o.epochs,
    lr: o.lr ?? (full ? d.lrFull : d.lrLora),
    batchSize: o.batchSize,
    gradAccum: o.gradAccum,
    schedule: o.schedule as ScheduleKind,
    ...(warmup > 0 && warmup < 1 ? { warmupRatio: warmup } : { warmup }),
    minLrRatio: o.minLrRatio,
    weightDecay: o.weightDecay,
    beta1: o.beta1,
    beta2: o.beta2,
    eps: o.adamEps,
    maxGradNorm: o.maxGradNorm,
    shuffle: o.shuffle,
    seed: o.seed,
    rowTokens: o.rowTokens,
    pack: o.pack,
    padId: ctx.tokenizer?.padId ?? 0,
    evalEvery: o.evalEvery,
    checkpointDir,
    saveEvery: o.saveEvery,
    resume: o.resume === true,
    stopAfter: o.stopAfter,
  };
  if (o.log) prepareLog(o.log, found?.state.step ?? null);

  // Ctrl-C: finish the current step, checkpoint, exit. A second Ctrl-C exits at once.
  let stopRequested = false;
  const onSigint = () => {
    if (stopRequested) process.exit(130);
    stopRequested = true;
    note('interrupt: finishing this step, then saving a checkpoint (Ctrl-C again to abort without one)');
  };
  process.on('SIGINT', onSigint);
  let result;
  try {
    result = await train(model, { train: trainSet, eval: evalSet }, options, {
      onStart: (i) => {
        const what = i.mode === 'lora'
          ? `LoRA r=${model.adapter!.config.r} alpha=${model.adapter!.config.alpha} on ${model.adapter!.pairs.size} projections`
          : 'full fine-tuning';
        note(`${what}, ${i.params} trainable parameters, ${trainSet.length} training examples, steps ${i.startStep}→${i.totalSteps}`);
        progress.start(i.totalSteps, i.startStep);
      },
      onStep: (s) => {
        progress.update(s);
        if (o.log) appendFileSync(o.log, `${JSON.stringify(logLine(s))}\n`);
      },
      onEval: (e) => note(`step ${e.step}: eval loss ${e.evalLoss.toFixed(4)}`),
      onCheckpoint: (c) => note(`step ${c.step}: checkpoint ${c.dir}`),
      shouldStop: () => stopRequested,
    });
  } finally {
    process.off('SIGINT', onSigint);
    progress.stop();
  }

  const last = result.stats.at(-1);
  const summary: Record<string, unknown> = {
    status: result.status, step: result.step, total_steps: result.totalSteps,
    loss: last?.loss ?? null, eval_loss: result.evalLoss, checkpoint: result.checkpoint,
  };
  if (result.status === 'done') {
    if (model.adapter) {
      savePeftAdapter(o.out, model.adapter, cfg, { baseModel: resolve(o.model) });
      summary.adapter = o.out;
      if (o.mergeTo) {
        mergeLora(model);
        saveHfModel(model, o.mergeTo, { copyFilesFrom: o.model });
        summary.merged = o.mergeTo;
      }
    } else {
      saveHfModel(model, o.out, { copyFilesFrom: o.model });
      summary.model = o.out;
    }
    // The run is complete and saved; its resume state would only block the next run into this --out.
    rmSync(checkpointDir, { recursive: true, force: true });
  } else {
    note(`stopped at step ${result.step}/${result.totalSteps}; checkpoint ${result.checkpoint}; continue with the same command and --resume`);
    if (result.status === 'interrupted') process.exitCode = 130;
  }
  process.stdout.write(`${JSON.stringify(summary)}\n`);
}

function logLine(s: StepStats): Record<string, number> {
  const line: Record<string, number> = {
    step: s.step, loss: s.loss, lr: s.lr, grad_norm: s.grad_norm, tokens: s.tokens, tokens_per_s: s.tokens_per_s,
  };
  if (s.eval_loss !== undefined) line.eval_loss = s.eval_loss;
  return line;
}

/** A fresh log, or on resume the old one cut back to the checkpoint's step (later lines will be redone). */
function prepareLog(file: string, resumeStep: number | null): void {
  if (resumeStep === null || !existsSync(file)) {
    writeFileAtomic(file, '');
    return;
  }
  const kept = readFileSync(file, 'utf8').split('\n').filter((line) => {
    if (line.trim() === '') return false;
    try {
      return (JSON.parse(line) as { step?: number }).step! <= resumeStep;
    } catch {
      return false;
    }
  });
  writeFileAtomic(file, kept.map((l) => `${l}\n`).join(''));
}
