// One toy experiment over several seeds: each seed runs every arm in its own folder (seed-N/, resumable as
// any run), and seeds.{json,md,html} give each number as a mean with a 95% interval over the seeds. One seed
// of a small eval set is about ±8 points of noise at the hard level; the interval says how far apart two
// arms must be before the difference means something.
import { join } from 'node:path';
import { writeFileAtomic, writeJsonAtomic } from '../io/atomic.ts';
import type { ExperimentConfig } from './config.ts';
import { runExperiment, type RunOptions } from './experiment.ts';
import { ARMS, type Report } from './report.ts';
import { reportPage } from './report_page.ts';
import { barChart } from './svg_chart.ts';

/** A mean over seeds and the half-width of its 95% interval (Student's t; 0 for one seed). */
export interface SeedStat {
  mean: number;
  halfWidth: number;
  values: number[];
}

export interface SeedsReport {
  name: string;
  task: string;
  seeds: number[];
  hardestLevel: number;
  hard_gain_points: SeedStat;
  /** Greedy accuracy per round and level. */
  rounds: { round: number; byLevel: Record<number, SeedStat> }[];
  /** Table 2: each arm's accuracy per level and its mean over levels. */
  table2: { setting: string; byLevel: Record<number, SeedStat>; mean: SeedStat }[];
  /** Held-out problems per level in each seed's eval. */
  problemsPerLevel: Record<number, number>;
  /** Table 2's arms compared two by two at the hardest level, paired by seed: which differences are outside the noise. */
  comparisons: { a: string; b: string; difference: SeedStat }[];
}

/** The Table 2 pairs worth a sentence: exploring (the first explore arm) against each distill-only arm. */
const isExplore = (setting: string) => setting.startsWith(ARMS.explore);
const COMPARED: [(setting: string) => boolean, string][] = [[isExplore, ARMS.small], [isExplore, ARMS.control], [isExplore, ARMS.large]];

// Two-sided 97.5% quantiles of Student's t for 1..30 degrees of freedom (beyond: the normal's 1.96).
const T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11, 2.101,
  2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042];

export function seedStat(values: readonly number[]): SeedStat {
  const n = values.length;
  const mean = values.reduce((a, b) => a + b, 0) / Math.max(n, 1);
  if (n < 2) return { mean, halfWidth: 0, values: [...values] };
  const sd = Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1));
  return { mean, halfWidth: (T975[n - 2] ?? 1.96) * (sd / Math.sqrt(n)), values: [...values] };
}

/** Run the experiment once per seed (folders seed-N under opts.outDir), then aggregate. */
export async function runSeeds(cfg: ExperimentConfig, seeds: readonly number[], opts: RunOptions): Promise<SeedsReport> {
  if (seeds.length === 0 || new Set(seeds).size !== seeds.length || !seeds.every((s) => Number.isInteger(s) && s >= 0)) {
    throw new Error(`--seeds expects distinct non-negative integers, got ${seeds.join(',')}`);
  }
  const reports: Report[] = [];
  for (const seed of seeds) reports.push(await runExperiment({ ...cfg, seed }, { ...opts, outDir: join(opts.outDir, `seed-${seed}`) }));
  const report = aggregateSeeds(reports, seeds);
  writeJsonAtomic(join(opts.outDir, 'seeds.json'), report);
  writeFileAtomic(join(opts.outDir, 'seeds.md'), seedsMarkdown(report));
  writeFileAtomic(join(opts.outDir, 'seeds.html'), reportPage({ title: `${report.name}: ${seeds.length} seeds`, markdown: seedsMarkdown(report), charts: seedsCharts(report) }));
  return report;
}

export function aggregateSeeds(reports: readonly Report[], seeds: readonly number[]): SeedsReport {
  const first = reports[0]!;
  const levels = first.rounds[0]!.accuracy.map((a) => a.level);
  const byLevel = (get: (r: Report, level: number) => number) =>
    Object.fromEntries(levels.map((l) => [l, seedStat(reports.map((r) => get(r, l)))]));
  return {
    name: first.name, task: first.task, seeds: [...seeds], hardestLevel: first.hardestLevel,
    hard_gain_points: seedStat(reports.map((r) => r.hard_gain_points)),
    rounds: first.rounds.map((m, i) => ({ round: m.round, byLevel: byLevel((r, l) => r.rounds[i]!.accuracy.find((a) => a.level === l)!.greedy) })),
    table2: first.ablation.map((row, i) => ({
      setting: row.setting, byLevel: byLevel((r, l) => r.ablation[i]!.byLevel[l]!), mean: seedStat(reports.map((r) => r.ablation[i]!.mean)),
    })),
    problemsPerLevel: Object.fromEntries(first.rounds[0]!.accuracy.map((a) => [a.level, a.problems])),
    comparisons: compareArms(reports),
  };
}

