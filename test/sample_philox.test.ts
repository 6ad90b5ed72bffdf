// Philox4x32-10 against the Random123 known-answer vectors (kat_vectors, "philox4x32 10" lines).
import { describe, expect, it } from 'vitest';
import { philox4x32, seedKey, uniformOpen } from '../src/backends/philox.ts';

const KAT: { ctr: number[]; key: number[]; want: number[] }[] = [
  { ctr: [0, 0, 0, 0], key: [0, 0], want: [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8] },
  {
    ctr: [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff], key: [0xffffffff, 0xffffffff],
    want: [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd],
  },
  {
    ctr: [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], key: [0xa4093822, 0x299f31d0],
    want: [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1],
  },
];

describe('philox4x32-10', () => {
  it.each(KAT)('matches Random123 for counter $ctr', ({ ctr, key, want }) => {
    const out = philox4x32(ctr[0], ctr[1], ctr[2], ctr[3], key[0], key[1]);
    expect(Array.from(out)).toEqual(want);
  });

  it('matches a BigInt Philox on random counters and keys (exact 32×32→64 products)', () => {
    const M = [0xd2511f53n, 0xcd9e8d57n];
    const W = [0x9e3779b9n, 0xbb67ae85n];
    const mask = 0xffffffffn;
    const slow = (ctr: number[], key: number[]) => {
      let c = ctr.map(BigInt);
      let k = key.map(BigInt);
      for (let r = 0; r < 10; r++) {
        if (r > 0) k = [(k[0] + W[0]) & mask, (k[1] + W[1]) & mask];
        const p0 = M[0] * c[0];
        const p1 = M[1] * c[2];
        c = [(p1 >> 32n) ^ c[1] ^ k[0], p1 & mask, (p0 >> 32n) ^ c[3] ^ k[1], p0 & mask];
      }
      return c.map(Number);
    };
    let state = 3;
    const next = () => (state = (Math.imul(state, 1664525) + 1013904223) >>> 0);
    for (let i = 0; i < 500; i++) {
      const ctr = [next(), next(), next(), next()];
      const key = [next(), next()];
      expect(Array.from(philox4x32(ctr[0], ctr[1], ctr[2], ctr[3], key[0], key[1]))).toEqual(slow(ctr, key));
    }
  });

  it('uniforms are in (0, 1) and look uniform', () => {
    const out = new Uint32Array(4);
    const bins = new Array(16).fill(0);
    const n = 40000;
    let lo = 1;
    let hi = 0;
    for (let i = 0; i < n / 4; i++) {
      philox4x32(i, 7, 0, 0, 123, 0, out);
      for (const x of out) {
        const u = uniformOpen(x);
        lo = Math.min(lo, u);
        hi = Math.max(hi, u);
        bins[Math.floor(u * 16)]++;
      }
    }
    expect(lo).toBeGreaterThan(0);
    expect(hi).toBeLessThan(1);
    // Chi-square with 15 degrees of freedom; 37.7 is the 0.999 quantile.
    const chi2 = bins.reduce((s, c) => s + (c - n / 16) ** 2 / (n / 16), 0);
    expect(chi2).toBeLessThan(37.7);
    expect(uniformOpen(0)).toBeGreaterThan(0);
    expect(uniformOpen(0xffffffff)).toBeLessThan(1);
  });

  it('splits seeds into two key words and rejects bad seeds', () => {
    expect(seedKey(5)).toEqual([5, 0]);
    expect(seedKey(2 ** 32 + 3)).toEqual([3, 1]);
    expect(() => seedKey(-1)).toThrow(/seed/);
    expect(() => seedKey(1.5)).toThrow(/seed/);
  });
});
