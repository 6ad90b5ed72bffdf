// Resident tensors: f32 arrays that live in the kernels' shared WebAssembly memory, so a kernel reads them in
// place instead of copying them in on every call. The KV cache is the one that pays: a decode step reads every
// row's cached keys and values, and copying them in was a fifth of a toy decode step.
//
// Layout of the memory from page 1: the resident arena [FIRST_FREE_BYTE, scratchBase()), then each kernel
// call's scratch and operands from scratchBase() up. A call's scratch is transient, so the arena can grow
// into it between calls. Freed blocks are kept by size and reused (caches of one shape come and go together).
import { FIRST_FREE_BYTE, ensureMemory, getPool, type Pool } from './gemm_pool.ts';

/** The arena takes at most a quarter of the memory's reservation (and 1 GiB): the rest is kernels' scratch. */
const ARENA_SHARE = 4;
const ARENA_MAX_BYTES = 2 ** 30;
const ALIGN = 64;

let arenaEnd = FIRST_FREE_BYTE;
const free = new Map<number, number[]>();
const offsets = new WeakMap<Float32Array, number>();
/** Frees a block whose tensor was dropped without dispose (its view collected). */
const collected = new FinalizationRegistry<{ at: number; bytes: number }>((b) => keep(b.at, b.bytes));

function keep(at: number, bytes: number): void {
  const list = free.get(bytes) ?? [];
  list.push(at);
  free.set(bytes, list);
}

/** Where each kernel call's scratch starts: above every resident block. */
export function scratchBase(): number {
  return arenaEnd;
}

/** Where a kernel call's operands and parameter block start: after the scratch of each thread that may run
 *  (workBytes each, for every started worker too, whose slot points at its own scratch). */
export function operandsBase(pool: Pool, threads: number, workBytes: number): number {
  return scratchBase() + Math.max(threads, pool.workers.length + 1) * workBytes;
}

/** A zeroed f32 array of n elements in the shared memory, or null when the arena is full. */
export function residentF32(n: number): Float32Array | null {
  const pool = getPool();
  const bytes = Math.ceil((4 * n) / ALIGN) * ALIGN;
  let at = free.get(bytes)?.pop();
  if (at === undefined) {
    const cap = Math.min(ARENA_MAX_BYTES, pool.maximumBytes / ARENA_SHARE);
    if (arenaEnd + bytes - FIRST_FREE_BYTE > cap || !ensureMemory(pool, arenaEnd + bytes)) return null;
    at = arenaEnd;
    arenaEnd += bytes;
  }
  const view = new Float32Array(pool.memory.buffer, at, n);
  view.fill(0); // the block may hold an earlier call's scratch or a freed tensor
  offsets.set(view, at);
  collected.register(view, { at, bytes }, view);
  return view;
}

/** Byte offset of a resident array in the shared memory, or undefined for any other array. */
export function residentOffset(x: ArrayLike<number>): number | undefined {
  return x instanceof Float32Array ? offsets.get(x) : undefined;
}

/** Returns a resident array's block to the arena; false (and nothing done) for any other array. */
export function freeResident(x: ArrayLike<number>): boolean {
  const at = residentOffset(x);
  if (at === undefined) return false;
  const view = x as Float32Array;
  offsets.delete(view);
  collected.unregister(view);
  keep(at, Math.ceil(view.byteLength / ALIGN) * ALIGN);
  return true;
}
