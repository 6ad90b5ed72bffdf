// The CPU backend's fast attention: the same math as attention.ts (the plain reference), reorganised
// into blocks of query rows so that every score and gradient product is a GEMM on the SIMD kernel.
// Each block only multiplies against the keys some row in it may see (its causal and segment range),
// so the masked upper triangle is mostly skipped too.
import type { FloatArray } from '../../tensor/dtype.ts';
import { keyRanges, type AttentionDims } from './attention.ts';
import { gemm } from './gemm.ts';

const BLOCK = 64;

/** Copy head `h` of x [B, T, H, D] at batch b into dst [T, D]. */
function gatherHead(x: FloatArray, b: number, t: number, heads: number, d: number, h: number, dst: FloatArray): void {
  for (let i = 0; i < t; i++) {
    const src = ((b * t + i) * heads + h) * d;
    for (let j = 0; j < d; j++) dst[i * d + j] = x[src + j];
  }
}

function scatterHead(src: FloatArray, b: number, t: number, heads: number, d: number, h: number, x: FloatArray): void {
  for (let i = 0; i < t; i++) {
    const dst = ((b * t + i) * heads + h) * d;
    for (let j = 0; j < d; j++) x[dst + j] = src[i * d + j];
  }
}

/** A scratch buffer of the same float type as `like`. */
function scratch(like: FloatArray, n: number): FloatArray {
  return like instanceof Float64Array ? new Float64Array(n) : new Float32Array(n);
}

interface Block {
  t0: number;
  rows: number;
  kLo: number;
  width: number;
}

/** Query blocks of one batch row with the key window each needs ([lo, hi] grow with t). */
function blocksOf(p: AttentionDims, lo: Int32Array, hi: Int32Array, b: number): Block[] {
  const out: Block[] = [];
  for (let t0 = 0; t0 < p.t; t0 += BLOCK) {
    const rows = Math.min(BLOCK, p.t - t0);
    let kLo = Infinity;
    let kHi = -1;
    for (let r = 0; r < rows; r++) {
      kLo = Math.min(kLo, lo[b * p.t + t0 + r]);
      kHi = Math.max(kHi, hi[b * p.t + t0 + r]);
    }
    out.push({ t0, rows, kLo, width: kHi - kLo + 1 });
  }
  return out;
}

/** Scores → probabilities in place for one block; returns nothing, writes lse per row when given. */
function softmaxRows(
  s: FloatArray, blk: Block, p: AttentionDims, lo: Int32Array, hi: Int32Array, b: number,
  lse: FloatArray | null, lseOut: FloatArray | null, lseIndex: (t: number) => number,
): void {
  const { t0, rows, kLo, width } = blk;
  for (let r = 0; r < rows; r++) {
    const t = t0 + r;
    const a = lo[b * p.t + t] - kLo;
    const z = hi[b * p.t + t] - kLo;
    const row = r * width;
    for (let j = 0; j < a; j++) s[row + j] = 0;
    for (let j = z + 1; j < width; j++) s[row + j] = 0;
    if (lse) {
      // Backward: probabilities from the saved log-sum-exp.
      const l = lse[lseIndex(t)];
      for (let j = a; j <= z; j++) s[row + j] = Math.exp(s[row + j] * p.scale - l);
      continue;
    }
    let max = -Infinity;
    for (let j = a; j <= z; j++) max = Math.max(max, s[row + j] * p.scale);
    let sum = 0;
    for (let j = a; j <= z; j++) {
      const e = Math.exp(s[row + j] * p.scale - max);
      s[row + j] = e;
      sum += e;
    }
    for (let j = a; j <= z; j++) s[row + j] /= sum;
    lseOut![lseIndex(t)] = max + Math.log(sum);
  }
}

