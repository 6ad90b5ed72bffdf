// A whole STILL experiment: round 0 imitates the teacher's distilled traces (plenty at the easy levels, a
// few at the hard "scarce" ones); every later round explores the hard levels with the current model, adds
// its verified-correct trajectories to the pool, and trains on the pool, the scarce traces and a replayed
// sample of the easy ones. Each round writes its model, pool and metrics to its own folder, and a rerun
// resumes after the last finished round. The Table 2 ablation adds a distill-only run with more teacher
// traces at the hard levels, to compare against the small set with and without exploration.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Example } from '../data/example.ts';
import { writeJsonAtomic } from '../io/atomic.ts';
import { claimRunFolder, readRecord } from './run_folder.ts';
import { loadModel } from '../nn/load.ts';
import type { DecoderModel } from '../nn/model.ts';
import { saveHfModel } from '../nn/save.ts';
import { getTask } from '../tasks/index.ts';
import { Rng } from '../tasks/rng.ts';
import type { Problem, Task } from '../tasks/task.ts';
import type { ExperimentConfig } from './config.ts';
import { ProblemSets } from './problems.ts';
import { Pool } from './pool.ts';
import { RunProgress, stageLog } from './progress.ts';
import { buildReport, type Report, type RoundMetrics } from './report.ts';
import { writeReports } from './report_files.ts';
import { toyPlan, toySentences, type ToyPlanState } from './run_plan.ts';
import { toyDpoStep } from './dpo_stage.ts';
import type { Rollout } from './rollouts.ts';
import { evaluate, explore, imitate, type SampleContext, type TrainSummary } from './stages.ts';
import { contextFor, newStudent, traceBudgetWarnings, traceExample } from './toy.ts';

export interface RunOptions {
  outDir: string;
  quiet?: boolean;
  /** Stop after this round (tests use it to simulate an interrupted run). */
  stopAfterRound?: number;
  /** Start over: the new run is written beside the old one and swapped in when it completes. */
  overwrite?: boolean;
}

/** Teacher traces for problems, each with its own seeded randomness (so adding problems changes no trace). */
function distilled(task: Task, problems: Problem[], cfg: ExperimentConfig, tag: string): Example[] {
  const root = new Rng(`teacher/${cfg.seed}`);
  return problems.map((p) => traceExample(p, task.teacher(p, root.fork(p.id), { reflectionRate: cfg.imitate.reflectionRate, stepStyle: cfg.imitate.stepStyle }), `${tag}:${p.id}`));
}

/**
 * The bulk distilled traces an improve round trains on beside the pool and the scarce traces: all of them
 * (STILL-2 merges the pool into the whole distilled set) or a seeded sample, which keeps the easy levels
 * fresh while the hard-level trajectories make up a real share of the round's data.
 */
function replayed(bulk: Example[], count: number | null, seed: string): Example[] {
  if (count === null || count >= bulk.length) return bulk;
  return new Rng(seed).shuffled(bulk).slice(0, count);
}

export async function runExperiment(cfg: ExperimentConfig, opts: RunOptions): Promise<Report> {
  const folder = claimRunFolder(opts.outDir, cfg, opts);
  try {
    const report = await experimentIn(cfg, { ...opts, outDir: folder.dir });
    if (opts.stopAfterRound === undefined || opts.stopAfterRound >= cfg.improve.rounds) folder.commit();
    return report;
  } finally {
    folder.release();
  }
}

/** The held-out problems: problemsPerLevel at each eval level, hardProblems at the last (hardest) one. */
export function drawEvalProblems(sets: ProblemSets, cfg: ExperimentConfig) {
  const levels = cfg.levels.eval;
  const hardest = levels[levels.length - 1];
  return levels.flatMap((level) => sets.draw('eval', [level], level === hardest ? cfg.eval.hardProblems ?? cfg.eval.problemsPerLevel : cfg.eval.problemsPerLevel));
}

