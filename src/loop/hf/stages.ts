// The stages of one round of a STILL-2 run on an HF checkpoint, each over the library workflow it wraps
// and each resumable on its own: train (runSft: a finished run is kept, a checkpoint is continued),
// explore (exploreText: its journal, journal.jsonl, is kept and continued; every graded rollout goes to rollouts.jsonl), and eval
// (runEval: a finished bench is read back, an unfinished one continued). Each returns the record the
// round's metrics.json keeps.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { OpenAIEngineOptions } from '../../eval/remote_engine.ts';
import { runEval } from '../../eval/run.ts';
import type { EvalSummary } from '../../eval/run.ts';
import { IMITATE_RECIPE } from '../../train/sft_recipe.ts';
import { runSft, type SftMode } from '../../train/sft_run.ts';
import { exploreText, type DataProblem } from '../explore_text.ts';
import type { GateCounts, PoolFilter } from '../pool_gate.ts';
import type { StageLog } from '../progress.ts';
import { readRecord } from '../run_folder.ts';
import { rolloutsFileRows, writeRolloutsFile } from '../rollouts_file.ts';
import type { TextPool } from '../text_pool.ts';
import type { HfExperimentConfig, HfTrainConfig } from './config.ts';

/** The model a round leaves behind: a directory, and the LoRA adapter on it (merged for sampling). */
export interface Policy {
  model: string;
  adapter: string | null;
}

export interface TrainRecord {
  steps: number;
  examples: number;
  tokens: number;
  seconds: number;
  tokensPerSec: number;
  loss: number | null;
  mode: 'lora' | 'full';
  data: string[];
}

/** Percentiles of a length distribution (tokens). */
export interface LengthStats {
  count: number;
  mean: number;
  p10: number;
  p50: number;
  p90: number;
  max: number;
}

/** What the pool gate counted (pool_gate.ts), and how the rollouts were spread. */
export interface ExploreRecord extends GateCounts {
  /** Correct rollouts per rollout (percent). */
  yield: number;
  /** Rollouts cut off by the token budget. */
  truncated: number;
  truncationRate: number;
  /** Generated tokens of all rollouts, and thought tokens of the correct ones. */
  length: LengthStats;
  correctThought: LengthStats;
  tokens: number;
  seconds: number;
  tokensPerSec: number;
  /** Problems explored, and those every rollout solved (the difficulty filter reads them). */
  problemIds: string[];
  solvedAll: string[];
}

export interface LevelAccuracy {
  /** Percent correct (mean over the eval.n samples of each problem). */
  accuracy: number;
  problems: number;
  /** How many problems the accuracy is over (= problems; report.json's `n` beside each accuracy). */
  n: number;
}

export interface BenchRecord extends LevelAccuracy {
  byLevel: Record<string, LevelAccuracy>;
  truncationRate: number;
  meanThoughtTokens: number;
  generatedTokens: number;
  /** Wall seconds of the bench (loading and grading included), and of its sampling alone. */
  seconds: number;
  sampleSeconds: number;
  tokensPerSec: number;
}

export function lengthStats(values: readonly number[]): LengthStats {
  if (values.length === 0) return { count: 0, mean: 0, p10: 0, p50: 0, p90: 0, max: 0 };
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return { count: sorted.length, mean: sorted.reduce((a, b) => a + b, 0) / sorted.length, p10: at(0.1), p50: at(0.5), p90: at(0.9), max: sorted[sorted.length - 1]! };
}

export interface TrainJob {
  label: string;
  /** The model trained on: the base (fresh LoRA or full), or the previous round's full model. */
  model: string;
  mode: SftMode;
  data: string[];
  out: string;
  train: HfTrainConfig;
  seed: number;
}

export async function trainStage(j: TrainJob, cfg: HfExperimentConfig, log: StageLog): Promise<{ record: TrainRecord; policy: Policy }> {
  const t = j.train;
  let bar: ReturnType<StageLog['bar']> | null = null;
  const r = await runSft({
    model: j.model, data: j.data, out: j.out, mode: j.mode, epochs: t.epochs, lr: t.lr, batchSize: t.batchSize, gradAccum: t.gradAccum,
    warmup: t.warmup, schedule: t.schedule, maxGradNorm: t.maxGradNorm, weightDecay: t.weightDecay, maxLength: t.maxLength, seed: j.seed,
    still2Template: cfg.prompt === 'plain' ? '' : undefined, saveEvery: cfg.checkpointEvery, resume: 'auto',
    gradientCheckpointing: t.gradientCheckpointing, maxMemory: t.maxMemory,
  }, IMITATE_RECIPE, {
    // Checkpoint notes would drown the loop's log; the bar shows the steps.
    note: (line) => {
      if (!/: checkpoint /.test(line)) log.line(`${j.label}: ${line}`);
    },
    onStart: (i) => (bar = log.bar(j.label, i.totalSteps, 'steps', i.startStep)),
    onStep: (s) => bar?.update(s.step, `loss ${s.loss.toFixed(3)} | ${Math.round(s.tokens_per_s)} tok/s`),
  });
  (bar as ReturnType<StageLog['bar']> | null)?.stop();
  const policy: Policy = r.mode === 'lora' ? { model: j.model, adapter: j.out } : { model: j.out, adapter: null };
  return {
    policy,
    record: {
      steps: r.step, examples: r.examples, tokens: r.tokens, seconds: r.seconds, tokensPerSec: r.tokens / Math.max(r.seconds, 1e-9),
      loss: r.loss, mode: r.mode, data: j.data,
    },
  };
}

