// AssemblyScript f32 decode attention over a slot KV cache, one task per batch row (kernels/wasm/cpu_kernels.ts).
// The JS side copies each row's used cache positions [0, kvLen) into the shared memory (they are contiguous in
// the [slots, maxLen, Hkv, D] cache) and points the row's record at them. Same math as slotAttention in
// src/backends/cpu/kv.ts: o[b, t] = softmax(q[b, t] · Kᵀ · scale) · V over positions 0 ..= kvLen − T + t, each
// query head reading its group's KV head. In JS this was over half of a toy decode step.
import { Q, field, taskRecord } from './queue';
import { exp4 } from './attention_f32';

/** Parameter block fields (i32 indices; the block's byte offset is the queue's Q.A). Task records are
 *  [row, keys (byte offset of its [kvLen, Hkv, D] keys), values (same for values), kvLen]. */
export enum S { Q = 0, O = 1, T = 2, HQ = 3, HKV = 4, D = 5, SCALE = 6, SCRATCH = 7, MAXLEN = 8 }

@inline function hsum(v: v128): f32 {
  return f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1) + f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3);
}

@inline function dot(x: usize, y: usize, n: i32): f32 {
  let s4 = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) s4 = f32x4.add(s4, f32x4.mul(v128.load(x + (<usize>i << 2)), v128.load(y + (<usize>i << 2))));
  let s = hsum(s4);
  for (; i < n; i++) s += load<f32>(x + (<usize>i << 2)) * load<f32>(y + (<usize>i << 2));
  return s;
}

/** acc[0:n] += w · x[0:n]. */
@inline function axpy(acc: usize, w: f32, x: usize, n: i32): void {
  const w4 = f32x4.splat(w);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const a = acc + (<usize>i << 2);
    v128.store(a, f32x4.add(v128.load(a), f32x4.mul(w4, v128.load(x + (<usize>i << 2)))));
  }
  for (; i < n; i++) store<f32>(acc + (<usize>i << 2), load<f32>(acc + (<usize>i << 2)) + w * load<f32>(x + (<usize>i << 2)));
}

export function slotAttentionTask(q: usize, t: i32, work: usize): void {
  const p = <usize>field(q, Q.A);
  const rec = taskRecord(q, t);
  const b = field(rec, 0), keys = <usize>field(rec, 1), values = <usize>field(rec, 2), len = field(rec, 3);
  const T = field(p, S.T), hq = field(p, S.HQ), hkv = field(p, S.HKV), d = field(p, S.D);
  const scale = load<f32>(p + (<usize>S.SCALE << 2));
  const scores = work + <usize>field(p, S.SCRATCH); // [len] for one query head
  const acc = scores + (<usize>field(p, S.MAXLEN) << 2); // [d]
  const group = hq / hkv;
  const rowBytes = <usize>(hkv * d) << 2; // one cache position, every KV head
  for (let tt = 0; tt < T; tt++) {
    const last = len - T + tt;
    for (let h = 0; h < hq; h++) {
      const kh = h / group;
      const qh = <usize>field(p, S.Q) + (<usize>(((b * T + tt) * hq + h) * d) << 2);
      const k0 = keys + (<usize>(kh * d) << 2), v0 = values + (<usize>(kh * d) << 2);
      let top: f32 = -Infinity;
      for (let s = 0; s <= last; s++) {
        const x = dot(qh, k0 + <usize>s * rowBytes, d) * scale;
        store<f32>(scores + (<usize>s << 2), x);
        top = max<f32>(top, x);
      }
      const m4 = f32x4.splat(top);
      let s4 = f32x4.splat(0);
      let s = 0;
      for (; s + 4 <= last + 1; s += 4) {
        const at = scores + (<usize>s << 2);
        const e = exp4(f32x4.sub(v128.load(at), m4));
        v128.store(at, e);
        s4 = f32x4.add(s4, e);
      }
      let sum = hsum(s4);
      for (; s <= last; s++) {
        const at = scores + (<usize>s << 2);
        const e = f32x4.extract_lane(exp4(f32x4.splat(load<f32>(at) - top)), 0);
        store<f32>(at, e);
        sum += e;
      }
      memory.fill(acc, 0, <usize>d << 2);
      for (s = 0; s <= last; s++) axpy(acc, load<f32>(scores + (<usize>s << 2)), v0 + <usize>s * rowBytes, d);
      const oh = <usize>field(p, S.O) + (<usize>(((b * T + tt) * hq + h) * d) << 2);
      const inv = f32x4.splat(1 / sum);
      let i = 0;
      for (; i + 4 <= d; i += 4) v128.store(oh + (<usize>i << 2), f32x4.mul(v128.load(acc + (<usize>i << 2)), inv));
      for (; i < d; i++) store<f32>(oh + (<usize>i << 2), load<f32>(acc + (<usize>i << 2)) / sum);
    }
  }
}
