// The experiment report: per-round metrics, the hardest-level gain, and the Table 2 style ablation.
import type { ExperimentConfig } from './config.ts';
import type { DpoRecord } from './dpo_stage.ts';
import type { LevelScore } from './metrics.ts';
import type { ExploreSummary, TrainSummary } from './stages.ts';

export interface RoundMetrics {
  round: number;
  accuracy: LevelScore[];
  poolSize: number;
  poolByLevel: Record<number, number>;
  /** Share of correct eval rollouts with a self-correction (percent). */
  reflectionRate: number;
  explore: ExploreSummary | null;
  train: TrainSummary;
  trainTokensPerSec: number;
  sampleTokensPerSec: number;
  wallSeconds: number;
  examples: { question: string; completion: string; correct: boolean }[];
  /** improve.method 'dpo': the DPO step after this round's SFT (null: too few pairs) ... */
  dpo?: DpoRecord | null;
  /** ... and the greedy accuracy of the SFT model before it. */
  sftAccuracy?: LevelScore[];
}

/** Table 2's arm names in report.json; the explore arms append their rounds (and SFT / SFT+DPO) to ARMS.explore.
 *  The report page and the seeds report find arms by these names. */
export const ARMS = {
  large: 'distill only (large)',
  small: 'distill only (small)',
  control: 'distill only (small), equal compute',
  explore: 'small + explore',
} as const;

export interface AblationRow {
  setting: string;
  distilled: number;
  explored: number;
  /** Optimizer steps that produced the model (all rounds so far, for small + explore). */
  steps: number;
  /** Greedy accuracy per eval level (percent), and how many held-out problems each is over. */
  byLevel: Record<number, number>;
  n: Record<number, number>;
  mean: number;
}

export interface Report {
  name: string;
  task: string;
  config: ExperimentConfig;
  rounds: RoundMetrics[];
  hardestLevel: number;
  /** Greedy accuracy at the hardest level: final round minus the distill-only round 0, in points. */
  hard_gain_points: number;
  ablation: AblationRow[];
  totalWallSeconds: number;
}

function greedyByLevel(m: RoundMetrics): Record<number, number> {
  return Object.fromEntries(m.accuracy.map((a) => [a.level, a.greedy]));
}

function meanOf(byLevel: Record<number, number>): number {
  const v = Object.values(byLevel);
  return v.reduce((a, b) => a + b, 0) / Math.max(v.length, 1);
}

/** Each level's score with `n` beside its accuracy (rounds recorded before `n` existed have only `problems`). */
function withN(m: RoundMetrics): RoundMetrics {
  const fill = (xs: LevelScore[]) => xs.map((a) => ({ ...a, n: a.n ?? a.problems }));
  return { ...m, accuracy: fill(m.accuracy), ...(m.sftAccuracy ? { sftAccuracy: fill(m.sftAccuracy) } : {}) };
}

export function buildReport(
  cfg: ExperimentConfig, recorded: RoundMetrics[], largeRecorded: RoundMetrics | null, distilled: { small: number; large: number },
  controlRecorded: RoundMetrics | null = null,
): Report {
  const rounds = recorded.map(withN);
  const large = largeRecorded && withN(largeRecorded);
  const control = controlRecorded && withN(controlRecorded);
  const hardest = Math.max(...cfg.levels.eval);
  const at = (m: RoundMetrics) => m.accuracy.find((a) => a.level === hardest)?.greedy ?? 0;
  const first = rounds[0];
  const last = rounds[rounds.length - 1];
  const row = (setting: string, m: RoundMetrics, distilled: number, explored: number, steps: number): AblationRow => {
    const byLevel = greedyByLevel(m);
    return { setting, distilled, explored, steps, byLevel, n: Object.fromEntries(m.accuracy.map((a) => [a.level, a.problems])), mean: meanOf(byLevel) };
  };
  const ablation: AblationRow[] = [];
  if (large) ablation.push(row(ARMS.large, large, distilled.large, 0, large.train.steps));
  if (first) ablation.push(row(ARMS.small, first, distilled.small, 0, first.train.steps));
  if (first && control) ablation.push(row(ARMS.control, control, distilled.small, 0, first.train.steps + control.train.steps));
  if (last && last !== first) {
    const steps = rounds.reduce((a, m) => a + m.train.steps + (m.dpo?.steps ?? 0), 0);
    if (last.sftAccuracy) {
      // SFT+DPO run: the last round's SFT model (before its DPO step) and the final model, side by side.
      const sft = { ...last, accuracy: last.sftAccuracy };
      ablation.push(row(`${ARMS.explore}, SFT (${rounds.length - 1} rounds)`, sft, distilled.small, last.poolSize, steps - (last.dpo?.steps ?? 0)));
      ablation.push(row(`${ARMS.explore}, SFT+DPO (${rounds.length - 1} rounds, ${last.dpo?.pairs ?? 0} pairs last)`, last, distilled.small, last.poolSize, steps));
    } else ablation.push(row(`${ARMS.explore} (${rounds.length - 1} rounds)`, last, distilled.small, last.poolSize, steps));
  }
  return {
    name: cfg.name, task: cfg.task, config: cfg, rounds, hardestLevel: hardest,
    hard_gain_points: first && last ? at(last) - at(first) : 0,
    ablation,
    totalWallSeconds: rounds.reduce((a, m) => a + m.wallSeconds, 0) + (large?.wallSeconds ?? 0),
  };
}