export function attentionBlocked(q: FloatArray, k: FloatArray, v: FloatArray, p: AttentionDims, o: FloatArray, lse: FloatArray): void {
  const { b: batch, t, s, hq, hkv, d } = p;
  const group = hq / hkv;
  const { lo, hi } = keyRanges(p);
  const kh = scratch(q, s * d);
  const vh = scratch(q, s * d);
  const qh = scratch(q, t * d);
  const oh = scratch(q, t * d);
  const sc = scratch(q, BLOCK * s);
  for (let b = 0; b < batch; b++) {
    const blocks = blocksOf(p, lo, hi, b);
    for (let g = 0; g < hkv; g++) {
      gatherHead(k, b, s, hkv, d, g, kh);
      gatherHead(v, b, s, hkv, d, g, vh);
      for (let h = g * group; h < (g + 1) * group; h++) {
        gatherHead(q, b, t, hq, d, h, qh);
        for (const blk of blocks) {
          gemm({ a: qh, b: kh, out: sc, batch: 1, m: blk.rows, n: blk.width, k: d, transA: false, transB: true,
            strideA: 0, strideB: 0, strideOut: 0, aOffset: blk.t0 * d, bOffset: blk.kLo * d, accumulate: false });
          softmaxRows(sc, blk, p, lo, hi, b, null, lse, (tt) => (b * t + tt) * hq + h);
          gemm({ a: sc, b: vh, out: oh, batch: 1, m: blk.rows, n: d, k: blk.width, transA: false, transB: false,
            strideA: 0, strideB: 0, strideOut: 0, bOffset: blk.kLo * d, outOffset: blk.t0 * d, accumulate: false });
        }
        scatterHead(oh, b, t, hq, d, h, o);
      }
    }
  }
}

export function attentionBlockedBackward(
  go: FloatArray, q: FloatArray, k: FloatArray, v: FloatArray, o: FloatArray, lse: FloatArray, p: AttentionDims,
  gq: FloatArray, gk: FloatArray, gv: FloatArray,
): void {
  const { b: batch, t, s, hq, hkv, d, scale } = p;
  const group = hq / hkv;
  const { lo, hi } = keyRanges(p);
  const kh = scratch(q, s * d);
  const vh = scratch(q, s * d);
  const gkh = scratch(q, s * d);
  const gvh = scratch(q, s * d);
  const qh = scratch(q, t * d);
  const goh = scratch(q, t * d);
  const gqh = scratch(q, t * d);
  const pr = scratch(q, BLOCK * s);
  const dp = scratch(q, BLOCK * s);
  const rowDot = new Float64Array(t);
  for (let b = 0; b < batch; b++) {
    const blocks = blocksOf(p, lo, hi, b);
    for (let g = 0; g < hkv; g++) {
      gatherHead(k, b, s, hkv, d, g, kh);
      gatherHead(v, b, s, hkv, d, g, vh);
      gkh.fill(0);
      gvh.fill(0);
      for (let h = g * group; h < (g + 1) * group; h++) {
        gatherHead(q, b, t, hq, d, h, qh);
        gatherHead(go, b, t, hq, d, h, goh);
        for (let tt = 0; tt < t; tt++) {
          const off = ((b * t + tt) * hq + h) * d;
          let dot = 0;
          for (let j = 0; j < d; j++) dot += go[off + j] * o[off + j];
          rowDot[tt] = dot;
        }
        for (const blk of blocks) {
          const { t0, rows, kLo, width } = blk;
          const base = { batch: 1, strideA: 0, strideB: 0, strideOut: 0 };
          gemm({ ...base, a: qh, b: kh, out: pr, m: rows, n: width, k: d, transA: false, transB: true, aOffset: t0 * d, bOffset: kLo * d, accumulate: false });
          softmaxRows(pr, blk, p, lo, hi, b, lse, null, (x) => (b * t + x) * hq + h);
          gemm({ ...base, a: goh, b: vh, out: dp, m: rows, n: width, k: d, transA: false, transB: true, aOffset: t0 * d, bOffset: kLo * d, accumulate: false });
          // dS = P ∘ (dP − rowDot) · scale, written over dp (masked entries have P = 0).
          for (let r = 0; r < rows; r++) {
            const rd = rowDot[t0 + r];
            for (let j = 0; j < width; j++) dp[r * width + j] = pr[r * width + j] * (dp[r * width + j] - rd) * scale;
          }
          gemm({ ...base, a: dp, b: kh, out: gqh, m: rows, n: d, k: width, transA: false, transB: false, bOffset: kLo * d, outOffset: t0 * d, accumulate: false });
          gemm({ ...base, a: dp, b: qh, out: gkh, m: width, n: d, k: rows, transA: true, transB: false, bOffset: t0 * d, outOffset: kLo * d, accumulate: true });
          gemm({ ...base, a: pr, b: goh, out: gvh, m: width, n: d, k: rows, transA: true, transB: false, bOffset: t0 * d, outOffset: kLo * d, accumulate: true });
        }
        scatterHead(gqh, b, t, hq, d, h, gq);
      }
      scatterHead(gkh, b, s, hkv, d, g, gk);
      scatterHead(gvh, b, s, hkv, d, g, gv);
    }
  }
}
