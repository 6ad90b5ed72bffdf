// Seeded random numbers for task generation and teacher traces: splitmix32, deterministic across platforms.
//
// splitmix32 adds the golden-ratio constant to a 32-bit state and mixes it with the murmur3 finalizer.
// It is tiny, has no bad seeds, and uses only 32-bit integer ops (Math.imul), so the same seed gives
// the same stream on every JS engine. It is not cryptographic and does not need to be.

import { hash32 } from './hash.ts';

export class Rng {
  private state: number;

  constructor(seed: number | string) {
    if (typeof seed === 'string') seed = hash32(seed);
    if (!Number.isFinite(seed)) throw new Error(`rng: seed must be a finite number or a string, got ${seed}`);
    // Fold the high bits in too, so seeds above 2^32 (e.g. Date.now()) don't collapse onto each other.
    this.state = (Math.trunc(seed) ^ Math.trunc(seed / 0x100000000)) >>> 0;
  }

  /** Next 32-bit unsigned integer. */
  nextU32(): number {
    this.state = (this.state + 0x9e3779b9) >>> 0;
    let z = this.state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  }

  /** Uniform float in [0, 1). */
  float(): number {
    return this.nextU32() / 0x100000000;
  }

  /** Uniform integer in [lo, hi], both inclusive. */
  int(lo: number, hi: number): number {
    if (!Number.isInteger(lo) || !Number.isInteger(hi) || hi < lo) {
      throw new Error(`rng.int: expected integers lo <= hi, got lo=${lo} hi=${hi}`);
    }
    return lo + Math.floor(this.float() * (hi - lo + 1));
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.float() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('rng.pick: cannot pick from an empty list');
    return items[this.int(0, items.length - 1)]!;
  }

  /** A shuffled copy (Fisher-Yates). */
  shuffled<T>(items: readonly T[]): T[] {
    const out = items.slice();
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.int(0, i);
      [out[i], out[j]] = [out[j]!, out[i]!];
    }
    return out;
  }

  /**
   * An independent stream named by `label`, without advancing this one: e.g. `rng.fork(problem.id)`
   * gives each problem its own teacher randomness, whatever order problems are visited in.
   */
  fork(label: string): Rng {
    return new Rng((hash32(label) ^ Math.imul(this.state, 0x27d4eb2d)) >>> 0);
  }
}
