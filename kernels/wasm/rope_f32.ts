// AssemblyScript f32 rotary position embedding (HF "rotate half": pairs i and i + D/2) over a range of (batch,
// time) rows per task (kernels/wasm/cpu_kernels.ts). The angles come from the JS side's table (src/backends/cpu/
// rope.ts: HF's f32 angles, then cos/sin), one row of D/2 cosines and sines per position.
import { Q, field, taskRecord } from './queue';

/** Parameter block fields (i32 indices; the block's byte offset is the queue's Q.A). SIGN holds f32 bits:
 *  1 rotates by the angle, −1 by its negative (the backward). */
export enum R { X = 0, OUT = 1, POS = 2, COS = 3, SIN = 4, H = 5, D = 6, SIGN = 7 }

@inline function ptr(p: usize, i: i32): usize {
  return <usize>field(p, i);
}

/** Rows [bt0, bt0 + count) of task t: every head of each row rotated by its position's angles. */
export function ropeTask(q: usize, t: i32): void {
  const p = <usize>field(q, Q.A);
  const rec = taskRecord(q, t);
  const bt0 = field(rec, 0), count = field(rec, 1);
  const h = field(p, R.H), d = field(p, R.D), half = d >> 1;
  const sign = reinterpret<f32>(field(p, R.SIGN));
  const sv = f32x4.splat(sign);
  const halfBytes = <usize>half << 2;
  for (let bt = bt0; bt < bt0 + count; bt++) {
    const pos = load<i32>(ptr(p, R.POS) + (<usize>bt << 2));
    const cos = ptr(p, R.COS) + <usize>pos * halfBytes, sin = ptr(p, R.SIN) + <usize>pos * halfBytes;
    for (let hh = 0; hh < h; hh++) {
      const o = (<usize>(bt * h + hh) * <usize>d) << 2;
      const x = ptr(p, R.X) + o, out = ptr(p, R.OUT) + o;
      let i = 0;
      for (; i + 4 <= half; i += 4) {
        const k = <usize>i << 2;
        const c = v128.load(cos + k), s = f32x4.mul(v128.load(sin + k), sv);
        const x1 = v128.load(x + k), x2 = v128.load(x + halfBytes + k);
        v128.store(out + k, f32x4.sub(f32x4.mul(x1, c), f32x4.mul(x2, s)));
        v128.store(out + halfBytes + k, f32x4.add(f32x4.mul(x2, c), f32x4.mul(x1, s)));
      }
      for (; i < half; i++) {
        const k = <usize>i << 2;
        const c = load<f32>(cos + k), s = load<f32>(sin + k) * sign;
        const x1 = load<f32>(x + k), x2 = load<f32>(x + halfBytes + k);
        store<f32>(out + k, x1 * c - x2 * s);
        store<f32>(out + halfBytes + k, x2 * c + x1 * s);
      }
    }
  }
}
