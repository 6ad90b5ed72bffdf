// CPU reference for causal grouped-query attention (forward + backward), with packed-segment masking.
// Shapes: q [B, T, Hq, D], k/v [B, S, Hkv, D], o [B, T, Hq, D], lse [B, T, Hq].
import type { FloatArray } from '../../tensor/dtype.ts';
import type { AttentionShape } from '../attention_shape.ts';

export interface AttentionDims extends AttentionShape {
  scale: number;
  causal: boolean;
  /** Segment id per position [B, T] (T = S): attention stays inside each contiguous run of one id. */
  segments?: Int32Array;
}

/** Index of the first position of each position's segment. */
export function segmentStarts(segments: Int32Array, b: number, t: number): Int32Array {
  const start = new Int32Array(b * t);
  for (let bb = 0; bb < b; bb++) {
    for (let tt = 0; tt < t; tt++) {
      const i = bb * t + tt;
      start[i] = tt > 0 && segments[i] === segments[i - 1] ? start[i - 1] : tt;
    }
  }
  return start;
}

/**
 * The keys each query (b, t) may see, as inclusive ranges [lo, hi] per position [B·T]: causal queries are
 * aligned to the end of the keys (query t sits at key t + S − T); segments confine both ends to the
 * query's own contiguous run of one segment id.
 */
export function keyRanges(p: AttentionDims): { lo: Int32Array; hi: Int32Array } {
  const n = p.b * p.t;
  const lo = new Int32Array(n);
  const hi = new Int32Array(n);
  if (p.segments && p.s !== p.t) throw new Error(`attention: segments need as many keys as queries, got T=${p.t}, S=${p.s}`);
  const start = p.segments ? segmentStarts(p.segments, p.b, p.t) : null;
  for (let b = 0; b < p.b; b++) {
    let segEnd = p.t - 1;
    for (let t = p.t - 1; t >= 0; t--) {
      const i = b * p.t + t;
      if (start && t < p.t - 1 && start[i + 1] === t + 1) segEnd = t; // t is the last of its segment
      lo[i] = start ? start[i] : 0;
      hi[i] = p.causal ? t + (p.s - p.t) : start ? segEnd : p.s - 1;
    }
  }
  return { lo, hi };
}

export function attention(q: FloatArray, k: FloatArray, v: FloatArray, p: AttentionDims, o: FloatArray, lse: FloatArray): void {
  const { b, t, s, hq, hkv, d, scale } = p;
  const group = hq / hkv;
  const { lo: loAll, hi: hiAll } = keyRanges(p);
  const scores = new Float64Array(s);
  const acc = new Float64Array(d);
  for (let bb = 0; bb < b; bb++) {
    for (let tt = 0; tt < t; tt++) {
      const lo = loAll[bb * t + tt];
      const hi = hiAll[bb * t + tt];
      for (let h = 0; h < hq; h++) {
        const kh = Math.floor(h / group);
        const qo = ((bb * t + tt) * hq + h) * d;
        let max = -Infinity;
        for (let ss = lo; ss <= hi; ss++) {
          const ko = ((bb * s + ss) * hkv + kh) * d;
          let dot = 0;
          for (let i = 0; i < d; i++) dot += q[qo + i] * k[ko + i];
          scores[ss] = dot * scale;
          if (scores[ss] > max) max = scores[ss];
        }
        let sum = 0;
        acc.fill(0);
        for (let ss = lo; ss <= hi; ss++) {
          const w = Math.exp(scores[ss] - max);
          sum += w;
          const vo = ((bb * s + ss) * hkv + kh) * d;
          for (let i = 0; i < d; i++) acc[i] += w * v[vo + i];
        }
        for (let i = 0; i < d; i++) o[qo + i] = acc[i] / sum;
        lse[(bb * t + tt) * hq + h] = max + Math.log(sum);
      }
    }
  }
}

/** Standard attention backward, recomputing probabilities from the saved log-sum-exp. gk/gv must start at 0. */
export function attentionBackward(
  go: FloatArray, q: FloatArray, k: FloatArray, v: FloatArray, o: FloatArray, lse: FloatArray, p: AttentionDims,
  gq: FloatArray, gk: FloatArray, gv: FloatArray,
): void {
  const { b, t, s, hq, hkv, d, scale } = p;
  const group = hq / hkv;
  const { lo: loAll, hi: hiAll } = keyRanges(p);
  for (let bb = 0; bb < b; bb++) {
    for (let tt = 0; tt < t; tt++) {
      const lo = loAll[bb * t + tt];
      const hi = hiAll[bb * t + tt];
      for (let h = 0; h < hq; h++) {
        const kh = Math.floor(h / group);
        const qo = ((bb * t + tt) * hq + h) * d;
        const l = lse[(bb * t + tt) * hq + h];
        let rowDot = 0; // Σ_i dO_i · O_i = Σ_s P_s dP_s
        for (let i = 0; i < d; i++) rowDot += go[qo + i] * o[qo + i];
        for (let ss = lo; ss <= hi; ss++) {
          const ko = ((bb * s + ss) * hkv + kh) * d;
          let dot = 0;
          let dp = 0;
          for (let i = 0; i < d; i++) {
            dot += q[qo + i] * k[ko + i];
            dp += go[qo + i] * v[ko + i];
          }
          const prob = Math.exp(dot * scale - l);
          const ds = prob * (dp - rowDot) * scale;
          for (let i = 0; i < d; i++) {
            gq[qo + i] += ds * k[ko + i];
            gk[ko + i] += ds * q[qo + i];
            gv[ko + i] += prob * go[qo + i];
          }
        }
      }
    }
  }
}
