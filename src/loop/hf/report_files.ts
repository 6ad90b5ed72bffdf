// Writing an HF run's report: report.json, report.md and a self-contained report.html (HTML tables and
// inline SVG charts, no scripts, nothing fetched). The tables are built once and rendered both ways.
import { join } from 'node:path';
import { writeFileAtomic, writeJsonAtomic } from '../../io/atomic.ts';
import { gainReading, reportPage } from '../report_page.ts';
import { lineChart } from '../svg_chart.ts';
import type { HfReport } from './report.ts';

interface Table {
  title: string;
  note?: string;
  head: string[];
  rows: string[][];
}

const f1 = (x: number) => x.toFixed(1);
const f0 = (x: number) => x.toFixed(0);

/** The accuracy columns: each bench's levels (when it has them) and its overall score. */
function accuracyColumns(r: HfReport): { label: string; value: (round: number) => number | null }[] {
  const first = r.rounds[0];
  if (!first) return [];
  return Object.entries(first.eval).flatMap(([bench, b]) => [
    ...Object.keys(b.byLevel).map((level) => ({ label: `${bench} L${level}`, value: (i: number) => r.rounds[i]!.eval[bench]?.byLevel[level]?.accuracy ?? null })),
    { label: `${bench}${Object.keys(b.byLevel).length ? ' all' : ''}`, value: (i: number) => r.rounds[i]!.eval[bench]?.accuracy ?? null },
  ]);
}

export function hfTables(r: HfReport): Table[] {
  const cols = accuracyColumns(r);
  const hardLabel = `${r.hard.bench}${r.hard.level !== null ? ` L${r.hard.level}` : ''}`;
  const problemsNote = r.rounds[0] ? Object.entries(r.rounds[0].eval).map(([name, b]) =>
    `${name}: ${b.problems} problems${Object.keys(b.byLevel).length ? ` (${Object.entries(b.byLevel).map(([l, x]) => `L${l} ${x.problems}`).join(', ')})` : ''}`).join('; ') : '';
  return [
    {
      title: 'Accuracy by round (%)',
      note: `${r.config.eval.temperature === 0 ? 'Greedy' : `Sampled at temperature ${r.config.eval.temperature}, mean of n = ${r.config.eval.n}`}; ${problemsNote}. Hard split: ${hardLabel}.`,
      head: ['round', ...cols.map((c) => c.label), 'hard split', 'eval truncated %'],
      rows: r.rounds.map((m, i) => [
        String(m.round), ...cols.map((c) => { const v = c.value(i); return v === null ? '–' : f1(v); }), f1(r.hardAccuracy[i]!),
        f1(Object.values(m.eval).reduce((a, b) => a + b.truncationRate, 0) / Math.max(Object.keys(m.eval).length, 1)),
      ]),
    },
    {
      title: 'Exploration and pool',
      note: 'Yield: correct rollouts per rollout. Solved: problems with a correct rollout. Thought tokens: the correct rollouts\' thoughts (p50 / p90).',
      head: ['round', 'problems', 'rollouts', 'correct', 'yield %', 'solved %', 'truncated %', 'unformatted', 'outside window', 'pool (+new)', 'thought tokens p50 / p90'],
      rows: r.rounds.filter((m) => m.explore).map((m) => {
        const e = m.explore!;
        return [String(m.round), String(e.problems), String(e.rollouts), String(e.correct), f1(e.yield), f1(e.solved), f1(e.truncationRate),
          String(e.unformatted), String(e.filtered), `${m.pool.size} (+${m.pool.added})`, `${f0(e.correctThought.p50)} / ${f0(e.correctThought.p90)}`];
      }),
    },
    {
      title: 'Time and throughput per stage',
      note: 'Seconds of wall time in the process that finished the stage; tokens per second trained, and generated while exploring and while evaluating (sampling time only).',
      head: ['round', 'train steps', 'train s', 'train tok/s', 'explore s', 'explore tok/s', 'eval s', 'eval tok/s', 'round s'],
      rows: r.rounds.map((m) => {
        const evals = Object.values(m.eval);
        const evalTokens = evals.reduce((a, b) => a + b.generatedTokens, 0);
        const evalSeconds = evals.reduce((a, b) => a + b.sampleSeconds, 0);
        return [String(m.round), String(m.train.steps), f0(m.seconds.train), f0(m.train.tokensPerSec), m.explore ? f0(m.seconds.explore) : '–',
          m.explore ? f0(m.explore.tokensPerSec) : '–', f0(m.seconds.eval), f0(evalTokens / Math.max(evalSeconds, 1e-9)), f0(m.seconds.total)];
      }),
    },
    ...dpoTables(r),
  ];
}

