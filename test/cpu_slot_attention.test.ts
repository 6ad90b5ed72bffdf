// The CPU backend's WASM decode attention against the plain slotAttention reference in kv.ts, on fresh random caches.
import { describe, expect, it, onTestFinished } from 'vitest';
import { setGemmParallelMinFlops } from '../src/backends/cpu/gemm_wasm.ts';
import { slotAttention, type SlotAttentionDims } from '../src/backends/cpu/kv.ts';
import { freeResident, residentF32, residentOffset } from '../src/backends/cpu/resident.ts';
import { slotAttentionWasmF32 } from '../src/backends/cpu/slot_attention_wasm.ts';
import { signedStream } from '../src/tensor/rng.ts';

const CASES: [string, Omit<SlotAttentionDims, 'scale' | 'b'>, number[], number[], boolean, boolean?][] = [
  ['decode step, GQA, rows of different lengths', { t: 1, hq: 4, hkv: 2, d: 16, maxLen: 40, slots: 6 }, [5, 0, 3], [1, 40, 17], false],
  ['a chunk of 3 new tokens, head size off the SIMD width', { t: 3, hq: 2, hkv: 1, d: 6, maxLen: 21, slots: 4 }, [2, 3], [3, 21], false],
  ['rows split over threads', { t: 1, hq: 2, hkv: 2, d: 32, maxLen: 64, slots: 16 }, [...Array(16).keys()], Array.from({ length: 16 }, (_, i) => 1 + i * 4), true],
  ['a resident cache, read in place', { t: 1, hq: 4, hkv: 2, d: 16, maxLen: 40, slots: 6 }, [5, 0, 3], [1, 40, 18], false, true],
];

describe('WASM slot attention equals the reference', () => {
  for (const [name, dims, slots, lens, split, resident] of CASES) {
    it(name, () => {
      if (split) {
        const before = setGemmParallelMinFlops(0);
        onTestFinished(() => {
          setGemmParallelMinFlops(before);
        });
      }
      const p: SlotAttentionDims = { ...dims, b: slots.length, scale: 1 / Math.sqrt(dims.d) };
      const r = signedStream(p.d * 7 + p.t);
      const rand = (n: number) => Float32Array.from({ length: n }, () => r() * 2);
      const cache = p.slots * p.maxLen * p.hkv * p.d;
      let [k, v, q]: Float32Array[] = [rand(cache), rand(cache), rand(p.b * p.t * p.hq * p.d)];
      if (resident) {
        [k, v] = [k, v].map((x) => {
          const r = residentF32(x.length)!;
          r.set(x);
          onTestFinished(() => {
            freeResident(r);
          });
          return r;
        });
        expect(residentOffset(k)).toBeDefined();
      }
      const [o1, o2] = [new Float32Array(q.length), new Float32Array(q.length)];
      slotAttention(q, k, v, p, Int32Array.from(slots), Int32Array.from(lens), o1);
      expect(slotAttentionWasmF32(q, k, v, p, Int32Array.from(slots), Int32Array.from(lens), o2)).toBe(true);
      let worst = 0;
      for (let i = 0; i < o1.length; i++) worst = Math.max(worst, Math.abs(o2[i] - o1[i]) / Math.max(1, Math.abs(o1[i])));
      expect(worst).toBeLessThan(1e-5);
    });
  }

  it('declines a bad row, so the reference reports it', () => {
    const p: SlotAttentionDims = { b: 1, t: 2, hq: 1, hkv: 1, d: 4, maxLen: 8, slots: 2, scale: 0.5 };
    const z = new Float32Array(2 * 8 * 4);
    expect(slotAttentionWasmF32(new Float32Array(8), z, z, p, Int32Array.from([0]), Int32Array.from([1]), new Float32Array(8))).toBe(false);
  });
});
