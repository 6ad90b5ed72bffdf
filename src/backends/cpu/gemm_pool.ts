// The shared WASM memory, one instance of the CPU kernel module per thread, and the worker threads that drain
// a task queue (GEMM or attention tasks).
//
// gemm() must stay synchronous (the autodiff engine is), so the main thread wakes the workers through slots
// in the shared memory, drains the same queue itself, and then blocks in Atomics.wait until every worker has
// finished its last task; Node allows that on the main thread. Workers are plain-JS `eval` workers, so
// neither tsx nor an esbuild bundle has a worker file to find.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { kernelBytes, kernelFlavour, type KernelFlavour } from './kernel_module.ts';

const PAGE = 65536;
/** Bytes per thread slot; slot t starts at t·SLOT_BYTES in page 0, which never moves when the memory grows.
 *  One cache line each, so a worker polling its slot does not disturb the others. */
const SLOT_BYTES = 64;
const MAX_THREADS = 64;
/** The task queue lives in page 0 after the slots: a 128-byte header, then 24-byte task records. */
export const QUEUE_PTR = MAX_THREADS * SLOT_BYTES;
export const QUEUE_HEADER_BYTES = 128;
export const TASK_BYTES = 24;
export const MAX_TASKS = Math.floor((PAGE - QUEUE_PTR - QUEUE_HEADER_BYTES) / TASK_BYTES);
/** Resident tensors (resident.ts), then each call's scratch and operands, start at page 1. */
export const FIRST_FREE_BYTE = PAGE;

// Slot fields (i32 indices).
const F_SEQ = 0;
const F_DONE = 1;
const F_READY = 2;
const F_ERROR = 3;
const F_QUEUE = 4;
const F_WORK = 5;
const F_RAN = 6;

/** Queue header fields, same numbers as in kernels/wasm/queue.ts. Attention queues put their parameter block at `a`. */
export const QueueField = {
  next: 0, tasks: 1, a: 2, b: 3, c: 4, k: 5, ars: 6, acs: 7, brs: 8, bcs: 9, ldc: 10, accumulate: 11,
  sa: 12, sb: 13, sc: 14, kc: 15, mc: 16, nc: 17, kind: 18,
} as const;

/** What a queue's tasks are (kernels/wasm/queue.ts Kind). */
export const QueueKind = { gemm: 0, attention: 1, attentionBackward: 2, swiglu: 3, swigluBackward: 4, slotAttention: 5, rmsnorm: 6, rmsnormBackward: 7, rope: 8 } as const;

