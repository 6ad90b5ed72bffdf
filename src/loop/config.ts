// An experiment's configuration: plain JSON (see examples/*.json), filled in with defaults and validated
// with errors that name the file and the field. Every stage reads its part; nothing else configures a run.
import { ConfigObject, readConfigJson } from './config_fields.ts';
import { IMPROVE_METHODS, readDpoStage, type DpoStageConfig } from './dpo_config.ts';
import { getTask, taskNames } from '../tasks/index.ts';
import { STEP_STYLES, type StepStyle, type Task } from '../tasks/task.ts';

export interface ToyModelConfig {
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  intermediateSize: number;
  ropeTheta: number;
}

export interface TrainStageConfig {
  /** Passes over this stage's training data (distilled traces, plus the pool when improving). */
  epochs: number;
  lr: number;
  batchSize: number;
  warmup: number;
  schedule: 'constant' | 'cosine' | 'linear';
  weightDecay: number;
  maxGradNorm: number;
}

export interface SamplingConfig {
  temperature: number;
  topP: number;
  /** Rollouts per problem. */
  k: number;
  maxNewTokens: number;
}

export interface ExperimentConfig {
  name: string;
  seed: number;
  /** A task from src/tasks (addition, multiplication, countdown). */
  task: string;
  model: ToyModelConfig;
  levels: {
    /** Levels the teacher's distilled traces cover in bulk. */
    distill: number[];
    /** Hard levels with only a few distilled traces (imitate.scarceExamples): where exploration must help. */
    scarce: number[];
    /** Levels explored for new trajectories (usually beyond distill). */
    explore: number[];
    /** Held-out evaluation levels; the last one is "the hardest level" of the report. */
    eval: number[];
  };
  imitate: TrainStageConfig & {
    /** Distilled teacher traces at the bulk levels (the "small" distilled set of the ablation). */
    examples: number;
    /** Distilled teacher traces at the scarce levels (few: distilled data is scarce where problems are hard). */
    scarceExamples: number;
    /** Probability that a teacher trace contains a caught slip. */
    reflectionRate: number;
    /** How the teacher writes arithmetic steps (see src/tasks/task.ts); default: the task's own. */
    stepStyle?: StepStyle;
  };
  explore: SamplingConfig & {
    problemsPerLevel: number;
    /** Correct trajectories kept per problem (the shortest first). */
    capPerProblem: number;
  };
  improve: TrainStageConfig & {
    rounds: number;
    /**
     * 'continue' fine-tunes the previous round's model with these settings; 'base' retrains from the initial
     * weights with round 0's (imitate) settings on all distilled traces plus the pool.
     */
    init: 'continue' | 'base';
    /** Bulk distilled traces replayed each round beside the pool and the scarce traces (null = all). */
    replay: number | null;
    /**
     * 'dpo': after each round's SFT, DPO on pairs of that round's rollouts (STILL-2's SFT+DPO, loop/dpo_stage.ts).
     * Absent for 'sft' (the default), so configs written before the option still match their run folders.
     */
    method?: 'dpo';
    dpo?: DpoStageConfig;
  };
  eval: SamplingConfig & {
    problemsPerLevel: number;
    /**
     * Problems at the hardest eval level, where the headline number is read (default problemsPerLevel): 200
     * give a 95% interval of about ±7 points instead of ±15 at 40. Absent unless set, so older run folders match.
     */
    hardProblems?: number;
  };
  /**
   * The paper's Table 2 on a toy scale: a distill-only run with `scarceScale` times as many teacher traces at
   * the scarce (hard) levels — the same bulk traces — trained like round 0 (same epochs); 0 = skip.
   */
  ablation: {
    scarceScale: number;
    /**
     * The equal-compute control: distill-only on the small set, continued from round 0 for as many steps as
     * the improve rounds took (same replay and scarce traces, no pool), so the report separates what
     * exploration adds from what more training adds. Only with improve.init "continue".
     */
    equalCompute: boolean;
  };
  /** Max slots decoded together. */
  maxBatch: number;
}

/**
 * Toy DPO (full fine-tuning of the 0.2M student): a strong pull to the reference (beta 2) and a heavy SFT
 * term on the chosen side (5) keep the easy levels; measured in bench/NOTES.md ("SFT+DPO on the toy").
 */
const TOY_DPO_DEFAULTS = { lr: 1e-4, epochs: 3, batchSize: 8, gradAccum: 1, beta: 2, nllWeight: 5 };
const TRAIN_DEFAULTS = { warmup: 10, schedule: 'cosine', weightDecay: 0, maxGradNorm: 1 } as const;
const SCHEDULES = ['constant', 'cosine', 'linear'] as const;

