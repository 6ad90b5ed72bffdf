// `still improve`: the STILL self-improve stage on its own. Retrain on the distilled data plus the pool
// that `still explore` wrote, and save the model.
//
//   still improve --model runs/imitated --pool pool.jsonl --task addition --levels 1,2,3 --examples 3000 --out runs/round-1
//   still improve --model runs/imitated --pool pool.jsonl --distilled runs/imitated/distilled.jsonl --out runs/round-1
//   still improve --model Qwen2.5-Math --init-adapter runs/lora --pool pool.jsonl --distilled still2.jsonl --out runs/lora-1
//
// The model says which kind of run this is (a text model has a tokenizer.json), and the pool must match.
// Toy: the char-level student retrains on the teacher's traces (--distilled, or rebuilt from --task/--levels/--examples) plus the pool, continuing from
// its weights or from a fresh initialisation of the same shape (--init). STILL-2 rows: `still imitate`'s
// SFT trainer (LoRA or --full, every training flag as there) on --distilled + pool, read in place;
// --init continue resumes the imitated adapter given as --init-adapter.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Option, type Command } from 'commander';
import { readJsonl } from '../data/jsonl.ts';
import { toyStageDefaults } from '../loop/toy_defaults.ts';
import type { Trajectory } from '../loop/pool.ts';
import { stageLog } from '../loop/progress.ts';
import { improveToy } from '../loop/stage_improve.ts';
import { poolFormat, readStill2Rows, readTrajectories } from '../loop/stage_pool_rows.ts';
import { distilledTrajectories, loadToyModel, parseLevels, readToyNote, type DistillSpec, type ToyNote } from '../loop/stage_toy.ts';
import { STEP_STYLES, getTask, taskNames } from '../tasks/index.ts';
import { useBackend } from './backend_option.ts';
import { IMITATE_DEFAULTS } from './imitate.ts';
import { addSftOptions, runSftCommand, sftOptions, type SftCliOptions, type SftCommandDefaults } from './sft.ts';
import { TOY_TRAIN_KEYS, given, intFlag, numFlag, refuseFlags, scarceSettings, stepStyleFlag, toyTrainSettings } from './stage_options.ts';

interface ImproveFlags extends Omit<SftCliOptions, 'data'> {
  data?: string;
  pool: string;
  distilled?: string;
  task?: string;
  levels?: string;
  examples?: number;
  reflectionRate?: number;
  scarceLevels?: string;
  scarceExamples?: number;
  stepStyle?: string;
  init: 'continue' | 'base';
}

const IMPROVE_DEFAULTS: SftCommandDefaults = {
  ...IMITATE_DEFAULTS,
  name: 'improve',
  description: 'STILL self-improve stage: retrain on distilled data + the explored pool (toy student, or SFT of an HF model)',
};

