// `still dpo`: preference training (DPO, cDPO, IPO) on pairs, LoRA or full, with checkpoints, resume and
// Ctrl-C. The flags parse into the library's DpoOptions; the run is src/train/dpo_run.ts, and with
// --rollouts the pairs are first built from an explore run's rollouts (src/loop/pairs.ts).
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { PROMPT_STYLES, type PromptStyle } from '../eval/prompt.ts';
import { PAIR_RULES, writeRolloutPairs, type PairRule } from '../loop/pairs.ts';
import { LORA_TARGETS } from '../nn/lora.ts';
import { DPO_LOSS_TYPES, type DpoLossType } from '../train/dpo_loss.ts';
import { DPO_RECIPE, runDpo, type DpoOptions } from '../train/dpo_run.ts';
import { TrainProgress } from '../train/progress.ts';
import { SCHEDULES, type ScheduleKind } from '../train/schedule.ts';
import { useBackend } from './backend_option.ts';
import { resumeCommand, withGracefulStop } from './interrupt.ts';

interface DpoCliOptions {
  model: string;
  data?: string;
  rollouts?: string;
  pairs: string;
  pairsPerProblem: number;
  prompt: string;
  out: string;
  initAdapter?: string;
  loraR?: number;
  loraAlpha?: number;
  loraDropout: number;
  loraTargets: string;
  rslora?: boolean;
  full?: boolean;
  beta: number;
  loss: string;
  labelSmoothing: number;
  thoughtOnly?: boolean;
  nllWeight: number;
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
  evalData?: string;
  evalSplit?: number;
  evalEvery: number;
  tokenizer?: string;
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

export function registerDpo(program: Command): void {
  program.command('dpo')
    .description('preference training (DPO; cDPO, IPO) on {prompt, chosen, rejected} pairs or on an explore run\'s rollouts; LoRA or full, resumable')
    .requiredOption('--model <dir>', 'the policy DPO starts from: an HF directory (the base, with --init-adapter)')
    .option('--data <file>', 'pairs JSONL: {"prompt","chosen","rejected"} (text or chat turns) or {"prompt_input_ids","chosen_input_ids","rejected_input_ids"}')
    .option('--rollouts <file>', 'build pairs from an explore run\'s rollouts (P.rollouts.jsonl, round-R/explore/rollouts.jsonl); they are written to --out/pairs.jsonl')
    .addOption(new Option('--pairs <rule>', 'with --rollouts: chosen = correct, rejected = incorrect rollout of a problem, by perplexity (highest-perplexity correct vs lowest-perplexity incorrect, as STILL-2), random or shortest').choices([...PAIR_RULES]).default('perplexity'))
    .option('--pairs-per-problem <n>', 'with --rollouts: pairs per problem at most', int('--pairs-per-problem'), 1)
    .addOption(new Option('--prompt <style>', 'with --rollouts: how explore prompted them').choices([...PROMPT_STYLES]).default('still2'))
    .requiredOption('--out <dir>', 'output directory: the adapter (or full model), reference_logps.json, training_summary.json; checkpoints/ until done')
    .option('--init-adapter <dir>', 'continue this PEFT LoRA adapter (e.g. the SFT round\'s); the base with it is the reference')
    .option('--lora-r <r>', 'new LoRA adapter of rank r on --model (the default mode, r=16)', int('--lora-r'))
    .option('--lora-alpha <a>', 'LoRA alpha (scale = alpha / r); default 2r', num('--lora-alpha'))
    .option('--lora-dropout <p>', 'LoRA dropout', num('--lora-dropout'), 0)
    .option('--lora-targets <list>', 'projections to adapt', LORA_TARGETS.map((t) => t.replace('_proj', '')).join(','))
    .option('--rslora', 'rank-stabilized LoRA scale alpha/sqrt(r)')
    .option('--full', 'full fine-tuning: every weight trainable')
    .option('--beta <b>', 'DPO beta (strength of the pull towards the reference)', num('--beta'), DPO_RECIPE.beta)
    .addOption(new Option('--loss <type>', 'sigmoid (DPO) or ipo').choices([...DPO_LOSS_TYPES]).default(DPO_RECIPE.lossType))
    .option('--label-smoothing <e>', 'conservative DPO: assumed share of flipped labels, in [0, 0.5)', num('--label-smoothing'), 0)
    .option('--thought-only', 'score only the thought block of each completion (the solution block is masked), as STILL-2')
    .option('--nll-weight <w>', 'add w × the NLL of the chosen completions (TRL rpo_alpha; 0 = off)', num('--nll-weight'), 0)
    .option('--steps <n>', 'optimizer steps', int('--steps'))
    .option('--epochs <e>', `passes over the pairs (instead of --steps); default ${DPO_RECIPE.epochs}`, num('--epochs'))
    .option('--lr <lr>', `peak learning rate (default ${DPO_RECIPE.lrLora} LoRA, ${DPO_RECIPE.lrFull} full)`, num('--lr'))
    .option('--batch-size <b>', 'pairs per micro-batch', int('--batch-size'), 1)
    .option('--grad-accum <k>', 'micro-batches per optimizer step', int('--grad-accum'), 1)
    .option('--weight-decay <w>', 'AdamW decoupled weight decay', num('--weight-decay'), 0)
    .option('--warmup <s>', 'linear warmup: steps, or a fraction of the run if < 1', '0')
    .addOption(new Option('--schedule <kind>', 'learning-rate schedule after warmup').choices([...SCHEDULES]).default(DPO_RECIPE.schedule))
    .option('--min-lr-ratio <f>', 'decay floor as a fraction of --lr', num('--min-lr-ratio'), 0)
    .option('--max-grad-norm <g>', 'clip gradients to this global norm (0 = off)', num('--max-grad-norm'), DPO_RECIPE.maxGradNorm)
    .option('--beta1 <b>', 'AdamW beta1', num('--beta1'), 0.9)
    .option('--beta2 <b>', 'AdamW beta2', num('--beta2'), 0.999)
    .option('--adam-eps <e>', 'AdamW epsilon', num('--adam-eps'), 1e-8)
    .option('--no-shuffle', 'keep file order (default: a seeded shuffle per epoch)')
    .option('--seed <n>', 'seed for shuffling, the eval split, random pairs, LoRA init and dropout', int('--seed'), 0)
    .option('--max-length <n>', 'cut prompt + completion to n tokens (default: the model\'s max_position_embeddings)', int('--max-length'))
    .option('--eval-data <file>', 'held-out pairs for eval metrics (eval_rewards/accuracies, …)')
    .option('--eval-split <fraction>', 'hold out this fraction of the problems (pairs grouped by prompt) for eval metrics', num('--eval-split'))
    .option('--eval-every <n>', 'eval metrics every n steps (and at the start and end)', int('--eval-every'), 0)
    .option('--tokenizer <dir|char>', 'tokenizer for text pairs: an HF directory, or "char" (toy tasks); default --model')
    .option('--log <file>', 'append one JSON line per optimizer step: loss, lr, grad_norm, rewards/*, logps/*, eval_*')
    .option('--save-every <n>', 'checkpoint every n steps (Ctrl-C always checkpoints)', int('--save-every'), 0)
    .option('--resume', 'continue from the latest checkpoint in --out/checkpoints (same settings and pairs)')
    .option('--overwrite', 'replace a finished run (or other files) in --out and --merge-to; the old one stays until the new one is saved')
    .option('--stop-after <n>', 'checkpoint and stop after step n (continue with --resume)', int('--stop-after'))
    .option('--merge-to <dir>', 'LoRA: also write the merged model here as an HF directory')
    .option('--gradient-checkpointing', 'recompute each layer in backward instead of keeping its activations')
    .option('--max-memory <GiB>', 'memory the run may use: the micro-batch is lowered and checkpointing turned on to fit, or the run fails before training saying what would fit (default: the GPU\'s free memory; on the CPU a warning only)', num('--max-memory'))
    .option('--quiet', 'no progress bar or notes')
    .action(async function (this: Command, o: DpoCliOptions) {
      await runDpoCommand(this, o);
    });
}

/** The library's options from the flags (`data` is the pairs file, built from --rollouts when given). */
export function dpoOptions(o: DpoCliOptions, data: string): DpoOptions {
  const modes = [o.initAdapter !== undefined, o.loraR !== undefined, o.full === true].filter(Boolean).length;
  if (modes > 1) throw new Error('choose one of --init-adapter DIR, --lora-r R or --full');
  const warmup = Number(o.warmup);
  if (o.warmup.trim() === '' || !(warmup >= 0) || (warmup >= 1 && !Number.isInteger(warmup))) {
    throw new Error(`--warmup expects whole steps or a fraction < 1, got '${o.warmup}'`);
  }
  return {
    model: o.model, data, out: o.out,
    mode: o.full ? { kind: 'full' } : o.initAdapter !== undefined ? { kind: 'adapter', dir: o.initAdapter }
      : { kind: 'lora', r: o.loraR, alpha: o.loraAlpha, dropout: o.loraDropout, targets: o.loraTargets, rslora: o.rslora },
    beta: o.beta, lossType: o.loss as DpoLossType, labelSmoothing: o.labelSmoothing, thoughtOnly: o.thoughtOnly === true, nllWeight: o.nllWeight,
    steps: o.steps, epochs: o.epochs, lr: o.lr, batchSize: o.batchSize, gradAccum: o.gradAccum, weightDecay: o.weightDecay, warmup,
    schedule: o.schedule as ScheduleKind, minLrRatio: o.minLrRatio, maxGradNorm: o.maxGradNorm, beta1: o.beta1, beta2: o.beta2,
    adamEps: o.adamEps, shuffle: o.shuffle, seed: o.seed, maxLength: o.maxLength, evalData: o.evalData, evalSplit: o.evalSplit,
    evalEvery: o.evalEvery, tokenizer: o.tokenizer, log: o.log, saveEvery: o.saveEvery, resume: o.resume === true, overwrite: o.overwrite === true,
    stopAfter: o.stopAfter, mergeTo: o.mergeTo,
    gradientCheckpointing: o.gradientCheckpointing === true ? true : undefined, maxMemory: o.maxMemory,
  };
}

async function runDpoCommand(cmd: Command, o: DpoCliOptions): Promise<void> {
  if ((o.data === undefined) === (o.rollouts === undefined)) throw new Error('give --data PAIRS.jsonl or --rollouts ROLLOUTS.jsonl (not both)');
  useBackend(cmd);
  const progress = new TrainProgress({ quiet: o.quiet, label: 'dpo' });
  const note = (line: string) => progress.note(`dpo: ${line}`);
  const rollouts = o.rollouts;
  const options = dpoOptions(o, rollouts === undefined ? o.data! : join(o.out, 'pairs.jsonl'));
  // With --rollouts the pairs are built into the claimed output folder, once, when the run starts.
  const preparePairs = rollouts === undefined ? undefined : (path: string) => {
    const c = writeRolloutPairs(rollouts, path, o.tokenizer ?? o.model, o.prompt as PromptStyle, { rule: o.pairs as PairRule, perProblem: o.pairsPerProblem, seed: o.seed });
    note(`${rollouts}: ${c.rollouts} rollouts of ${c.problems} problems, ${c.mixed} with a correct and an incorrect one: ${c.pairs} pairs (${o.pairs}) → ${options.data}`);
    if (c.pairs === 0) throw new Error(`${rollouts}: none of its ${c.problems} problems has both a correct and an incorrect rollout, so there are no pairs to train on`);
  };
  let result;
  try {
    result = await withGracefulStop(note, (stopRequested) => runDpo(options, {
      note,
      preparePairs,
      onStart: (i) => progress.start(i.totalSteps, i.startStep),
      onStep: (s) => {
        progress.update(s);
        if (s.eval) note(`step ${s.step}: eval loss ${s.eval.eval_loss.toFixed(4)}, eval rewards/accuracies ${s.eval['eval_rewards/accuracies'].toFixed(3)}, margins ${s.eval['eval_rewards/margins'].toFixed(3)}`);
      },
      shouldStop: stopRequested,
    }));
  } finally {
    progress.stop();
  }
  const summary: Record<string, unknown> = {
    status: result.status, step: result.step, total_steps: result.totalSteps, loss: result.loss, ...result.train, ...result.eval,
    checkpoint: result.checkpoint,
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
