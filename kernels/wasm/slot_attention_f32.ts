// AssemblyScript f32 decode attention over a slot KV cache, one task per batch row (kernels/wasm/cpu_kernels.ts).
// The JS side copies each row's used cache positions [0, kvLen) into the shared memory (they are contiguous in
// the [slots, maxLen, Hkv, D] cache) and points the row's record at them. Same math as slotAttention in
// src/backends/cpu/kv.ts: o[b, t] = softmax(q[b, t] · Kᵀ · scale) · V over positions 0 ..= kvLen − T + t, each
// query head reading its group's KV head. In JS this was over half of a toy decode step.
import { Q, field, taskRecord } from './queue';
import { dot, exp1, exp4, hsum, madd4 } from './simd';

/** Parameter block fields (i32 indices; the block's byte offset is the queue's Q.A). Task records are
 *  [row, keys (byte offset of its [kvLen, Hkv, D] keys), values (same for values), kvLen]. */
export enum S { Q = 0, O = 1, T = 2, HQ = 3, HKV = 4, D = 5, SCALE = 6, MAXLEN = 7 }

/** The four dot products q·k0 … q·k3 (n a multiple of 4) as one vector: each q load serves four keys, and one
 *  transpose-add replaces four horizontal sums. */
@inline function dot4(q: usize, k0: usize, step: usize, n: i32): v128 {
  let a = f32x4.splat(0), b = f32x4.splat(0), c = f32x4.splat(0), d = f32x4.splat(0);
  const k1 = k0 + step, k2 = k1 + step, k3 = k2 + step;
  for (let i = 0; i < n; i += 4) {
    const o = <usize>i << 2;
    const qv = v128.load(q + o);
    a = madd4(qv, v128.load(k0 + o), a);
    b = madd4(qv, v128.load(k1 + o), b);
    c = madd4(qv, v128.load(k2 + o), c);
    d = madd4(qv, v128.load(k3 + o), d);
  }
  const ab = f32x4.add(f32x4.shuffle(a, b, 0, 4, 1, 5), f32x4.shuffle(a, b, 2, 6, 3, 7)); // [a0+a2, b0+b2, a1+a3, b1+b3]
  const cd = f32x4.add(f32x4.shuffle(c, d, 0, 4, 1, 5), f32x4.shuffle(c, d, 2, 6, 3, 7));
  return f32x4.add(f32x4.shuffle(ab, cd, 0, 1, 4, 5), f32x4.shuffle(ab, cd, 2, 3, 6, 7));
}

/** acc[0:n] += Σ_j w[j] · x_j[0:n] over four rows x_j = x0 + j·step (n a multiple of 4): one pass over acc. */
@inline function axpy4(acc: usize, w: v128, x0: usize, step: usize, n: i32): void {
  const w0 = f32x4.splat(f32x4.extract_lane(w, 0)), w1 = f32x4.splat(f32x4.extract_lane(w, 1));
  const w2 = f32x4.splat(f32x4.extract_lane(w, 2)), w3 = f32x4.splat(f32x4.extract_lane(w, 3));
  const x1 = x0 + step, x2 = x1 + step, x3 = x2 + step;
  for (let i = 0; i < n; i += 4) {
    const o = <usize>i << 2;
    const s01 = madd4(w1, v128.load(x1 + o), f32x4.mul(w0, v128.load(x0 + o)));
    const s23 = madd4(w3, v128.load(x3 + o), f32x4.mul(w2, v128.load(x2 + o)));
    v128.store(acc + o, f32x4.add(v128.load(acc + o), f32x4.add(s01, s23)));
  }
}

/** acc[0:n] += w · x[0:n]. */
@inline function axpy(acc: usize, w: f32, x: usize, n: i32): void {
  const w4 = f32x4.splat(w);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const a = acc + (<usize>i << 2);
    v128.store(a, madd4(w4, v128.load(x + (<usize>i << 2)), v128.load(a)));
  }
  for (; i < n; i++) store<f32>(acc + (<usize>i << 2), load<f32>(acc + (<usize>i << 2)) + w * load<f32>(x + (<usize>i << 2)));
}

export function slotAttentionTask(q: usize, t: i32, work: usize): void {
  const p = <usize>field(q, Q.A);
  const rec = taskRecord(q, t);
  const b = field(rec, 0), keys = <usize>field(rec, 1), values = <usize>field(rec, 2), len = field(rec, 3);
  const T = field(p, S.T), hq = field(p, S.HQ), hkv = field(p, S.HKV), d = field(p, S.D);
  const scale = load<f32>(p + (<usize>S.SCALE << 2));
  const scores = work; // [maxLen] for one query head
  const acc = scores + (<usize>field(p, S.MAXLEN) << 2); // [d]
  const group = hq / hkv;
  const rowBytes = <usize>(hkv * d) << 2; // one cache position, every KV head
  for (let tt = 0; tt < T; tt++) {
    const last = len - T + tt;
    for (let h = 0; h < hq; h++) {
      const kh = h / group;
      const qh = <usize>field(p, S.Q) + (<usize>(((b * T + tt) * hq + h) * d) << 2);
      const k0 = keys + (<usize>(kh * d) << 2), v0 = values + (<usize>(kh * d) << 2);
      // Four keys at a time where the head size allows (it is a multiple of 4 in every real model).
      const wide = (d & 3) == 0;
      const sv = f32x4.splat(scale);
      let top4 = f32x4.splat(-Infinity);
      let s0 = 0;
      if (wide) {
        for (; s0 + 4 <= last + 1; s0 += 4) {
          const x = f32x4.mul(dot4(qh, k0 + <usize>s0 * rowBytes, rowBytes, d), sv);
          v128.store(scores + (<usize>s0 << 2), x);
          top4 = f32x4.max(top4, x);
        }
      }
      let top = max<f32>(max<f32>(f32x4.extract_lane(top4, 0), f32x4.extract_lane(top4, 1)), max<f32>(f32x4.extract_lane(top4, 2), f32x4.extract_lane(top4, 3)));
      for (; s0 <= last; s0++) {
        const x = dot(qh, k0 + <usize>s0 * rowBytes, d) * scale;
        store<f32>(scores + (<usize>s0 << 2), x);
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
        const e = exp1(load<f32>(at) - top);
        store<f32>(at, e);
        sum += e;
      }
      memory.fill(acc, 0, <usize>d << 2);
      s = 0;
      if (wide) for (; s + 4 <= last + 1; s += 4) axpy4(acc, v128.load(scores + (<usize>s << 2)), v0 + <usize>s * rowBytes, rowBytes, d);
      for (; s <= last; s++) axpy(acc, load<f32>(scores + (<usize>s << 2)), v0 + <usize>s * rowBytes, d);
      const oh = <usize>field(p, S.O) + (<usize>(((b * T + tt) * hq + h) * d) << 2);
      const inv = f32x4.splat(1 / sum);
      let i = 0;
      for (; i + 4 <= d; i += 4) v128.store(oh + (<usize>i << 2), f32x4.mul(v128.load(acc + (<usize>i << 2)), inv));
      for (; i < d; i++) store<f32>(oh + (<usize>i << 2), load<f32>(acc + (<usize>i << 2)) / sum);
    }
  }
}