const TOY_ONLY = ['task', 'levels', 'examples', 'scarceLevels', 'scarceExamples', 'reflectionRate', 'stepStyle'];
const flagName = (key: string) => `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

export function registerImprove(program: Command): void {
  const cmd = program.command(IMPROVE_DEFAULTS.name).description(IMPROVE_DEFAULTS.description);
  addSftOptions(cmd, IMPROVE_DEFAULTS.recipe, { data: false });
  cmd.options.find((x) => x.long === '--model')!.description =
    'the explored policy: a toy student, or an HF model directory (with --init-adapter when the policy is its adapter)';
  cmd
    .requiredOption('--pool <file>', 'the explored pool (still explore --out): toy trajectories or STILL-2 rows')
    .option('--distilled <file>', 'distilled data trained on with the pool: toy, distilled.jsonl of still imitate --task; real, STILL-2 (or any SFT) rows')
    // The training data is --pool (+ --distilled) here; --data is accepted only to say so.
    .addOption(new Option('--data <file>').hideHelp())
    .option('--task <name>', `toy: rebuild the distilled traces of this task instead of --distilled (${taskNames().join(' | ')})`)
    .option('--levels <list>', "toy: the distilled traces' levels (default: the student's still_toy.json)")
    .option('--examples <n>', "toy: distilled traces in all (default: the student's still_toy.json)", intFlag('--examples', 1))
    .option('--scarce-levels <list>', "toy: the rebuilt set's scarce levels (default: the student's still_toy.json)")
    .option('--scarce-examples <n>', 'toy: traces in all at the scarce levels', intFlag('--scarce-examples', 1))
    .option('--reflection-rate <p>', "toy: share of rebuilt traces with a caught slip (default: the student's, else 0.3)", numFlag('--reflection-rate'))
    .option('--step-style <style>', `toy: how the rebuilt traces write arithmetic steps (${STEP_STYLES.join(' | ')}; default: the student's)`)
    .addOption(new Option('--init <mode>', 'continue: from --model\'s weights (real: and --init-adapter); base: a fresh start (toy: a new init of the same shape; real: a new adapter on --model)')
      .choices(['continue', 'base']).default('continue'))
    .action(async function (this: Command, o: ImproveFlags) {
      if (o.data !== undefined) throw new Error('still improve trains on --pool FILE (and --distilled FILE), not --data');
      // The model says which kind of run this is: a text model carries its tokenizer, a toy student does not.
      const toy = !existsSync(join(o.model, 'tokenizer.json'));
      checkPoolKind(o.pool, toy ? 'toy' : 'still2', o.model);
      if (toy) await improveToyCommand(this, o);
      else await improveRealCommand(this, o);
    });
}

/** A toy student improves on toy trajectories, a text model on STILL-2 rows; an empty pool suits either. */
function checkPoolKind(file: string, want: 'toy' | 'still2', model: string): void {
  const kind = poolFormat(file);
  if (kind !== null && kind !== want) {
    throw new Error(`--pool ${file} holds ${kind === 'toy' ? 'toy trajectories' : 'STILL-2 rows'}, but ${model} is ${want === 'toy' ? 'a toy student (no tokenizer.json)' : 'a text model (it has a tokenizer.json)'}`);
  }
}

async function improveToyCommand(cmd: Command, o: ImproveFlags): Promise<void> {
  refuseFlags(cmd, new Set<string>([...TOY_TRAIN_KEYS, 'model', 'pool', 'distilled', 'init', ...TOY_ONLY]),
    'does not apply to a toy student (its pool holds toy trajectories): it retrains every weight');
  if (o.distilled !== undefined && o.task !== undefined) throw new Error('give --distilled FILE or --task NAME (rebuilt traces), not both');
  if (o.task === undefined) {
    for (const k of TOY_ONLY) if (given(cmd, k)) throw new Error(`${flagName(k)} goes with --task NAME`);
  }
  const backend = useBackend(cmd);
  const log = stageLog(o.quiet);
  const model = loadToyModel(o.model);
  const note = readToyNote(o.model);
  const pool = poolFormat(o.pool) === null ? [] : readTrajectories(o.pool);
  let distilled: Trajectory[] = [];
  let spec: DistillSpec | null = null;
  if (o.distilled !== undefined) {
    if (poolFormat(o.distilled) === 'still2') throw new Error(`--distilled ${o.distilled} holds STILL-2 rows; a toy student trains on toy trajectories (still imitate --task writes distilled.jsonl)`);
    distilled = readTrajectories(o.distilled);
  } else if (o.task !== undefined) {
    spec = distillSpec(cmd, o, note);
    distilled = distilledTrajectories(getTask(spec.task), spec);
  } else {
    log.line('improve: no --distilled or --task; training on the pool alone');
  }
  // The round this closes: the pool's latest, and at least the one after the student's (an empty pool says nothing).
  const round = Math.max(...pool.map((t) => t.round), (note?.round ?? 0) + 1);
  const seed = given(cmd, 'seed') ? o.seed : (note?.distill.seed ?? 1) + round; // as `still run` seeds round r
  const train = toyTrainSettings(cmd, o, toyStageDefaults().improve);
  log.line(`improve: ${o.model} on the ${backend.name} backend → ${o.out}`);
  const started = performance.now();
  const r = await improveToy({
    model, init: o.init, distilled, pool, train, seed, round, task: spec?.task ?? note?.task ?? null, distill: spec ?? note?.distill ?? null, outDir: o.out, overwrite: o.overwrite === true, log,
  });
  log.line(`improve: ${r.train.steps} steps on ${r.train.examples} traces, final loss ${r.train.finalLoss.toFixed(3)} → ${o.out}`);
  process.stdout.write(`${JSON.stringify({
    status: 'done', model: o.out, init: o.init, round: r.round, distilled: r.distilled, pool: r.pool, step: r.train.steps,
    loss: r.train.finalLoss, context: r.context, seconds: (performance.now() - started) / 1000,
  })}\n`);
}

