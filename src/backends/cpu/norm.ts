// CPU reference for RMSNorm (HF Llama/Qwen2: normalise in f32, then scale by the weight).
import type { FloatArray } from '../../tensor/dtype.ts';

/** x [rows, d] → y [rows, d]; rstd [rows] = 1/sqrt(mean(x²) + eps). */
export function rmsnorm(x: FloatArray, w: FloatArray, eps: number, d: number, y: FloatArray, rstd: FloatArray): void {
  const rows = x.length / d;
  for (let r = 0; r < rows; r++) {
    const o = r * d;
    let ss = 0;
    for (let i = 0; i < d; i++) ss += x[o + i] * x[o + i];
    const rs = 1 / Math.sqrt(ss / d + eps);
    rstd[r] = rs;
    for (let i = 0; i < d; i++) y[o + i] = w[i] * (x[o + i] * rs);
  }
}

/**
 * y_i = w_i x_i r with r = (mean(x²)+eps)^-½, so
 * gx_i = r w_i gy_i − x_i r³/d · Σ_j w_j gy_j x_j, and gw_i = Σ_rows gy_i x_i r.
 */
export function rmsnormBackward(
  gy: FloatArray, x: FloatArray, w: FloatArray, rstd: FloatArray, d: number, gx: FloatArray, gw: FloatArray,
): void {
  const rows = x.length / d;
  const gwAcc = new Float64Array(d);
  for (let r = 0; r < rows; r++) {
    const o = r * d;
    const rs = rstd[r];
    let dot = 0;
    for (let i = 0; i < d; i++) dot += w[i] * gy[o + i] * x[o + i];
    const c = (rs * rs * rs * dot) / d;
    for (let i = 0; i < d; i++) {
      gx[o + i] = rs * w[i] * gy[o + i] - x[o + i] * c;
      gwAcc[i] += gy[o + i] * x[o + i] * rs;
    }
  }
  gw.set(gwAcc);
}