/** Read and check a toy config: unknown fields (with the nearest known name) and out-of-range values are errors. */
export function parseConfig(json: unknown, file: string): ExperimentConfig {
  const root = ConfigObject.root(json, file);
  const name = root.string('name', 'experiment');
  const taskName = root.string('task');
  const task = taskNames().includes(taskName) ? getTask(taskName) : root.fail('task', `one of ${taskNames().map((t) => JSON.stringify(t)).join(', ')}`);
  const train = (o: ConfigObject): TrainStageConfig => ({
    epochs: o.number('epochs', undefined, { min: 0, exclusiveMin: true }),
    lr: o.number('lr', undefined, { min: 0, exclusiveMin: true }),
    batchSize: o.number('batchSize', undefined, { min: 1, int: true }),
    warmup: o.number('warmup', TRAIN_DEFAULTS.warmup, { min: 0, int: true }),
    schedule: o.choice('schedule', SCHEDULES, TRAIN_DEFAULTS.schedule),
    weightDecay: o.number('weightDecay', TRAIN_DEFAULTS.weightDecay, { min: 0 }),
    maxGradNorm: o.number('maxGradNorm', TRAIN_DEFAULTS.maxGradNorm, { min: 0 }),
  });
  const sampling = (o: ConfigObject, k: number): SamplingConfig => ({
    temperature: o.number('temperature', 1, { min: 0 }),
    topP: o.number('topP', 1, { min: 0, max: 1, exclusiveMin: true }),
    k: o.number('k', k, { min: 1, int: true }),
    maxNewTokens: o.number('maxNewTokens', 512, { min: 1, int: true }),
  });
  const levelList = (o: ConfigObject, key: string, optional = false): number[] => {
    if (optional && !o.has(key)) return (o.optionalLabels(key), []);
    const v = o.optionalLabels(key);
    const list = (v ?? []).map(Number);
    if (v === null || !list.every((l) => Number.isInteger(l) && l >= task.minLevel && l <= task.maxLevel)) {
      o.fail(key, `a non-empty list of ${task.name} levels, integers in [${task.minLevel}, ${task.maxLevel}]`);
    }
    return list;
  };

  const m = root.object('model');
  const model: ToyModelConfig = {
    hiddenSize: m.number('hiddenSize', 128, { min: 2, int: true }),
    numLayers: m.number('numLayers', 4, { min: 1, int: true }),
    numHeads: m.number('numHeads', 4, { min: 1, int: true }),
    numKvHeads: m.number('numKvHeads', 2, { min: 1, int: true }),
    intermediateSize: m.number('intermediateSize', 352, { min: 1, int: true }),
    ropeTheta: m.number('ropeTheta', 10000, { min: 0, exclusiveMin: true }),
  };
  m.done();
  if (model.hiddenSize % model.numHeads !== 0 || model.numHeads % model.numKvHeads !== 0 || (model.hiddenSize / model.numHeads) % 2 !== 0) {
    throw new Error(`${file}: model needs hiddenSize divisible by numHeads into an even head size, and numHeads divisible by numKvHeads; got ${model.hiddenSize}/${model.numHeads}/${model.numKvHeads}`);
  }
  const lv = root.object('levels');
  const levels = { distill: levelList(lv, 'distill'), scarce: levelList(lv, 'scarce', true), explore: levelList(lv, 'explore'), eval: levelList(lv, 'eval') };
  lv.done();
  const im = root.object('imitate');
  const imitate = {
    ...train(im), examples: im.number('examples', undefined, { min: 1, int: true }),
    scarceExamples: im.number('scarceExamples', 0, { min: 0, int: true }), reflectionRate: im.number('reflectionRate', 0.3, { min: 0, max: 1 }),
    stepStyle: im.optionalChoice('stepStyle', STEP_STYLES),
  };
  im.done();
  const ex = root.object('explore');
  const explore = {
    ...sampling(ex, 8), problemsPerLevel: ex.number('problemsPerLevel', 50, { min: 1, int: true }), capPerProblem: ex.number('capPerProblem', 1, { min: 1, int: true }),
  };
  ex.done();
  const ip = root.object('improve');
  const improve = {
    ...train(ip), rounds: ip.number('rounds', 3, { min: 0, int: true }), init: ip.choice('init', ['continue', 'base'] as const, 'continue'),
    replay: ip.optionalNumber('replay', null, { min: 0, int: true }),
    ...(ip.choice('method', IMPROVE_METHODS, 'sft') === 'dpo'
      ? { method: 'dpo' as const, dpo: readDpoStage(ip.object('dpo'), TOY_DPO_DEFAULTS) }
      : ip.has('dpo') ? ip.fail('dpo', "absent unless improve.method is 'dpo'") : {}),
  };
  ip.done();
  const ev = root.object('eval');
  const hardProblems = ev.optionalNumber('hardProblems', null, { min: 1, int: true });
  const evalConfig = {
    ...sampling(ev, 4), problemsPerLevel: ev.number('problemsPerLevel', 40, { min: 1, int: true }), ...(hardProblems === null ? {} : { hardProblems }),
  };
  ev.done();
  const ab = root.object('ablation');
  const ablation = { scarceScale: ab.number('scarceScale', 0, { min: 0 }), equalCompute: ab.boolean('equalCompute', false) };
  ab.done();
  const config: ExperimentConfig = {
    name, seed: root.number('seed', 1, { min: 0, int: true }), task: taskName, model, levels, imitate, explore, improve, eval: evalConfig, ablation,
    maxBatch: root.number('maxBatch', 64, { min: 1, int: true }),
  };
  root.done();
  return config;
}

export function loadConfig(file: string): ExperimentConfig {
  return parseConfig(readConfigJson(file), file);
}
