// What the standalone toy stages (`still imitate|explore|improve --task`) share: level lists checked
// against the task, the student's size presets, the teacher's distilled traces, the context a level
// needs, loading a char-level student, and the still_toy.json note a toy model directory carries (its
// task, distilled set and seed), so that later stages can rebuild what imitate saw without being told.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Example } from '../data/example.ts';
import { writeJsonAtomic } from '../io/atomic.ts';
import { claimOutputFolder } from '../io/output_policy.ts';
import { initModel, loadModel } from '../nn/load.ts';
import type { DecoderModel } from '../nn/model.ts';
import type { ModelConfig } from '../io/hf_config.ts';
import { Rng } from '../tasks/rng.ts';
import { STEP_STYLES, type Problem, type StepStyle, type Task } from '../tasks/task.ts';
import type { ToyModelConfig, TrainStageConfig } from './config.ts';
import type { Trajectory } from './pool.ts';
import { ProblemSets } from './problems.ts';
import { tokenizer, traceExample } from './toy.ts';

/** Student sizes by name: the loop test's micro model, the demo's, and config.ts's default. */
export const TOY_SIZES: Record<string, ToyModelConfig> = {
  micro: { hiddenSize: 32, numLayers: 1, numHeads: 2, numKvHeads: 1, intermediateSize: 64, ropeTheta: 10000 },
  demo: { hiddenSize: 64, numLayers: 4, numHeads: 2, numKvHeads: 2, intermediateSize: 192, ropeTheta: 10000 },
  base: { hiddenSize: 128, numLayers: 4, numHeads: 4, numKvHeads: 2, intermediateSize: 352, ropeTheta: 10000 },
};

/** "1,2,3" or "1-3" (or a mix) → sorted distinct levels, each inside the task's range. */
export function parseLevels(text: string, task: Task, flag = '--levels'): number[] {
  const levels = new Set<number>();
  for (const part of text.split(',').map((s) => s.trim())) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) throw new Error(`${flag} expects levels like 1,2,3 or 1-3, got '${text}'`);
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (hi < lo) throw new Error(`${flag}: the range '${part}' runs backwards`);
    for (let l = lo; l <= hi; l++) {
      if (l < task.minLevel || l > task.maxLevel) {
        throw new Error(`${flag}: level ${l} is outside the range of task ${task.name} [${task.minLevel}, ${task.maxLevel}] (${task.description})`);
      }
      levels.add(l);
    }
  }
  return [...levels].sort((a, b) => a - b);
}

/** The teacher's distilled set: which problems, and how its traces are written. */
export interface DistillSpec {
  task: string;
  levels: number[];
  /** Traces in all, spread evenly over the levels. */
  examples: number;
  /**
   * Hard levels with only a few traces (the loop's levels.scarce / imitate.scarceExamples): where the
   * teacher's data is scarce and exploration has to find more. Empty for none.
   */
  scarceLevels: number[];
  scarceExamples: number;
  seed: number;
  reflectionRate: number;
  /** How the teacher writes arithmetic steps; absent = the task's default. */
  stepStyle?: StepStyle;
}

/** The distilled problems: the same streams as `still run` draws them from, so a seed gives one set. */
export function distilledProblems(task: Task, spec: DistillSpec): Problem[] {
  const sets = new ProblemSets(task, spec.seed);
  return [
    ...sets.drawTotal('distill', spec.levels, spec.examples),
    ...(spec.scarceLevels.length > 0 ? sets.drawTotal('distill-scarce', spec.scarceLevels, spec.scarceExamples) : []),
  ];
}

/** Teacher traces as pool rows (round 0), each trace from its problem's own seeded stream. */
export function distilledTrajectories(task: Task, spec: DistillSpec): Trajectory[] {
  const root = new Rng(`teacher/${spec.seed}`);
  return distilledProblems(task, spec).map((p) => {
    const completion = task.teacher(p, root.fork(p.id), { reflectionRate: spec.reflectionRate, stepStyle: spec.stepStyle });
    return { problemId: p.id, level: p.level, question: p.question, completion, round: 0, reflection: task.hasReflection(completion) };
  });
}

/** Training examples (prompt masked, completion + EOS trained) from trajectories. */
export function trajectoryExamples(rows: readonly Trajectory[], tag: string): Example[] {
  return rows.map((t, i) => traceExample({ id: t.problemId, task: '', level: t.level, question: t.question, answer: '' }, t.completion, `${tag}:${i + 1}`));
}

/** A freshly initialised student of the given shape (seeded, as newStudent draws it). */
export function freshStudent(config: ModelConfig, seed: number): DecoderModel {
  const rng = new Rng(`init/${seed}`);
  const normal = () => Math.sqrt(-2 * Math.log(1 - rng.float())) * Math.cos(2 * Math.PI * rng.float());
  return initModel({ ...config }, normal);
}

