// The STILL loop end to end on a micro config (seconds): every stage runs, the pool admits only verified
// rollouts, and a run interrupted after a round resumes to the same result.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../src/loop/config.ts';
import { runExperiment } from '../src/loop/experiment.ts';
import { Pool } from '../src/loop/pool.ts';
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
    const task = getTask('addition');
    for (const line of readFileSync(join(straight, 'round-2/pool.jsonl'), 'utf8').split('\n').filter(Boolean)) {
      const t = JSON.parse(line);
      const problem = { id: t.problemId, task: 'addition', level: t.level, question: t.question, answer: String(t.question.split('+').reduce((a: bigint, x: string) => a + BigInt(x), 0n)) };
      expect(verifyRollout(task, problem, t.completion).correct).toBe(true);
    }
    expect(readFileSync(join(straight, 'report.html'), 'utf8')).toContain('<svg');

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
});
