// Seeded rng and stable hashes: pinned outputs (ids and data splits depend on them), ranges, forks.
import { describe, expect, it } from 'vitest';
import { hash32, hash64Hex } from '../src/tasks/hash.ts';
import { Rng } from '../src/tasks/rng.ts';
import { makeProblem } from '../src/tasks/task.ts';

describe('Rng', () => {
  it('produces the pinned splitmix32 stream (changing it would reshuffle every saved split)', () => {
    const r = new Rng(42);
    expect([r.nextU32(), r.nextU32(), r.nextU32()]).toEqual([939911724, 3948730756, 321366731]);
    expect(new Rng('abc').nextU32()).toBe(834765511);
  });

  it('is deterministic per seed and differs across seeds, including seeds above 2^32', () => {
    const draw = (seed: number | string): number[] => { const r = new Rng(seed); return Array.from({ length: 8 }, () => r.nextU32()); };
    expect(draw(7)).toEqual(draw(7));
    expect(draw(7)).not.toEqual(draw(8));
    expect(draw(2 ** 32 + 5)).not.toEqual(draw(5));
    expect(draw('train')).not.toEqual(draw('test'));
  });

  it('draws integers in the inclusive range, every value reachable, roughly uniformly', () => {
    const r = new Rng(1);
    const counts = new Array(10).fill(0);
    for (let i = 0; i < 20000; i++) {
      const v = r.int(3, 12);
      expect(Number.isInteger(v) && v >= 3 && v <= 12).toBe(true);
      counts[v - 3]++;
    }
    for (const c of counts) expect(Math.abs(c - 2000)).toBeLessThan(200);
    expect(() => r.int(5, 4)).toThrow(/lo <= hi/);
  });

  it('keeps floats in [0, 1) and chance() near its probability', () => {
    const r = new Rng(2);
    let hits = 0;
    for (let i = 0; i < 10000; i++) {
      const f = r.float();
      expect(f >= 0 && f < 1).toBe(true);
      if (r.chance(0.3)) hits++;
    }
    expect(Math.abs(hits / 10000 - 0.3)).toBeLessThan(0.02);
  });

  it('forks independent streams by label without advancing the parent', () => {
    const a = new Rng(9);
    const b = new Rng(9);
    const f1 = a.fork('problem-1');
    expect(a.nextU32()).toBe(b.nextU32());
    expect(new Rng(9).fork('problem-1').nextU32()).toBe(f1.nextU32());
    expect(new Rng(9).fork('problem-1').nextU32()).not.toBe(new Rng(9).fork('problem-2').nextU32());
  });

  it('shuffles into a permutation and leaves the input alone', () => {
    const input = [1, 2, 3, 4, 5, 6];
    const out = new Rng(3).shuffled(input);
    expect(out.slice().sort()).toEqual(input);
    expect(input).toEqual([1, 2, 3, 4, 5, 6]);
    expect(() => new Rng(3).pick([])).toThrow(/empty list/);
  });
});

describe('hashes and problem ids', () => {
  it('are pinned, so ids written to data files stay valid', () => {
    expect(hash32('')).toBe(0x811c9dc5);
    expect(hash32('a')).toBe(0xe40c292c);
    expect(makeProblem('addition', 4, '4821+973', '5794').id).toBe('addition-4-eb38dcd2753cbd4a');
  });

  it('differ for questions that differ only in order', () => {
    expect(hash64Hex('12+34')).not.toBe(hash64Hex('34+12'));
    expect(hash64Hex('ab')).not.toBe(hash64Hex('ba'));
    const ids = new Set(Array.from({ length: 20000 }, (_, i) => hash64Hex(`${i}+${i * 7}`)));
    expect(ids.size).toBe(20000);
  });
});