/** Load a char-level student; a text model (with its own tokenizer) or another vocabulary is refused. */
export function loadToyModel(dir: string): DecoderModel {
  if (!existsSync(join(dir, 'config.json'))) throw new Error(`${join(dir, 'config.json')} does not exist: --model must be a model directory`);
  if (existsSync(join(dir, 'tokenizer.json'))) {
    throw new Error(`${dir} has a tokenizer.json, so it is a text model: the toy tasks (--task) need a char-level student from \`still imitate --task\` or \`still run\`; explore a text model on --data`);
  }
  const model = loadModel(dir, { quiet: true });
  if (model.config.vocabSize !== tokenizer.vocabSize) {
    throw new Error(`${join(dir, 'config.json')}: vocab_size is ${model.config.vocabSize}; a toy student has the char tokenizer's ${tokenizer.vocabSize}`);
  }
  return model;
}

/** Warmup given as steps (≥ 1 or 0) or as a fraction of the run (< 1), resolved to steps for `n` examples. */
export function warmupSteps(warmup: number, s: Pick<TrainStageConfig, 'epochs' | 'batchSize'>, n: number): number {
  if (!(warmup >= 0)) throw new Error(`--warmup expects whole steps or a fraction < 1, got ${warmup}`);
  if (warmup >= 1 || warmup === 0) {
    if (!Number.isInteger(warmup)) throw new Error(`--warmup expects whole steps or a fraction < 1, got ${warmup}`);
    return warmup;
  }
  return Math.round(warmup * Math.ceil((s.epochs * n) / s.batchSize));
}

/** The note in a toy model directory: what the student was distilled on, and which stage wrote it. */
export interface ToyNote {
  format: 'still-toy/1';
  task: string;
  distill: DistillSpec;
  stage: 'imitate' | 'improve';
  /** 0 after imitate; after improve, the latest round in the pool it trained on. */
  round: number;
}

export const TOY_NOTE = 'still_toy.json';

/**
 * Claim a toy stage's output folder (output_policy.ts: a saved model there is refused unless overwrite) and
 * run `fn` writing into it; the model is swapped in only when `fn` has finished.
 */
export async function intoToyFolder<T>(outDir: string, overwrite: boolean | undefined, fn: (dir: string) => Promise<T>): Promise<T> {
  const folder = claimOutputFolder(outDir, { what: 'toy model', finished: 'model.safetensors', overwrite });
  try {
    const value = await fn(folder.dir);
    folder.commit();
    return value;
  } finally {
    folder.release();
  }
}

export function writeToyNote(dir: string, note: Omit<ToyNote, 'format'>): void {
  writeJsonAtomic(join(dir, TOY_NOTE), { format: 'still-toy/1', ...note });
}

/** The note, or null when the directory has none (e.g. a round of `still run`). */
export function readToyNote(dir: string): ToyNote | null {
  const file = join(dir, TOY_NOTE);
  if (!existsSync(file)) return null;
  let note: ToyNote;
  try {
    note = JSON.parse(readFileSync(file, 'utf8')) as ToyNote;
  } catch (e) {
    throw new Error(`${file}: not valid JSON (${(e as Error).message})`);
  }
  const d = note?.distill;
  if (note?.format !== 'still-toy/1' || typeof note.task !== 'string' || !d || !Array.isArray(d.levels) ||
      !Number.isInteger(d.examples) || !Number.isInteger(d.seed) || typeof d.reflectionRate !== 'number' ||
      !Array.isArray(d.scarceLevels) || !Number.isInteger(d.scarceExamples) || !Number.isInteger(note.round) ||
      (d.stepStyle !== undefined && !STEP_STYLES.includes(d.stepStyle))) {
    throw new Error(`${file}: expected {"format":"still-toy/1","task","distill":{"levels","examples","scarceLevels","scarceExamples","seed","reflectionRate","stepStyle"?},"stage","round"}`);
  }
  return note;
}

const MODEL_KEYS = ['hiddenSize', 'numLayers', 'numHeads', 'numKvHeads', 'intermediateSize', 'ropeTheta'] as const;

/** A bare student shape {hiddenSize, numLayers, …}; a field left out keeps the `base` preset's value. */
export function parseToyModel(json: unknown, file: string, base: ToyModelConfig = TOY_SIZES.demo!): ToyModelConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new Error(`${file}: expected a JSON object with ${MODEL_KEYS.join(', ')}`);
  const o = json as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!(MODEL_KEYS as readonly string[]).includes(k)) throw new Error(`${file}: unknown field '${k}'; a student's shape has ${MODEL_KEYS.join(', ')}`);
  }
  const m = { ...base };
  for (const k of MODEL_KEYS) {
    const v = o[k];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !(v > 0) || (k !== 'ropeTheta' && !Number.isInteger(v))) {
      throw new Error(`${file}: field '${k}' must be a positive ${k === 'ropeTheta' ? 'number' : 'integer'}, got ${JSON.stringify(v)}`);
    }
    m[k] = v;
  }
  if (m.hiddenSize % m.numHeads !== 0 || m.numHeads % m.numKvHeads !== 0 || (m.hiddenSize / m.numHeads) % 2 !== 0) {
    throw new Error(`${file}: the student needs hiddenSize divisible by numHeads into an even head size, and numHeads divisible by numKvHeads; got ${m.hiddenSize}/${m.numHeads}/${m.numKvHeads}`);
  }
  return m;
}
