// CPU references for the slot KV cache ops (see Backend.kvWrite / kvCopy / slotAttention for the contract).
// A cache is [slots, maxLen, Hkv, D] row-major, so one position of one slot is a contiguous Hkv·D run.
import type { FloatArray, HostArray } from '../../tensor/dtype.ts';

export interface CacheDims {
  slots: number;
  maxLen: number;
  /** Elements per position: Hkv · D. */
  row: number;
}

/** cache[slots[b], starts[b] + t] := src[b, t]; src is [B, T, row] in the cache's element type. */
export function kvWrite(cache: HostArray, c: CacheDims, src: HostArray, t: number, slots: Int32Array, starts: Int32Array): void {
  for (let b = 0; b < slots.length; b++) {
    const slot = slots[b];
    const start = starts[b];
    if (slot < 0 || slot >= c.slots) throw new Error(`kvWrite: row ${b} names slot ${slot}, the cache has ${c.slots}`);
    if (start < 0 || start + t > c.maxLen) {
      throw new Error(`kvWrite: row ${b} writes positions [${start}, ${start + t}) of a cache with maxLen ${c.maxLen}`);
    }
    const from = b * t * c.row;
    cache.set(src.subarray(from, from + t * c.row), (slot * c.maxLen + start) * c.row);
  }
}

/** cache[d, 0:length] := cache[src, 0:length] for each d in dsts. */
export function kvCopy(cache: HostArray, c: CacheDims, src: number, dsts: readonly number[], length: number): void {
  const check = (slot: number, what: string) => {
    if (!Number.isInteger(slot) || slot < 0 || slot >= c.slots) throw new Error(`kvCopy: ${what} slot ${slot} is outside [0, ${c.slots})`);
  };
  check(src, 'source');
  if (!Number.isInteger(length) || length < 0 || length > c.maxLen) throw new Error(`kvCopy: length ${length} is outside [0, ${c.maxLen}]`);
  const from = src * c.maxLen * c.row;
  const run = cache.subarray(from, from + length * c.row);
  for (const d of dsts) {
    check(d, 'destination');
    if (d === src) throw new Error(`kvCopy: destination slot ${d} is the source`);
    cache.set(run, d * c.maxLen * c.row);
  }
}

export interface SlotAttentionDims {
  b: number;
  t: number;
  hq: number;
  hkv: number;
  d: number;
  maxLen: number;
  slots: number;
  scale: number;
}

/**
 * o[b, t] = softmax(q[b, t] · K[slot]ᵀ · scale) · V[slot] over positions 0 ..= kvLens[b] - T + t. The query
 * heads of one GQA group are done together so that each key and value row is read once per group.
 */
export function slotAttention(
  q: FloatArray, k: FloatArray, v: FloatArray, p: SlotAttentionDims, slots: Int32Array, kvLens: Int32Array, o: FloatArray,
): void {
  const { t, hq, hkv, d, maxLen, scale } = p;
  const group = hq / hkv;
  const scores = new Float64Array(group * maxLen);
  const acc = new Float64Array(group * d);
  const max = new Float64Array(group);
  const sum = new Float64Array(group);
  for (let b = 0; b < p.b; b++) {
    const slot = slots[b];
    const len = kvLens[b];
    if (slot < 0 || slot >= p.slots) throw new Error(`slotAttention: row ${b} names slot ${slot}, the cache has ${p.slots}`);
    if (len < t || len > maxLen) throw new Error(`slotAttention: row ${b} has kvLen ${len}, expected ${t} ≤ kvLen ≤ ${maxLen}`);
    const base = slot * maxLen;
    for (let tt = 0; tt < t; tt++) {
      const last = len - t + tt;
      for (let kh = 0; kh < hkv; kh++) {
        const q0 = ((b * t + tt) * hq + kh * group) * d; // the group's first query head
        max.fill(-Infinity);
        for (let s = 0; s <= last; s++) {
          const ko = ((base + s) * hkv + kh) * d;
          for (let g = 0; g < group; g++) {
            const qo = q0 + g * d;
            let dot = 0;
            for (let i = 0; i < d; i++) dot += q[qo + i] * k[ko + i];
            const x = (scores[g * maxLen + s] = dot * scale);
            if (x > max[g]) max[g] = x;
          }
        }
        acc.fill(0);
        sum.fill(0);
        for (let s = 0; s <= last; s++) {
          const vo = ((base + s) * hkv + kh) * d;
          for (let g = 0; g < group; g++) {
            const w = Math.exp(scores[g * maxLen + s] - max[g]);
            sum[g] += w;
            const ao = g * d;
            for (let i = 0; i < d; i++) acc[ao + i] += w * v[vo + i];
          }
        }
        for (let g = 0; g < group; g++) for (let i = 0; i < d; i++) o[q0 + g * d + i] = acc[g * d + i] / sum[g];
      }
    }
  }
}
