// A STILL-2 run on an HF checkpoint, as `still run --config` runs it when the config names a model
// directory. Round 0 imitates: SFT of the base on the distilled data. Every later round explores the next
// problems of the explore set with the current policy (k rollouts each, graded against the gold answer),
// refines the pool (long-thought format, correct boxed answer, dedup, a cap per problem, a length window,
// a keep rule), and improves: by default it retrains the base on distilled + the whole pool (the paper's
// D_t = D_{t-1} + new trajectories), or continues the last policy. Every round ends with an eval on the
// chosen benches and a report.
//
//   round-R/imitate|improve/   the SFT output (adapter or model) and training_summary.json
//   round-R/explore/rollouts.jsonl   every graded rollout, with its problem (rollouts_file.ts); journal.jsonl: the explore journal, kept
//   round-R/pool.jsonl         the refined pool after the round (STILL-2 rows + round, tokens, log-prob)
//   round-R/eval/<bench>/      results.jsonl and summary.json
//   round-R/metrics.json       written last: the round is complete
//   report.{json,md,html}
//
// Killed at any point and run again, it continues: finished rounds and stages are read back, SFT continues
// from its last checkpoint and explore/eval from their journals, and everything is seeded and sampled in
// fixed waves, so the report's numbers equal an uninterrupted run's.
import { existsSync } from 'node:fs';
import { normalizeQuestion } from '../../data/bench_overlap.ts';
import { join } from 'node:path';
import { writeJsonAtomic } from '../../io/atomic.ts';
import { loadHfConfig } from '../../io/hf_config.ts';
import type { SftMode } from '../../train/sft_run.ts';
import { loadEvalSet } from '../../verify/gold.ts';
import { loadExploreData, type DataProblem } from '../explore_text.ts';
import type { Trajectory } from '../pool.ts';
import { RunProgress, stageLog, type StageLog } from '../progress.ts';
import { claimRunFolder, readRecord } from '../run_folder.ts';
import { TextPool } from '../text_pool.ts';
import { requireModelDir, type HfExperimentConfig, type HfTrainConfig } from './config.ts';
import { exploreOrder, selectRoundProblems } from './problems.ts';
import { checkEngine, RemotePolicies } from './remote_policy.ts';
import { countRows, hfPlan, hfSentences } from './run_plan.ts';
import { buildHfReport, type HfReport, type Provenance } from './report.ts';
import { writeHfReports } from './report_files.ts';
import { hfDpoStage } from './dpo_stage.ts';
import type { DpoRecord } from '../dpo_stage.ts';
import { evalStage, exploreStage, lengthStats, trainStage, type BenchRecord, type ExploreRecord, type LengthStats, type Policy, type TrainRecord } from './stages.ts';

export interface HfRoundMetrics {
  round: number;
  /** The model this round leaves behind (what the next round explores with). */
  policy: Policy;
  train: TrainRecord;
  explore: ExploreRecord | null;
  pool: { size: number; added: number; tokens: LengthStats };
  eval: Record<string, BenchRecord>;
  /** Wall seconds of this round's stages in the process that finished them. */
  seconds: { train: number; explore: number; eval: number; total: number };
  /** improve.method 'dpo': the DPO step after this round's SFT (null: too few pairs); policy is its output. */
  dpo?: DpoRecord | null;
}

export interface HfRunOptions {
  outDir: string;
  quiet?: boolean;
  log?: StageLog;
  /** Stop after this round (tests use it to split a run). */
  stopAfterRound?: number;
  /** Start over: the new run is written beside the old one and swapped in when it completes. */
  overwrite?: boolean;
  /** Where the run ran, for report.json. */
  provenance: Omit<Provenance, 'model' | 'data'>;
}

/** The token budget within the model's context, said in one line when it has to shrink. */
export function clampBudget(budget: number, context: number, field: string, log: StageLog): number {
  if (budget < context) return budget;
  const clamped = Math.max(1, context - 1);
  log.line(`${field} ${budget} does not fit the model's context of ${context} positions: clamped to ${clamped} (each prompt's share is cut further)`);
  return clamped;
}

