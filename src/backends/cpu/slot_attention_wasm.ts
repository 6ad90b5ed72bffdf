// The CPU backend's f32 decode attention in WASM (kernels/wasm/slot_attention_f32.ts). A resident cache
// (resident.ts, as the sampler's slot cache is) is read in place; otherwise each row's used positions [0, kvLen),
// one contiguous run of its slot, are copied into the shared memory. Then one task per row runs on the pool. kv.ts slotAttention stays the path for other types, for sizes that
// do not fit, and for bad rows (whose errors it reports).
import type { FloatArray } from '../../tensor/dtype.ts';
import type { SlotAttentionDims } from './kv.ts';
import { align, pickThreads } from './gemm_wasm.ts';
import { MAX_TASKS, QueueKind, ensureMemory, getPool, postQueue, runQueue } from './gemm_pool.ts';
import { operandsBase, residentOffset, scratchBase } from './resident.ts';

/** Parameter block fields, same numbers as kernels/wasm/slot_attention_f32.ts S. */
const S = { q: 0, o: 1, t: 2, hq: 3, hkv: 4, d: 5, scale: 6, maxLen: 7 } as const;
const PARAM_BYTES = 64;

export function slotAttentionWasmF32(
  q: FloatArray, k: FloatArray, v: FloatArray, p: SlotAttentionDims, slots: Int32Array, kvLens: Int32Array, o: FloatArray,
): boolean {
  if (!(q instanceof Float32Array && k instanceof Float32Array && v instanceof Float32Array && o instanceof Float32Array)) return false;
  if (p.b > MAX_TASKS) return false;
  let positions = 0;
  for (let b = 0; b < p.b; b++) {
    const len = kvLens[b];
    if (slots[b] < 0 || slots[b] >= p.slots || len < p.t || len > p.maxLen) return false; // the reference names the fault
    positions += len;
  }
  const row = p.hkv * p.d;
  const pool = getPool();
  const threads = Math.min(p.b, pickThreads(pool, 4 * p.t * p.hq * p.d * positions));
  const workBytes = align(4 * (p.maxLen + p.d), 64);
  const params = operandsBase(pool, threads, workBytes);
  const qPtr = params + PARAM_BYTES;
  const oPtr = align(qPtr + 4 * q.length, 16);
  let at = align(oPtr + 4 * o.length, 16);
  const [kAt, vAt] = [residentOffset(k), residentOffset(v)];
  const inPlace = kAt !== undefined && vAt !== undefined;
  if (!ensureMemory(pool, at + (inPlace ? 0 : 8 * positions * row))) return false;
  const { f32, i32 } = pool;
  f32.set(q, qPtr / 4);
  const tasks: number[][] = [];
  for (let b = 0; b < p.b; b++) {
    const from = slots[b] * p.maxLen * row;
    const n = kvLens[b] * row;
    if (inPlace) {
      tasks.push([b, kAt + 4 * from, vAt + 4 * from, kvLens[b]]);
      continue;
    }
    f32.set(k.subarray(from, from + n), at / 4);
    f32.set(v.subarray(from, from + n), at / 4 + n);
    tasks.push([b, at, at + 4 * n, kvLens[b]]);
    at += 8 * n;
  }
  const base = params / 4;
  i32[base + S.q] = qPtr;
  i32[base + S.o] = oPtr;
  i32[base + S.t] = p.t;
  i32[base + S.hq] = p.hq;
  i32[base + S.hkv] = p.hkv;
  i32[base + S.d] = p.d;
  f32[base + S.scale] = p.scale;
  i32[base + S.maxLen] = p.maxLen;
  postQueue(pool, QueueKind.slotAttention, params, tasks);
  runQueue(pool, threads - 1, scratchBase(), workBytes);
  o.set(pool.f32.subarray(oPtr / 4, oPtr / 4 + o.length));
  return true;
}