/** Differences at the hardest level between the COMPARED arms, seed by seed (each seed's arms share its problems). */
function compareArms(reports: readonly Report[]): SeedsReport['comparisons'] {
  const first = reports[0]!;
  const h = first.hardestLevel;
  const out: SeedsReport['comparisons'] = [];
  for (const [ra, rb] of COMPARED) {
    const [ia, ib] = [first.ablation.findIndex((x) => ra(x.setting)), first.ablation.findIndex((x) => x.setting === rb)];
    if (ia < 0 || ib < 0) continue;
    const difference = seedStat(reports.map((r) => r.ablation[ia]!.byLevel[h]! - r.ablation[ib]!.byLevel[h]!));
    out.push({ a: first.ablation[ia]!.setting, b: first.ablation[ib]!.setting, difference });
  }
  return out;
}

/** Whether a seed statistic's 95% interval leaves out 0. */
function excludesZero(s: SeedStat): boolean {
  return Math.abs(s.mean) > s.halfWidth;
}

/** The same, in words. */
function verdict(s: SeedStat): string {
  if (s.values.length < 2) return 'one seed: no interval';
  return excludesZero(s) ? 'outside the noise (the interval excludes 0)' : 'within the noise (the interval includes 0)';
}

const fmt = (s: SeedStat) => (s.values.length > 1 ? `${s.mean.toFixed(1)} ± ${s.halfWidth.toFixed(1)}` : s.mean.toFixed(1));

export function seedsMarkdown(r: SeedsReport): string {
  const levels = Object.keys(r.problemsPerLevel).map(Number);
  const head = levels.map((l) => `L${l} (n=${r.problemsPerLevel[l]})`);
  return [
    `# ${r.name}: STILL loop on ${r.task}, ${r.seeds.length} seeds (${r.seeds.join(', ')})`,
    '',
    `Greedy accuracy (%) as the mean over seeds ± the half-width of its 95% interval (Student's t); n = held-out problems per level in each seed.`,
    `**hard_gain_points = ${fmt(r.hard_gain_points)}** at level ${r.hardestLevel}` +
      `${r.seeds.length > 1 ? (excludesZero(r.hard_gain_points) ? ' (its interval excludes 0)' : ' (its interval includes 0: not a demonstrated gain)') : ''}.`,
    '',
    `| round | ${head.join(' | ')} |`, `|---|${levels.map(() => '---:').join('|')}|`,
    ...r.rounds.map((m) => `| ${m.round} | ${levels.map((l) => fmt(m.byLevel[l]!)).join(' | ')} |`),
    '',
    ...(r.table2.length > 0 ? [
      '## Table 2 on a toy scale', '',
      `| setting | ${head.join(' | ')} | mean |`, `|---|${levels.map(() => '---:').join('|')}|---:|`,
      ...r.table2.map((row) => `| ${row.setting} | ${levels.map((l) => fmt(row.byLevel[l]!)).join(' | ')} | ${fmt(row.mean)} |`), '',
    ] : []),
    ...((r.comparisons ?? []).length > 0 ? [
      `## Differences at level ${r.hardestLevel}, paired by seed`, '',
      'Each seed\'s arms are scored on the same held-out problems, so the difference is taken seed by seed.', '',
      '| comparison | difference (points) | per seed | reading |', '|---|---:|---|---|',
      ...r.comparisons.map((c) => `| ${c.a} − ${c.b} | ${fmt(c.difference)} | ${c.difference.values.map((v) => v.toFixed(1)).join(', ')} | ${verdict(c.difference)} |`), '',
    ] : []),
  ].join('\n');
}

/** Table 2 at the hardest level as bars with their 95% intervals over seeds. */
export function seedsCharts(r: SeedsReport): string[] {
  if (r.table2.length === 0) return [];
  const h = r.hardestLevel;
  return [barChart({
    title: `Table 2: level-${h} greedy accuracy, mean over ${r.seeds.length} seeds with 95% intervals`, yLabel: '%', yMax: 100,
    bars: r.table2.map((row) => ({ label: row.setting, value: row.byLevel[h]!.mean, halfWidth: row.byLevel[h]!.halfWidth })),
  })];
}
