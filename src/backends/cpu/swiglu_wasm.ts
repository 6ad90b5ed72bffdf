// The CPU backend's f32 SwiGLU in WASM (kernels/wasm/swiglu_f32.ts): the operands go into the shared memory,
// the elements are cut into ranges for the thread pool, the results come back. model_ops.ts stays the path
// for f64 (gradient checks) and for sizes that do not fit the memory.
import type { FloatArray } from '../../tensor/dtype.ts';
import { align, pickThreads } from './gemm_wasm.ts';
import { QueueKind, ensureMemory, getPool, postQueue, runQueue } from './gemm_pool.ts';
import { scratchBase } from './resident.ts';

/** Parameter block fields, same numbers as kernels/wasm/swiglu_f32.ts E. */
const E = { gate: 0, up: 1, out: 2, gy: 3, gGate: 4, gUp: 5 } as const;
const PARAM_BYTES = 64;
/** Elements per task at least: below this a thread's hand-off costs more than its share of the work. */
const MIN_TASK = 16384;

/** Runs one SwiGLU pass with inputs `ins` and outputs `outs` (named by E); false, having written nothing, when it cannot run. */
function run(kind: number, ins: Partial<Record<keyof typeof E, FloatArray>>, outs: Partial<Record<keyof typeof E, FloatArray>>): boolean {
  const all = [...Object.values(ins), ...Object.values(outs)];
  if (!all.every((x) => x instanceof Float32Array)) return false;
  const n = all[0]!.length;
  const pool = getPool();
  const params = scratchBase();
  const ptrs: Partial<Record<keyof typeof E, number>> = {};
  let at = params + PARAM_BYTES;
  for (const name of [...Object.keys(ins), ...Object.keys(outs)] as (keyof typeof E)[]) {
    ptrs[name] = at;
    at = align(at + 4 * n, 16);
  }
  if (!ensureMemory(pool, at)) return false;
  for (const [name, data] of Object.entries(ins) as [keyof typeof E, Float32Array][]) pool.f32.set(data, ptrs[name]! / 4);
  for (const [name, ptr] of Object.entries(ptrs)) pool.i32[params / 4 + E[name as keyof typeof E]] = ptr;
  const threads = Math.min(pickThreads(pool, n * 64), Math.max(1, Math.floor(n / MIN_TASK)));
  const pieces = threads === 1 ? 1 : 4 * threads;
  const per = align(Math.ceil(n / pieces), 4);
  const tasks: number[][] = [];
  for (let start = 0; start < n; start += per) tasks.push([start, Math.min(per, n - start)]);
  postQueue(pool, kind, params, tasks);
  runQueue(pool, Math.min(threads, tasks.length) - 1, scratchBase(), 0);
  for (const [name, data] of Object.entries(outs) as [keyof typeof E, Float32Array][]) data.set(pool.f32.subarray(ptrs[name]! / 4, ptrs[name]! / 4 + n));
  return true;
}

/** out = silu(gate) · up. */
export function swigluWasmF32(gate: FloatArray, up: FloatArray, out: FloatArray): boolean {
  return run(QueueKind.swiglu, { gate, up }, { out });
}

/** gGate, gUp from the output gradient gy. */
export function swigluBackwardWasmF32(gy: FloatArray, gate: FloatArray, up: FloatArray, gGate: FloatArray, gUp: FloatArray): boolean {
  return run(QueueKind.swigluBackward, { gate, up, gy }, { gGate, gUp });
}
