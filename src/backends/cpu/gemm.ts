// Batched, transposable GEMM for the CPU backend: the one entry point the backend calls.
import { checkGemmParams, type GemmParams } from './gemm_params.ts';
import { gemmTs } from './gemm_ts.ts';

export type { FloatArray, GemmParams } from './gemm_params.ts';

/** out[b] (+)= op(A[b]) · op(B[b]) for b < batch, all row-major and dense.
 *  op(A) is m×k: A is stored [m,k], or [k,m] when transA. op(B) is k×n: B is [k,n], or [n,k] when transB.
 *  strideA/strideB/strideOut are element offsets between consecutive batch items; a stride of 0 broadcasts
 *  that operand over the batch. accumulate=false overwrites out, true adds into it.
 *  aOffset/bOffset/outOffset are element offsets of batch item 0. */
export function gemm(p: GemmParams): void {
  checkGemmParams(p);
  if (p.batch === 0 || p.m === 0 || p.n === 0) return;
  gemmTs(p);
}
