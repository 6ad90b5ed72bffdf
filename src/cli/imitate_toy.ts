// `still imitate --task NAME --levels 1,2,3 --examples N [--model-size S | --config FILE] --out DIR`: the
// toy imitate stage. A char-level student is trained from scratch on the teacher's traces and saved as an
// HF directory (with distilled.jsonl and still_toy.json) that `still explore --task` and `still improve`
// read. Without --task (or --config), `still imitate` is the SFT trainer on an HF checkpoint, unchanged.
import { readFileSync } from 'node:fs';
import { Option, type Command } from 'commander';
import { parseConfig, type ExperimentConfig, type ToyModelConfig } from '../loop/config.ts';
import { toyStageDefaults } from '../loop/toy_defaults.ts';
import { stageLog } from '../loop/progress.ts';
import { imitateToy } from '../loop/stage_imitate.ts';
import { TOY_SIZES, parseLevels, parseToyModel } from '../loop/stage_toy.ts';
import { STEP_STYLES, getTask, taskNames } from '../tasks/index.ts';
import { useBackend } from './backend_option.ts';
import { runSftCommand, type SftCliOptions, type SftCommandDefaults } from './sft.ts';
import { TOY_TRAIN_KEYS, given, intFlag, numFlag, refuseFlags, scarceSettings, stepStyleFlag, toyTrainSettings } from './stage_options.ts';

type SftFlags = SftCliOptions;

interface ToyFlags {
  task?: string;
  levels?: string;
  examples?: number;
  modelSize?: string;
  config?: string;
  reflectionRate?: number;
  scarceLevels?: string;
  scarceExamples?: number;
  stepStyle?: string;
}

const TOY_KEYS = ['task', 'levels', 'examples', 'scarceLevels', 'scarceExamples', 'modelSize', 'config', 'reflectionRate', 'stepStyle'] as const;

/** Add the toy mode's options to the `still imitate` SFT command, and an action that picks the mode. */
export function addToyImitate(cmd: Command, d: SftCommandDefaults): void {
  // Both modes share the command; each checks its own required options in the action.
  for (const opt of cmd.options) if (opt.long === '--model' || opt.long === '--data') opt.makeOptionMandatory(false);
  cmd
    .description(`${d.description}; with --task, the toy stage: a char-level student trained from scratch on teacher traces`)
    .option('--task <name>', `toy stage: the task whose teacher traces to imitate (${taskNames().join(' | ')})`)
    .option('--levels <list>', 'toy: levels of the distilled traces, e.g. 1,2,3 or 1-3')
    .option('--examples <n>', 'toy: distilled traces in all, spread evenly over the levels', intFlag('--examples', 1))
    .option('--scarce-levels <list>', 'toy: harder levels with only a few traces, for exploration to build on (as levels.scarce in `still run`)')
    .option('--scarce-examples <n>', 'toy: traces in all at the scarce levels', intFlag('--scarce-examples', 1))
    .addOption(new Option('--model-size <name>', "toy: the student's size (default demo)").choices(Object.keys(TOY_SIZES)))
    .option('--config <file>', "toy: the student's shape {hiddenSize, numLayers, …}, or an experiment config (examples/*.json) for its model, imitate settings, seed and defaults for --task/--levels/--examples/--scarce-*")
    .option('--reflection-rate <p>', 'toy: share of teacher traces with a caught slip (default 0.3)', numFlag('--reflection-rate'))
    .option('--step-style <style>', `toy: how the teacher writes arithmetic steps (${STEP_STYLES.join(' | ')}; default the task's)`)
    .action(async function (this: Command, o: SftFlags & ToyFlags) {
      if (TOY_KEYS.some((k) => given(this, k))) return runToyImitate(this, o);
      if (o.model === undefined || o.data === undefined) {
        throw new Error(`still imitate needs --model DIR and --data FILE (SFT of an HF checkpoint on STILL-2 rows), or --task NAME --levels L --examples N (the toy stage)`);
      }
      await runSftCommand(this, o, d);
    });
}

/** An experiment config (it has a "model" section) or a bare student shape. */
function readToyConfig(file: string): { exp: ExperimentConfig | null; model: ToyModelConfig } {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`--config ${file}: cannot read it as JSON (${(e as Error).message})`);
  }
  if (json !== null && typeof json === 'object' && 'model' in json) {
    const exp = parseConfig(json, file);
    return { exp, model: exp.model };
  }
  return { exp: null, model: parseToyModel(json, file) };
}

async function runToyImitate(cmd: Command, o: SftFlags & ToyFlags): Promise<void> {
  refuseFlags(cmd, new Set<string>([...TOY_TRAIN_KEYS, ...TOY_KEYS]), 'does not apply to the toy stage (--task): it trains a char-level student from scratch, every weight');
  if (o.modelSize !== undefined && o.config !== undefined) throw new Error('give --model-size or --config, not both');
  const { exp, model } = o.config !== undefined ? readToyConfig(o.config) : { exp: null, model: TOY_SIZES[o.modelSize ?? 'demo']! };
  const taskName = o.task ?? exp?.task;
  if (taskName === undefined) throw new Error(`the toy stage needs --task NAME (${taskNames().join(', ')})`);
  const task = getTask(taskName);
  const levelsText = o.levels ?? exp?.levels.distill.join(',');
  if (levelsText === undefined) throw new Error(`the toy stage needs --levels, e.g. --levels ${task.minLevel},${task.minLevel + 1}`);
  const levels = parseLevels(levelsText, task, o.levels === undefined ? `${o.config}: levels.distill` : '--levels');
  const examples = o.examples ?? exp?.imitate.examples;
  if (examples === undefined) throw new Error('the toy stage needs --examples N (distilled traces in all)');
  // A config's scarce levels belong to its distilled levels: they come along only when --levels does too.
  const scarce = scarceSettings(o, task, exp && o.levels === undefined ? { scarceLevels: exp.levels.scarce, scarceExamples: exp.imitate.scarceExamples } : null);
  const reflectionRate = o.reflectionRate ?? exp?.imitate.reflectionRate ?? 0.3;
  if (!(reflectionRate >= 0 && reflectionRate <= 1)) throw new Error(`--reflection-rate must be in [0, 1], got ${reflectionRate}`);
  const stepStyle = stepStyleFlag(o.stepStyle) ?? exp?.imitate.stepStyle;
  const seed = given(cmd, 'seed') ? o.seed : (exp?.seed ?? 1);
  const train = toyTrainSettings(cmd, o, exp ? exp.imitate : toyStageDefaults().imitate);
  const backend = useBackend(cmd);
  const log = stageLog(o.quiet);
  log.line(`imitate: toy stage on the ${backend.name} backend → ${o.out}`);
  const started = performance.now();
  const r = await imitateToy({ task, distill: { task: task.name, levels, examples, ...scarce, seed, reflectionRate, ...(stepStyle ? { stepStyle } : {}) }, model, train, outDir: o.out, overwrite: o.overwrite === true, log });
  log.line(`imitate: ${r.train.steps} steps, final loss ${r.train.finalLoss.toFixed(3)}, ${Math.round(r.train.tokens / Math.max(r.train.seconds, 1e-9))} tok/s → ${o.out}`);
  process.stdout.write(`${JSON.stringify({
    status: 'done', model: o.out, task: task.name, levels, scarce_levels: scarce.scarceLevels, distilled: r.distilled, reflective: r.reflective, parameters: r.parameters,
    context: r.context, step: r.train.steps, loss: r.train.finalLoss, seconds: (performance.now() - started) / 1000,
  })}\n`);
}
