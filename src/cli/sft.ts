// `still sft`: supervised fine-tuning (LoRA or full) on JSONL data, with checkpoints, resume and Ctrl-C.
// The flags live here and parse into the library's SftOptions; the run is src/train/sft_run.ts. `still
// imitate` and `still improve` are the same flags with the STILL-2 recipe (src/train/sft_recipe.ts).
import { Command, Option } from 'commander';
import { PROMPT_STYLES } from '../eval/prompt.ts';
import { SFT_RECIPE, type SftRecipe } from '../train/sft_recipe.ts';
import { runSft, type SftOptions } from '../train/sft_run.ts';
import { TrainProgress } from '../train/progress.ts';
import { useBackend } from './backend_option.ts';
import { noteStoppedRun, withGracefulStop } from './interrupt.ts';
import {
  addOptimizerFlags, addRunControlFlags, addTrainModeFlags, int, num, optimizerOptionsOf, runControlOptionsOf, trainModeOf,
  type OptimizerFlags, type RunControlFlags, type TrainModeFlags,
} from './train_flags.ts';

/** A command built on the SFT flags: its name, help and recipe (the defaults that differ). */
export interface SftCommandDefaults {
  name: string;
  description: string;
  recipe: SftRecipe;
}

export interface SftCliOptions extends TrainModeFlags, OptimizerFlags, RunControlFlags {
  model: string;
  data: string;
  out: string;
  evalData?: string;
  evalSplit?: number;
  evalEvery: number;
  maxLength?: number;
  rowTokens?: number;
  pack: boolean;
  tokenizer?: string;
  prompt: string;
  force?: boolean;
}

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
  cmd
    .requiredOption('--out <dir>', 'output directory: the adapter (or full model); checkpoints/ holds resume state until the run completes')
    .option('--eval-data <file>', 'held-out JSONL for eval loss')
    .option('--eval-split <fraction>', 'hold out this fraction of --data for eval loss (seeded)', num('--eval-split'))
    .option('--eval-every <n>', 'eval loss every n steps (and at the end)', int('--eval-every'), 0);
  addTrainModeFlags(cmd, 'start from this PEFT LoRA adapter')
    .option('--force', 'train on --init-adapter even if it records another base model than --model');
  addOptimizerFlags(cmd, { unit: 'examples', ...r })
    .option('--max-length <n>', `truncate examples to n tokens (default: ${r.maxLength ? `${r.maxLength}, capped by ` : ''}the model's max_position_embeddings)`, int('--max-length'))
    .option('--row-tokens <n>', 'tokens per packed row (default: the longest example)', int('--row-tokens'))
    .option('--no-pack', 'one example per row, padded, instead of packing with segment masks')
    .option('--tokenizer <dir|char>', 'tokenizer for text rows: an HF directory, or "char" (toy tasks); default --model')
    .addOption(new Option('--prompt <style>', 'STILL-2 rows: the user turn is the paper\'s instruction + question (still2), or the bare question (plain)').choices([...PROMPT_STYLES]).default('still2'));
  return addRunControlFlags(cmd, 'append one JSON line per optimizer step: step, loss, lr, grad_norm, tokens, tokens_per_s');
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
  return {
    model: o.model, data: o.data, out: o.out, mode: trainModeOf(o), ...optimizerOptionsOf(o), ...runControlOptionsOf(o),
    maxLength: o.maxLength, rowTokens: o.rowTokens, pack: o.pack, evalData: o.evalData, evalSplit: o.evalSplit, evalEvery: o.evalEvery,
    tokenizer: o.tokenizer, still2Template: o.prompt === 'plain' ? '' : undefined, forceAdapter: o.force === true,
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
  if (result.status !== 'done') noteStoppedRun(note, result, o.out, options.overwrite === true);
  process.stdout.write(`${JSON.stringify(summary)}\n`);
}
