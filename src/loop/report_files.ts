// Writing the report as report.json, report.md and a self-contained report.html (inline SVG, no CDN).
import { join } from 'node:path';
import { writeFileAtomic, writeJsonAtomic } from '../io/atomic.ts';
import { ARMS, type Report } from './report.ts';
import { accuracyHalfWidth, differenceHalfWidth, gainReading, reportPage } from './report_page.ts';
import { barChart, lineChart } from './svg_chart.ts';

const pct = (x: number | null) => (x === null ? '–' : `${x.toFixed(1)}`);

export function reportMarkdown(r: Report): string {
  const levels = r.rounds[0]?.accuracy.map((a) => a.level) ?? [];
  const lines = [
    `# ${r.name}: STILL loop on ${r.task}`,
    '',
    `Held-out greedy accuracy (%) per level and round; the hardest level is ${r.hardestLevel}.`,
    `**hard_gain_points = ${r.hard_gain_points.toFixed(1)}** (round ${r.rounds.length - 1} minus round 0 at level ${r.hardestLevel}).`,
    '',
    `| round | ${levels.map((l) => `L${l}`).join(' | ')} | pass@k (hardest) | pool | thought chars | reflection % | train tok/s | sample tok/s | wall s |`,
    `|---|${levels.map(() => '---:').join('|')}|---:|---:|---:|---:|---:|---:|---:|`,
    ...r.rounds.map((m) => {
      const hard = m.accuracy.find((a) => a.level === r.hardestLevel);
      const thought = m.accuracy.reduce((a, x) => a + x.thoughtChars, 0) / Math.max(m.accuracy.length, 1);
      return `| ${m.round} | ${m.accuracy.map((a) => pct(a.greedy)).join(' | ')} | ${pct(hard?.passK ?? null)} | ${m.poolSize} | ${thought.toFixed(0)} | ${m.reflectionRate.toFixed(0)} | ${m.trainTokensPerSec.toFixed(0)} | ${m.sampleTokensPerSec.toFixed(0)} | ${m.wallSeconds.toFixed(0)} |`;
    }),
    '',
  ];
  const dpoRounds = r.rounds.filter((m) => m.dpo);
  if (dpoRounds.length > 0) {
    const acc = (x: Record<string, number> | null | undefined, k: string) => (x?.[k] === undefined ? '–' : x[k].toFixed(3));
    lines.push('## SFT+DPO', '', 'Each round\'s DPO step after its SFT: pairs of a correct and an incorrect rollout of one problem; ' +
      'rewards/accuracies on the pairs of held-out problems before (the SFT model is the reference) and after DPO, and greedy accuracy (%) before → after.', '',
      `| round | problems with pairs | pairs (held out) | steps | held-out rewards/accuracies | held-out margin | ${levels.map((l) => `L${l}`).join(' | ')} |`,
      `|---|---:|---:|---:|---:|---:|${levels.map(() => '---:').join('|')}|`,
      ...dpoRounds.map((m) => {
        const d = m.dpo!;
        const before = (l: number) => m.sftAccuracy?.find((a) => a.level === l)?.greedy ?? null;
        const after = (l: number) => m.accuracy.find((a) => a.level === l)?.greedy ?? null;
        return `| ${m.round} | ${d.mixed}/${d.problems} | ${d.pairs} (${d.evalPairs}) | ${d.steps} | ${acc(d.evalStart, 'eval_rewards/accuracies')} → ${acc(d.eval, 'eval_rewards/accuracies')} | ` +
          `${acc(d.eval, 'eval_rewards/margins')} | ${levels.map((l) => `${pct(before(l))} → ${pct(after(l))}`).join(' | ')} |`;
      }), '');
  }
  if (r.ablation.length > 0) {
    const h = r.hardestLevel;
    lines.push('## Table 2 on a toy scale', '', 'Greedy accuracy (%) on the held-out problems; "explored" counts the pool\'s self-found trajectories; ' +
      `± is the 95% interval of the level-${h} accuracy over its n problems.`, '',
      `| setting | distilled | explored | train steps | ${levels.map((l) => `L${l}`).join(' | ')} | ± (L${h}) | mean |`,
      `|---|---:|---:|---:|${levels.map(() => '---:').join('|')}|---:|---:|`,
      ...r.ablation.map((a) => `| ${a.setting} | ${a.distilled} | ${a.explored} | ${a.steps} | ${levels.map((l) => pct(a.byLevel[l] ?? null)).join(' | ')} | ` +
        `${accuracyHalfWidth(a.byLevel[h] ?? 0, a.n[h] ?? 0).toFixed(1)} | ${a.mean.toFixed(1)} |`), '');
  }
  // One right and one wrong rollout when there are both: the failure modes teach as much as the successes.
  const examples = r.rounds[r.rounds.length - 1]?.examples ?? [];
  const shown = [examples.find((e) => e.correct), examples.find((e) => !e.correct)].filter((e) => e !== undefined);
  if (shown.length > 0) {
    lines.push(`## Greedy rollouts at level ${r.hardestLevel} (final round)`, '');
    for (const e of shown) lines.push(`${e.correct ? 'Correct' : 'Wrong'}: \`${e.question}\``, '', '```', e.completion, '```', '');
  }
  lines.push(`Total wall time ${r.totalWallSeconds.toFixed(0)} s.`, '');
  return lines.join('\n');
}

