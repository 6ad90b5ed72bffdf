// The flags every training command shares (`still sft`, `imitate`, `improve`, `dpo`): what is trained
// (a new LoRA adapter, a given one, or every weight), the optimizer and its schedule, and how the run is
// checkpointed, resumed, logged and fitted into memory. Each command adds its own flags around them and
// takes its defaults (learning rates, batch, schedule) from its recipe.
import { Option, type Command } from 'commander';
import { LORA_TARGETS } from '../nn/lora.ts';
import { SCHEDULES, type ScheduleKind } from '../train/schedule.ts';

export const int = (name: string) => (v: string): number => {
  const x = Number(v);
  if (!Number.isInteger(x)) throw new Error(`${name} expects an integer, got '${v}'`);
  return x;
};

export const num = (name: string) => (v: string): number => {
  const x = Number(v);
  if (!Number.isFinite(x)) throw new Error(`${name} expects a number, got '${v}'`);
  return x;
};

export interface TrainModeFlags {
  initAdapter?: string;
  loraR?: number;
  loraAlpha?: number;
  loraDropout: number;
  loraTargets: string;
  rslora?: boolean;
  full?: boolean;
}

export interface OptimizerFlags {
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
}

export interface RunControlFlags {
  log?: string;
  saveEvery: number;
  resume?: boolean;
  overwrite?: boolean;
  stopAfter?: number;
  mergeTo?: string;
  gradientCheckpointing?: boolean;
  maxMemory?: number;
  quiet?: boolean;
}

/** The defaults a command's recipe gives the optimizer flags, and what one batch row is. */
export interface OptimizerDefaults {
  /** "examples" or "pairs", for the help. */
  unit: string;
  epochs?: number;
  lrLora: number;
  lrFull: number;
  batchSize: number;
  gradAccum: number;
  warmup: number;
  schedule: ScheduleKind;
  maxGradNorm: number;
}

export function addTrainModeFlags(cmd: Command, initAdapterHelp: string): Command {
  return cmd
    .option('--init-adapter <dir>', initAdapterHelp)
    .option('--lora-r <r>', 'new LoRA adapter of rank r (the default mode, r=16)', int('--lora-r'))
    .option('--lora-alpha <a>', 'LoRA alpha (scale = alpha / r); default 2r', num('--lora-alpha'))
    .option('--lora-dropout <p>', 'LoRA dropout', num('--lora-dropout'), 0)
    .option('--lora-targets <list>', 'projections to adapt', LORA_TARGETS.map((t) => t.replace('_proj', '')).join(','))
    .option('--rslora', 'rank-stabilized LoRA scale alpha/sqrt(r)')
    .option('--full', 'full fine-tuning: every weight trainable');
}

export function addOptimizerFlags(cmd: Command, d: OptimizerDefaults): Command {
  return cmd
    .option('--steps <n>', 'optimizer steps', int('--steps'))
    .option('--epochs <e>', `passes over the ${d.unit} (instead of --steps)${d.epochs ? `; default ${d.epochs}` : ''}`, num('--epochs'))
    .option('--lr <lr>', `peak learning rate (default ${d.lrLora} LoRA, ${d.lrFull} full)`, num('--lr'))
    .option('--batch-size <b>', `${d.unit} per micro-batch`, int('--batch-size'), d.batchSize)
    .option('--grad-accum <k>', 'micro-batches per optimizer step', int('--grad-accum'), d.gradAccum)
    .option('--weight-decay <w>', 'AdamW decoupled weight decay (not on biases and norms in full mode)', num('--weight-decay'), 0)
    .option('--warmup <s>', 'linear warmup: steps, or a fraction of the run if < 1', String(d.warmup))
    .addOption(new Option('--schedule <kind>', 'learning-rate schedule after warmup').choices([...SCHEDULES]).default(d.schedule))
    .option('--min-lr-ratio <f>', 'decay floor as a fraction of --lr', num('--min-lr-ratio'), 0)
    .option('--max-grad-norm <g>', 'clip gradients to this global norm (0 = off)', num('--max-grad-norm'), d.maxGradNorm)
    .option('--beta1 <b>', 'AdamW beta1', num('--beta1'), 0.9)
    .option('--beta2 <b>', 'AdamW beta2', num('--beta2'), 0.999)
    .option('--adam-eps <e>', 'AdamW epsilon', num('--adam-eps'), 1e-8)
    .option('--no-shuffle', 'keep file order (default: a seeded shuffle per epoch)')
    .option('--seed <n>', 'seed for shuffling, held-out splits, random choices, LoRA init and dropout', int('--seed'), 0);
}

