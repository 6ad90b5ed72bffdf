// The CPU backend's f32 RMSNorm in WASM (kernels/wasm/rmsnorm_f32.ts), rows split over the thread pool; the
// backward's per-task weight gradients are summed here. norm.ts stays the path for f64 (gradient checks) and for
// sizes that do not fit the shared memory.
import type { FloatArray } from '../../tensor/dtype.ts';
import { QueueKind, getPool } from './gemm_pool.ts';
import { blocks, callKernel, kernelThreads, readBack, splitWork } from './kernel_call.ts';

/** Rows per partial weight gradient in the backward. */
const GW_BLOCK_ROWS = 128;

/** Parameter block fields, same numbers as kernels/wasm/rmsnorm_f32.ts N. */
const N = { x: 0, w: 1, y: 2, rstd: 3, gy: 4, gx: 5, gw: 6, d: 7, eps: 8 } as const;

/** y = w·x·rstd per row of d, rstd [rows]; false when it cannot run (then nothing is written). */
export function rmsnormWasmF32(x: FloatArray, w: FloatArray, eps: number, d: number, y: FloatArray, rstd: FloatArray): boolean {
  if (!(x instanceof Float32Array && w instanceof Float32Array && y instanceof Float32Array && rstd instanceof Float32Array)) return false;
  const rows = rstd.length;
  const at = callKernel(QueueKind.rmsnorm, {
    x: { field: N.x, length: x.length, input: x }, w: { field: N.w, length: d, input: w },
    y: { field: N.y, length: y.length }, rstd: { field: N.rstd, length: rows },
  }, splitWork(rows, d), [{ field: N.d, i32: d }, { field: N.eps, f32: eps }]);
  if (!at) return false;
  readBack(at.y, y);
  readBack(at.rstd, rstd);
  return true;
}

/** gx and gw of RMSNorm from gy and the forward's rstd; false when it cannot run (then nothing is written). */
export function rmsnormBackwardWasmF32(
  gy: FloatArray, x: FloatArray, w: FloatArray, rstd: FloatArray, d: number, gx: FloatArray, gw: FloatArray,
): boolean {
  if (!(gy instanceof Float32Array && x instanceof Float32Array && w instanceof Float32Array && rstd instanceof Float32Array
    && gx instanceof Float32Array && gw instanceof Float32Array)) return false;
  const rows = rstd.length;
  // The weight gradient is summed per task, so the tasks are fixed blocks of rows whatever the thread count:
  // the same sums in the same order on one thread or many, so a run's numbers do not depend on its threads.
  const split = { threads: kernelThreads(rows * d), tasks: blocks(rows, GW_BLOCK_ROWS) };
  const at = callKernel(QueueKind.rmsnormBackward, {
    x: { field: N.x, length: x.length, input: x }, w: { field: N.w, length: d, input: w },
    rstd: { field: N.rstd, length: rows, input: rstd }, gy: { field: N.gy, length: gy.length, input: gy },
    gx: { field: N.gx, length: gx.length }, gw: { field: N.gw, length: split.tasks.length * d },
  }, split, [{ field: N.d, i32: d }]);
  if (!at) return false;
  readBack(at.gx, gx);
  // Partials in task order, so the sum does not depend on which thread ran which task.
  const f32 = getPool().f32;
  const acc = new Float64Array(d);
  for (let t = 0; t < split.tasks.length; t++) for (let i = 0; i < d; i++) acc[i] += f32[at.gw + t * d + i];
  gw.set(acc);
  return true;
}
