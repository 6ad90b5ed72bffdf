// `still sft`: supervised fine-tuning (LoRA or full) on JSONL data, with checkpoints, resume and Ctrl-C.
// The flags live here and parse into the library's SftOptions; the run is src/train/sft_run.ts. `still
// imitate` and `still improve` are the same flags with the STILL-2 recipe (src/train/sft_recipe.ts).
import { Command, Option } from 'commander';
import { PROMPT_STYLES } from '../eval/prompt.ts';
import { LORA_TARGETS } from '../nn/lora.ts';
import { SCHEDULES, type ScheduleKind } from '../train/schedule.ts';
import { SFT_RECIPE, type SftRecipe } from '../train/sft_recipe.ts';
import { runSft, type SftOptions } from '../train/sft_run.ts';
import { TrainProgress } from '../train/progress.ts';
import { useBackend } from './backend_option.ts';
import { resumeCommand, withGracefulStop } from './interrupt.ts';

/** A command built on the SFT flags: its name, help and recipe (the defaults that differ). */
export interface SftCommandDefaults {
  name: string;
  description: string;
  recipe: SftRecipe;
}

export interface SftCliOptions {
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
  prompt: string;
  log?: string;
  saveEvery: number;
  resume?: boolean;
  overwrite?: boolean;
  force?: boolean;
  stopAfter?: number;
  mergeTo?: string;
  gradientCheckpointing?: boolean;
  maxMemory?: number;
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

export const SFT_DEFAULTS: SftCommandDefaults = {
  name: 'sft',
  description: 'supervised fine-tuning (LoRA or full) on JSONL data; completion-only loss, packed batches, resumable',
  recipe: SFT_RECIPE,
};

/**
 * Add the trainer's flags to `cmd` with a recipe's defaults. `data`: whether --data is the training set
 * (`still improve` trains on --pool and --distilled instead).
 */
export function addSftOptions(cmd: Command, r: SftRecipe, opts: { data: boolean } = { data: true }): Command {
  cmd.requiredOption('--model <dir>', 'base model: HF directory (config.json + safetensors)');
  if (opts.data) cmd.requiredOption('--data <file>', 'training JSONL: {"input_ids","labels"} | {"prompt","completion"} | {"messages"} | {"question","combined_text","domain"}');
  return cmd
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
    .option('--epochs <e>', `passes over the data (instead of --steps)${r.epochs ? `; default ${r.epochs}` : ''}`, num('--epochs'))
    .option('--lr <lr>', `peak learning rate (default ${r.lrLora} LoRA, ${r.lrFull} full)`, num('--lr'))
    .option('--batch-size <b>', 'examples per micro-batch', int('--batch-size'), r.batchSize)
    .option('--grad-accum <k>', 'micro-batches per optimizer step', int('--grad-accum'), r.gradAccum)
    .option('--weight-decay <w>', 'AdamW decoupled weight decay (not on biases and norms in full mode)', num('--weight-decay'), 0)
    .option('--warmup <s>', 'linear warmup: steps, or a fraction of the run if < 1', String(r.warmup))
    .addOption(new Option('--schedule <kind>', 'learning-rate schedule after warmup').choices([...SCHEDULES]).default(r.schedule))
    .option('--min-lr-ratio <f>', 'decay floor as a fraction of --lr', num('--min-lr-ratio'), 0)
    .option('--max-grad-norm <g>', 'clip gradients to this global norm (0 = off)', num('--max-grad-norm'), r.maxGradNorm)
    .option('--beta1 <b>', 'AdamW beta1', num('--beta1'), 0.9)
    .option('--beta2 <b>', 'AdamW beta2', num('--beta2'), 0.999)
    .option('--adam-eps <e>', 'AdamW epsilon', num('--adam-eps'), 1e-8)
    .option('--no-shuffle', 'keep file order (default: a seeded shuffle per epoch)')
    .option('--seed <n>', 'seed for shuffling, the eval split, LoRA init and dropout', int('--seed'), 0)
    .option('--max-length <n>', `truncate examples to n tokens (default: ${r.maxLength ? `${r.maxLength}, capped by ` : ''}the model's max_position_embeddings)`, int('--max-length'))
    .option('--row-tokens <n>', 'tokens per packed row (default: the longest example)', int('--row-tokens'))
    .option('--no-pack', 'one example per row, padded, instead of packing with segment masks')
    .option('--tokenizer <dir|char>', 'tokenizer for text rows: an HF directory, or "char" (toy tasks); default --model')
    .addOption(new Option('--prompt <style>', 'STILL-2 rows: the user turn is the paper\'s instruction + question (still2), or the bare question (plain)').choices([...PROMPT_STYLES]).default('still2'))
    .option('--log <file>', 'append one JSON line per optimizer step: step, loss, lr, grad_norm, tokens, tokens_per_s')
    .option('--save-every <n>', 'checkpoint every n steps (Ctrl-C always checkpoints)', int('--save-every'), 0)
    .option('--resume', 'continue from the latest checkpoint in --out/checkpoints (same settings and data)')
    .option('--overwrite', 'replace a finished run (or other files) in --out and --merge-to; the old one stays until the new one is saved')
    .option('--force', 'train on --init-adapter even if it records another base model than --model')
    .option('--stop-after <n>', 'checkpoint and stop after step n (split a run; continue with --resume)', int('--stop-after'))
    .option('--merge-to <dir>', 'LoRA: also write the merged model here as an HF directory')
    .option('--gradient-checkpointing', 'recompute each layer in backward instead of keeping its activations (one layer\'s instead of all; about one more forward per step)')
    .option('--max-memory <GiB>', 'memory the run may use: the micro-batch is lowered (accumulation raised) and checkpointing turned on to fit, or the run fails before training saying what would fit (default: the GPU\'s free memory; on the CPU a warning only)', num('--max-memory'))
    .option('--quiet', 'no progress bar or notes');
}

/** A command with the SFT flags whose action is the SFT run. */
export function defineSftCommand(program: Command, d: SftCommandDefaults): Command {
  return addSftOptions(program.command(d.name).description(d.description), d.recipe)
    .action(async function (this: Command, o: SftCliOptions) {
      await runSftCommand(this, o, d);
    });
}

export function registerSft(program: Command): void {
  defineSftCommand(program, SFT_DEFAULTS);
}

/** The library's options from the flags. */
export function sftOptions(o: SftCliOptions): SftOptions {
  const modes = [o.initAdapter !== undefined, o.loraR !== undefined, o.full === true].filter(Boolean).length;
  if (modes > 1) throw new Error('choose one of --init-adapter DIR, --lora-r R or --full');
  const warmup = Number(o.warmup);
  if (o.warmup.trim() === '' || !(warmup >= 0) || (warmup >= 1 && !Number.isInteger(warmup))) {
    throw new Error(`--warmup expects whole steps or a fraction < 1, got '${o.warmup}'`);
  }
  return {
    model: o.model, data: o.data, out: o.out,
    mode: o.full ? { kind: 'full' } : o.initAdapter !== undefined ? { kind: 'adapter', dir: o.initAdapter }
      : { kind: 'lora', r: o.loraR, alpha: o.loraAlpha, dropout: o.loraDropout, targets: o.loraTargets, rslora: o.rslora },
    steps: o.steps, epochs: o.epochs, lr: o.lr, batchSize: o.batchSize, gradAccum: o.gradAccum, weightDecay: o.weightDecay, warmup,
    schedule: o.schedule as ScheduleKind, minLrRatio: o.minLrRatio, maxGradNorm: o.maxGradNorm, beta1: o.beta1, beta2: o.beta2,
    adamEps: o.adamEps, shuffle: o.shuffle, seed: o.seed, maxLength: o.maxLength, rowTokens: o.rowTokens, pack: o.pack,
    evalData: o.evalData, evalSplit: o.evalSplit, evalEvery: o.evalEvery, tokenizer: o.tokenizer, log: o.log,
    still2Template: o.prompt === 'plain' ? '' : undefined,
    saveEvery: o.saveEvery, resume: o.resume === true, overwrite: o.overwrite === true, forceAdapter: o.force === true, stopAfter: o.stopAfter, mergeTo: o.mergeTo,
    gradientCheckpointing: o.gradientCheckpointing === true ? true : undefined, maxMemory: o.maxMemory,
  };
}

/** Run SFT for a command: a progress bar, Ctrl-C checkpoints, and the run's summary as one JSON line on stdout. */
export async function runSftCommand(cmd: Command, o: SftCliOptions, d: SftCommandDefaults, options: SftOptions = sftOptions(o)): Promise<void> {
  if (o.steps === undefined && o.epochs === undefined && d.recipe.epochs === undefined) throw new Error('give --steps N or --epochs E');
  useBackend(cmd);
  const progress = new TrainProgress({ quiet: o.quiet, label: d.name });
  const note = (line: string) => progress.note(`${d.name}: ${line}`);

  let result;
  try {
    result = await withGracefulStop(note, (stopRequested) => runSft(options, d.recipe, {
      note,
      onStart: (i) => progress.start(i.totalSteps, i.startStep),
      onStep: (s) => progress.update(s),
      shouldStop: stopRequested,
    }));
  } finally {
    progress.stop();
  }
  const summary: Record<string, unknown> = {
    status: result.status, step: result.step, total_steps: result.totalSteps,
    loss: result.loss, eval_loss: result.evalLoss, checkpoint: result.checkpoint,
  };
  for (const key of ['adapter', 'merged', 'model'] as const) if (result[key] !== undefined) summary[key] = result[key];
  if (result.status !== 'done') {
    note(options.overwrite
      ? `stopped at step ${result.step}/${result.totalSteps}; ${o.out} is unchanged (an interrupted --overwrite starts over when rerun)`
      : `stopped at step ${result.step}/${result.totalSteps}; checkpoint ${result.checkpoint}. Resume with:\n  ${resumeCommand()}`);
    if (result.status === 'interrupted') process.exitCode = 130;
  }
  process.stdout.write(`${JSON.stringify(summary)}\n`);
}
