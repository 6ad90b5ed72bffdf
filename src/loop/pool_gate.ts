// The one gate into the pool. Each explored rollout arrives with its verdict (the toy task's check, or the
// math grader for text rollouts); only verified-correct ones that pass the refinement filter enter the
// pool, and the gate counts what it saw, the same way for the toy loop, `still explore` and the STILL-2
// loop on HF checkpoints.
import type { Pool, Trajectory } from './pool.ts';

export interface GateVerdict {
  /** Index of the rollout's problem in the explored list. */
  problem: number;
  correct: boolean;
  /** Why the rollout is not in the long-thought format, or null (a wrong format is never admitted). */
  formatProblem: string | null;
  /** What enters the pool when the rollout is admitted. */
  trajectory: Trajectory;
}

export interface GateCounts {
  problems: number;
  rollouts: number;
  /** Rollouts verified correct (whether or not the refinement filter then kept them). */
  correct: number;
  /** Rollouts not in the long-thought format. */
  unformatted: number;
  /** Correct rollouts the refinement filter turned away (e.g. outside the length window). */
  filtered: number;
  /** Pool growth: a shorter rollout can displace one added a moment earlier for the same problem. */
  added: number;
  /** Share of problems with a correct rollout (percent), overall and per level where problems have one. */
  solved: number;
  solvedByLevel: Record<string, number>;
}

/** Why a correct trajectory is refused by the pool's refinement rules, or null to admit it. */
export type PoolFilter = (t: Trajectory) => string | null;

export function admitToPool(
  pool: Pool, problems: readonly { level?: string | number }[], verdicts: readonly GateVerdict[], filter: PoolFilter = () => null,
): GateCounts {
  const before = pool.size;
  const solved = new Set<number>();
  let correct = 0;
  let unformatted = 0;
  let filtered = 0;
  for (const v of verdicts) {
    if (problems[v.problem] === undefined) throw new Error(`pool gate: a rollout of problem ${v.problem}, but there are ${problems.length} problems`);
    if (v.formatProblem !== null) unformatted++;
    if (!v.correct) continue;
    correct++;
    solved.add(v.problem);
    if (filter(v.trajectory) !== null) {
      filtered++;
      continue;
    }
    pool.add(v.trajectory);
  }
  return {
    problems: problems.length, rollouts: verdicts.length, correct, unformatted, filtered, added: pool.size - before,
    solved: problems.length ? (100 * solved.size) / problems.length : 0, solvedByLevel: solvedShareByLevel(problems, solved),
  };
}

/** Per level label (problems without one are left out): percent of its problems in `solved`. */
export function solvedShareByLevel(problems: readonly { level?: string | number }[], solved: ReadonlySet<number>): Record<string, number> {
  const total = new Map<string, number>();
  const hit = new Map<string, number>();
  problems.forEach((p, i) => {
    if (p.level === undefined) return;
    const key = String(p.level);
    total.set(key, (total.get(key) ?? 0) + 1);
    if (solved.has(i)) hit.set(key, (hit.get(key) ?? 0) + 1);
  });
  return Object.fromEntries([...total].map(([level, n]) => [level, (100 * (hit.get(level) ?? 0)) / n]));
}
