// The fast f32 GEMM: copies operands into the shared WASM memory, cuts the work into a task queue, runs the SIMD kernel.
import type { GemmParams } from './gemm_params.ts';
import {
  MAX_TASKS, QUEUE_PTR, QueueField, QueueKind, defaultThreads, ensureMemory, ensureWorkers, getPool, postQueue,
  readyWorkers, runQueue, waitForWorkers, type Pool,
} from './gemm_pool.ts';
import { operandsBase, scratchBase } from './resident.ts';

// Micro-tile and cache blocking; MR/NR must match kernels/wasm/gemm_f32.ts. KC·NR floats of B (8 KiB) stay
// in L1 while the micro-kernel sweeps an MC×KC block of A (128 KiB, L2); measured in bench/NOTES.md.
const MR = 4;
const NR = 8;
const KC = 256;
const MC = 128;
const NC = 2048;
/** Each thread's packing scratch; the attention kernels put their own scratch after it. */
export const GEMM_WORK_BYTES = align((MC * KC + KC * NC + MR * NR) * 4, 4096);
/** The blocking the kernels are told to use (the attention kernels call the GEMM with it too). */
export const GEMM_BLOCKING = { kc: KC, mc: MC, nc: NC } as const;
/** Tasks per thread: enough that a thread the OS runs late (the machine is shared) only delays a small piece. */
const TASKS_PER_THREAD = 4;
/** A task keeps at least this many rows (columns): every row block packs all of B again, one element per
 *  2·rows flops, and at 16 rows that cost a quarter of the time of dYᵀ·X with k = 4096 (B streams from L3). */
const MIN_TASK_SIDE = 64;

/** Below this many flops (2·batch·m·n·k) one thread does it all: waking a worker, its futex calls and the
 *  duplicated packing cost ~10–20 µs of CPU, about 10% of a 128³ product (~120 µs on one core). */
let parallelMinFlops = 2 * 128 * 128 * 128;
let chunkBytes = 256 << 20;
let maxThreads = 0; // 0 = not decided yet; read from STILL_CPU_THREADS / the core count on first use
let workersAwaited = false;
let lastThreadsUsed = 0;
let lastThreadsDispatched = 0;

export function align(x: number, to: number): number {
  return Math.ceil(x / to) * to;
}

/** Caps the threads the f32 path may use (1 = main thread only). Workers already started stay idle. */
export function setGemmThreads(threads: number): void {
  if (!Number.isInteger(threads) || threads < 1) throw new Error(`setGemmThreads: expected a positive integer, got ${threads}`);
  maxThreads = threads;
}

/** The thread cap in effect. */
export function gemmThreads(): number {
  if (maxThreads === 0) maxThreads = defaultThreads();
  return maxThreads;
}

/** Sets the flop count (2·batch·m·n·k) from which work is split over threads (tests use 0 to force the
 *  split); returns the previous value so a caller can restore it. */
export function setGemmParallelMinFlops(flops: number): number {
  const previous = parallelMinFlops;
  parallelMinFlops = flops;
  return previous;
}

/** Sets how many operand bytes one round copies into WASM memory (batches beyond it run in chunks of items);
 *  returns the previous value. Tests lower it to exercise chunking. */
export function setGemmChunkBytes(bytes: number): number {
  const previous = chunkBytes;
  chunkBytes = bytes;
  return previous;
}

/** Threads that ran at least one task in the last f32 WASM call (1 = main thread only); for tests and benchmarks. */
export function gemmLastThreadsUsed(): number {
  return lastThreadsUsed;
}

/** Threads the last f32 WASM call handed its task queue to (1 = main thread only): the main thread plus
 *  every worker woken for it, each of which acknowledges before the call returns. Unlike
 *  gemmLastThreadsUsed this does not depend on which thread the OS happened to schedule first. */
export function gemmLastThreadsDispatched(): number {
  return lastThreadsDispatched;
}

