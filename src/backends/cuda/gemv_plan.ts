// When and how fusedLinear runs as the fused_gemv kernel (kernels/cuda/fused.cu) instead of a cuBLASLt GEMM:
// few rows (a decode step), K in whole 16-byte chunks, and the staged rows within a shared-memory budget.
// The grid gives every SM two blocks or more (a narrow output splits K over several warps per column) and is
// capped at a few blocks per SM, which then stride over the columns.

/** Most rows of x the kernel takes (its instances hold 1, 2, 4 or 8 rows of accumulators). */
export const GEMV_MAX_ROWS = 8;
/** Shared memory for the staged rows of x (M·K elements): below every sm_80+ GPU's per-block limit. */
export const GEMV_MAX_SHARED_BYTES = 96 * 1024;
const WARPS = 8;
/** 256-thread blocks an SM holds at once (the kernels take 72–107 registers a thread: 3 fit in 64K). */
const BLOCKS_PER_SM = 3;
/**
 * Outputs this wide (a vocabulary: the LM head) take cuBLASLt. Measured on an H200 (bench/NOTES.md, third
 * run): Qwen2.5-0.5B's LM head, 151936 × 896 bf16 at m = 1, took 118 µs as the GEMV (2.3 TB/s: each warp
 * walks ~48 short columns one after another) and 74 µs as rmsnorm + cuBLASLt; the model's other decode
 * projections (≤ 9728 columns) were faster as the GEMV.
 */
export const GEMV_MAX_COLUMNS = 32768;

export interface GemvPlan {
  /** The kernel instance's row capacity: 1, 2, 4 or 8. */
  maxRows: 1 | 2 | 4 | 8;
  /** Warps per output column (1, 2, 4 or 8), each summing a contiguous part of K. */
  splitK: number;
  blocks: number;
  sharedBytes: number;
}

/** Element types the GEMV kernels are built for (an f16 model takes the GEMM path). */
const GEMV_DTYPES: Record<string, number> = { f32: 4, bf16: 2 };

/** The launch for m rows, n output columns and k inputs of `dtype`, or null when the GEMM path fits better. */
export function gemvPlan(m: number, n: number, k: number, dtype: string, multiprocessors: number): GemvPlan | null {
  const elementBytes = GEMV_DTYPES[dtype];
  if (!elementBytes || m < 1 || m > GEMV_MAX_ROWS || n < 1 || n > GEMV_MAX_COLUMNS || k < 1) return null;
  const vec = 16 / elementBytes;
  if (k % vec !== 0) return null;
  const sharedBytes = m * k * elementBytes;
  if (sharedBytes > GEMV_MAX_SHARED_BYTES) return null;
  const maxRows = m <= 1 ? 1 : m <= 2 ? 2 : m <= 4 ? 4 : 8;
  // Split K until every SM has two blocks (16 warps streaming), as long as each warp keeps a chunk per lane.
  const chunks = k / vec;
  let splitK = 1;
  while (splitK < WARPS && Math.ceil(n / (WARPS / splitK)) < 2 * multiprocessors && chunks / (2 * splitK) >= 32) splitK *= 2;
  // Blocks beyond those resident at once would only stage x again: the kernel strides over the columns instead,
  // every block the same number of times (no tail of blocks that start late).
  const groups = Math.ceil(n / (WARPS / splitK));
  const rounds = Math.ceil(groups / (BLOCKS_PER_SM * multiprocessors));
  return { maxRows, splitK, blocks: Math.ceil(groups / rounds), sharedBytes };
}