/** The rounds, written into opts.outDir (the run folder, or its --overwrite stand-in). */
async function experimentIn(cfg: ExperimentConfig, opts: RunOptions): Promise<Report> {
  const progress = new RunProgress(stageLog(opts.quiet));
  const log = progress.log;
  const task = getTask(cfg.task);
  for (const warning of traceBudgetWarnings(cfg, task)) log.line(warning);
  const maxLen = contextFor(task, [...cfg.levels.eval, ...cfg.levels.explore, ...cfg.levels.distill], cfg.seed, cfg.imitate.stepStyle);
  const ctx: SampleContext = { seed: cfg.seed, maxBatch: cfg.maxBatch, maxLen, log };
  const sets = new ProblemSets(task, cfg.seed);
  const evalProblems = drawEvalProblems(sets, cfg);
  const bulkSet = (tag: string, scale: number) =>
    distilled(task, sets.drawTotal(tag, cfg.levels.distill, Math.round(cfg.imitate.examples * scale)), cfg, tag);
  const scarceSet = (tag: string, scale: number) => cfg.levels.scarce.length === 0 ? []
    : distilled(task, sets.drawTotal(`${tag}-scarce`, cfg.levels.scarce, Math.round(cfg.imitate.scarceExamples * scale)), cfg, `${tag}-scarce`);
  const bulk = bulkSet('distill', 1);
  const scarce = scarceSet('distill', 1);
  const distill = [...bulk, ...scarce];
  const exploreSets = Array.from({ length: cfg.improve.rounds }, (_, r) => sets.draw(`explore-${r + 1}`, cfg.levels.explore, cfg.explore.problemsPerLevel));
  // A bigger distillation budget spent where it matters: more teacher traces at the hard levels (drawn apart
  // from the small set's), the same bulk. Bulk levels are learned either way; the hard ones are the question.
  const large = cfg.ablation.scarceScale > 0 && scarce.length > 0 ? [...bulk, ...scarceSet('distill-large', cfg.ablation.scarceScale)] : [];
  log.line(`${cfg.name}: task ${task.name}, ${distill.length} distilled traces (levels ${cfg.levels.distill.join(',')}` +
    `${cfg.levels.scarce.length ? `; ${cfg.imitate.scarceExamples} at scarce levels ${cfg.levels.scarce.join(',')}` : ''}), ` +
    `${cfg.improve.rounds} explore rounds on levels ${cfg.levels.explore.join(',')}, eval on ${evalProblems.length} held-out problems, max ${maxLen} tokens`);

  const rounds: RoundMetrics[] = [];
  const pool = new Pool(cfg.explore.capPerProblem);
  let model: DecoderModel | null = null;
  // The work ahead, for the time left: re-planned before each stage, as the pool and the measured rounds grow.
  const planState = (from: number, exploredThrough: number): ToyPlanState => {
    const explored = rounds.filter((m) => m.explore);
    const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
    const problems = sum(explored.map((m) => m.explore!.problems));
    const dpoRounds = rounds.filter((m) => m.dpo);
    return {
      from, evalProblems: evalProblems.length, exploreProblems: exploreSets.map((x) => x.length), bulk: bulk.length, scarce: scarce.length,
      large: large.length, pool: pool.size, exploredThrough,
      addedPerProblem: problems > 0 ? sum(explored.map((m) => m.explore!.added)) / problems : null,
      pairsPerProblem: dpoRounds.length > 0 ? sum(dpoRounds.map((m) => m.dpo!.pairs)) / Math.max(1, sum(dpoRounds.map((m) => m.dpo!.problems))) : null,
      improveSteps: rounds.map((m) => (m.round > 0 ? m.train.steps : undefined)),
      largeDone: existsSync(join(opts.outDir, 'ablation-large', 'metrics.json')),
      controlDone: existsSync(join(opts.outDir, 'ablation-equal-compute', 'metrics.json')),
    };
  };
  const replan = (from: number, exploredThrough: number) => progress.plan(toyPlan(cfg, planState(from, exploredThrough)));
  const evalStage = (r: number, who = '') =>
    progress.stage(`round-${r}/eval`, toySentences.evaluate(cfg, r, evalProblems.length, who), { kind: 'sample' });
  for (let r = 0; r <= cfg.improve.rounds; r++) {
    const dir = join(opts.outDir, `round-${r}`);
    const done = join(dir, 'metrics.json');
    const finished = readRecord<RoundMetrics>(done);
    if (finished) {
      rounds.push(finished);
      model = loadModel(dir, { quiet: true });
      const poolFile = join(dir, 'pool.jsonl');
      if (!existsSync(poolFile) && finished.poolSize > 0) {
        throw new Error(`${poolFile} is missing, but round ${r} finished with a pool of ${finished.poolSize}; restore it, or delete ${done} to redo that round`);
      }
      for (const t of Pool.load(poolFile, cfg.explore.capPerProblem).all()) pool.add(t);
      log.line(`round ${r}: already done (${done}), resuming after it`);
      continue;
    }
    replan(r, r - 1);
    const started = performance.now();
    let exploreSummary = null;
    let trainSummary;
    let dpo: Pick<RoundMetrics, 'dpo' | 'sftAccuracy'> = {};
    if (r === 0) {
      model = newStudent(cfg.model, maxLen, cfg.seed);
      progress.stage('round-0/imitate', toySentences.imitate(cfg, bulk.length, scarce.length), { kind: 'train', perTick: cfg.imitate.batchSize, sizedByBar: true });
      trainSummary = await imitate(model, distill, cfg.imitate, cfg.seed, 'imitate (round 0)', log);
    } else {
      let rollouts: readonly Rollout[] = [];
      progress.stage(`round-${r}/explore`, toySentences.explore(cfg, r, exploreSets[r - 1].length), { kind: 'sample' });
      exploreSummary = explore(model!, task, exploreSets[r - 1], cfg.explore, pool, r, ctx, (all) => (rollouts = all));
      log.line(`round ${r}: explored ${exploreSummary.problems} problems × ${cfg.explore.k}: ${exploreSummary.correct} correct rollouts, ` +
        `${exploreSummary.added} new in the pool (now ${pool.size}), solved by level ${fmtLevels(exploreSummary.solvedByLevel)}`);
      if (cfg.improve.init === 'base') model = newStudent(cfg.model, maxLen, cfg.seed);
      const poolExamples = pool.all().map((t, i) => traceExample({ id: t.problemId, task: task.name, level: t.level, question: t.question, answer: '' }, t.completion, `pool:${i}`));
      // A model retrained from scratch needs every distilled trace; replay only thins out a continued one.
      const replay = cfg.improve.init === 'base' ? bulk : replayed(bulk, cfg.improve.replay, `${cfg.seed}/replay/${r}`);
      // Retraining from the initial weights repeats round 0's recipe with the pool added (the paper's retrain).
      const recipe = cfg.improve.init === 'base' ? cfg.imitate : cfg.improve;
      replan(r, r);
      progress.stage(`round-${r}/improve`, toySentences.improve(cfg, r, poolExamples.length, replay.length, scarce.length), { kind: 'train', perTick: recipe.batchSize, sizedByBar: true });
      trainSummary = await imitate(model!, [...replay, ...scarce, ...poolExamples], recipe, cfg.seed + r, `improve (round ${r})`, log);
      if (cfg.improve.method === 'dpo') {
        // SFT+DPO: the SFT model's accuracy is kept, so the report can set DPO's effect beside it.
        progress.stage(`round-${r}/sft-eval`, toySentences.sftEval(cfg, r, evalProblems.length), { kind: 'sample' });
        const sftAccuracy = evaluate(model!, task, evalProblems, { ...cfg.eval, k: 1 }, ctx).levels;
        const d = cfg.improve.dpo!;
        progress.stage(`round-${r}/dpo`, toySentences.dpo(cfg, r), { kind: 'train', perTick: 2 * d.batchSize * d.gradAccum, sizedByBar: true });
        const step = await toyDpoStep(model!, rollouts, cfg.improve.dpo!, dir, cfg.seed + r, log);
        model = step.model;
        dpo = { dpo: step.record, sftAccuracy };
      }
    }
    evalStage(r);
    const evalSummary = evaluate(model!, task, evalProblems, cfg.eval, ctx);
    const metrics: RoundMetrics = {
      round: r, accuracy: evalSummary.levels, poolSize: pool.size, poolByLevel: pool.countByLevel(),
      reflectionRate: evalSummary.reflectionRate, explore: exploreSummary, train: trainSummary,
      trainTokensPerSec: trainSummary.tokens / Math.max(trainSummary.seconds, 1e-9),
      sampleTokensPerSec: (evalSummary.tokens + (exploreSummary?.tokens ?? 0)) / Math.max(evalSummary.seconds + (exploreSummary?.seconds ?? 0), 1e-9),
      wallSeconds: (performance.now() - started) / 1000, examples: evalSummary.examples, ...dpo,
    };
    saveHfModel(model!, dir);
    pool.save(join(dir, 'pool.jsonl'));
    writeJsonAtomic(done, metrics); // last: a round with metrics.json is complete
    rounds.push(metrics);
    log.line(`round ${r}: greedy accuracy by level ${fmtLevels(Object.fromEntries(metrics.accuracy.map((a) => [a.level, a.greedy])))} ` +
      `(${metrics.wallSeconds.toFixed(0)} s)`);
    if (opts.stopAfterRound === r) break;
  }

  const complete = rounds.length === cfg.improve.rounds + 1;
  let ablation: RoundMetrics | null = null;
  if (complete) replan(cfg.improve.rounds + 1, cfg.improve.rounds);
  if (large.length > 0 && complete) ablation = await ablationRun(cfg, large, evalProblems, task, ctx, opts, progress);
  let control: RoundMetrics | null = null;
  if (cfg.ablation.equalCompute && complete && cfg.improve.rounds > 0) {
    if (cfg.improve.init !== 'continue') log.line('ablation: the equal-compute control needs improve.init "continue"; skipped');
    else control = await equalComputeRun(cfg, rounds, bulk, scarce, evalProblems, task, ctx, opts, progress);
  }
  progress.finish();
  const report = buildReport(cfg, rounds, ablation, { small: distill.length, large: large.length }, control);
  writeReports(opts.outDir, report);
  return report;
}

