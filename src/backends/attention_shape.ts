// The shape rules of Backend.attention, shared by every backend: q [B, T, Hq, D], k and v [B, S, Hkv, D],
// Hq a multiple of Hkv, and a causal query never without its own key.
import type { AttentionOptions } from './backend.ts';
import { fmt, sameShape } from '../tensor/shape.ts';
import type { Tensor } from '../tensor/tensor.ts';

export interface AttentionShape {
  b: number;
  t: number;
  s: number;
  hq: number;
  hkv: number;
  d: number;
}

export function attentionShape(q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions): AttentionShape {
  if (q.rank !== 4 || k.rank !== 4 || !sameShape(k.shape, v.shape)) {
    throw new Error(`attention: q ${fmt(q.shape)} must be [B, T, Hq, D] and k ${fmt(k.shape)}, v ${fmt(v.shape)} the same [B, S, Hkv, D]`);
  }
  const [b, t, hq, d] = q.shape;
  const [kb, s, hkv, kd] = k.shape;
  if (kb !== b || kd !== d) throw new Error(`attention: q ${fmt(q.shape)} and k ${fmt(k.shape)} differ in batch or head dim`);
  if (hq % hkv !== 0) throw new Error(`attention: ${hq} query heads are not a multiple of ${hkv} kv heads`);
  if (opts.causal && s < t) throw new Error(`attention: causal with fewer keys (${s}) than queries (${t})`);
  return { b, t, s, hq, hkv, d };
}
