// Batched, transposable GEMM for the CPU backend: the one entry point the backend calls.
import { checkGemmParams, type GemmParams } from './gemm_params.ts';
import { gemmTs } from './gemm_ts.ts';
import { gemmWasmF32 } from './gemm_wasm.ts';

export type { FloatArray, GemmParams } from './gemm_params.ts';
export { gemmLastThreadsDispatched, gemmLastThreadsUsed, gemmThreads, setGemmParallelMinFlops, setGemmThreads, warmGemmThreads } from './gemm_wasm.ts';

/** out[b] (+)= op(A[b]) · op(B[b]) for b < batch, all row-major and dense.
 *  op(A) is m×k: A is stored [m,k], or [k,m] when transA. op(B) is k×n: B is [k,n], or [n,k] when transB.
 *  strideA/strideB/strideOut are element offsets between consecutive batch items; a stride of 0 broadcasts
 *  that operand over the batch. accumulate=false overwrites out, true adds into it.
 *  aOffset/bOffset/outOffset are element offsets of batch item 0.
 *  Float32Array runs the WASM SIMD kernel on all threads; Float64Array (gradient checks) runs plain TS. */
export function gemm(p: GemmParams): void {
  checkGemmParams(p);
  if (p.batch === 0 || p.m === 0 || p.n === 0) return;
  // Output items that partly overlap have only the sequential meaning, which the TS loop keeps.
  const overlappingOut = p.batch > 1 && p.strideOut !== 0 && p.strideOut < p.m * p.n;
  if (p.out instanceof Float32Array && !overlappingOut && gemmWasmF32(p)) return;
  gemmTs(p);
}
