// The toy imitate stage on its own (`still imitate --task`): a char-level student trained from scratch on
// the teacher's traces, saved as an HF directory with its distilled set (distilled.jsonl, toy pool rows)
// and a still_toy.json note, which `still explore` and `still improve` read.
import { join } from 'node:path';
import { saveHfModel } from '../nn/save.ts';
import type { Task } from '../tasks/task.ts';
import type { ToyModelConfig, TrainStageConfig } from './config.ts';
import type { StageLog } from './progress.ts';
import { writeTrajectories } from './stage_pool_rows.ts';
import { distilledTrajectories, intoToyFolder, trajectoryExamples, warmupSteps, writeToyNote, type DistillSpec } from './stage_toy.ts';
import { imitate, type TrainSummary } from './stages.ts';
import { contextFor, newStudent } from './toy.ts';

export interface ToyImitateOptions {
  task: Task;
  distill: DistillSpec;
  model: ToyModelConfig;
  /** warmup: steps, or a fraction of the run when < 1. */
  train: TrainStageConfig;
  outDir: string;
  /** Replace a model (or other files) in outDir; the old one stays until the new one is saved. */
  overwrite?: boolean;
  log: StageLog;
}

export interface ToyImitateResult {
  train: TrainSummary;
  distilled: number;
  reflective: number;
  /** max_position_embeddings of the saved student. */
  context: number;
  parameters: number;
}

export async function imitateToy(o: ToyImitateOptions): Promise<ToyImitateResult> {
  const rows = distilledTrajectories(o.task, o.distill);
  if (rows.length === 0) throw new Error(`imitate: no distilled problems at levels ${o.distill.levels.join(',')} (--examples ${o.distill.examples})`);
  const levels = [...o.distill.levels, ...o.distill.scarceLevels];
  const examples = trajectoryExamples(rows, 'distill');
  const longest = Math.max(...examples.map((e) => e.inputIds.length));
  const context = Math.max(contextFor(o.task, levels, o.distill.seed, o.distill.stepStyle), longest);
  const model = newStudent(o.model, context, o.distill.seed);
  const parameters = [...model.weights.values()].reduce((n, w) => n + w.shape.reduce((p, d) => p * d, 1), 0);
  const scarce = o.distill.scarceLevels.length ? ` + ${rows.filter((t) => o.distill.scarceLevels.includes(t.level)).length} at scarce levels ${o.distill.scarceLevels.join(',')}` : '';
  o.log.line(`imitate: ${rows.length} teacher traces of ${o.task.name} at levels ${o.distill.levels.join(',')}${scarce} ` +
    `(${rows.filter((t) => t.reflection).length} with a caught slip), a ${parameters}-parameter student, context ${context}`);
  const train = { ...o.train, warmup: warmupSteps(o.train.warmup, o.train, examples.length) };
  const summary = await intoToyFolder(o.outDir, o.overwrite, async (dir) => {
    const s = await imitate(model, examples, train, o.distill.seed, 'imitate', o.log);
    writeTrajectories(join(dir, 'distilled.jsonl'), rows);
    saveHfModel(model, dir);
    writeToyNote(dir, { task: o.task.name, distill: o.distill, stage: 'imitate', round: 0 });
    return s;
  });
  return { train: summary, distilled: rows.length, reflective: rows.filter((t) => t.reflection).length, context, parameters };
}
