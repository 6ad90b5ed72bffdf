// The STILL loop end to end on micro configs (seconds): every stage runs, the pool admits only verified
// rollouts (in a run whose student does find some), and a run interrupted after a round resumes to the same result.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../src/loop/config.ts';
import { runExperiment } from '../src/loop/experiment.ts';
import { Pool } from '../src/loop/pool.ts';
import { buildReport, type Report, type RoundMetrics } from '../src/loop/report.ts';
import type { Rollout } from '../src/loop/rollouts.ts';
import { admitRollouts } from '../src/loop/stages.ts';
import { verifyRollout } from '../src/loop/verify.ts';
import { getTask } from '../src/tasks/index.ts';
import { Rng } from '../src/tasks/rng.ts';

const MICRO = {
  name: 'micro', seed: 3, task: 'addition',
  model: { hiddenSize: 32, numLayers: 1, numHeads: 2, numKvHeads: 1, intermediateSize: 64 },
  levels: { distill: [1, 2], scarce: [3], explore: [3], eval: [2, 3] },
  
  imitate: { examples: 40, scarceExamples: 4, epochs: 1, lr: 0.003, batchSize: 8 },
  explore: { problemsPerLevel: 4, k: 2, temperature: 1, maxNewTokens: 48 },
  improve: { rounds: 2, epochs: 1, lr: 0.002, batchSize: 8 },
  eval: { problemsPerLevel: 3, k: 2, temperature: 1, maxNewTokens: 48 },
  ablation: { scarceScale: 2 },
  maxBatch: 8,
};

