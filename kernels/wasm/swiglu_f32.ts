// AssemblyScript f32 SwiGLU, forward and backward, over a range of elements per task (kernels/wasm/cpu_kernels.ts).
// out = silu(g)·u; the backward's d silu(g)/dg = σ(g)(1 + g(1 − σ(g))). Same math as src/backends/cpu/model_ops.ts,
// with the SIMD exp of simd.ts: in JS, Math.exp made SwiGLU the largest non-GEMM cost of a toy step.
import { Q, field, taskRecord } from './queue';
import { exp4 } from './simd';

/** Parameter block fields (i32 indices; the block's byte offset is the queue's Q.A). */
export enum E { GATE = 0, UP = 1, OUT = 2, GY = 3, GGATE = 4, GUP = 5 }

@inline function at(p: usize, i: i32, j: i32): usize {
  return <usize>field(p, i) + (<usize>j << 2);
}

/** σ(g) for four lanes. */
@inline function sigmoid4(g: v128): v128 {
  return f32x4.div(f32x4.splat(1), f32x4.add(f32x4.splat(1), exp4(f32x4.neg(g))));
}

/** Elements [start, start + count) of task t: four at a time, then a scalar tail through lane 0. */
export function swigluTask(q: usize, t: i32, backward: bool): void {
  const p = <usize>field(q, Q.A);
  const rec = taskRecord(q, t);
  const start = field(rec, 0), end = start + field(rec, 1);
  const one = f32x4.splat(1);
  let j = start;
  for (; j + 4 <= end; j += 4) {
    const g = v128.load(at(p, E.GATE, j)), u = v128.load(at(p, E.UP, j));
    const sig = sigmoid4(g);
    if (!backward) {
      v128.store(at(p, E.OUT, j), f32x4.mul(f32x4.mul(g, sig), u));
    } else {
      const gy = v128.load(at(p, E.GY, j));
      v128.store(at(p, E.GUP, j), f32x4.mul(f32x4.mul(gy, g), sig));
      const dsilu = f32x4.mul(sig, f32x4.add(one, f32x4.mul(g, f32x4.sub(one, sig))));
      v128.store(at(p, E.GGATE, j), f32x4.mul(f32x4.mul(gy, u), dsilu));
    }
  }
  for (; j < end; j++) {
    const g = load<f32>(at(p, E.GATE, j)), u = load<f32>(at(p, E.UP, j));
    const sig = f32x4.extract_lane(sigmoid4(f32x4.splat(g)), 0);
    if (!backward) {
      store<f32>(at(p, E.OUT, j), g * sig * u);
    } else {
      const gy = load<f32>(at(p, E.GY, j));
      store<f32>(at(p, E.GUP, j), gy * g * sig);
      store<f32>(at(p, E.GGATE, j), gy * u * sig * (1 + g * (1 - sig)));
    }
  }
}
