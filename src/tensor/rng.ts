// A seeded random stream whose whole state is one 32-bit integer (mulberry32), so a checkpoint can store
// it and a resumed run draws exactly the numbers the uninterrupted run would have drawn.
export class TrainRng {
  private s: number;

  constructor(seed: number) {
    this.s = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  get state(): number {
    return this.s;
  }

  set state(s: number) {
    if (!Number.isInteger(s) || s < 0 || s > 0xffffffff) throw new Error(`rng state must be a 32-bit unsigned integer, got ${s}`);
    this.s = s;
  }
}

/** TrainRng's numbers as a function, for code that only draws (test inputs, random probe points): [0, 1). */
export function uniformStream(seed: number): () => number {
  const rng = new TrainRng(seed);
  return () => rng.next();
}

/** The same stream mapped to [-1, 1). */
export function signedStream(seed: number): () => number {
  const rng = new TrainRng(seed);
  return () => rng.next() * 2 - 1;
}

/** A Fisher-Yates permutation of 0..n-1 determined by `seed` alone. */
export function seededPermutation(n: number, seed: number): number[] {
  const rng = new TrainRng(seed);
  const p = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    [p[i], p[j]] = [p[j], p[i]];
  }
  return p;
}

/** Mix two integers into a seed (for per-epoch shuffles derived from the run's seed). */
export function mixSeed(a: number, b: number): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(b + 0x632be5ab, 0xc2b2ae35);
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  return (h ^ (h >>> 15)) >>> 0;
}