/** Problems per generator call (rollout_job.ts waves): a few batches' worth, so batches stay full. */
export function waveSize(maxBatch: number, samplesPerProblem: number): number {
  return Math.max(1, Math.ceil((2 * maxBatch) / samplesPerProblem));
}

/** Explore problems that are also in an eval bench (exact text) would train on the test: they are left out. */
function withoutEvalProblems(problems: DataProblem[], cfg: HfExperimentConfig, log: StageLog): DataProblem[] {
  const tested = new Set(cfg.eval.benches.flatMap((b) => loadEvalSet(b.source).items.map((item) => normalizeQuestion(item.problem))));
  const kept = problems.filter((p) => !tested.has(normalizeQuestion(p.problem)));
  if (kept.length < problems.length) {
    log.line(`explore: ${problems.length - kept.length} problem(s) of ${cfg.explore.data} are also in an eval bench (${cfg.eval.benches.map((b) => b.name).join(', ')}); they are not explored`);
  }
  return kept;
}

function trainMode(t: HfTrainConfig): SftMode {
  return t.mode === 'full' ? { kind: 'full' } : { kind: 'lora', r: t.lora.r, alpha: t.lora.alpha, dropout: t.lora.dropout, targets: t.lora.targets };
}

export async function runHfExperiment(cfg: HfExperimentConfig, opts: HfRunOptions): Promise<HfReport> {
  const log = opts.log ?? stageLog(opts.quiet);
  requireModelDir(cfg);
  const context = loadHfConfig(cfg.model).maxPositionEmbeddings;
  const exploreBudget = clampBudget(cfg.explore.maxNewTokens, context, 'explore.maxNewTokens', log);
  const evalBudget = clampBudget(cfg.eval.maxNewTokens, context, 'eval.maxNewTokens', log);
  const ordered = withoutEvalProblems(exploreOrder(loadExploreData(cfg.explore.data, cfg.explore.format), cfg.explore.levels, cfg.seed), cfg, log);
  if (ordered.length === 0 && cfg.improve.rounds > 0) {
    throw new Error(`${cfg.explore.data}: no problems to explore${cfg.explore.levels ? ` at levels ${cfg.explore.levels.join(', ')} (explore.levels)` : ''}`);
  }
  const provenance: Provenance = { ...opts.provenance, model: cfg.model, data: { imitate: cfg.imitate.data, explore: cfg.explore.data, eval: cfg.eval.benches.map((b) => b.source) } };
  log.line(`${cfg.name}: ${cfg.model}, imitate on ${cfg.imitate.data.length} file(s), ${cfg.improve.rounds} explore rounds of ${cfg.explore.problemsPerRound} problems × k=${cfg.explore.k} ` +
    `(${ordered.length} in the explore set), eval on ${cfg.eval.benches.map((b) => b.name).join(', ')} → ${opts.outDir}`);

  if (cfg.engine) await checkEngine(cfg.engine);
  // Every input is read and checked: only now is the folder claimed (locked, config recorded).
  const folder = claimRunFolder(opts.outDir, cfg, opts);
  try {
    const report = await hfRounds(cfg, { ...opts, outDir: folder.dir }, { log, exploreBudget, evalBudget, ordered, provenance });
    if (opts.stopAfterRound === undefined || opts.stopAfterRound >= cfg.improve.rounds) folder.commit();
    return report;
  } finally {
    folder.release();
  }
}

interface HfRunInputs {
  log: StageLog;
  exploreBudget: number;
  evalBudget: number;
  ordered: DataProblem[];
  provenance: Provenance;
}

