// The short score table `still eval` prints: one row overall, then one per subject and per level.
import type { EvalScores, Scores } from './summary.ts';

const pct = (x: number) => (100 * x).toFixed(1);

export function formatScoresTable(title: string, scores: EvalScores): string {
  const ks = Object.keys(scores.overall.pass_at_k).filter((k) => k !== '1');
  const n = ks.length > 0 ? ks[ks.length - 1] : '1';
  const header = ['', 'problems', 'pass@1', ...ks.map((k) => `pass@${k}`), `maj@${n}`, 'thought', 'tokens', 'trunc%'];
  const row = (label: string, s: Scores) => [
    label, String(s.problems), pct(s.pass1), ...ks.map((k) => pct(s.pass_at_k[k]!)), pct(s.maj_at_n),
    s.mean_thought_tokens.toFixed(0), s.mean_tokens.toFixed(0), pct(s.truncated),
  ];
  const rows = [header, row('all', scores.overall)];
  for (const [label, s] of Object.entries(scores.by_subject ?? {})) rows.push(row(label, s));
  for (const [label, s] of Object.entries(scores.by_level ?? {})) rows.push(row(`level ${label}`, s));
  const widths = header.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  const lines = rows.map((r) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ').trimEnd());
  return `${title}\n${lines.join('\n')}\n`;
}
