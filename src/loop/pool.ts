// The self-improvement pool: verified-correct trajectories the model found while exploring. Identical
// completions are kept once, and each problem keeps at most `cap` trajectories, the shortest first —
// short correct traces teach the same answer with less room for the model to wander, and are cheaper
// to train on (STILL-2 keeps correct rollouts; the shortest-first rule is our documented choice).
import { readFileSync, existsSync } from 'node:fs';
import { writeFileAtomic } from '../io/atomic.ts';

export interface Trajectory {
  problemId: string;
  level: number;
  question: string;
  completion: string;
  /** The round whose exploration found it. */
  round: number;
  reflection: boolean;
}

export class Pool {
  private readonly byProblem = new Map<string, Trajectory[]>();

  constructor(readonly cap: number) {}

  get size(): number {
    let n = 0;
    for (const list of this.byProblem.values()) n += list.length;
    return n;
  }

  /** Add a verified trajectory; it stays if it is among its problem's `cap` shortest. */
  add(t: Trajectory): void {
    const list = this.byProblem.get(t.problemId) ?? [];
    if (list.some((x) => x.completion === t.completion)) return;
    list.push(t);
    list.sort((a, b) => a.completion.length - b.completion.length || a.round - b.round);
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

  static load(file: string, cap: number): Pool {
    const pool = new Pool(cap);
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