/** Starts the workers now and blocks until they are ready (or timeoutMs); returns the threads available. */
export function warmGemmThreads(timeoutMs = 5000): number {
  const pool = getPool();
  ensureWorkers(pool, gemmThreads());
  workersAwaited = true;
  return 1 + waitForWorkers(pool, gemmThreads() - 1, timeoutMs);
}

/** How many threads to use for a call of `flops`, starting workers on the first call that wants them. */
export function pickThreads(pool: Pool, flops: number): number {
  const cap = gemmThreads();
  if (cap === 1 || flops < parallelMinFlops) return 1;
  ensureWorkers(pool, cap);
  if (!workersAwaited) {
    // Once per process: booting a worker takes ~20–40 ms, less than big GEMMs lose on one core.
    workersAwaited = true;
    waitForWorkers(pool, cap - 1, 2000);
  }
  return 1 + Math.min(readyWorkers(pool), cap - 1);
}

export interface Task {
  item: number;
  count: number;
  i0: number;
  rows: number;
  j0: number;
  cols: number;
}

/** Cuts one chunk of `count` items into about TASKS_PER_THREAD·threads tasks: groups of whole items when
 *  there are enough independent ones, otherwise row (or, when C is wide, column) blocks that each run
 *  over every item in order, so no two tasks write the same element of C. */
export function planTasks(count: number, m: number, n: number, threads: number, itemsIndependent: boolean): Task[] {
  if (threads <= 1) return [{ item: 0, count, i0: 0, rows: m, j0: 0, cols: n }];
  const target = Math.min(MAX_TASKS, TASKS_PER_THREAD * threads);
  const tasks: Task[] = [];
  if (itemsIndependent && count >= 2 * threads) {
    const per = Math.ceil(count / target);
    for (let item = 0; item < count; item += per) tasks.push({ item, count: Math.min(per, count - item), i0: 0, rows: m, j0: 0, cols: n });
  } else if (m >= n) {
    // A row block packs all of B again, so split the longer side: the panel repacked per task is the smaller one.
    for (const [i0, rows] of guidedBlocks(m, threads, MR)) tasks.push({ item: 0, count, i0, rows, j0: 0, cols: n });
  } else {
    for (const [j0, cols] of guidedBlocks(n, threads, NR)) tasks.push({ item: 0, count, i0: 0, rows: m, j0, cols });
  }
  return tasks;
}

/** [start, size] blocks of `extent`, each about a (2·threads)-th of what is left (multiples of `unit`, at least
 *  MIN_TASK_SIDE): big blocks first, small ones last, so the thread that finishes first waits for at most a
 *  small block. Equal blocks left the main thread blocked on the worker's last one for ~10% of a toy step. */
function guidedBlocks(extent: number, threads: number, unit: number): [number, number][] {
  const blocks: [number, number][] = [];
  for (let start = 0; start < extent;) {
    const size = Math.min(extent - start, Math.max(align(MIN_TASK_SIDE, unit), align(Math.ceil((extent - start) / (2 * threads)), unit)));
    blocks.push([start, size]);
    start += size;
  }
  return blocks;
}

/** Runs an f32 GEMM (already checked, out items not partly overlapping) in WASM. Returns false, having changed
 *  nothing, when the operands do not fit the shared memory; the caller then uses the TS path. */