/** Distill-only on the large distilled set (Table 2's first row), trained like round 0. */
async function ablationRun(
  cfg: ExperimentConfig, examples: Example[], evalProblems: Problem[], task: Task, ctx: SampleContext, opts: RunOptions, progress: RunProgress,
): Promise<RoundMetrics> {
  const dir = join(opts.outDir, 'ablation-large');
  const done = join(dir, 'metrics.json');
  const finished = readRecord<RoundMetrics>(done);
  if (finished) return finished;
  const log = progress.log;
  const started = performance.now();
  const model = newStudent(cfg.model, ctx.maxLen, cfg.seed);
  progress.stage('ablation-large/imitate', toySentences.large(cfg, examples.length), { kind: 'train', perTick: cfg.imitate.batchSize, sizedByBar: true });
  const t = await imitate(model, examples, cfg.imitate, cfg.seed, `imitate (${examples.length} traces)`, log);
  progress.stage('ablation-large/eval', toySentences.evaluate(cfg, 0, evalProblems.length, 'Ablation · distill only, large'), { kind: 'sample' });
  const e = evaluate(model, task, evalProblems, cfg.eval, ctx);
  const metrics: RoundMetrics = {
    round: 0, accuracy: e.levels, poolSize: 0, poolByLevel: {}, reflectionRate: e.reflectionRate, explore: null, train: t,
    trainTokensPerSec: t.tokens / Math.max(t.seconds, 1e-9), sampleTokensPerSec: e.tokens / Math.max(e.seconds, 1e-9),
    wallSeconds: (performance.now() - started) / 1000, examples: e.examples,
  };
  saveHfModel(model, dir);
  writeJsonAtomic(done, metrics);
  log.line(`ablation: distill-only on ${examples.length} traces: greedy accuracy by level ${fmtLevels(Object.fromEntries(e.levels.map((a) => [a.level, a.greedy])))}`);
  return metrics;
}

