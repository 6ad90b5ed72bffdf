// The CPU backend's fast attentions, blocked TS (GEMM-based) and WASM, against the plain reference in attention.ts.
import { describe, expect, it, onTestFinished } from 'vitest';
import { attention, attentionBackward, type AttentionDims } from '../src/backends/cpu/attention.ts';
import { attentionBlocked, attentionBlockedBackward } from '../src/backends/cpu/attention_blocked.ts';
import { attentionBackwardWasmF32, attentionWasmF32 } from '../src/backends/cpu/attention_wasm.ts';
import { setGemmParallelMinFlops, setGemmThreads } from '../src/backends/cpu/gemm_wasm.ts';
import { signedStream } from '../src/tensor/rng.ts';

function rand(n: number, r: () => number): Float32Array {
  return Float32Array.from({ length: n }, () => r());
}

function maxRelErr(a: Float32Array, b: Float32Array): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / Math.max(1, Math.abs(b[i])));
  return worst;
}

/** Random segment ids for [B, T]: contiguous runs of length 1..40. */
function segments(b: number, t: number, r: () => number): Int32Array {
  const seg = new Int32Array(b * t);
  for (let bb = 0; bb < b; bb++) {
    let id = 0;
    let left = 0;
    for (let tt = 0; tt < t; tt++) {
      if (left-- <= 0) {
        id++;
        left = 1 + Math.floor(((r() + 1) / 2) * 40);
      }
      seg[bb * t + tt] = id;
    }
  }
  return seg;
}

const CASES: [string, Omit<AttentionDims, 'scale'>][] = [
  ['causal GQA, T spanning several blocks', { b: 2, t: 150, s: 150, hq: 4, hkv: 2, d: 16, causal: true }],
  ['causal with a KV prefix (S > T)', { b: 1, t: 70, s: 200, hq: 2, hkv: 1, d: 8, causal: true }],
  ['non-causal', { b: 1, t: 65, s: 90, hq: 3, hkv: 3, d: 8, causal: false }],
  ['packed segments, causal', { b: 2, t: 140, s: 140, hq: 4, hkv: 1, d: 8, causal: true, segments: segments(2, 140, signedStream(5)) }],
  ['packed segments, non-causal', { b: 1, t: 100, s: 100, hq: 2, hkv: 2, d: 8, causal: false, segments: segments(1, 100, signedStream(6)) }],
  ['head size and key windows off the SIMD width', { b: 3, t: 67, s: 67, hq: 2, hkv: 1, d: 6, causal: true }],
];

type Forward = (q: Float32Array, k: Float32Array, v: Float32Array, p: AttentionDims, o: Float32Array, lse: Float32Array) => void;
type Backward = (
  go: Float32Array, q: Float32Array, k: Float32Array, v: Float32Array, o: Float32Array, lse: Float32Array, p: AttentionDims,
  gq: Float32Array, gk: Float32Array, gv: Float32Array,
) => void;

/** The WASM kernels as void functions; they must not decline these shapes. */
const wasm: [Forward, Backward] = [
  (...a) => expect(attentionWasmF32(...a)).toBe(true),
  (...a) => expect(attentionBackwardWasmF32(...a)).toBe(true),
];

const IMPLEMENTATIONS: [string, Forward, Backward, () => () => void][] = [
  ['blocked', attentionBlocked, attentionBlockedBackward, () => () => {}],
  ['wasm, one thread', ...wasm, () => {
    setGemmThreads(1);
    return () => setGemmThreads(2);
  }],
  ['wasm, tasks split over two threads', ...wasm, () => {
    setGemmThreads(2);
    const before = setGemmParallelMinFlops(0);
    return () => setGemmParallelMinFlops(before);
  }],
];

describe.each(IMPLEMENTATIONS)('%s CPU attention equals the reference', (_, forward, backward, setup) => {
  for (const [name, dims] of CASES) {
    it(name, () => {
      const restore = setup();
      onTestFinished(restore);
      const p: AttentionDims = { ...dims, scale: 1 / Math.sqrt(dims.d) };
      const r = signedStream(11);
      const q = rand(p.b * p.t * p.hq * p.d, r);
      const k = rand(p.b * p.s * p.hkv * p.d, r);
      const v = rand(p.b * p.s * p.hkv * p.d, r);
      const go = rand(q.length, r);
      const [o1, o2] = [new Float32Array(q.length), new Float32Array(q.length)];
      const [l1, l2] = [new Float32Array(p.b * p.t * p.hq), new Float32Array(p.b * p.t * p.hq)];
      attention(q, k, v, p, o1, l1);
      forward(q, k, v, p, o2, l2);
      expect(maxRelErr(o2, o1)).toBeLessThan(1e-5);
      expect(maxRelErr(l2, l1)).toBeLessThan(1e-5);
      const grads = () => [new Float32Array(q.length), new Float32Array(k.length), new Float32Array(v.length)] as const;
      const [gq1, gk1, gv1] = grads();
      const [gq2, gk2, gv2] = grads();
      attentionBackward(go, q, k, v, o1, l1, p, gq1, gk1, gv1);
      backward(go, q, k, v, o1, l1, p, gq2, gk2, gv2);
      expect(maxRelErr(gq2, gq1)).toBeLessThan(1e-4);
      expect(maxRelErr(gk2, gk1)).toBeLessThan(1e-4);
      expect(maxRelErr(gv2, gv1)).toBeLessThan(1e-4);
    });
  }
});