export function gemmWasmF32(p: GemmParams): boolean {
  const a = p.a as Float32Array, b = p.b as Float32Array, out = p.out as Float32Array;
  const { batch, m, n, k, transA, transB, accumulate } = p;
  const aOffset = p.aOffset ?? 0, bOffset = p.bOffset ?? 0, outOffset = p.outOffset ?? 0;
  const aItem = m * k, bItem = k * n, cItem = m * n;
  // An operand with stride 0 (or a batch of one) is copied once and read by every item.
  const onceA = p.strideA === 0 || batch === 1;
  const onceB = p.strideB === 0 || batch === 1;
  const onceC = p.strideOut === 0 || batch === 1;
  const perItem = 4 * ((onceA ? 0 : aItem) + (onceB ? 0 : bItem) + (onceC ? 0 : cItem));
  const fixed = 4 * ((onceA ? aItem : 0) + (onceB ? bItem : 0) + (onceC ? cItem : 0));
  const chunk = perItem === 0 ? batch : Math.max(1, Math.min(batch, Math.floor((chunkBytes - fixed) / perItem)));

  const pool = getPool();
  const threads = pickThreads(pool, 2 * batch * m * n * k);
  const aPtr = operandsBase(pool, threads, GEMM_WORK_BYTES);
  const bPtr = align(aPtr + 4 * aItem * (onceA ? 1 : chunk), 16);
  const cPtr = align(bPtr + 4 * bItem * (onceB ? 1 : chunk), 16);
  if (!ensureMemory(pool, cPtr + 4 * cItem * (onceC ? 1 : chunk))) return false;

  // op(A)(i,q) = A[i*ars + q*acs] and op(B)(q,j) = B[q*brs + j*bcs] inside the dense copies.
  const ars = transA ? 1 : k, acs = transA ? m : 1;
  const brs = transB ? 1 : n, bcs = transB ? k : 1;
  const sa = onceA ? 0 : 4 * aItem, sb = onceB ? 0 : 4 * bItem, sc = onceC ? 0 : 4 * cItem;

  let f32 = pool.f32;
  if (onceA) f32.set(a.subarray(aOffset, aOffset + aItem), aPtr / 4);
  if (onceB) f32.set(b.subarray(bOffset, bOffset + bItem), bPtr / 4);
  if (onceC && accumulate) f32.set(out.subarray(outOffset, outOffset + cItem), cPtr / 4);

  lastThreadsUsed = 1;
  lastThreadsDispatched = 1;
  for (let b0 = 0; b0 < batch; b0 += chunk) {
    const count = Math.min(chunk, batch - b0);
    for (let i = 0; i < count; i++) {
      const ao = aOffset + (b0 + i) * p.strideA, bo = bOffset + (b0 + i) * p.strideB, oo = outOffset + (b0 + i) * p.strideOut;
      if (!onceA) f32.set(a.subarray(ao, ao + aItem), aPtr / 4 + i * aItem);
      if (!onceB) f32.set(b.subarray(bo, bo + bItem), bPtr / 4 + i * bItem);
      if (!onceC && accumulate) f32.set(out.subarray(oo, oo + cItem), cPtr / 4 + i * cItem);
    }
    const tasks = planTasks(count, m, n, threads, !onceC);
    postQueue(pool, QueueKind.gemm, aPtr, tasks.map((t) => [t.item, t.count, t.i0, t.rows, t.j0, t.cols]));
    const i32 = pool.i32;
    const q = QUEUE_PTR / 4;
    i32[q + QueueField.b] = bPtr;
    i32[q + QueueField.c] = cPtr;
    i32[q + QueueField.k] = k;
    i32[q + QueueField.ars] = ars;
    i32[q + QueueField.acs] = acs;
    i32[q + QueueField.brs] = brs;
    i32[q + QueueField.bcs] = bcs;
    i32[q + QueueField.ldc] = n;
    i32[q + QueueField.accumulate] = accumulate ? 1 : 0;
    i32[q + QueueField.sa] = sa;
    i32[q + QueueField.sb] = sb;
    i32[q + QueueField.sc] = sc;
    i32[q + QueueField.kc] = KC;
    i32[q + QueueField.mc] = MC;
    i32[q + QueueField.nc] = NC;
    const workers = Math.min(threads, tasks.length) - 1;
    lastThreadsDispatched = Math.max(lastThreadsDispatched, 1 + workers);
    lastThreadsUsed = Math.max(lastThreadsUsed, runQueue(pool, workers, scratchBase(), GEMM_WORK_BYTES));
    f32 = pool.f32;
    if (!onceC) {
      for (let i = 0; i < count; i++) {
        const oo = outOffset + (b0 + i) * p.strideOut;
        out.set(f32.subarray(cPtr / 4 + i * cItem, cPtr / 4 + (i + 1) * cItem), oo);
      }
    }
  }
  if (onceC) out.set(f32.subarray(cPtr / 4, cPtr / 4 + cItem), outOffset);
  return true;
}
