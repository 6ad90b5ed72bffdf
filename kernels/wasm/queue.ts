// The task queue every thread drains (kernels/wasm/cpu_kernels.ts runQueue): a 128-byte header, then 24-byte
// task records. The JS side (src/backends/cpu/gemm_pool.ts) writes the same field numbers.

export const Q_HEADER_BYTES: usize = 128;
export const TASK_BYTES: usize = 24;

/** Header fields (i32 indices). GEMM queues use A…NC; attention queues put their parameter block at A. */
export enum Q { NEXT = 0, TASKS = 1, A = 2, B = 3, C = 4, K = 5, ARS = 6, ACS = 7, BRS = 8, BCS = 9, LDC = 10, ACC = 11,
  SA = 12, SB = 13, SC = 14, KC = 15, MC = 16, NC = 17, KIND = 18 }

/** What a queue's tasks are. */
export enum Kind { GEMM = 0, ATTENTION = 1, ATTENTION_BACKWARD = 2, SWIGLU = 3, SWIGLU_BACKWARD = 4, SLOT_ATTENTION = 5, RMSNORM = 6,
  RMSNORM_BACKWARD = 7, ROPE = 8 }

@inline export function field(base: usize, i: i32): i32 {
  return load<i32>(base + (<usize>i << 2));
}

/** The task record t of the queue at q. */
@inline export function taskRecord(q: usize, t: i32): usize {
  return q + Q_HEADER_BYTES + <usize>t * TASK_BYTES;
}
