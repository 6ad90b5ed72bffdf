// Problems that are also in a shipped benchmark's test set. Exploring or training on them leaks the test
// into the model, and its scores on that benchmark stop meaning anything, so explore and SFT warn about it.
// Questions match after normalising what copies of one problem commonly differ in: case, whitespace, and
// math delimiters.
import { EVAL_SETS, loadEvalSet } from '../verify/gold.ts';

/** A question in the form two copies of one problem share. */
export function normalizeQuestion(q: string): string {
  return q.toLowerCase().replace(/\$\$?|\\[()[\]]/g, '').replace(/\s+/g, ' ').trim();
}

export interface BenchOverlap {
  bench: string;
  /** How many of the given questions are in it. */
  count: number;
  /** The first of them, to show. */
  example: string;
}

let shipped: Map<string, Set<string>> | null = null;

function shippedQuestions(): Map<string, Set<string>> {
  shipped ??= new Map(EVAL_SETS.map((name) => [name, new Set(loadEvalSet(name).items.map((i) => normalizeQuestion(i.problem)))]));
  return shipped;
}

/** Which shipped benchmarks contain some of `questions`. */
export function benchOverlap(questions: readonly string[]): BenchOverlap[] {
  const normalized = questions.map((q) => [q, normalizeQuestion(q)] as const);
  const out: BenchOverlap[] = [];
  for (const [bench, set] of shippedQuestions()) {
    const hits = normalized.filter(([, n]) => set.has(n));
    if (hits.length > 0) out.push({ bench, count: hits.length, example: hits[0]![0] });
  }
  return out;
}

/** One warning line per benchmark the questions overlap, for `what` ("explore data x.jsonl"). */
export function benchOverlapWarnings(questions: readonly string[], what: string): string[] {
  return benchOverlap(questions).map((o) => {
    const shown = o.example.length > 60 ? `${o.example.slice(0, 57)}…` : o.example;
    return `warning: ${o.count} of ${questions.length} problems in ${what} are in the ${o.bench} test set (e.g. "${shown.replace(/\s+/g, ' ')}"); ` +
      `a model trained or explored on them no longer gets an honest ${o.bench} score`;
  });
}
