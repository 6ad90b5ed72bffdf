// The toy improve stage on its own (`still improve --pool … --task|--distilled`): retrain the student on
// the distilled traces plus the pool, either continuing from its weights or from a fresh initialisation
// of the same shape (the loop's improve.init), and save it with an updated still_toy.json note.
import type { DecoderModel } from '../nn/model.ts';
import { saveHfModel } from '../nn/save.ts';
import type { TrainStageConfig } from './config.ts';
import type { Trajectory } from './pool.ts';
import type { StageLog } from './progress.ts';
import { freshStudent, intoToyFolder, trajectoryExamples, warmupSteps, writeToyNote, type DistillSpec } from './stage_toy.ts';
import { imitate, type TrainSummary } from './stages.ts';

export interface ToyImproveOptions {
  /** The explored student (loaded with loadToyModel). */
  model: DecoderModel;
  init: 'continue' | 'base';
  distilled: readonly Trajectory[];
  pool: readonly Trajectory[];
  /** warmup: steps, or a fraction of the run when < 1. */
  train: TrainStageConfig;
  seed: number;
  /** The round this retraining closes (the explore round whose pool it adds). */
  round: number;
  /** For the saved note: the task and distilled set, when known. */
  task: string | null;
  distill: DistillSpec | null;
  outDir: string;
  /** Replace a model (or other files) in outDir; the old one stays until the new one is saved. */
  overwrite?: boolean;
  log: StageLog;
}

export interface ToyImproveResult {
  train: TrainSummary;
  round: number;
  distilled: number;
  pool: number;
  context: number;
}

export async function improveToy(o: ToyImproveOptions): Promise<ToyImproveResult> {
  if (o.pool.length + o.distilled.length === 0) throw new Error('improve: the pool and the distilled set are both empty; nothing to train on');
  const round = o.round;
  const examples = [...trajectoryExamples(o.distilled, 'distilled'), ...trajectoryExamples(o.pool, 'pool')];
  const model = o.init === 'base' ? freshStudent(o.model.config, o.seed) : o.model;
  // Pool traces from harder levels can be longer than anything the student saw; its config says so after.
  const context = Math.max(model.config.maxPositionEmbeddings, ...examples.map((e) => e.inputIds.length));
  model.config.maxPositionEmbeddings = context;
  o.log.line(`improve (round ${round}): ${o.distilled.length} distilled + ${o.pool.length} pool traces, ` +
    `${o.init === 'base' ? 'from a fresh initialisation' : 'continuing from the explored student'}`);
  const train = { ...o.train, warmup: warmupSteps(o.train.warmup, o.train, examples.length) };
  const summary = await intoToyFolder(o.outDir, o.overwrite, async (dir) => {
    const s = await imitate(model, examples, train, o.seed, `improve (round ${round})`, o.log);
    saveHfModel(model, dir);
    if (o.task !== null && o.distill !== null) writeToyNote(dir, { task: o.task, distill: o.distill, stage: 'improve', round });
    return s;
  });
  return { train: summary, round, distilled: o.distilled.length, pool: o.pool.length, context };
}
