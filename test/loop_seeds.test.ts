// Several seeds of one toy experiment: every arm runs per seed in its own folder, and each number is
// reported as the mean over seeds with a 95% interval.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { registerRun } from '../src/cli/run.ts';
import type { Report } from '../src/loop/report.ts';
import { seedStat, type SeedsReport } from '../src/loop/seeds.ts';
import { runCli } from './cli_helpers.ts';

const work = mkdtempSync(join(tmpdir(), 'still-seeds-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const MICRO = {
  name: 'micro', seed: 1, task: 'addition',
  model: { hiddenSize: 32, numLayers: 1, numHeads: 2, numKvHeads: 1, intermediateSize: 64 },
  levels: { distill: [1, 2], scarce: [3], explore: [3], eval: [2, 3] },
  imitate: { examples: 40, scarceExamples: 4, epochs: 1, lr: 0.003, batchSize: 8 },
  explore: { problemsPerLevel: 3, k: 2, temperature: 1, maxNewTokens: 128 },
  improve: { rounds: 1, epochs: 1, lr: 0.002, batchSize: 8 },
  eval: { problemsPerLevel: 3, k: 1, temperature: 1, maxNewTokens: 128 },
  ablation: { scarceScale: 2 },
  maxBatch: 8,
};

describe('still run --seeds', () => {
  it('a mean and a Student-t 95% interval over seeds', () => {
    const s = seedStat([1, 2, 3]);
    expect(s.mean).toBe(2);
    expect(s.halfWidth).toBeCloseTo((4.303 * 1) / Math.sqrt(3), 10); // t(0.975, 2) · sd / √n, sd = 1
    expect(seedStat([5]).halfWidth).toBe(0);
    expect(seedStat([2, 2, 2, 2]).halfWidth).toBe(0);
  });

  it('runs every arm per seed in seed-N/ and reports each number over the seeds', async () => {
    const config = join(work, 'micro.json');
    writeFileSync(config, JSON.stringify(MICRO));
    const out = join(work, 'run');
    const { stdout } = await runCli([registerRun], ['run', '--config', config, '--seeds', '3,4', '--out', out, '--quiet']);
    const per = [3, 4].map((s) => JSON.parse(readFileSync(join(out, `seed-${s}`, 'report.json'), 'utf8')) as Report);
    expect(per.map((r) => r.config.seed)).toEqual([3, 4]);
    const r = JSON.parse(readFileSync(join(out, 'seeds.json'), 'utf8')) as SeedsReport;
    expect(r.seeds).toEqual([3, 4]);
    expect(r.hard_gain_points.values).toEqual(per.map((p) => p.hard_gain_points));
    expect(r.rounds.map((m) => m.round)).toEqual([0, 1]);
    expect(r.rounds[1]!.byLevel[2]!.values).toEqual(per.map((p) => p.rounds[1]!.accuracy.find((a) => a.level === 2)!.greedy));
    expect(r.table2.map((row) => row.setting)).toEqual(per[0]!.ablation.map((row) => row.setting));
    expect(r.table2[0]!.mean.values).toEqual(per.map((p) => p.ablation[0]!.mean));
    expect(r.problemsPerLevel).toEqual({ 2: 3, 3: 3 });
    expect(readFileSync(join(out, 'seeds.md'), 'utf8')).toMatch(/\| L2 \(n=3\) \| L3 \(n=3\) \|/);
    expect(existsSync(join(out, 'seeds.html'))).toBe(true);
    expect(stdout).toMatch(/^hard_gain_points -?\d+\.\d ± \d+\.\d over seeds 3,4/);
    await expect(runCli([registerRun], ['run', '--config', config, '--seeds', '3,x', '--out', out])).rejects.toThrow("--seeds expects a list of non-negative integers like 1,2,3, got '3,x'");
  }, 120_000);
});