// Runs inside each worker as a CommonJS script. It must not import project files: it is only a string here.
const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { memory, module, slot } = workerData;
const instance = new WebAssembly.Instance(module, { env: { memory } });
const ctl = new Int32Array(memory.buffer, slot, ${SLOT_BYTES / 4});
// Read the sequence number before announcing readiness: the main thread may post work the moment it sees READY.
let seen = Atomics.load(ctl, ${F_SEQ});
Atomics.store(ctl, ${F_READY}, 1);
Atomics.notify(ctl, ${F_READY});
// Idle workers sleep in Atomics.wait rather than poll: waking one took ~15 µs (median) on the shared 2-core
// dev box, while a polling worker competed with the main thread and other processes and answered in ~160 µs.
for (;;) {
  let seq;
  while ((seq = Atomics.load(ctl, ${F_SEQ})) === seen) Atomics.wait(ctl, ${F_SEQ}, seen);
  seen = seq;
  try {
    ctl[${F_RAN}] = instance.exports.runQueue(ctl[${F_QUEUE}], ctl[${F_WORK}]);
  } catch (err) {
    console.error('still cpu kernel worker: task failed:', err);
    Atomics.store(ctl, ${F_ERROR}, 1);
  }
  Atomics.store(ctl, ${F_DONE}, seq);
  Atomics.notify(ctl, ${F_DONE});
}
`;

export interface Pool {
  memory: WebAssembly.Memory;
  module: WebAssembly.Module;
  /** Which build of the kernels runs (kernel_module.ts). */
  flavour: KernelFlavour;
  /** The most bytes the memory may grow to (its reservation). */
  maximumBytes: number;
  /** The main thread's own instance of runQueue. */
  runQueue: (queue: number, work: number) => number;
  workers: Worker[];
  /** Whole-memory views, refreshed after every grow. */
  i32: Int32Array;
  f32: Float32Array;
}

let pool: Pool | null = null;

/** A shared memory as large as the platform lets us reserve: a shared memory cannot move, so V8
 *  reserves its maximum address range up front, and a small sandbox may refuse 4 GiB. */
function createMemory(): { memory: WebAssembly.Memory; maximumBytes: number } {
  for (const maximum of [65536, 16384, 4096]) {
    try {
      return { memory: new WebAssembly.Memory({ initial: 1, maximum, shared: true }), maximumBytes: maximum * PAGE };
    } catch {
      // try a smaller reservation
    }
  }
  throw new Error('gemm_pool.ts: could not reserve a shared WebAssembly.Memory of even 256 MiB');
}

function refreshViews(p: Pool): void {
  p.i32 = new Int32Array(p.memory.buffer);
  p.f32 = new Float32Array(p.memory.buffer);
}

/** The pool, created on first use with no workers; ensureWorkers() adds them. */
export function getPool(): Pool {
  if (pool) return pool;
  const flavour = kernelFlavour();
  const module = new WebAssembly.Module(kernelBytes(flavour));
  const { memory, maximumBytes } = createMemory();
  const instance = new WebAssembly.Instance(module, { env: { memory } });
  const runQueue = instance.exports.runQueue as (queue: number, work: number) => number;
  pool = { memory, maximumBytes, module, flavour, runQueue, workers: [], i32: new Int32Array(0), f32: new Float32Array(0) };
  refreshViews(pool);
  return pool;
}

/** Makes the memory at least `bytes` long; returns false if the reservation is too small. */
export function ensureMemory(p: Pool, bytes: number): boolean {
  const have = p.memory.buffer.byteLength;
  if (bytes <= have) return true;
  try {
    p.memory.grow(Math.ceil((bytes - have) / PAGE));
  } catch {
    return false;
  }
  refreshViews(p);
  return true;
}

/** Starts workers until `threads - 1` exist (the main thread is the other one). Returns immediately. */
export function ensureWorkers(p: Pool, threads: number): void {
  const want = Math.min(threads, MAX_THREADS) - 1;
  while (p.workers.length < want) {
    const slot = (p.workers.length + 1) * SLOT_BYTES;
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      // Inheriting tsx's loader flags would make every worker boot the TypeScript loader for nothing.
      execArgv: [],
      workerData: { memory: p.memory, module: p.module, slot },
    });
    // Idle workers must not keep the process alive.
    worker.unref();
    p.workers.push(worker);
  }
}

function fieldIndex(thread: number, field: number): number {
  return (thread * SLOT_BYTES) / 4 + field;
}

/** How many workers, counted from the first, have finished booting. */
export function readyWorkers(p: Pool): number {
  let ready = 0;
  while (ready < p.workers.length && Atomics.load(p.i32, fieldIndex(ready + 1, F_READY)) === 1) ready++;
  return ready;
}

/** Blocks until the first `count` workers are ready or `timeoutMs` passes; returns how many are ready.
 *  A worker boots on its own thread, so waiting here does not need the event loop. */
export function waitForWorkers(p: Pool, count: number, timeoutMs: number): number {
  const deadline = performance.now() + timeoutMs;
  for (let w = 1; w <= Math.min(count, p.workers.length); w++) {
    const idx = fieldIndex(w, F_READY);
    while (Atomics.load(p.i32, idx) !== 1) {
      const left = deadline - performance.now();
      if (left <= 0) return readyWorkers(p);
      Atomics.wait(p.i32, idx, 0, Math.min(left, 50));
    }
  }
  return readyWorkers(p);
}

/** Drains the queue at QUEUE_PTR on this thread and `workers` ready workers; thread t packs into
 *  workBase + t·workBytes. Returns how many threads ran at least one task. */
export function runQueue(p: Pool, workers: number, workBase: number, workBytes: number): number {
  const i32 = p.i32;
  const seqs: number[] = [];
  for (let t = 1; t <= workers; t++) {
    const seq = (Atomics.load(i32, fieldIndex(t, F_SEQ)) + 1) | 0;
    seqs.push(seq);
    i32[fieldIndex(t, F_QUEUE)] = QUEUE_PTR;
    i32[fieldIndex(t, F_WORK)] = workBase + t * workBytes;
    i32[fieldIndex(t, F_RAN)] = 0;
    Atomics.store(i32, fieldIndex(t, F_SEQ), seq);
    Atomics.notify(i32, fieldIndex(t, F_SEQ));
  }
  let busy = p.runQueue(QUEUE_PTR, workBase) > 0 ? 1 : 0;
  let failed = 0;
  for (let t = 1; t <= workers; t++) {
    const idx = fieldIndex(t, F_DONE);
    let done: number;
    while ((done = Atomics.load(i32, idx)) !== seqs[t - 1]) Atomics.wait(i32, idx, done);
    if (Atomics.exchange(i32, fieldIndex(t, F_ERROR), 0) !== 0) failed = t;
    if (i32[fieldIndex(t, F_RAN)] > 0) busy++;
  }
  if (failed) throw new Error(`gemm_pool.ts: worker thread ${failed} failed a kernel task (its error is on stderr)`);
  return busy;
}

/** Writes a queue of `kind` whose parameter block is at byte `params` (the header's `a`), with one task record
 *  (up to six i32) per entry of `tasks`; drain it with runQueue. */
export function postQueue(p: Pool, kind: number, params: number, tasks: readonly (readonly number[])[]): void {
  if (tasks.length > MAX_TASKS) throw new Error(`gemm_pool.ts: ${tasks.length} tasks exceed the queue's ${MAX_TASKS}`);
  const i32 = p.i32;
  const q = QUEUE_PTR / 4;
  i32[q + QueueField.next] = 0;
  i32[q + QueueField.tasks] = tasks.length;
  i32[q + QueueField.kind] = kind;
  i32[q + QueueField.a] = params;
  for (let t = 0; t < tasks.length; t++) i32.set(tasks[t], (QUEUE_PTR + QUEUE_HEADER_BYTES + t * TASK_BYTES) / 4);
}

/** Default thread count: STILL_CPU_THREADS if set, else every core the OS offers us. */
export function defaultThreads(): number {
  const env = process.env.STILL_CPU_THREADS;
  if (env !== undefined && env !== '') {
    const n = Number(env);
    if (!Number.isInteger(n) || n < 1) throw new Error(`STILL_CPU_THREADS: expected a positive integer, got '${env}'`);
    return Math.min(n, MAX_THREADS);
  }
  return Math.min(availableParallelism(), MAX_THREADS);
}