/** The rounds, written into opts.outDir (the run folder, or its --overwrite stand-in). */
async function hfRounds(cfg: HfExperimentConfig, opts: HfRunOptions, inputs: HfRunInputs): Promise<HfReport> {
  const { exploreBudget, evalBudget, ordered, provenance } = inputs;
  // Each stage starts with a sentence and the time left for the whole run (progress.ts, run_plan.ts).
  const progress = new RunProgress(inputs.log);
  const log = progress.log;
  const distilledRows = countRows(cfg.imitate.data);
  const benches = cfg.eval.benches.map((b) => ({ name: b.name, problems: loadEvalSet(b.source, { limit: cfg.eval.limit ?? undefined }).items.length }));
  const evalSamples = benches.reduce((a, b) => a + b.problems, 0) * cfg.eval.n;
  const samples = cfg.explore.temperature < 1e-5 ? 1 : cfg.explore.k;
  const perStep = (t: { batchSize: number; gradAccum: number }) => t.batchSize * t.gradAccum;

  const filter = (t: Trajectory) => {
    const tokens = t.tokens ?? 0;
    if (tokens < cfg.refine.minTokens) return `shorter than refine.minTokens ${cfg.refine.minTokens}`;
    if (cfg.refine.maxTokens !== null && tokens > cfg.refine.maxTokens) return `longer than refine.maxTokens ${cfg.refine.maxTokens}`;
    return null;
  };
  const explored = new Set<string>();
  const solvedAll = new Set<string>();
  // With an engine, explore and eval sample on the server, after the policy's adapter is loaded there.
  const remote = cfg.engine ? new RemotePolicies(cfg.engine, log) : null;
  const rounds: HfRoundMetrics[] = [];
  let report = buildHfReport(cfg, rounds, provenance);
  const replan = (from: number, exploredThrough: number, pool: number) => {
    const explored = rounds.filter((m) => m.explore);
    const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
    const problems = sum(explored.map((m) => m.explore!.problems));
    const dpoRounds = rounds.filter((m) => m.dpo);
    progress.plan(hfPlan(cfg, {
      from, distilled: distilledRows, exploreProblems: Math.min(cfg.explore.problemsPerRound, ordered.length), evalSamples, pool, exploredThrough,
      addedPerProblem: problems > 0 ? sum(explored.map((m) => m.explore!.added)) / problems : null,
      pairsPerProblem: dpoRounds.length > 0 ? sum(dpoRounds.map((m) => m.dpo!.pairs)) / Math.max(1, sum(dpoRounds.map((m) => m.dpo!.problems))) : null,
    }));
  };
  for (let r = 0; r <= cfg.improve.rounds; r++) {
    const dir = join(opts.outDir, `round-${r}`);
    const metricsFile = join(dir, 'metrics.json');
    const finished = readRecord<HfRoundMetrics>(metricsFile);
    if (finished) {
      rounds.push(finished);
      for (const id of finished.explore?.problemIds ?? []) explored.add(id);
      for (const id of finished.explore?.solvedAll ?? []) solvedAll.add(id);
      log.line(`round ${r}: already done (${metricsFile}), resuming after it`);
      continue;
    }
    const previous = rounds[r - 1] ?? null;
    replan(r, r - 1, previous?.pool.size ?? 0);
    const seconds = { train: 0, explore: 0, eval: 0, total: 0 };
    const started = performance.now();
    const timed = async <T>(stage: 'train' | 'explore' | 'eval', fn: () => Promise<T>): Promise<T> => {
      const t0 = performance.now();
      const value = await fn();
      seconds[stage] = (performance.now() - t0) / 1000;
      return value;
    };

    let exploreRecord: ExploreRecord | null = null;
    let pool = new TextPool(cfg.refine.capPerProblem, cfg.refine.keep);
    const poolFile = join(dir, 'pool.jsonl');
    let trained;
    let dpo: Pick<HfRoundMetrics, 'dpo'> = {};
    if (r === 0) {
      progress.stage('round-0/imitate', hfSentences.imitate(cfg, distilledRows), { kind: 'train', perTick: perStep(cfg.imitate), sizedByBar: true });
      trained = await timed('train', () => trainStage({
        label: 'imitate (round 0)', model: cfg.model, mode: trainMode(cfg.imitate), data: cfg.imitate.data, out: join(dir, 'imitate'), train: cfg.imitate, seed: cfg.seed,
      }, cfg, log));
    } else {
      if (previous!.pool.size > 0) {
        const before = join(opts.outDir, `round-${r - 1}`, 'pool.jsonl');
        if (!existsSync(before)) throw new Error(`${before} is missing, but round ${r - 1} finished with a pool of ${previous!.pool.size}; restore it, or delete round-${r - 1}/metrics.json to redo that round`);
        pool = TextPool.load(before, cfg.refine.capPerProblem, cfg.refine.keep);
      }
      const problems = selectRoundProblems(ordered, { ...cfg.explore, skipSolved: cfg.refine.skipSolved }, { explored, solvedAll });
      if (problems.length === 0) throw new Error(`round ${r}: no problems left to explore in ${cfg.explore.data} (every eligible one was explored; set explore.repeat to explore problems again)`);
      progress.stage(`round-${r}/explore`, hfSentences.explore(cfg, r, problems.length), { kind: 'sample', units: problems.length * samples });
      exploreRecord = await timed('explore', async () => exploreStage({
        round: r, policy: previous!.policy, problems, pool, filter, dir: join(dir, 'explore'), maxNewTokens: exploreBudget, wave: waveSize(cfg.maxBatch, samples),
        engine: await remote?.use(previous!.policy),
      }, cfg, log));
      for (const id of exploreRecord.problemIds) explored.add(id);
      for (const id of exploreRecord.solvedAll) solvedAll.add(id);
      log.line(`round ${r}: explored ${exploreRecord.problems} problems × ${samples}: ${exploreRecord.correct} correct (${exploreRecord.yield.toFixed(1)}%), ` +
        `${exploreRecord.truncated} truncated; pool ${pool.size} (+${exploreRecord.added})`);
      pool.save(poolFile);
      replan(r, r, pool.size);
      progress.stage(`round-${r}/improve`, hfSentences.improve(cfg, r, pool.size), { kind: 'train', perTick: perStep(cfg.improve), sizedByBar: true });
      const continued = cfg.improve.init === 'continue';
      const mode: SftMode = continued && cfg.improve.mode === 'lora' ? { kind: 'adapter', dir: previous!.policy.adapter! } : trainMode(cfg.improve);
      trained = await timed('train', () => trainStage({
        label: `improve (round ${r})`, model: continued && cfg.improve.mode === 'full' ? previous!.policy.model : cfg.model, mode,
        data: [...cfg.imitate.data, poolFile], out: join(dir, 'improve'), train: cfg.improve, seed: cfg.seed + r,
      }, cfg, log));
      if (cfg.improve.method === 'dpo') {
        const d = cfg.improve.dpo!;
        progress.stage(`round-${r}/dpo`, hfSentences.dpo(cfg, r), { kind: 'train', perTick: 2 * perStep(d), sizedByBar: true });
        const t0 = performance.now();
        const step = await hfDpoStage({ round: r, policy: trained.policy, rollouts: join(dir, 'explore', 'rollouts.jsonl'), dir, seed: cfg.seed + r }, cfg, log);
        seconds.train += (performance.now() - t0) / 1000;
        trained = { ...trained, policy: step.policy };
        dpo = { dpo: step.record };
      }
    }
    progress.stage(`round-${r}/eval`, hfSentences.evaluate(cfg, r, benches), { kind: 'sample' });
    const evalRecord = await timed('eval', async () => evalStage(trained.policy, join(dir, 'eval'), cfg, evalBudget, waveSize(cfg.maxBatch, cfg.eval.n), log, await remote?.use(trained.policy)));
    seconds.total = (performance.now() - started) / 1000;
    const metrics: HfRoundMetrics = {
      round: r, policy: trained.policy, train: trained.record, explore: exploreRecord,
      pool: { size: pool.size, added: exploreRecord?.added ?? 0, tokens: lengthStats(pool.pool.all().map((t) => t.tokens ?? 0)) },
      eval: evalRecord, seconds, ...dpo,
    };
    writeJsonAtomic(metricsFile, metrics); // last: a round with metrics.json is complete
    rounds.push(metrics);
    report = buildHfReport(cfg, rounds, provenance);
    writeHfReports(opts.outDir, report);
    log.line(`round ${r}: ${Object.entries(evalRecord).map(([name, b]) => `${name} ${b.accuracy.toFixed(1)}%`).join(', ')}` +
      `; hard split ${report.hardAccuracy.at(-1)!.toFixed(1)}% (${seconds.total.toFixed(0)} s)`);
    if (opts.stopAfterRound === r) break;
  }
  progress.finish();
  report = buildHfReport(cfg, rounds, provenance);
  writeHfReports(opts.outDir, report);
  return report;
}
