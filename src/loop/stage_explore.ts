// The toy explore stage on its own (`still explore --task`): k rollouts per problem on fresh problems at
// the given levels, each verified by the task's own check (verify.ts), the correct ones kept in the
// pool (deduplicated, capped per problem, shortest first) and merged into an existing pool if one is given.
//
// Rounds follow the student and the pool: after round r (the student's still_toy.json says r, or the pool's
// latest trajectories were found in r) comes round r + 1, which draws a new problem stream and new
// sampling seeds. Problems the student was distilled on (from its still_toy.json
// note) and problems already in the pool are never explored again.
import type { DecoderModel } from '../nn/model.ts';
import { Rng } from '../tasks/rng.ts';
import type { Problem, Task } from '../tasks/task.ts';
import type { SamplingConfig } from './config.ts';
import { Pool } from './pool.ts';
import type { StageLog } from './progress.ts';
import { readTrajectories } from './stage_pool_rows.ts';
import { distilledProblems, type ToyNote } from './stage_toy.ts';
import { explore, type ExploreSummary } from './stages.ts';
import { contextFor, promptIds } from './toy.ts';

export interface ToyExploreOptions {
  model: DecoderModel;
  /** The student's still_toy.json note, if it has one (its distilled problems are left out). */
  note: ToyNote | null;
  task: Task;
  levels: number[];
  problemsPerLevel: number;
  /** maxNewTokens 0 = the context the levels need (see contextFor). */
  sampling: SamplingConfig;
  seed: number;
  cap: number;
  /** A toy pool to merge into (its trajectories stay unless a shorter one displaces them). */
  poolIn?: string;
  maxBatch: number;
  log: StageLog;
}

export interface ToyExploreResult extends ExploreSummary {
  round: number;
  poolSize: number;
  problemsByLevel: Record<number, number>;
  maxNewTokens: number;
  pool: Pool;
}

/** `perLevel` problems per level from the stream of this round, none of them in `exclude`. */
export function drawExploreProblems(task: Task, levels: readonly number[], perLevel: number, seed: number, round: number, exclude: ReadonlySet<string>): Problem[] {
  const out: Problem[] = [];
  const seen = new Set(exclude);
  for (const level of levels) {
    const rng = new Rng(`${seed}/explore-${round}/${level}`);
    let got = 0;
    // Small levels run out of distinct problems (there are only 100 one-digit sums): then fewer come back.
    for (let tries = 0; got < perLevel && tries < perLevel * 20; tries++) {
      const p = task.generate(level, rng);
      if (seen.has(p.id)) continue;
      seen.add(p.id);
      out.push(p);
      got++;
    }
  }
  return out;
}

export function exploreToy(o: ToyExploreOptions): ToyExploreResult {
  const pool = new Pool(o.cap);
  const before = o.poolIn ? readTrajectories(o.poolIn) : [];
  for (const t of before) pool.add(t);
  // After imitate (round 0) or improve (round r) the student's note says which round comes next.
  const noteRound = o.note && o.note.task === o.task.name ? o.note.round : 0;
  const round = 1 + Math.max(noteRound, ...before.map((t) => t.round));
  const exclude = new Set(before.map((t) => t.problemId));
  if (o.note && o.note.task === o.task.name) for (const p of distilledProblems(o.task, o.note.distill)) exclude.add(p.id);
  const problems = drawExploreProblems(o.task, o.levels, o.problemsPerLevel, o.seed, round, exclude);
  if (problems.length === 0) throw new Error(`explore: no new problems at levels ${o.levels.join(',')} (all are distilled or in the pool)`);

  const taught = o.note && o.note.task === o.task.name ? o.note.distill.stepStyle : undefined;
  const maxNewTokens = o.sampling.maxNewTokens > 0 ? o.sampling.maxNewTokens : contextFor(o.task, o.levels, o.seed, taught);
  const longestPrompt = Math.max(...problems.map((p) => promptIds(p).length));
  const problemsByLevel: Record<number, number> = {};
  for (const p of problems) problemsByLevel[p.level] = (problemsByLevel[p.level] ?? 0) + 1;
  o.log.line(`explore round ${round}: ${problems.length} problems of ${o.task.name} at levels ${o.levels.join(',')} × k=${o.sampling.k}, ` +
    `temperature ${o.sampling.temperature}, up to ${maxNewTokens} new tokens${before.length ? `, merging into a pool of ${pool.size}` : ''}`);
  const summary = explore(o.model, o.task, problems, { ...o.sampling, maxNewTokens }, pool, round, {
    seed: o.seed, maxBatch: o.maxBatch, maxLen: longestPrompt + maxNewTokens, log: o.log,
  });
  return { ...summary, round, poolSize: pool.size, problemsByLevel, maxNewTokens, pool };
}
