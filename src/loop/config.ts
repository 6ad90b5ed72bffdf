// An experiment's configuration: plain JSON (see examples/*.json), filled in with defaults and validated
// with errors that name the file and the field. Every stage reads its part; nothing else configures a run.
import { readConfigJson } from './config_fields.ts';
import { STEP_STYLES, type StepStyle } from '../tasks/task.ts';

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
  };
  eval: SamplingConfig & { problemsPerLevel: number };
  /**
   * The paper's Table 2 on a toy scale: a distill-only run with `scarceScale` times as many teacher traces at
   * the scarce (hard) levels — the same bulk traces — trained like round 0 (same epochs); 0 = skip.
   */
  ablation: { scarceScale: number };
  /** Max slots decoded together. */
  maxBatch: number;
}

const TRAIN_DEFAULTS = { warmup: 10, schedule: 'cosine', weightDecay: 0, maxGradNorm: 1 } as const;

export function parseConfig(json: unknown, file: string): ExperimentConfig {
  const at = (path: string) => `${file}: field '${path}'`;
  const obj = (v: unknown, path: string): Record<string, unknown> => {
    if (v === undefined) return {};
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error(`${at(path)} must be an object`);
    return v as Record<string, unknown>;
  };
  const num = (o: Record<string, unknown>, path: string, key: string, dflt?: number, int = false): number => {
    const v = o[key] ?? dflt;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || (int && !Number.isInteger(v))) {
      throw new Error(`${at(`${path}${key}`)} must be a non-negative ${int ? 'integer' : 'number'}${v === undefined ? ' (missing)' : `, got ${JSON.stringify(v)}`}`);
    }
    return v;
  };
  const levels = (o: Record<string, unknown>, key: string): number[] => {
    const v = o[key];
    if (!Array.isArray(v) || v.length === 0 || !v.every((x) => Number.isInteger(x) && x > 0)) {
      throw new Error(`${at(`levels.${key}`)} must be a non-empty array of positive integers, got ${JSON.stringify(v)}`);
    }
    return v as number[];
  };
  const choice = <T extends string>(o: Record<string, unknown>, path: string, key: string, options: readonly T[], dflt: T): T => {
    const v = o[key] ?? dflt;
    if (!options.includes(v as T)) throw new Error(`${at(`${path}${key}`)} must be one of ${options.join(', ')}, got ${JSON.stringify(v)}`);
    return v as T;
  };
  const train = (o: Record<string, unknown>, path: string): TrainStageConfig => ({
    epochs: num(o, path, 'epochs'),
    lr: num(o, path, 'lr'),
    batchSize: num(o, path, 'batchSize', undefined, true),
    warmup: num(o, path, 'warmup', TRAIN_DEFAULTS.warmup, true),
    schedule: choice(o, path, 'schedule', ['constant', 'cosine', 'linear'] as const, TRAIN_DEFAULTS.schedule),
    weightDecay: num(o, path, 'weightDecay', TRAIN_DEFAULTS.weightDecay),
    maxGradNorm: num(o, path, 'maxGradNorm', TRAIN_DEFAULTS.maxGradNorm),
  });
  const sampling = (o: Record<string, unknown>, path: string, k: number): SamplingConfig => ({
    temperature: num(o, path, 'temperature', 1),
    topP: num(o, path, 'topP', 1),
    k: num(o, path, 'k', k, true),
    maxNewTokens: num(o, path, 'maxNewTokens', 512, true),
  });

  const root = obj(json, '');
  const m = obj(root.model, 'model');
  const lv = obj(root.levels, 'levels');
  const im = obj(root.imitate, 'imitate');
  const ex = obj(root.explore, 'explore');
  const ip = obj(root.improve, 'improve');
  const ev = obj(root.eval, 'eval');
  const config: ExperimentConfig = {
    name: typeof root.name === 'string' ? root.name : 'experiment',
    seed: num(root, '', 'seed', 1, true),
    task: typeof root.task === 'string' ? root.task : (() => { throw new Error(`${at('task')} must name a task`); })(),
    model: {
      hiddenSize: num(m, 'model.', 'hiddenSize', 128, true),
      numLayers: num(m, 'model.', 'numLayers', 4, true),
      numHeads: num(m, 'model.', 'numHeads', 4, true),
      numKvHeads: num(m, 'model.', 'numKvHeads', 2, true),
      intermediateSize: num(m, 'model.', 'intermediateSize', 352, true),
      ropeTheta: num(m, 'model.', 'ropeTheta', 10000),
    },
    levels: {
      distill: levels(lv, 'distill'), scarce: lv.scarce === undefined ? [] : levels(lv, 'scarce'),
      explore: levels(lv, 'explore'), eval: levels(lv, 'eval'),
    },
    imitate: {
      ...train(im, 'imitate.'), examples: num(im, 'imitate.', 'examples', undefined, true),
      scarceExamples: num(im, 'imitate.', 'scarceExamples', 0, true), reflectionRate: num(im, 'imitate.', 'reflectionRate', 0.3),
      stepStyle: im.stepStyle === undefined ? undefined : choice(im, 'imitate.', 'stepStyle', STEP_STYLES, 'compact'),
    },
    explore: { ...sampling(ex, 'explore.', 8), problemsPerLevel: num(ex, 'explore.', 'problemsPerLevel', 50, true), capPerProblem: num(ex, 'explore.', 'capPerProblem', 1, true) },
    improve: {
      ...train(ip, 'improve.'), rounds: num(ip, 'improve.', 'rounds', 3, true),
      init: choice(ip, 'improve.', 'init', ['continue', 'base'] as const, 'continue'),
      replay: ip.replay === undefined || ip.replay === null ? null : num(ip, 'improve.', 'replay', undefined, true),
    },
    eval: { ...sampling(ev, 'eval.', 4), problemsPerLevel: num(ev, 'eval.', 'problemsPerLevel', 40, true) },
    ablation: { scarceScale: num(obj(root.ablation, 'ablation'), 'ablation.', 'scarceScale', 0) },
    maxBatch: num(root, '', 'maxBatch', 64, true),
  };
  const c = config.model;
  if (c.hiddenSize % c.numHeads !== 0 || c.numHeads % c.numKvHeads !== 0 || (c.hiddenSize / c.numHeads) % 2 !== 0) {
    throw new Error(`${file}: model needs hiddenSize divisible by numHeads into an even head size, and numHeads divisible by numKvHeads; got ${c.hiddenSize}/${c.numHeads}/${c.numKvHeads}`);
  }
  if (config.explore.k === 0 || config.eval.k === 0) throw new Error(`${file}: explore.k and eval.k must be at least 1`);
  return config;
}

export function loadConfig(file: string): ExperimentConfig {
  return parseConfig(readConfigJson(file), file);
}
