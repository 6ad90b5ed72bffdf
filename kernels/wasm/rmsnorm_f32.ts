// AssemblyScript f32 RMSNorm, forward and backward, over a range of rows per task (kernels/wasm/cpu_kernels.ts).
// Same math as src/backends/cpu/norm.ts (HF Llama/Qwen2): y = w·x·r with r = (mean(x²) + eps)^-½, and
//   gx = r·w·gy − x·r³/d·Σ_j w_j gy_j x_j,   gw = Σ_rows gy·x·r.
// The weight gradient sums over rows, so each task writes its own partial sum (row PART of task t) and the JS
// side adds the few partials; no two threads write the same float. In JS these were the largest serial ops
// of a toy training step once the GEMM and attention ran on every core.
import { Q, field, taskRecord } from './queue';
import { hsum, madd4 } from './simd';

/** Parameter block fields (i32 indices; the block's byte offset is the queue's Q.A). EPS holds f32 bits. */
export enum N { X = 0, W = 1, Y = 2, RSTD = 3, GY = 4, GX = 5, GW = 6, D = 7, EPS = 8 }

@inline function ptr(p: usize, i: i32): usize {
  return <usize>field(p, i);
}

/** Rows [row0, row0 + rows) of task t; the backward adds its weight gradient into partial row t of GW. */
export function rmsnormTask(q: usize, t: i32, backward: bool): void {
  const p = <usize>field(q, Q.A);
  const rec = taskRecord(q, t);
  const row0 = field(rec, 0), rows = field(rec, 1);
  const d = field(p, N.D);
  const rowBytes = <usize>d << 2;
  const x0 = ptr(p, N.X) + <usize>row0 * rowBytes, w = ptr(p, N.W);
  if (!backward) {
    const eps = reinterpret<f32>(field(p, N.EPS));
    const y0 = ptr(p, N.Y) + <usize>row0 * rowBytes, rstd = ptr(p, N.RSTD) + (<usize>row0 << 2);
    for (let r = 0; r < rows; r++) {
      const x = x0 + <usize>r * rowBytes, y = y0 + <usize>r * rowBytes;
      const rs: f32 = <f32>1 / Mathf.sqrt(sumSquares(x, d) / <f32>d + eps);
      store<f32>(rstd + (<usize>r << 2), rs);
      const rv = f32x4.splat(rs);
      let i = 0;
      for (; i + 4 <= d; i += 4) {
        const o = <usize>i << 2;
        v128.store(y + o, f32x4.mul(v128.load(w + o), f32x4.mul(v128.load(x + o), rv)));
      }
      for (; i < d; i++) store<f32>(y + (<usize>i << 2), load<f32>(w + (<usize>i << 2)) * (load<f32>(x + (<usize>i << 2)) * rs));
    }
    return;
  }
  const gy0 = ptr(p, N.GY) + <usize>row0 * rowBytes, gx0 = ptr(p, N.GX) + <usize>row0 * rowBytes;
  const rstd = ptr(p, N.RSTD) + (<usize>row0 << 2);
  const gw = ptr(p, N.GW) + <usize>t * rowBytes;
  memory.fill(gw, 0, rowBytes);
  for (let r = 0; r < rows; r++) {
    const x = x0 + <usize>r * rowBytes, gy = gy0 + <usize>r * rowBytes, gx = gx0 + <usize>r * rowBytes;
    const rs = load<f32>(rstd + (<usize>r << 2));
    let dot4 = f32x4.splat(0);
    let i = 0;
    for (; i + 4 <= d; i += 4) {
      const o = <usize>i << 2;
      dot4 = madd4(f32x4.mul(v128.load(w + o), v128.load(gy + o)), v128.load(x + o), dot4);
    }
    let dot = hsum(dot4);
    for (; i < d; i++) dot += load<f32>(w + (<usize>i << 2)) * load<f32>(gy + (<usize>i << 2)) * load<f32>(x + (<usize>i << 2));
    const c = (rs * rs * rs * dot) / <f32>d;
    const rv = f32x4.splat(rs), cv = f32x4.splat(c);
    i = 0;
    for (; i + 4 <= d; i += 4) {
      const o = <usize>i << 2;
      const g = v128.load(gy + o), xv = v128.load(x + o);
      v128.store(gx + o, f32x4.sub(f32x4.mul(rv, f32x4.mul(v128.load(w + o), g)), f32x4.mul(xv, cv)));
      v128.store(gw + o, madd4(g, f32x4.mul(xv, rv), v128.load(gw + o)));
    }
    for (; i < d; i++) {
      const o = <usize>i << 2;
      const g = load<f32>(gy + o), xv = load<f32>(x + o);
      store<f32>(gx + o, rs * load<f32>(w + o) * g - xv * c);
      store<f32>(gw + o, load<f32>(gw + o) + g * (xv * rs));
    }
  }
}

/** Σ x² over one row of d floats. */
@inline function sumSquares(x: usize, d: i32): f32 {
  let s4 = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= d; i += 4) {
    const v = v128.load(x + (<usize>i << 2));
    s4 = madd4(v, v, s4);
  }
  let s = hsum(s4);
  for (; i < d; i++) s += load<f32>(x + (<usize>i << 2)) * load<f32>(x + (<usize>i << 2));
  return s;
}
