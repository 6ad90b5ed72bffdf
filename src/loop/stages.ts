// The three STILL stages as library functions over an in-memory model: imitate (SFT on traces),
// explore (k rollouts per problem, verified; the correct ones enter the pool) and evaluate.
import type { Example } from '../data/example.ts';
import type { DecoderModel } from '../nn/model.ts';
import type { Problem, Task } from '../tasks/task.ts';
import { train } from '../train/trainer.ts';
import type { SamplingConfig, TrainStageConfig } from './config.ts';
import { scoreByLevel, type LevelScore } from './metrics.ts';
import type { Pool } from './pool.ts';
import { admitToPool, type GateCounts } from './pool_gate.ts';
import type { StageLog } from './progress.ts';
import { sampleRollouts, type Rollout } from './rollouts.ts';

export interface SampleContext {
  seed: number;
  maxBatch: number;
  maxLen: number;
  log: StageLog;
}

export interface TrainSummary {
  steps: number;
  examples: number;
  tokens: number;
  seconds: number;
  finalLoss: number;
}

/** Fine-tune `model` in place on `examples` for `s.epochs` epochs. */
/** Train `model` on `examples` with a stage's recipe: `s.epochs` passes, or exactly `steps` optimizer steps when given. */
export async function imitate(
  model: DecoderModel, examples: Example[], s: TrainStageConfig, seed: number, label: string, log: StageLog, steps?: number,
): Promise<TrainSummary> {
  const started = performance.now();
  let bar: ReturnType<StageLog['bar']> | null = null;
  let tokens = 0;
  const result = await train(model, { train: examples }, {
    ...(steps !== undefined ? { steps } : { epochs: s.epochs }), lr: s.lr, batchSize: s.batchSize, schedule: s.schedule, warmup: s.warmup,
    weightDecay: s.weightDecay, maxGradNorm: s.maxGradNorm, seed, shuffle: true,
  }, {
    onStart: (i) => (bar = log.bar(label, i.totalSteps, 'steps')),
    onStep: (st) => {
      tokens += st.tokens;
      bar?.update(st.step, `loss ${st.loss.toFixed(3)} | ${Math.round(st.tokens_per_s)} tok/s`);
    },
  });
  (bar as ReturnType<StageLog['bar']> | null)?.stop();
  const seconds = (performance.now() - started) / 1000;
  const last = result.stats.slice(-10);
  const finalLoss = last.reduce((a, x) => a + x.loss, 0) / Math.max(last.length, 1);
  return { steps: result.step, examples: examples.length, tokens, seconds, finalLoss };
}

export interface ExploreSummary extends GateCounts {
  /** Share of correct rollouts that contain a self-correction (percent). */
  reflectionRate: number;
  tokens: number;
  seconds: number;
}

/** `onRollouts` sees every graded rollout, correct or not (preference pairs are built from them). */
export function explore(
  model: DecoderModel, task: Task, problems: Problem[], s: SamplingConfig, pool: Pool, round: number, ctx: SampleContext,
  onRollouts?: (rollouts: readonly Rollout[]) => void,
): ExploreSummary {
  const bar = ctx.log.bar(`explore (round ${round})`, problems.length * s.k, 'rollouts');
  const { rollouts, stats } = sampleRollouts(model, task, problems, s, { ...ctx, seed: ctx.seed + 1000 * round, onProgress: (d) => bar.update(d) });
  bar.stop();
  onRollouts?.(rollouts);
  return { ...admitRollouts(task, problems, rollouts, pool, round), tokens: stats.tokens, seconds: stats.seconds };
}

/** The toy's side of the pool gate: each rollout's verdict from the task's check, and its trajectory. */
export function admitRollouts(
  task: Task, problems: readonly Problem[], rollouts: readonly Rollout[], pool: Pool, round: number,
): Omit<ExploreSummary, 'tokens' | 'seconds'> {
  const index = new Map(problems.map((p, i) => [p.id, i]));
  const counts = admitToPool(pool, problems, rollouts.map((r) => ({
    problem: index.get(r.problem.id) ?? -1, correct: r.correct, formatProblem: null,
    trajectory: {
      problemId: r.problem.id, level: r.problem.level, question: r.problem.question, completion: r.completion,
      round, reflection: task.hasReflection(r.completion),
    },
  })));
  return { ...counts, reflectionRate: reflectionRate(task, rollouts.filter((r) => r.correct)) };
}

/** Share of (correct) rollouts whose thought holds a self-correction, in percent. */
function reflectionRate(task: Task, rollouts: readonly Rollout[]): number {
  return rollouts.length ? (100 * rollouts.filter((r) => task.hasReflection(r.completion)).length) / rollouts.length : 0;
}

export interface EvalSummary {
  levels: LevelScore[];
  /** Share of correct eval rollouts (greedy and sampled) that contain a self-correction (percent). */
  reflectionRate: number;
  tokens: number;
  seconds: number;
  /** A few greedy rollouts at the hardest level, for the report. */
  examples: { question: string; completion: string; correct: boolean }[];
}

export function evaluate(model: DecoderModel, task: Task, problems: Problem[], s: SamplingConfig, ctx: SampleContext): EvalSummary {
  const greedyCfg = { ...s, temperature: 0, k: 1 };
  const bar = ctx.log.bar('evaluate (greedy)', problems.length, 'problems');
  const g = sampleRollouts(model, task, problems, greedyCfg, { ...ctx, onProgress: (d) => bar.update(d) });
  bar.stop();
  let sampled: Rollout[] = [];
  let extra = { tokens: 0, seconds: 0 };
  if (s.k > 1 && s.temperature > 0) {
    const bar2 = ctx.log.bar(`evaluate (pass@${s.k})`, problems.length * s.k, 'rollouts');
    const r = sampleRollouts(model, task, problems, s, { ...ctx, seed: ctx.seed + 1, onProgress: (d) => bar2.update(d) });
    bar2.stop();
    sampled = r.rollouts;
    extra = r.stats;
  }
  const correct = [...g.rollouts, ...sampled].filter((r) => r.correct);
  const hardest = Math.max(...problems.map((p) => p.level));
  return {
    levels: scoreByLevel(g.rollouts, sampled, s.k),
    reflectionRate: reflectionRate(task, correct),
    tokens: g.stats.tokens + extra.tokens,
    seconds: g.stats.seconds + extra.seconds,
    examples: g.rollouts.filter((r) => r.problem.level === hardest).slice(0, 3)
      .map((r) => ({ question: r.problem.question, completion: r.completion, correct: r.correct })),
  };
}