export interface ExploreJob {
  round: number;
  policy: Policy;
  problems: DataProblem[];
  pool: TextPool;
  filter: PoolFilter;
  dir: string;
  maxNewTokens: number;
  wave: number;
  /** Sample on this server (it serves the policy) instead of in-process. */
  engine?: OpenAIEngineOptions;
}

export async function exploreStage(j: ExploreJob, cfg: HfExperimentConfig, log: StageLog): Promise<ExploreRecord> {
  const e = cfg.explore;
  const journal = join(j.dir, 'journal.jsonl');
  const r = await exploreText({
    model: j.policy.model, adapter: j.policy.adapter ?? undefined, problems: j.problems, dataset: e.format ?? undefined, prompt: cfg.prompt,
    sampling: {
      k: e.k, temperature: e.temperature, topP: e.topP, maxNewTokens: j.maxNewTokens, seed: cfg.seed + 1000 * j.round, maxBatch: cfg.maxBatch,
    },
    pool: j.pool, round: j.round, filter: j.filter, journal, resume: existsSync(journal), wave: j.wave, log, engine: j.engine,
  });
  writeRolloutsFile(join(j.dir, 'rollouts.jsonl'), rolloutsFileRows(j.problems, r.graded));
  const { graded, truncated, tokens, seconds, resumed: _resumed, ...counts } = r;
  const all = graded.flat();
  return {
    ...counts, yield: counts.rollouts ? (100 * counts.correct) / counts.rollouts : 0,
    truncated, truncationRate: counts.rollouts ? (100 * truncated) / counts.rollouts : 0,
    length: lengthStats(all.map((x) => x.tokens)), correctThought: lengthStats(all.filter((x) => x.correct).map((x) => x.thought_tokens)),
    tokens, seconds, tokensPerSec: tokens / Math.max(seconds, 1e-9),
    problemIds: j.problems.map((p) => p.id),
    solvedAll: j.problems.filter((_, i) => graded[i]!.every((x) => x.correct)).map((p) => p.id),
  };
}

export async function evalStage(policy: Policy, dir: string, cfg: HfExperimentConfig, maxNewTokens: number, wave: number, log: StageLog, engine?: OpenAIEngineOptions): Promise<Record<string, BenchRecord>> {
  const out: Record<string, BenchRecord> = {};
  for (const bench of cfg.eval.benches) {
    const benchDir = join(dir, bench.name);
    let summary = readRecord<EvalSummary>(join(benchDir, 'summary.json'));
    if (!summary) {
      let bar: ReturnType<StageLog['bar']> | null = null;
      try {
        ({ summary } = await runEval({
          model: policy.model, adapter: policy.adapter ?? undefined, bench: bench.source, limit: cfg.eval.limit ?? undefined, prompt: cfg.prompt,
          sampling: { maxNewTokens, n: cfg.eval.n, temperature: cfg.eval.temperature, topP: cfg.eval.topP, seed: cfg.seed, stop: [], maxBatch: cfg.maxBatch },
          out: benchDir, resume: 'auto', wave, engine,
          notice: (line) => log.line(line),
          onStep: (e) => {
            bar ??= log.bar(`eval ${bench.name}`, e.total, 'samples');
            bar.update(e.finished);
          },
        }));
      } finally {
        (bar as ReturnType<StageLog['bar']> | null)?.stop();
      }
    }
    const s = summary!;
    const byLevel: Record<string, LevelAccuracy> = {};
    for (const [level, scores] of Object.entries(s.by_level ?? {})) byLevel[level] = { accuracy: 100 * scores.pass1, problems: scores.problems, n: scores.problems };
    out[bench.name] = {
      accuracy: 100 * s.overall.pass1, problems: s.overall.problems, n: s.overall.problems, byLevel, truncationRate: 100 * s.overall.truncated,
      meanThoughtTokens: s.overall.mean_thought_tokens, generatedTokens: s.generated_tokens, seconds: s.wall_s, sampleSeconds: s.sample_s,
      tokensPerSec: s.tokens_per_s,
    };
  }
  return out;
}
