// Grading time per comparison over the shipped gold sets: each gold against a model-style rewriting of
// itself (a true case) and against a near miss (a false case), through grade() on a whole output.
//
//   npx tsx bench/grade_speed.ts            # data/eval/* and data/train/*
//   npx tsx bench/grade_speed.ts --eval     # data/eval/* only
//
// Prints, per set: golds, how many rewritings were accepted and near misses rejected, and the p50 / p99 /
// max time of one comparison in milliseconds. Verdicts do not depend on timing; the times say whether
// grading keeps up with the loop. Uses only grade(), loadEvalSet() and warmUpGrader(), so the same file
// runs against an older checkout for a before/after.
import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { EVAL_SETS, loadEvalSet } from '../src/verify/gold.ts';
import { grade, warmUpGrader } from '../src/verify/grade.ts';

/** The gold as a model writes it: \dfrac, spaces after commas, \left( \right), \displaystyle. */
function rewrite(gold: string): string {
  return `\\displaystyle ${gold.replace(/\\frac(?![a-zA-Z])/g, '\\dfrac').replace(/(?<!\{),(?!\})/g, ', ')
    .replace(/(?<!\\)\(/g, '\\left(').replace(/(?<!\\)\)/g, '\\right)')}`;
}

/** A near miss: the gold's value plus one, which keeps its digits inside a wrong expression. */
function nearMiss(gold: string): string {
  return `(${gold})+1`;
}

function output(answer: string): string {
  return `<|begin_of_thought|>checking<|end_of_thought|><|begin_of_solution|>So the final answer is $\\boxed{${answer}}$.<|end_of_solution|>`;
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

interface Row { set: string; golds: number; accepted: number; rejected: number; right: number[]; wrong: number[] }

function bench(set: string, golds: string[], dataset?: string): Row {
  const row: Row = { set, golds: golds.length, accepted: 0, rejected: 0, right: [], wrong: [] };
  for (const gold of golds) {
    let t = performance.now();
    if (grade(output(rewrite(gold)), gold, dataset).correct) row.accepted++;
    row.right.push(performance.now() - t);
    t = performance.now();
    if (!grade(output(nearMiss(gold)), gold, dataset).correct) row.rejected++;
    row.wrong.push(performance.now() - t);
  }
  return row;
}

const root = resolve(import.meta.dirname, '..');
const rows: Row[] = [];
const t0 = performance.now();
warmUpGrader();
const warmMs = performance.now() - t0;
for (const name of EVAL_SETS) rows.push(bench(name, loadEvalSet(name).items.map((i) => i.gold), name));
if (!process.argv.includes('--eval')) {
  const dir = join(root, 'data', 'train');
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.jsonl')).sort()) {
    rows.push(bench(`train/${file.replace(/\.jsonl$/, '')}`, loadEvalSet(join(dir, file)).items.map((i) => i.gold)));
  }
}

const fmt = (x: number) => x.toFixed(2).padStart(7);
console.log(`warm-up ${warmMs.toFixed(0)} ms; times in ms per comparison (extraction + comparison of one output)`);
console.log(`${'set'.padEnd(22)} ${'golds'.padStart(6)} ${'right ok'.padStart(9)} ${'miss ok'.padStart(8)}   right p50     p99     max   miss p50     p99     max`);
const all: Row = { set: 'all', golds: 0, accepted: 0, rejected: 0, right: [], wrong: [] };
for (const r of [...rows, all]) {
  if (r !== all) {
    all.golds += r.golds; all.accepted += r.accepted; all.rejected += r.rejected;
    all.right.push(...r.right); all.wrong.push(...r.wrong);
  }
  const right = [...r.right].sort((a, b) => a - b);
  const wrong = [...r.wrong].sort((a, b) => a - b);
  console.log(`${r.set.padEnd(22)} ${String(r.golds).padStart(6)} ${String(r.accepted).padStart(9)} ${String(r.rejected).padStart(8)}   `
    + `${fmt(quantile(right, 0.5))} ${fmt(quantile(right, 0.99))} ${fmt(right[right.length - 1]!)}    `
    + `${fmt(quantile(wrong, 0.5))} ${fmt(quantile(wrong, 0.99))} ${fmt(wrong[wrong.length - 1]!)}`);
}
