// Scoring rollouts: pass@1, the unbiased pass@k estimator (Chen et al. 2021), majority vote, per level.
import type { Rollout } from './rollouts.ts';

/** Unbiased pass@k from n samples with c correct: 1 − C(n−c, k) / C(n, k). */
export function passAtK(n: number, c: number, k: number): number {
  if (k > n) throw new Error(`pass@${k} needs at least ${k} samples, got ${n}`);
  if (n - c < k) return 1;
  let miss = 1;
  for (let i = n - c + 1; i <= n; i++) miss *= 1 - k / i;
  return 1 - miss;
}

/** Majority vote over the extracted answers (ties go to the first seen); correct if the winner is. */
export function majorityCorrect(rollouts: readonly Pick<Rollout, 'answer' | 'correct'>[]): boolean {
  const votes = new Map<string, { n: number; correct: boolean }>();
  for (const r of rollouts) {
    if (r.answer === null) continue;
    const v = votes.get(r.answer) ?? { n: 0, correct: r.correct };
    v.n++;
    votes.set(r.answer, v);
  }
  let best: { n: number; correct: boolean } | null = null;
  for (const v of votes.values()) if (!best || v.n > best.n) best = v;
  return best?.correct ?? false;
}

export interface LevelScore {
  level: number;
  problems: number;
  /** How many problems this level's accuracy is over (= problems; report.json's `n` beside each accuracy). */
  n: number;
  /** Greedy accuracy, in percent. */
  greedy: number;
  /** Mean accuracy over the k samples, in percent (null when no sampling was run). */
  pass1: number | null;
  passK: number | null;
  majK: number | null;
  /** Mean characters of thought in the greedy rollouts. */
  thoughtChars: number;
}

/** Group rollouts by problem, then score per level. */
export function scoreByLevel(greedy: readonly Rollout[], sampled: readonly Rollout[], k: number): LevelScore[] {
  const levels = [...new Set(greedy.map((r) => r.problem.level))].sort((a, b) => a - b);
  return levels.map((level) => {
    const g = greedy.filter((r) => r.problem.level === level);
    const byProblem = new Map<string, Rollout[]>();
    for (const r of sampled) if (r.problem.level === level) byProblem.set(r.problem.id, [...(byProblem.get(r.problem.id) ?? []), r]);
    const groups = [...byProblem.values()];
    const mean = (xs: number[]) => (xs.length ? (100 * xs.reduce((a, b) => a + b, 0)) / xs.length : 0);
    return {
      level,
      problems: g.length,
      n: g.length,
      greedy: mean(g.map((r) => (r.correct ? 1 : 0))),
      pass1: groups.length ? mean(groups.map((rs) => rs.filter((r) => r.correct).length / rs.length)) : null,
      passK: groups.length ? mean(groups.map((rs) => passAtK(rs.length, rs.filter((r) => r.correct).length, Math.min(k, rs.length)))) : null,
      majK: groups.length ? mean(groups.map((rs) => (majorityCorrect(rs) ? 1 : 0))) : null,
      thoughtChars: g.length ? g.reduce((a, r) => a + r.thoughtChars, 0) / g.length : 0,
    };
  });
}
