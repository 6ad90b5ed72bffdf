// One call of a row- or element-parallel kernel of the CPU kernel module (SwiGLU, RMSNorm, RoPE): its operands laid
// out after a parameter block in the shared memory, the inputs copied in, the tasks posted and run on the thread
// pool. The caller copies its outputs back from the returned offsets.
import { align, pickThreads } from './gemm_wasm.ts';
import { ensureMemory, getPool, postQueue, runQueue } from './gemm_pool.ts';
import { scratchBase } from './resident.ts';

const PARAM_BYTES = 64;
/** Elements per task at least: below this a thread's hand-off costs more than its share of the work. */
const MIN_TASK_ELEMENTS = 16384;

export interface Split {
  threads: number;
  /** Task records, e.g. [start, count]. */
  tasks: number[][];
}

/** Threads that pay for a kernel over `elements` elements (1 below a few tasks' worth of work). */
export function kernelThreads(elements: number): number {
  return Math.min(pickThreads(getPool(), elements * 64), Math.max(1, Math.floor(elements / MIN_TASK_ELEMENTS)));
}

/** Task records [start, count] covering `units` in blocks of `per`. */
export function blocks(units: number, per: number): number[][] {
  const tasks: number[][] = [];
  for (let start = 0; start < units; start += per) tasks.push([start, Math.min(per, units - start)]);
  return tasks;
}

/** `units` rows (or elements) of `unitElements` elements each, cut into a few tasks per thread that pays at this size. */
export function splitWork(units: number, unitElements: number, multipleOf = 1): Split {
  const threads = kernelThreads(units * unitElements);
  const pieces = threads === 1 ? 1 : 4 * threads;
  return { threads, tasks: blocks(units, align(Math.ceil(units / pieces), multipleOf)) };
}

/** An operand: its parameter-block field, its length in 4-byte elements, and its data when it is an input. */
export interface Operand {
  field: number;
  length: number;
  input?: Float32Array | Int32Array;
}

/** Runs the `kind` tasks of `split` over `operands` (plus i32 or f32 scalars written to their fields); returns
 *  each operand's element offset into the pool's views, or null, having run nothing, when they do not fit. */
export function callKernel<K extends string>(
  kind: number, operands: Record<K, Operand>, split: Split, scalars: { field: number; i32?: number; f32?: number }[] = [],
): Record<K, number> | null {
  const pool = getPool();
  const params = scratchBase();
  const offsets = {} as Record<K, number>;
  let at = params + PARAM_BYTES;
  for (const name of Object.keys(operands) as K[]) {
    offsets[name] = at / 4;
    at = align(at + 4 * operands[name].length, 16);
  }
  if (!ensureMemory(pool, at)) return null;
  for (const name of Object.keys(operands) as K[]) {
    const { field, input } = operands[name];
    pool.i32[params / 4 + field] = offsets[name] * 4;
    if (input instanceof Int32Array) pool.i32.set(input, offsets[name]);
    else if (input) pool.f32.set(input, offsets[name]);
  }
  for (const s of scalars) {
    if (s.f32 !== undefined) pool.f32[params / 4 + s.field] = s.f32;
    else pool.i32[params / 4 + s.field] = s.i32 ?? 0;
  }
  postQueue(pool, kind, params, split.tasks);
  runQueue(pool, Math.min(split.threads, split.tasks.length) - 1, scratchBase(), 0);
  return offsets;
}

/** Copies `out.length` floats at element offset `offset` of the pool's memory into `out`. */
export function readBack(offset: number, out: Float32Array): void {
  out.set(getPool().f32.subarray(offset, offset + out.length));
}