export function addRunControlFlags(cmd: Command, logHelp: string): Command {
  return cmd
    .option('--log <file>', logHelp)
    .option('--save-every <n>', 'checkpoint every n steps (Ctrl-C always checkpoints)', int('--save-every'), 0)
    .option('--resume', 'continue from the latest checkpoint in --out/checkpoints (same settings and data)')
    .option('--overwrite', 'replace a finished run (or other files) in --out and --merge-to; the old one stays until the new one is saved')
    .option('--stop-after <n>', 'checkpoint and stop after step n (split a run; continue with --resume)', int('--stop-after'))
    .option('--merge-to <dir>', 'LoRA: also write the merged model here as an HF directory')
    .option('--gradient-checkpointing', 'recompute each layer in backward instead of keeping its activations (one layer\'s instead of all; about one more forward per step)')
    .option('--max-memory <GiB>', 'memory the run may use: the micro-batch is lowered (accumulation raised) and checkpointing turned on to fit, or the run fails before training saying what would fit (default: the GPU\'s free memory; on the CPU a warning only)', num('--max-memory'))
    .option('--quiet', 'no progress bar or notes');
}

export type TrainMode =
  | { kind: 'full' }
  | { kind: 'adapter'; dir: string }
  | { kind: 'lora'; r?: number; alpha?: number; dropout?: number; targets?: string; rslora?: boolean };

/** What is trained, from the flags: one of --init-adapter, --lora-r and --full (a new LoRA adapter by default). */
export function trainModeOf(o: TrainModeFlags): TrainMode {
  const modes = [o.initAdapter !== undefined, o.loraR !== undefined, o.full === true].filter(Boolean).length;
  if (modes > 1) throw new Error('choose one of --init-adapter DIR, --lora-r R or --full');
  return o.full ? { kind: 'full' } : o.initAdapter !== undefined ? { kind: 'adapter', dir: o.initAdapter }
    : { kind: 'lora', r: o.loraR, alpha: o.loraAlpha, dropout: o.loraDropout, targets: o.loraTargets, rslora: o.rslora };
}

/** The optimizer's library options from the flags (--warmup checked: whole steps or a fraction < 1). */
export function optimizerOptionsOf(o: OptimizerFlags) {
  const warmup = Number(o.warmup);
  if (o.warmup.trim() === '' || !(warmup >= 0) || (warmup >= 1 && !Number.isInteger(warmup))) {
    throw new Error(`--warmup expects whole steps or a fraction < 1, got '${o.warmup}'`);
  }
  return {
    steps: o.steps, epochs: o.epochs, lr: o.lr, batchSize: o.batchSize, gradAccum: o.gradAccum, weightDecay: o.weightDecay, warmup,
    schedule: o.schedule as ScheduleKind, minLrRatio: o.minLrRatio, maxGradNorm: o.maxGradNorm, beta1: o.beta1, beta2: o.beta2,
    adamEps: o.adamEps, shuffle: o.shuffle, seed: o.seed,
  };
}

/** Checkpointing, resume, logging and memory options from the flags. */
export function runControlOptionsOf(o: RunControlFlags) {
  return {
    log: o.log, saveEvery: o.saveEvery, resume: o.resume === true, overwrite: o.overwrite === true, stopAfter: o.stopAfter, mergeTo: o.mergeTo,
    gradientCheckpointing: o.gradientCheckpointing === true ? true : undefined, maxMemory: o.maxMemory,
  };
}