/** improve.method 'dpo': each round's DPO step (pairs, held-out reward accuracy before → after). */
function dpoTables(r: HfReport): Table[] {
  const rounds = r.rounds.filter((m) => m.dpo !== undefined);
  if (rounds.length === 0) return [];
  const at = (x: Record<string, number> | null | undefined, k: string) => (x?.[k] === undefined ? '–' : x[k]!.toFixed(3));
  return [{
    title: 'SFT+DPO',
    note: 'DPO after each improve round\'s SFT, on pairs of a correct and an incorrect rollout of one problem (the SFT policy is the reference); ' +
      'rewards/accuracies and margins on the pairs of held-out problems, before → after.',
    head: ['round', 'problems with pairs', 'pairs (held out)', 'steps', 'held-out rewards/accuracies', 'held-out margins', 'DPO s'],
    rows: rounds.map((m) => {
      const d = m.dpo;
      if (!d) return [String(m.round), '–', '0', '0', '–', '–', '–'];
      return [String(m.round), `${d.mixed}/${d.problems}`, `${d.pairs} (${d.evalPairs})`, String(d.steps),
        `${at(d.evalStart, 'eval_rewards/accuracies')} → ${at(d.eval, 'eval_rewards/accuracies')}`,
        `${at(d.evalStart, 'eval_rewards/margins')} → ${at(d.eval, 'eval_rewards/margins')}`, f0(d.seconds)];
    }),
  }];
}

function provenanceLines(r: HfReport): string[] {
  const p = r.provenance;
  return [
    `still-ts ${p.version}${p.commit ? ` at ${p.commit.slice(0, 12)}` : ''}, ${p.backend} backend (${p.device}), Node ${p.node}`,
    `model: ${p.model}`,
    `imitate data: ${p.data.imitate.join(', ')}`,
    `explore data: ${p.data.explore}`,
    `eval: ${p.data.eval.join(', ')}`,
  ];
}

export function hfReportMarkdown(r: HfReport): string {
  const lines = [
    `# ${r.name}: STILL-2 on ${r.provenance.model}`,
    '',
    `**hard_gain_points = ${f1(r.hard_gain_points)}** (${r.hard.bench}${r.hard.level !== null ? ` level ${r.hard.level}` : ''}, ${r.hard.problems} problems: ` +
      `round ${r.rounds.length - 1} minus round 0).`,
    '',
  ];
  for (const t of hfTables(r)) {
    lines.push(`## ${t.title}`, '');
    if (t.note) lines.push(t.note, '');
    lines.push(`| ${t.head.join(' | ')} |`, `|${t.head.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`, ...t.rows.map((row) => `| ${row.join(' | ')} |`), '');
  }
  lines.push('## Provenance', '', ...provenanceLines(r).map((l) => `- ${l}`), '', `Total wall time ${f0(r.totalWallSeconds)} s.`, '');
  return lines.join('\n');
}

export function hfReportCharts(r: HfReport): string[] {
  const x = r.rounds.map((m) => m.round);
  const cols = accuracyColumns(r);
  const explored = r.rounds.filter((m) => m.explore);
  return [
    lineChart({
      title: 'Accuracy by round', xLabel: 'round', yLabel: '%', x, yMax: 100,
      series: cols.map((c) => ({ name: c.label, y: r.rounds.map((_, i) => c.value(i) ?? 0) })),
    }),
    lineChart({ title: 'Pool size', xLabel: 'round', yLabel: 'trajectories', x, integer: true, series: [{ name: 'pool', y: r.rounds.map((m) => m.pool.size) }] }),
    ...(explored.length > 0 ? [lineChart({
      title: 'Thought tokens of correct rollouts', xLabel: 'round', yLabel: 'tokens', x: explored.map((m) => m.round),
      series: [{ name: 'p50', y: explored.map((m) => m.explore!.correctThought.p50) }, { name: 'p90', y: explored.map((m) => m.explore!.correctThought.p90) }],
    })] : []),
  ];
}

export function hfReportHtml(r: HfReport): string {
  const split = `${r.hard.bench}${r.hard.level !== null ? ` level ${r.hard.level}` : ''}`;
  const reading = r.hardAccuracy.length > 1 ? gainReading(split, r.hardAccuracy[0]!, r.hardAccuracy.at(-1)!, r.hard.problems) : null;
  return reportPage({ title: `${r.name} report`, markdown: hfReportMarkdown(r), charts: hfReportCharts(r), reading });
}

export function writeHfReports(dir: string, r: HfReport): void {
  writeJsonAtomic(join(dir, 'report.json'), r);
  writeFileAtomic(join(dir, 'report.md'), hfReportMarkdown(r));
  writeFileAtomic(join(dir, 'report.html'), hfReportHtml(r));
}
