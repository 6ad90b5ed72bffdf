// The CPU backend's f32 attention in WASM (kernels/wasm/attention_f32.ts): copies q, k, v (and, backward, o,
// lse and the output gradient) into the shared memory once, runs one task per (batch row, KV head) on the
// GEMM's thread pool, and copies the results out. Same math and masks as attention_blocked.ts, which stays
// the path for f64 (gradient checks) and for shapes that do not fit the memory.
import type { FloatArray } from '../../tensor/dtype.ts';
import type { AttentionDims } from './attention.ts';
import { keyRanges } from './attention.ts';
import { GEMM_BLOCKING, GEMM_WORK_BYTES, align, pickThreads } from './gemm_wasm.ts';
import { MAX_TASKS, QueueKind, ensureMemory, getPool, postQueue, runQueue } from './gemm_pool.ts';
import { operandsBase, scratchBase } from './resident.ts';

/** Query rows per block, as in attention_blocked.ts. */
const BLOCK = 64;

/** Parameter block fields, same numbers as kernels/wasm/attention_f32.ts P. */
const P = {
  q: 0, k: 1, v: 2, o: 3, lse: 4, sum: 5, go: 6, gq: 7, gk: 8, gv: 9, lo: 10, hi: 11,
  b: 12, t: 13, s: 14, hq: 15, hkv: 16, d: 17, scale: 18, scratch: 19, kc: 20, mc: 21, nc: 22, block: 23,
} as const;
const PARAM_BYTES = 128;

type Buffers = Partial<Record<'q' | 'k' | 'v' | 'o' | 'lse' | 'sum' | 'go' | 'gq' | 'gk' | 'gv' | 'lo' | 'hi', number>>;

/** Lays out the named arrays (element counts) after the threads' scratch; returns their byte offsets, the
 *  threads to use and the per-thread scratch size, or null when the shared memory cannot hold them. */
function layout(p: AttentionDims, sizes: Buffers, backward: boolean) {
  const pool = getPool();
  const tasks = p.b * p.hkv;
  if (tasks > MAX_TASKS) return null;
  const threads = Math.min(tasks, pickThreads(pool, 4 * p.b * p.hq * p.t * p.s * p.d * (backward ? 2 : 1)));
  const workBytes = GEMM_WORK_BYTES + align(4 * (2 * BLOCK * p.s + p.t), 64);
  let at = operandsBase(pool, threads, workBytes);
  const params = at;
  at += PARAM_BYTES;
  const ptrs: Buffers = {};
  for (const [name, n] of Object.entries(sizes)) {
    ptrs[name as keyof Buffers] = at;
    at = align(at + 4 * n!, 16);
  }
  if (!ensureMemory(pool, at)) return null;
  return { pool, threads, workBytes, params, ptrs, tasks };
}

/** Writes the parameter block and the queue (one task per batch row × KV head), then drains it. */
function run(l: NonNullable<ReturnType<typeof layout>>, p: AttentionDims, kind: number): void {
  const { pool, params, ptrs } = l;
  const i32 = pool.i32;
  const base = params / 4;
  for (const [name, at] of Object.entries(ptrs)) i32[base + P[name as keyof typeof P]] = at;
  i32[base + P.b] = p.b;
  i32[base + P.t] = p.t;
  i32[base + P.s] = p.s;
  i32[base + P.hq] = p.hq;
  i32[base + P.hkv] = p.hkv;
  i32[base + P.d] = p.d;
  pool.f32[base + P.scale] = p.scale;
  i32[base + P.scratch] = GEMM_WORK_BYTES;
  i32[base + P.kc] = GEMM_BLOCKING.kc;
  i32[base + P.mc] = GEMM_BLOCKING.mc;
  i32[base + P.nc] = GEMM_BLOCKING.nc;
  i32[base + P.block] = BLOCK;
  postQueue(pool, kind, params, Array.from({ length: l.tasks }, (_, t) => [t]));
  runQueue(pool, l.threads - 1, scratchBase(), l.workBytes);
}

function put(pool: { f32: Float32Array; i32: Int32Array }, at: number | undefined, data: FloatArray | Int32Array): void {
  if (data instanceof Int32Array) pool.i32.set(data, at! / 4);
  else pool.f32.set(data, at! / 4);
}

function take(pool: { f32: Float32Array }, at: number | undefined, out: FloatArray): void {
  out.set(pool.f32.subarray(at! / 4, at! / 4 + out.length));
}

/** Whether every array is f32, the kernels' type (f64 runs the TS path, for gradient checks). */
function allF32(xs: FloatArray[]): boolean {
  return xs.every((x) => x instanceof Float32Array);
}

/** Forward: o [B, T, Hq, D] and lse [B, T, Hq]. Returns false, having written nothing, when it cannot run
 *  (not f32, or too large for the shared memory). */
export function attentionWasmF32(q: FloatArray, k: FloatArray, v: FloatArray, p: AttentionDims, o: FloatArray, lse: FloatArray): boolean {
  if (!allF32([q, k, v, o, lse])) return false;
  const rows = p.b * p.t * p.hq;
  const l = layout(p, { q: q.length, k: k.length, v: v.length, o: o.length, lse: rows, sum: rows, lo: p.b * p.t, hi: p.b * p.t }, false);
  if (!l) return false;
  const { lo, hi } = keyRanges(p);
  put(l.pool, l.ptrs.q, q);
  put(l.pool, l.ptrs.k, k);
  put(l.pool, l.ptrs.v, v);
  put(l.pool, l.ptrs.lo, lo);
  put(l.pool, l.ptrs.hi, hi);
  run(l, p, QueueKind.attention);
  take(l.pool, l.ptrs.o, o);
  // The kernel leaves each row's max and softmax denominator; lse = max + log(sum).
  const f32 = l.pool.f32;
  const max = l.ptrs.lse! / 4, sum = l.ptrs.sum! / 4;
  for (let i = 0; i < rows; i++) lse[i] = f32[max + i] + Math.log(f32[sum + i]);
  return true;
}

/** Backward: gq, gk, gv from the output gradient go and the forward's o and lse. False when it cannot run. */
export function attentionBackwardWasmF32(
  go: FloatArray, q: FloatArray, k: FloatArray, v: FloatArray, o: FloatArray, lse: FloatArray, p: AttentionDims,
  gq: FloatArray, gk: FloatArray, gv: FloatArray,
): boolean {
  if (!allF32([go, q, k, v, o, lse, gq, gk, gv])) return false;
  const l = layout(p, {
    q: q.length, k: k.length, v: v.length, o: o.length, lse: lse.length, go: go.length, gq: gq.length, gk: gk.length, gv: gv.length,
    lo: p.b * p.t, hi: p.b * p.t,
  }, true);
  if (!l) return false;
  const { lo, hi } = keyRanges(p);
  for (const [name, data] of [['q', q], ['k', k], ['v', v], ['o', o], ['lse', lse], ['go', go], ['lo', lo], ['hi', hi]] as const) put(l.pool, l.ptrs[name], data);
  // gk and gv accumulate over the query heads of a group and over query blocks.
  l.pool.f32.fill(0, l.ptrs.gk! / 4, l.ptrs.gk! / 4 + gk.length);
  l.pool.f32.fill(0, l.ptrs.gv! / 4, l.ptrs.gv! / 4 + gv.length);
  run(l, p, QueueKind.attentionBackward);
  take(l.pool, l.ptrs.gq, gq);
  take(l.pool, l.ptrs.gk, gk);
  take(l.pool, l.ptrs.gv, gv);
  return true;
}
