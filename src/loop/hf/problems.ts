// Which problems each explore round of an HF run samples. The selection is explicit and reproducible:
// the set's problems (optionally only those whose own level field is listed) in one seeded order, and
// round r takes the next `problemsPerRound` of them that are still eligible — not explored in an earlier
// round (unless `repeat`), and with `repeat` and the difficulty filter, not solved by every rollout of an
// earlier round. The difficulty filter prunes the problems, never the pool.
import { seededPermutation } from '../../tensor/rng.ts';
import type { DataProblem } from '../explore_text.ts';

export interface ExploreHistory {
  /** Ids explored in earlier rounds. */
  explored: ReadonlySet<string>;
  /** Ids whose every rollout was correct in some earlier round. */
  solvedAll: ReadonlySet<string>;
}

export interface SelectionRules {
  levels: readonly string[] | null;
  problemsPerRound: number;
  repeat: boolean;
  skipSolved: boolean;
}

/** The explore set in the run's fixed order (level filter applied). */
export function exploreOrder(problems: readonly DataProblem[], levels: readonly string[] | null, seed: number): DataProblem[] {
  const kept = levels === null ? problems : problems.filter((p) => p.level !== undefined && levels.includes(p.level));
  return seededPermutation(kept.length, seed).map((i) => kept[i]!);
}

export function selectRoundProblems(ordered: readonly DataProblem[], rules: SelectionRules, history: ExploreHistory): DataProblem[] {
  const eligible = ordered.filter((p) => {
    if (!rules.repeat) return !history.explored.has(p.id);
    return !(rules.skipSolved && history.solvedAll.has(p.id));
  });
  return eligible.slice(0, rules.problemsPerRound);
}
