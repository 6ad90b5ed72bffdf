// Scoring eval rollouts: pass@1, unbiased pass@k for k = 1, 2, 4, …, n, maj@n and lengths, overall and per
// subject / level. Pure: it works on results.jsonl rows, so a finished run can be re-scored from its file.
import { majorityCorrect, passAtK } from '../loop/metrics.ts';
import type { EvalRollout } from './rollout.ts';

/** What scoring reads of a rollout. */
export type ScoredRollout = Pick<EvalRollout, 'id' | 'subject' | 'level' | 'pred_answer' | 'correct' | 'tokens' | 'thought_tokens' | 'finish_reason'>;

/** Fractions in [0, 1]; lengths in tokens, averaged over rollouts. */
export interface Scores {
  problems: number;
  rollouts: number;
  /** Mean correctness over rollouts (greedy accuracy when n = 1). */
  pass1: number;
  /** Unbiased pass@k (Chen et al. 2021), keyed by k. */
  pass_at_k: Record<string, number>;
  /** Majority vote over each problem's n answers. */
  maj_at_n: number;
  mean_thought_tokens: number;
  mean_tokens: number;
  /** Rollouts that ran out of tokens (finish_reason 'length'). */
  truncated: number;
}

export interface EvalScores {
  overall: Scores;
  /** Present when the set labels problems with a subject (MATH, Minerva, OlympiadBench). */
  by_subject?: Record<string, Scores>;
  /** Present when the set labels problems with a level (MATH). */
  by_level?: Record<string, Scores>;
}

/** 1, 2, 4, … up to n, and n itself. */
export function kValues(n: number): number[] {
  const ks: number[] = [];
  for (let k = 1; k <= n; k *= 2) ks.push(k);
  if (ks[ks.length - 1] !== n) ks.push(n);
  return ks;
}

const mean = (xs: readonly number[]) => (xs.length === 0 ? 0 : xs.reduce((a, b) => a + b, 0) / xs.length);

/** Rollouts grouped by problem id, in first-seen order; every problem must have exactly n of them. */
function byProblem(rollouts: readonly ScoredRollout[], n: number): ScoredRollout[][] {
  const groups = new Map<string, ScoredRollout[]>();
  for (const r of rollouts) {
    const g = groups.get(r.id);
    if (g) g.push(r);
    else groups.set(r.id, [r]);
  }
  for (const [id, g] of groups) {
    if (g.length !== n) throw new Error(`scoring: problem '${id}' has ${g.length} rollouts, expected n = ${n} (are problem ids unique?)`);
  }
  return [...groups.values()];
}

function scoreGroups(groups: readonly ScoredRollout[][], n: number, voteKey: (answer: string) => string): Scores {
  const all = groups.flat();
  const correct = groups.map((g) => g.filter((r) => r.correct).length);
  const pass_at_k: Record<string, number> = {};
  for (const k of kValues(n)) pass_at_k[String(k)] = mean(correct.map((c) => passAtK(n, c, k)));
  return {
    problems: groups.length,
    rollouts: all.length,
    pass1: mean(correct.map((c) => c / n)),
    pass_at_k,
    maj_at_n: mean(groups.map((g) => (majorityCorrect(g.map((r) => ({
      answer: r.pred_answer === null ? null : voteKey(r.pred_answer), correct: r.correct,
    }))) ? 1 : 0))),
    mean_thought_tokens: mean(all.map((r) => r.thought_tokens)),
    mean_tokens: mean(all.map((r) => r.tokens)),
    truncated: mean(all.map((r) => (r.finish_reason === 'length' ? 1 : 0))),
  };
}

/** Labels in a readable order: numerically when they are all numbers (levels), else alphabetically. */
function sortLabels(labels: string[]): string[] {
  const numeric = labels.every((l) => l !== '' && Number.isFinite(Number(l)));
  return labels.sort(numeric ? (a, b) => Number(a) - Number(b) : (a, b) => a.localeCompare(b));
}

function breakdown(
  groups: readonly ScoredRollout[][], label: (r: ScoredRollout) => string | undefined, n: number, voteKey: (a: string) => string,
): Record<string, Scores> | undefined {
  if (!groups.some((g) => label(g[0]!) !== undefined)) return undefined;
  const parts = new Map<string, ScoredRollout[][]>();
  for (const g of groups) {
    const key = label(g[0]!) ?? '(none)';
    parts.set(key, [...(parts.get(key) ?? []), g]);
  }
  const out: Record<string, Scores> = {};
  for (const key of sortLabels([...parts.keys()])) out[key] = scoreGroups(parts.get(key)!, n, voteKey);
  return out;
}

/**
 * Scores rollouts with n samples per problem. `voteKey` maps an extracted answer to its ballot for maj@n
 * (e.g. a normaliser, so "\frac12" and "1/2" vote together); by default the answer string itself.
 */
export function scoreRollouts(rollouts: readonly ScoredRollout[], n: number, voteKey: (answer: string) => string = (a) => a): EvalScores {
  if (!Number.isInteger(n) || n < 1) throw new Error(`scoring: n must be a positive integer, got ${n}`);
  const groups = byProblem(rollouts, n);
  const scores: EvalScores = { overall: scoreGroups(groups, n, voteKey) };
  const bySubject = breakdown(groups, (r) => r.subject, n, voteKey);
  const byLevel = breakdown(groups, (r) => r.level, n, voteKey);
  if (bySubject) scores.by_subject = bySubject;
  if (byLevel) scores.by_level = byLevel;
  return scores;
}