/** The distilled set to rebuild: flags first, then the student's note (for the same task), then defaults. */
function distillSpec(cmd: Command, o: ImproveFlags, note: ToyNote | null): DistillSpec {
  const task = getTask(o.task!);
  const same = note !== null && note.task === task.name ? note.distill : null;
  const levels = o.levels !== undefined ? parseLevels(o.levels, task) : same?.levels;
  if (levels === undefined) throw new Error(`--task ${task.name} needs --levels (the student has no still_toy.json note for ${task.name})`);
  const examples = o.examples ?? same?.examples;
  if (examples === undefined) throw new Error(`--task ${task.name} needs --examples (the student has no still_toy.json note for ${task.name})`);
  // The note's scarce levels belong to its distilled levels: they come along only when --levels does too.
  const scarce = scarceSettings(o, task, o.levels === undefined ? same : null);
  const reflectionRate = o.reflectionRate ?? same?.reflectionRate ?? 0.3;
  if (!(reflectionRate >= 0 && reflectionRate <= 1)) throw new Error(`--reflection-rate must be in [0, 1], got ${reflectionRate}`);
  // The teacher's traces depend on the imitate seed, not on this run's training seed.
  const seed = same?.seed ?? (given(cmd, 'seed') ? o.seed : 1);
  const stepStyle = stepStyleFlag(o.stepStyle) ?? same?.stepStyle;
  return { task: task.name, levels, examples, ...scarce, seed, reflectionRate, ...(stepStyle ? { stepStyle } : {}) };
}

async function improveRealCommand(cmd: Command, o: ImproveFlags): Promise<void> {
  for (const k of TOY_ONLY) {
    if (given(cmd, k)) throw new Error(`${flagName(k)} is for a toy student; ${o.pool} holds STILL-2 rows (give --distilled FILE for a real model)`);
  }
  if (o.init === 'base' && o.initAdapter !== undefined) {
    throw new Error('--init base starts a new adapter on --model; drop --init-adapter, or use --init continue to keep training it');
  }
  const pool = poolFormat(o.pool) === null ? [] : readStill2Rows(o.pool);
  // Distilled rows pass through as they are: the SFT loader reads every row format and names bad lines.
  const distilled = o.distilled === undefined ? [] : readJsonl(o.distilled).map((r) => r.value);
  if (pool.length + distilled.length === 0) throw new Error(`${o.pool} is empty and there is no --distilled data: nothing to train on`);
  // The trainer reads both files in place: nothing is written before the run is checked and its folder claimed.
  const data = [...(distilled.length ? [o.distilled!] : []), ...(pool.length ? [o.pool] : [])];
  if (!o.quiet) {
    process.stderr.write(`improve: ${distilled.length} distilled${o.distilled ? ` (${o.distilled})` : ''} + ${pool.length} pool rows (${o.pool})\n`);
    if (o.distilled === undefined) process.stderr.write('improve: no --distilled data: training on the pool alone\n');
  }
  await runSftCommand(cmd, { ...o, data: o.pool }, IMPROVE_DEFAULTS, { ...sftOptions({ ...o, data: o.pool }), data });
}