/**
 * Table 2's equal-compute control: round 0's model trained on, round by round, for as many steps as each
 * improve round took, on the same replayed and scarce traces but without the pool.
 */
async function equalComputeRun(
  cfg: ExperimentConfig, rounds: readonly RoundMetrics[], bulk: Example[], scarce: Example[], evalProblems: Problem[], task: Task,
  ctx: SampleContext, opts: RunOptions, progress: RunProgress,
): Promise<RoundMetrics> {
  const dir = join(opts.outDir, 'ablation-equal-compute');
  const done = join(dir, 'metrics.json');
  const finished = readRecord<RoundMetrics>(done);
  if (finished) return finished;
  const log = progress.log;
  const started = performance.now();
  const model = loadModel(join(opts.outDir, 'round-0'), { quiet: true });
  const train: TrainSummary = { steps: 0, examples: 0, tokens: 0, seconds: 0, finalLoss: 0 };
  for (let r = 1; r < rounds.length; r++) {
    const examples = [...replayed(bulk, cfg.improve.replay, `${cfg.seed}/replay/${r}`), ...scarce];
    progress.stage(`control/round-${r}`, toySentences.control(r, rounds[r]!.train.steps), { kind: 'train', perTick: cfg.improve.batchSize, sizedByBar: true });
    const t = await imitate(model, examples, cfg.improve, cfg.seed + r, `control (round ${r}, no pool)`, log, rounds[r]!.train.steps);
    Object.assign(train, { steps: train.steps + t.steps, examples: t.examples, tokens: train.tokens + t.tokens, seconds: train.seconds + t.seconds, finalLoss: t.finalLoss });
  }
  progress.stage('control/eval', toySentences.evaluate(cfg, 0, evalProblems.length, 'Ablation · equal compute'), { kind: 'sample' });
  const e = evaluate(model, task, evalProblems, cfg.eval, ctx);
  const metrics: RoundMetrics = {
    round: rounds.length - 1, accuracy: e.levels, poolSize: 0, poolByLevel: {}, reflectionRate: e.reflectionRate, explore: null, train,
    trainTokensPerSec: train.tokens / Math.max(train.seconds, 1e-9), sampleTokensPerSec: e.tokens / Math.max(e.seconds, 1e-9),
    wallSeconds: (performance.now() - started) / 1000, examples: e.examples,
  };
  saveHfModel(model, dir);
  writeJsonAtomic(done, metrics);
  log.line(`ablation: distill-only, equal compute (${train.steps} more steps, no pool): greedy accuracy by level ${fmtLevels(Object.fromEntries(e.levels.map((a) => [a.level, a.greedy])))}`);
  return metrics;
}

function fmtLevels(byLevel: Record<number, number>): string {
  return Object.entries(byLevel).map(([l, v]) => `L${l} ${v.toFixed(0)}%`).join(' ');
}
