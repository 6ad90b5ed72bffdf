// `still dpo`: preference training (DPO, cDPO, IPO) on pairs, LoRA or full, with checkpoints, resume and
// Ctrl-C. The flags parse into the library's DpoOptions; the run is src/train/dpo_run.ts, and with
// --rollouts the pairs are first built from an explore run's rollouts (src/loop/pairs.ts).
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { PROMPT_STYLES, type PromptStyle } from '../eval/prompt.ts';
import { PAIR_RULES, writeRolloutPairs, type PairRule } from '../loop/pairs.ts';
import { DPO_LOSS_TYPES, type DpoLossType } from '../train/dpo_loss.ts';
import { DPO_RECIPE, runDpo, type DpoOptions } from '../train/dpo_run.ts';
import { TrainProgress } from '../train/progress.ts';
import { useBackend } from './backend_option.ts';
import { noteStoppedRun, withGracefulStop } from './interrupt.ts';
import {
  addOptimizerFlags, addRunControlFlags, addTrainModeFlags, int, num, optimizerOptionsOf, runControlOptionsOf, trainModeOf,
  type OptimizerFlags, type RunControlFlags, type TrainModeFlags,
} from './train_flags.ts';

interface DpoCliOptions extends TrainModeFlags, OptimizerFlags, RunControlFlags {
  model: string;
  data?: string;
  rollouts?: string;
  pairs: string;
  pairsPerProblem: number;
  prompt: string;
  out: string;
  beta: number;
  loss: string;
  labelSmoothing: number;
  thoughtOnly?: boolean;
  nllWeight: number;
  maxLength?: number;
  evalData?: string;
  evalSplit?: number;
  evalEvery: number;
  tokenizer?: string;
}

export function registerDpo(program: Command): void {
  const cmd = program.command('dpo')
    .description('preference training (DPO; cDPO, IPO) on {prompt, chosen, rejected} pairs or on an explore run\'s rollouts; LoRA or full, resumable')
    .requiredOption('--model <dir>', 'the policy DPO starts from: an HF directory (the base, with --init-adapter)')
    .option('--data <file>', 'pairs JSONL: {"prompt","chosen","rejected"} (text or chat turns) or {"prompt_input_ids","chosen_input_ids","rejected_input_ids"}')
    .option('--rollouts <file>', 'build pairs from an explore run\'s rollouts (P.rollouts.jsonl, round-R/explore/rollouts.jsonl); they are written to --out/pairs.jsonl')
    .addOption(new Option('--pairs <rule>', 'with --rollouts: chosen = correct, rejected = incorrect rollout of a problem, by perplexity (highest-perplexity correct vs lowest-perplexity incorrect, as STILL-2), confident (lowest-perplexity correct vs lowest-perplexity incorrect), random or shortest').choices([...PAIR_RULES]).default('perplexity'))
    .option('--pairs-per-problem <n>', 'with --rollouts: pairs per problem at most', int('--pairs-per-problem'), 1)
    .addOption(new Option('--prompt <style>', 'with --rollouts: how explore prompted them').choices([...PROMPT_STYLES]).default('still2'))
    .requiredOption('--out <dir>', 'output directory: the adapter (or full model), reference_logps.json, training_summary.json; checkpoints/ until done')
    .option('--beta <b>', 'DPO beta (strength of the pull towards the reference)', num('--beta'), DPO_RECIPE.beta)
    .addOption(new Option('--loss <type>', 'sigmoid (DPO) or ipo').choices([...DPO_LOSS_TYPES]).default(DPO_RECIPE.lossType))
    .option('--label-smoothing <e>', 'conservative DPO: assumed share of flipped labels, in [0, 0.5)', num('--label-smoothing'), 0)
    .option('--thought-only', 'score only the thought block of each completion (the solution block is masked), as STILL-2')
    .option('--nll-weight <w>', 'add w × the NLL of the chosen completions (TRL rpo_alpha; 0 = off)', num('--nll-weight'), 0)
    .option('--max-length <n>', 'cut prompt + completion to n tokens (default: the model\'s max_position_embeddings)', int('--max-length'))
    .option('--eval-data <file>', 'held-out pairs for eval metrics (eval_rewards/accuracies, …)')
    .option('--eval-split <fraction>', 'hold out this fraction of the problems (pairs grouped by prompt) for eval metrics', num('--eval-split'))
    .option('--eval-every <n>', 'eval metrics every n steps (and at the start and end)', int('--eval-every'), 0)
    .option('--tokenizer <dir|char>', 'tokenizer for text pairs: an HF directory, or "char" (toy tasks); default --model');
  addTrainModeFlags(cmd, 'continue this PEFT LoRA adapter (e.g. the SFT round\'s); the base with it is the reference');
  addOptimizerFlags(cmd, { unit: 'pairs', ...DPO_RECIPE, batchSize: 1, gradAccum: 1, warmup: 0 });
  addRunControlFlags(cmd, 'append one JSON line per optimizer step: loss, lr, grad_norm, rewards/*, logps/*, eval_*')
    .action(async function (this: Command, o: DpoCliOptions) {
      await runDpoCommand(this, o);
    });
}

/** The library's options from the flags (`data` is the pairs file, built from --rollouts when given). */
export function dpoOptions(o: DpoCliOptions, data: string): DpoOptions {
  return {
    model: o.model, data, out: o.out, mode: trainModeOf(o), ...optimizerOptionsOf(o), ...runControlOptionsOf(o),
    beta: o.beta, lossType: o.loss as DpoLossType, labelSmoothing: o.labelSmoothing, thoughtOnly: o.thoughtOnly === true, nllWeight: o.nllWeight,
    maxLength: o.maxLength, evalData: o.evalData, evalSplit: o.evalSplit, evalEvery: o.evalEvery, tokenizer: o.tokenizer,
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
  if (result.status !== 'done') noteStoppedRun(note, result, o.out, options.overwrite === true);
  process.stdout.write(`${JSON.stringify(summary)}\n`);
}
