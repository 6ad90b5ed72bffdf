// The slot KV cache ops on the CPU reference backend: kvWrite / kvCopy semantics, and slotAttention against
// plain causal attention over each row's own prefix. A GPU backend's kernels are held to these same checks.
import { describe, expect, it } from 'vitest';
import { CpuBackend } from '../src/backends/cpu/index.ts';
import type { Tensor } from '../src/tensor/tensor.ts';

const be = new CpuBackend();
let state = 12345;
function random(): number {
  state = (Math.imul(state, 1103515245) + 12345) >>> 0;
  return state / 2 ** 32 - 0.5;
}
const randomTensor = (shape: number[]) => be.upload(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, random), shape, 'f32');
const i32 = (xs: number[]) => be.upload(Int32Array.from(xs), [xs.length], 'i32');
const arr = (t: Tensor) => Array.from(t.toArray() as Float32Array);

const [S, L, HKV, HQ, D] = [5, 12, 2, 4, 8];
const ROW = HKV * D;

describe('kvWrite', () => {
  it('writes each row at its slot and start, leaving the rest unchanged', () => {
    const cache = randomTensor([S, L, HKV, D]);
    const before = arr(cache);
    const src = randomTensor([3, 2, HKV, D]);
    be.kvWrite(cache, src, i32([4, 0, 2]), i32([0, 5, 10]));
    const after = arr(cache);
    const s = arr(src);
    const expected = before.slice();
    [[4, 0], [0, 5], [2, 10]].forEach(([slot, start], b) => {
      for (let t = 0; t < 2; t++) {
        for (let i = 0; i < ROW; i++) expected[(slot * L + start + t) * ROW + i] = s[(b * 2 + t) * ROW + i];
      }
    });
    expect(after).toEqual(expected);
  });

  it('converts to the cache dtype (bf16)', () => {
    const cache = be.zeros([S, L, HKV, D], 'bf16');
    const src = be.upload(Float32Array.from({ length: ROW }, (_, i) => i + 0.5), [1, 1, HKV, D], 'f32');
    be.kvWrite(cache, src, i32([3]), i32([7]));
    const out = arr(cache);
    expect(out.slice((3 * L + 7) * ROW, (3 * L + 8) * ROW)).toEqual(Array.from({ length: ROW }, (_, i) => i + 0.5));
  });

  it('rejects writes outside the cache', () => {
    const cache = be.zeros([S, L, HKV, D], 'f32');
    const src = randomTensor([1, 3, HKV, D]);
    expect(() => be.kvWrite(cache, src, i32([S]), i32([0]))).toThrow(/slot 5/);
    expect(() => be.kvWrite(cache, src, i32([0]), i32([L - 2]))).toThrow(/maxLen 12/);
  });
});

describe('kvCopy', () => {
  it('copies a prefix of one slot into others, and nothing past it', () => {
    const cache = randomTensor([S, L, HKV, D]);
    const before = arr(cache);
    be.kvCopy(cache, 1, [0, 3], 4);
    const after = arr(cache);
    const expected = before.slice();
    for (const d of [0, 3]) for (let i = 0; i < 4 * ROW; i++) expected[d * L * ROW + i] = before[1 * L * ROW + i];
    expect(after).toEqual(expected);
    expect(() => be.kvCopy(cache, 1, [1], 4)).toThrow(/source/);
    expect(() => be.kvCopy(cache, 1, [0], L + 1)).toThrow(/length/);
  });
});

describe('slotAttention', () => {
  it.each([1, 3])('equals causal attention over each row\'s own prefix (T = %i)', (t) => {
    const k = randomTensor([S, L, HKV, D]);
    const v = randomTensor([S, L, HKV, D]);
    const slots = [3, 0, 4];
    const lens = [t, 7, L];
    const q = randomTensor([slots.length, t, HQ, D]);
    const scale = 1 / Math.sqrt(D);
    const o = arr(be.slotAttention(q, k, v, i32(slots), i32(lens), scale));
    slots.forEach((slot, b) => {
      // Reference: the row's first lens[b] cache positions as an ordinary [1, S, Hkv, D] key/value sequence.
      const kb = be.slice(be.slice(k, 0, slot, slot + 1), 1, 0, lens[b]);
      const vb = be.slice(be.slice(v, 0, slot, slot + 1), 1, 0, lens[b]);
      const qb = be.slice(q, 0, b, b + 1);
      const ref = arr(be.attention(qb, kb, vb, { scale, causal: true }).o);
      const got = o.slice(b * t * HQ * D, (b + 1) * t * HQ * D);
      for (let i = 0; i < ref.length; i++) expect(got[i]).toBeCloseTo(ref[i], 6);
    });
  });

  it('checks kvLens against T and maxLen', () => {
    const k = randomTensor([S, L, HKV, D]);
    const q = randomTensor([1, 2, HQ, D]);
    expect(() => be.slotAttention(q, k, k, i32([0]), i32([1]), 1)).toThrow(/kvLen 1/);
    expect(() => be.slotAttention(q, k, k, i32([0]), i32([L + 1]), 1)).toThrow(/kvLen 13/);
  });
});
