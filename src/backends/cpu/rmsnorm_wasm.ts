// The CPU backend's f32 RMSNorm in WASM (kernels/wasm/rmsnorm_f32.ts): the operands go into the shared memory,
// the rows are cut into ranges for the thread pool, the results come back, and the backward's per-task weight
// gradients are summed here. norm.ts stays the path for f64 (gradient checks) and for sizes that do not fit.
import type { FloatArray } from '../../tensor/dtype.ts';
import { align, pickThreads } from './gemm_wasm.ts';
import { QueueKind, ensureMemory, getPool, postQueue, runQueue } from './gemm_pool.ts';
import { scratchBase } from './resident.ts';

/** Parameter block fields, same numbers as kernels/wasm/rmsnorm_f32.ts N. */
const N = { x: 0, w: 1, y: 2, rstd: 3, gy: 4, gx: 5, gw: 6, d: 7, eps: 8 } as const;
type Operand = Exclude<keyof typeof N, 'd' | 'eps'>;
const PARAM_BYTES = 64;
/** Elements per task at least: below this a thread's hand-off costs more than its share of the work. */
const MIN_TASK = 16384;

interface Split {
  threads: number;
  /** Row ranges [row0, rows]. */
  tasks: number[][];
}

/** The threads that pay at this size, and the rows cut into a few tasks per thread. */
function splitRows(rows: number, d: number): Split {
  const threads = Math.min(pickThreads(getPool(), rows * d * 64), Math.max(1, Math.floor((rows * d) / MIN_TASK)));
  const pieces = threads === 1 ? 1 : 4 * threads;
  const per = Math.ceil(rows / pieces);
  const tasks: number[][] = [];
  for (let row0 = 0; row0 < rows; row0 += per) tasks.push([row0, Math.min(per, rows - row0)]);
  return { threads, tasks };
}

/** Runs one pass with inputs `ins` and outputs `outs` (element counts in `sizes`); false, having written nothing,
 *  when it cannot run. Returns each operand's byte offset in the shared memory. */
function run(kind: number, d: number, eps: number, split: Split, ins: Partial<Record<Operand, Float32Array>>,
  sizes: Partial<Record<Operand, number>>): Record<Operand, number> | null {
  const pool = getPool();
  const params = scratchBase();
  const ptrs = {} as Record<Operand, number>;
  let at = params + PARAM_BYTES;
  for (const [name, n] of Object.entries(sizes) as [Operand, number][]) {
    ptrs[name] = at;
    at = align(at + 4 * n, 16);
  }
  if (!ensureMemory(pool, at)) return null;
  for (const [name, data] of Object.entries(ins) as [Operand, Float32Array][]) pool.f32.set(data, ptrs[name] / 4);
  for (const [name, ptr] of Object.entries(ptrs) as [Operand, number][]) pool.i32[params / 4 + N[name]] = ptr;
  pool.i32[params / 4 + N.d] = d;
  pool.f32[params / 4 + N.eps] = eps;
  postQueue(pool, kind, params, split.tasks);
  runQueue(pool, Math.min(split.threads, split.tasks.length) - 1, scratchBase(), 0);
  return ptrs;
}

/** y = w·x·rstd per row of d, rstd [rows]; false when it cannot run (then nothing is written). */
export function rmsnormWasmF32(x: FloatArray, w: FloatArray, eps: number, d: number, y: FloatArray, rstd: FloatArray): boolean {
  if (![x, w, y, rstd].every((a) => a instanceof Float32Array)) return false;
  const rows = x.length / d;
  const ptrs = run(QueueKind.rmsnorm, d, eps, splitRows(rows, d), { x: x as Float32Array, w: w as Float32Array }, { x: rows * d, w: d, y: rows * d, rstd: rows });
  if (!ptrs) return false;
  const f32 = getPool().f32;
  y.set(f32.subarray(ptrs.y / 4, ptrs.y / 4 + rows * d));
  rstd.set(f32.subarray(ptrs.rstd / 4, ptrs.rstd / 4 + rows));
  return true;
}

/** gx and gw of RMSNorm from gy and the forward's rstd; false when it cannot run (then nothing is written). */
export function rmsnormBackwardWasmF32(
  gy: FloatArray, x: FloatArray, w: FloatArray, rstd: FloatArray, d: number, gx: FloatArray, gw: FloatArray,
): boolean {
  if (![gy, x, w, rstd, gx, gw].every((a) => a instanceof Float32Array)) return false;
  const rows = x.length / d;
  const split = splitRows(rows, d);
  const tasks = split.tasks;
  const ptrs = run(QueueKind.rmsnormBackward, d, 0, split,
    { x: x as Float32Array, w: w as Float32Array, rstd: rstd as Float32Array, gy: gy as Float32Array },
    { x: rows * d, w: d, rstd: rows, gy: rows * d, gx: rows * d, gw: tasks.length * d });
  if (!ptrs) return false;
  const f32 = getPool().f32;
  gx.set(f32.subarray(ptrs.gx / 4, ptrs.gx / 4 + rows * d));
  // Partials in task order, so the sum does not depend on which thread ran which task.
  const acc = new Float64Array(d);
  for (let t = 0; t < tasks.length; t++) for (let i = 0; i < d; i++) acc[i] += f32[ptrs.gw / 4 + t * d + i];
  gw.set(acc);
  return true;
}
