// Problem sets for an experiment: held-out evaluation, distilled training and per-round exploration
// problems, drawn from seeded streams and kept disjoint by problem id (eval problems never leak into
// training, and explored problems are never ones the teacher already solved).
import type { Problem, Task } from '../tasks/task.ts';
import { Rng } from '../tasks/rng.ts';

export class ProblemSets {
  private readonly taken = new Set<string>();

  constructor(private readonly task: Task, private readonly seed: number) {}

  /**
   * Up to `perLevel` new problems per level from the stream named `stream`. Small levels can run out of
   * distinct problems (there are only 100 one-digit sums); then fewer come back, never duplicates.
   */
  draw(stream: string, levels: readonly number[], perLevel: number): Problem[] {
    const out: Problem[] = [];
    for (const level of levels) {
      const rng = new Rng(`${this.seed}/${stream}/${level}`);
      let got = 0;
      for (let tries = 0; got < perLevel && tries < perLevel * 20; tries++) {
        const p = this.task.generate(level, rng);
        if (this.taken.has(p.id)) continue;
        this.taken.add(p.id);
        out.push(p);
        got++;
      }
    }
    return out;
  }

  /** `total` problems spread evenly over the levels (the remainder goes to the lowest levels). */
  drawTotal(stream: string, levels: readonly number[], total: number): Problem[] {
    return levels.flatMap((level, i) => this.draw(stream, [level], Math.floor(total / levels.length) + (i < total % levels.length ? 1 : 0)));
  }
}
