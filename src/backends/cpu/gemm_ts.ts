// Cache-blocked GEMM in plain TypeScript: the f64 path (finite-difference checks) and the obvious twin of the WASM kernel.
import type { GemmParams } from './gemm_params.ts';

// A k-block of B rows times an n-block of columns stays in L2 (128 × 256 × 8 bytes = 256 KiB for f64).
const KB = 128;
const NB = 256;

/** Same contract as gemm(); arguments must already have passed checkGemmParams. */
export function gemmTs(p: GemmParams): void {
  const { a, b, out, batch, m, n, k, transA, transB, strideA, strideB, strideOut, accumulate } = p;
  // One row of op(A), gathered contiguously so the transB dot products read both operands in order.
  const rowA = transB ? new Float64Array(k) : null;
  for (let bi = 0; bi < batch; bi++) {
    const ao = (p.aOffset ?? 0) + bi * strideA;
    const bo = (p.bOffset ?? 0) + bi * strideB;
    const oo = (p.outOffset ?? 0) + bi * strideOut;
    // op(A)[i,p] lives at a[ao + i*ars + p*acs] whichever way A is stored.
    const ars = transA ? 1 : k;
    const acs = transA ? m : 1;
    if (!accumulate) out.fill(0, oo, oo + m * n);
    if (rowA) {
      // B is [n,k]: out[i,j] = dot(op(A)[i,:], B[j,:]), both contiguous in p.
      for (let i = 0; i < m; i++) {
        for (let q = 0; q < k; q++) rowA[q] = a[ao + i * ars + q * acs];
        for (let j = 0; j < n; j++) {
          const bj = bo + j * k;
          let s = 0;
          for (let q = 0; q < k; q++) s += rowA[q] * b[bj + q];
          out[oo + i * n + j] += s;
        }
      }
      continue;
    }
    // B is [k,n]: out[i,:] += op(A)[i,q] · B[q,:], blocked so the B block is reused across all rows i.
    for (let q0 = 0; q0 < k; q0 += KB) {
      const q1 = Math.min(k, q0 + KB);
      for (let j0 = 0; j0 < n; j0 += NB) {
        const j1 = Math.min(n, j0 + NB);
        for (let i = 0; i < m; i++) {
          const orow = oo + i * n;
          for (let q = q0; q < q1; q++) {
            const aiq = a[ao + i * ars + q * acs];
            const brow = bo + q * n;
            for (let j = j0; j < j1; j++) out[orow + j] += aiq * b[brow + j];
          }
        }
      }
    }
  }
}
