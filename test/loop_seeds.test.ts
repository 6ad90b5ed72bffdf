// Several seeds of one toy experiment: every arm runs per seed in its own folder, and each number is
// reported as the mean over seeds with a 95% interval.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { registerRun } from '../src/cli/run.ts';
import type { Report } from '../src/loop/report.ts';
import { aggregateSeeds, seedStat, seedsMarkdown, type SeedsReport } from '../src/loop/seeds.ts';
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

  it('compares the arms at the hard level seed by seed, and says which differences are outside the noise', () => {
    const arm = (setting: string, l3: number) => ({ setting, distilled: 1, explored: 0, steps: 1, byLevel: { 2: 90, 3: l3 }, n: { 2: 40, 3: 200 }, mean: 0 });
    const seed = (small: number, control: number, explore: number) => ({
      name: 'x', task: 'addition', hardestLevel: 3, hard_gain_points: explore - small,
      rounds: [{ round: 0, accuracy: [{ level: 2, greedy: 90, problems: 40 }, { level: 3, greedy: small, problems: 200 }] }],
      ablation: [arm('distill only (small)', small), arm('distill only (small), equal compute', control), arm('small + explore (3 rounds)', explore)],
    }) as unknown as Report;
    // Exploring beats the small arm by 20–30 points on every seed, and the control by −2…+3.
    const r = aggregateSeeds([seed(10, 30, 35), seed(12, 40, 38), seed(8, 28, 31), seed(11, 35, 36), seed(9, 30, 29)], [1, 2, 3, 4, 5]);
    const [vsSmall, vsControl] = r.comparisons;
    expect(vsSmall!.a).toBe('small + explore (3 rounds)');
    expect(vsSmall!.b).toBe('distill only (small)');
    expect(vsSmall!.difference.values).toEqual([25, 26, 23, 25, 20]);
    expect(vsControl!.b).toBe('distill only (small), equal compute');
    expect(vsControl!.difference.values).toEqual([5, -2, 3, 1, -1]);
    const md = seedsMarkdown(r);
    expect(md).toContain('| small + explore (3 rounds) − distill only (small) | 23.8 ± 3.0 | 25.0, 26.0, 23.0, 25.0, 20.0 | outside the noise (the interval excludes 0) |');
    expect(md).toMatch(/equal compute \| 1\.2 ± 3\.\d \| 5\.0, -2\.0, 3\.0, 1\.0, -1\.0 \| within the noise \(the interval includes 0\) \|/);
    expect(r.comparisons).toHaveLength(2); // no large arm here
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