// A config whose student does find correct answers: it explores the one-digit sums it was distilled on (the
// 100 such problems leave room for 60 distilled, 3 held out and 16 explored), sampling 16 answers to each.
// Seeds 1-5 each gave 4-10 correct rollouts of 128, so the pool is never empty and the gate always has
// wrong rollouts to turn away.
const POOLED = {
  name: 'micro-pooled', seed: 3, task: 'addition',
  model: { hiddenSize: 32, numLayers: 1, numHeads: 2, numKvHeads: 1, intermediateSize: 64 },
  levels: { distill: [1], scarce: [2], explore: [1], eval: [1] },
  imitate: { examples: 60, scarceExamples: 4, epochs: 14, lr: 0.03, batchSize: 8, reflectionRate: 0 },
  explore: { problemsPerLevel: 8, k: 16, temperature: 1, maxNewTokens: 64, capPerProblem: 2 },
  improve: { rounds: 2, epochs: 1, lr: 0.002, batchSize: 8 },
  eval: { problemsPerLevel: 3, k: 1, temperature: 0, maxNewTokens: 64 },
  ablation: { scarceScale: 0 },
  maxBatch: 32,
};

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'still-loop-'));
  dirs.push(d);
  return d;
};
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('the STILL loop', () => {
  it('admits only verified-correct rollouts, deduplicated and capped per problem, shortest first', () => {
    const task = getTask('addition');
    const rng = new Rng(9);
    const problems = Array.from({ length: 30 }, () => task.generate(4, rng));
    // A noisy policy: the teacher's trace, sometimes with the boxed answer changed, sometimes repeated.
    const rollouts: Rollout[] = problems.flatMap((problem) => [0, 1, 2, 3].map((sample) => {
      let completion = task.teacher(problem, rng.fork(`${problem.id}/${sample % 2}`));
      if (rng.chance(0.4)) completion = completion.replace(/\\boxed\{(\d+)\}/, (_, a) => `\\boxed{${BigInt(a) + 1n}}`);
      const v = verifyRollout(task, problem, completion);
      return { id: problem.id, problem, sample, completion, correct: v.correct, answer: v.answer, finished: true, tokens: completion.length, thoughtChars: 0 };
    }));
    const pool = new Pool(1);
    const summary = admitRollouts(task, problems, rollouts, pool, 1);
    const byId = new Map(problems.map((p) => [p.id, p]));
    expect(summary.correct).toBeGreaterThan(0);
    expect(summary.correct).toBeLessThan(rollouts.length);
    expect(pool.size).toBe(new Set(rollouts.filter((r) => r.correct).map((r) => r.problem.id)).size);
    for (const t of pool.all()) {
      expect(verifyRollout(task, byId.get(t.problemId)!, t.completion).correct).toBe(true);
      const shortest = Math.min(...rollouts.filter((r) => r.correct && r.problem.id === t.problemId).map((r) => r.completion.length));
      expect(t.completion.length).toBe(shortest);
    }
  });

  it('runs every stage, writes each round, and resumes an interrupted run to the same report', async () => {
    const cfg = parseConfig(MICRO, 'micro.json');
    const straight = tmp();
    const full = await runExperiment(cfg, { outDir: straight, quiet: true });
    expect(full.rounds.map((r) => r.round)).toEqual([0, 1, 2]);
    for (const f of ['report.json', 'report.md', 'report.html', 'round-2/model.safetensors', 'round-2/pool.jsonl', 'ablation-large/metrics.json']) {
      expect(existsSync(join(straight, f)), f).toBe(true);
    }
    expect(readFileSync(join(straight, 'report.html'), 'utf8')).toContain('<svg');
    // report.json gives n (held-out problems) beside each level's accuracy, in every round and Table 2 row.
    const json = JSON.parse(readFileSync(join(straight, 'report.json'), 'utf8')) as Report;
    for (const m of json.rounds) expect(m.accuracy.map((a) => [a.level, a.n])).toEqual([[2, 3], [3, 3]]);
    for (const row of json.ablation) expect(row.n).toEqual({ 2: 3, 3: 3 });

    const split = tmp();
    const partial = await runExperiment(cfg, { outDir: split, quiet: true, stopAfterRound: 1 });
    expect(partial.rounds.length).toBe(2);
    expect(existsSync(join(split, 'round-2'))).toBe(false);
    const resumed = await runExperiment(cfg, { outDir: split, quiet: true });
    const scores = (r: typeof full) => r.rounds.map((m) => [m.poolSize, m.accuracy.map((a) => [a.greedy, a.pass1, a.thoughtChars])]);
    expect(scores(resumed)).toEqual(scores(full));
    expect(readFileSync(join(split, 'round-2/model.safetensors'))).toEqual(readFileSync(join(straight, 'round-2/model.safetensors')));

    const changed = parseConfig({ ...MICRO, explore: { ...MICRO.explore, k: 3 } }, 'micro.json');
    await expect(runExperiment(changed, { outDir: split, quiet: true })).rejects.toThrow(/field 'explore.k' differs/);
  });

  it('pools only explored rollouts that verify, each problem at most capPerProblem times, and carries the pool across rounds', async () => {
    const cfg = parseConfig(POOLED, 'pooled.json');
    const out = tmp();
    const report = await runExperiment(cfg, { outDir: out, quiet: true });
    const readPool = (round: number) => readFileSync(join(out, `round-${round}/pool.jsonl`), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
    const pool = readPool(2);
    expect(pool.length).toBeGreaterThan(0);
    expect(pool.length).toBe(report.rounds[2]!.poolSize);
    // The gate had something to turn away: not every explored rollout was correct.
    const explored = report.rounds.slice(1).map((m) => m.explore!);
    expect(explored.reduce((a, e) => a + e.correct, 0)).toBeLessThan(explored.reduce((a, e) => a + e.rollouts, 0));
    const task = getTask('addition');
    const sum = (q: string) => String(q.split('+').reduce((a, x) => a + BigInt(x), 0n)); // the gold, worked out here, not by the task
    for (const t of pool) {
      const problem = { id: t.problemId, task: 'addition', level: t.level, question: t.question, answer: sum(t.question) };
      expect(verifyRollout(task, problem, t.completion).correct, t.completion).toBe(true);
      expect(t.level).toBe(1);
    }
    const perProblem = new Map<string, number>();
    for (const t of pool) perProblem.set(t.problemId, (perProblem.get(t.problemId) ?? 0) + 1);
    expect(Math.max(...perProblem.values())).toBeLessThanOrEqual(POOLED.explore.capPerProblem);
    // Round 1's pool is kept in round 2's: the pool only grows.
    const round2 = new Set(pool.map((t) => t.completion));
    for (const t of readPool(1)) expect(round2.has(t.completion)).toBe(true);
  });

  it('report.json fills n beside each accuracy for rounds recorded before n existed', () => {
    const cfg = parseConfig(MICRO, 'micro.json');
    const old = { round: 0, accuracy: [{ level: 3, problems: 40, greedy: 25, pass1: null, passK: null, majK: null, thoughtChars: 9 }], poolSize: 0, poolByLevel: {},
      reflectionRate: 0, explore: null, train: { steps: 1, examples: 1, tokens: 1, seconds: 1, finalLoss: 1 }, trainTokensPerSec: 1, sampleTokensPerSec: 1, wallSeconds: 1, examples: [] };
    const r = buildReport(cfg, [old as unknown as RoundMetrics], null, { small: 44, large: 0 });
    expect(r.rounds[0]!.accuracy[0]!.n).toBe(40);
    expect(r.ablation[0]!.n).toEqual({ 3: 40 });
  });
});
