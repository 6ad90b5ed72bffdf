// The report of a STILL-2 run on an HF checkpoint: every round's metrics, the hard split's accuracy per
// round, hard_gain_points (the hard split's accuracy, last round minus round 0, as the toy report has it)
// and where the run came from.
import type { HfExperimentConfig } from './config.ts';
import type { HfRoundMetrics } from './experiment.ts';
import type { LevelAccuracy } from './stages.ts';

export interface Provenance {
  /** The still-ts commit, when the package is a git checkout. */
  commit: string | null;
  version: string;
  backend: string;
  device: string;
  node: string;
  model: string;
  data: { imitate: string[]; explore: string; eval: string[] };
}

export interface HfReport {
  kind: 'hf';
  name: string;
  config: HfExperimentConfig;
  provenance: Provenance;
  rounds: HfRoundMetrics[];
  /** The split hard_gain_points reads: a bench, and a level of it (null = the whole bench). */
  hard: { bench: string; level: string | null; problems: number };
  /** The hard split's accuracy (percent) per round. */
  hardAccuracy: number[];
  hard_gain_points: number;
  totalWallSeconds: number;
}

/** The hard split's accuracy in a round (percent); a level the bench does not have is an error. */
export function hardSplit(cfg: HfExperimentConfig, m: HfRoundMetrics): { accuracy: number; problems: number } {
  const { bench, level } = cfg.eval.hard;
  const b = m.eval[bench];
  if (!b) throw new Error(`round ${m.round} has no eval of bench '${bench}' (eval.hard.bench)`);
  if (level === null) return { accuracy: b.accuracy, problems: b.problems };
  const l = b.byLevel[level];
  if (!l) throw new Error(`bench '${bench}' has no problems at level '${level}' (eval.hard.level); its levels: ${Object.keys(b.byLevel).join(', ') || 'none'}`);
  return l;
}

/** Each accuracy with `n` beside it (rounds recorded before `n` existed have only `problems`). */
function withN(m: HfRoundMetrics): HfRoundMetrics {
  const fill = <T extends LevelAccuracy>(a: T): T => ({ ...a, n: a.n ?? a.problems });
  return {
    ...m,
    eval: Object.fromEntries(Object.entries(m.eval).map(([name, b]) => [name, {
      ...fill(b), byLevel: Object.fromEntries(Object.entries(b.byLevel).map(([l, x]) => [l, fill(x)])),
    }])),
  };
}

export function buildHfReport(cfg: HfExperimentConfig, recorded: HfRoundMetrics[], provenance: Provenance): HfReport {
  const rounds = recorded.map(withN);
  const hard = rounds.map((m) => hardSplit(cfg, m));
  const hardAccuracy = hard.map((h) => h.accuracy);
  return {
    kind: 'hf', name: cfg.name, config: cfg, provenance, rounds,
    hard: { ...cfg.eval.hard, problems: hard[0]?.problems ?? 0 },
    hardAccuracy,
    hard_gain_points: hardAccuracy.length > 0 ? hardAccuracy[hardAccuracy.length - 1]! - hardAccuracy[0]! : 0,
    totalWallSeconds: rounds.reduce((a, m) => a + m.seconds.total, 0),
  };
}
