// Shared by the CPU kernel tests (WASM kernels against their TS references).
import { onTestFinished } from 'vitest';
import { setGemmParallelMinFlops } from '../src/backends/cpu/gemm_wasm.ts';

/** Error of a relative to b, taken against max(1, |b|): near zero a relative error says nothing. */
export function maxRelErr(a: Float32Array, b: Float32Array): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / Math.max(1, Math.abs(b[i])));
  return worst;
}

/** For the rest of the current test, every kernel splits its work over the threads, whatever its size. */
export function splitEveryKernel(): void {
  const before = setGemmParallelMinFlops(0);
  onTestFinished(() => {
    setGemmParallelMinFlops(before);
  });
}