export function reportCharts(r: Report): string[] {
  const rounds = r.rounds.map((m) => m.round);
  const levels = r.rounds[0]?.accuracy.map((a) => a.level) ?? [];
  return [
    lineChart({
      title: 'Held-out greedy accuracy by level', xLabel: 'round', yLabel: '%', x: rounds, yMax: 100,
      series: levels.map((l) => ({ name: `L${l}`, y: r.rounds.map((m) => m.accuracy.find((a) => a.level === l)?.greedy ?? 0) })),
    }),
    lineChart({ title: 'Pool size', xLabel: 'round', yLabel: 'trajectories', x: rounds, integer: true, series: [{ name: 'pool', y: r.rounds.map((m) => m.poolSize) }] }),
    lineChart({
      title: 'Mean thought length (greedy, chars)', xLabel: 'round', yLabel: 'chars', x: rounds,
      series: levels.map((l) => ({ name: `L${l}`, y: r.rounds.map((m) => m.accuracy.find((a) => a.level === l)?.thoughtChars ?? 0) })),
    }),
    ...(r.ablation.length > 0 ? [barChart({
      title: `Table 2: level-${r.hardestLevel} greedy accuracy, with 95% intervals`, yLabel: '%', yMax: 100,
      bars: r.ablation.map((a) => {
        const v = a.byLevel[r.hardestLevel] ?? 0;
        return { label: a.setting, value: v, halfWidth: accuracyHalfWidth(v, a.n[r.hardestLevel] ?? 0) };
      }),
    })] : []),
  ];
}

/** "Is exploration more than more training?": small + explore against the equal-compute control, when both ran. */
export function controlReading(r: Report): string | null {
  const h = r.hardestLevel;
  const explore = r.ablation.find((a) => a.setting.startsWith(ARMS.explore));
  const control = r.ablation.find((a) => a.setting === ARMS.control);
  if (!explore || !control) return null;
  const [e, c] = [explore.byLevel[h] ?? 0, control.byLevel[h] ?? 0];
  const diff = differenceHalfWidth(e, c, explore.n[h] ?? 0, control.n[h] ?? 0);
  const gap = e - c;
  return `Against the equal-compute control (the same steps on the teacher's traces, no pool), exploring scored ${e.toFixed(1)}% ` +
    `vs ${c.toFixed(1)}% at level ${h} (${gap >= 0 ? '+' : ''}${gap.toFixed(1)} points, noise ±${diff.toFixed(1)}): ` +
    (Math.abs(gap) > diff
      ? (gap > 0 ? 'exploration did more than the extra training.' : 'the extra training alone did better than exploring.')
      : 'within the noise, so this run cannot tell exploration from more training.');
}

export function reportHtml(r: Report): string {
  const hard = (m: Report['rounds'][number] | undefined) => m?.accuracy.find((a) => a.level === r.hardestLevel);
  const [first, last] = [hard(r.rounds[0]), hard(r.rounds.at(-1))];
  const gain = first && last ? gainReading(`level ${r.hardestLevel}`, first.greedy, last.greedy, last.problems) : null;
  const reading = [gain, controlReading(r)].filter((x) => x !== null).join(' ') || null;
  return reportPage({ title: `${r.name} report`, markdown: reportMarkdown(r), charts: reportCharts(r), reading });
}

export function writeReports(dir: string, r: Report): void {
  writeJsonAtomic(join(dir, 'report.json'), r);
  writeFileAtomic(join(dir, 'report.md'), reportMarkdown(r));
  writeFileAtomic(join(dir, 'report.html'), reportHtml(r));
  writeFileAtomic(join(dir, 'accuracy.svg'), reportCharts(r)[0]);
}
