// The self-improvement pool: verified-correct trajectories the model found while exploring. Identical
// completions are kept once, and each problem keeps at most `cap` trajectories, ranked by a keep rule —
// by default the shortest first: short correct traces teach the same answer with less room for the model
// to wander, and are cheaper to train on (STILL-2 keeps correct rollouts and refines the pool by length
// and perplexity; shortest-first is our documented default). The perplexity rules rank by the mean
// log-prob the sampler gave the trajectory's tokens.
import { readFileSync, existsSync } from 'node:fs';
import { writeFileAtomic } from '../io/atomic.ts';

export const KEEP_RULES = ['shortest', 'longest', 'lowest-perplexity', 'highest-perplexity'] as const;
export type KeepRule = (typeof KEEP_RULES)[number];

export interface Trajectory {
  problemId: string;
  level: number;
  question: string;
  completion: string;
  /** The round whose exploration found it. */
  round: number;
  reflection: boolean;
  /** Generated tokens, when known (the length window reads them; the keep rules count characters, which
   *  every trajectory has, so pools merged from files rank the same way). */
  tokens?: number;
  /** Mean log-prob per generated token under the sampling model, when the sampler returned log-probs. */
  logprob?: number;
}

const length = (t: Trajectory) => t.completion.length;

function missingLogprob(t: Trajectory): number {
  if (t.logprob === undefined) throw new Error(`pool: trajectory for problem ${t.problemId} has no log-prob; the perplexity keep rules need rollouts sampled with logprobs`);
  return t.logprob;
}

/** Which of two trajectories of one problem ranks first under a keep rule (ties: the earlier round). */
const RANK: Record<KeepRule, (a: Trajectory, b: Trajectory) => number> = {
  'shortest': (a, b) => length(a) - length(b),
  'longest': (a, b) => length(b) - length(a),
  // Low perplexity = high mean log-prob.
  'lowest-perplexity': (a, b) => missingLogprob(b) - missingLogprob(a),
  'highest-perplexity': (a, b) => missingLogprob(a) - missingLogprob(b),
};

export class Pool {
  private readonly byProblem = new Map<string, Trajectory[]>();

  constructor(readonly cap: number, readonly keep: KeepRule = 'shortest') {}

  get size(): number {
    let n = 0;
    for (const list of this.byProblem.values()) n += list.length;
    return n;
  }

  /** Add a verified trajectory; it stays if it is among its problem's `cap` best under the keep rule. */
  add(t: Trajectory): void {
    const list = this.byProblem.get(t.problemId) ?? [];
    if (list.some((x) => x.completion === t.completion)) return;
    list.push(t);
    const rank = RANK[this.keep];
    list.sort((a, b) => rank(a, b) || a.round - b.round);
    list.length = Math.min(list.length, this.cap);
    this.byProblem.set(t.problemId, list);
  }

  all(): Trajectory[] {
    return [...this.byProblem.values()].flat();
  }

  countByLevel(): Record<number, number> {
    const out: Record<number, number> = {};
    for (const t of this.all()) out[t.level] = (out[t.level] ?? 0) + 1;
    return out;
  }

  save(file: string): void {
    writeFileAtomic(file, this.all().map((t) => JSON.stringify(t)).join('\n') + '\n');
  }

  static load(file: string, cap: number, keep: KeepRule = 'shortest'): Pool {
    const pool = new Pool(cap, keep);
    if (!existsSync(file)) return pool;
    readFileSync(file, 'utf8').split('\n').forEach((line, i) => {
      if (!line.trim()) return;
      try {
        pool.add(JSON.parse(line) as Trajectory);
      } catch (e) {
        throw new Error(`${file}:${i + 1}: malformed pool row (${(e as Error).message})`);
      }
    });
    return pool;
  }
}
