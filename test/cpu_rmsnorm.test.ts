// The CPU backend's WASM RMSNorm against the plain reference in norm.ts, on fresh random inputs: outputs, rstd,
// and both gradients (the weight gradient summed over tasks when rows are split over threads).
import { describe, expect, it } from 'vitest';
import { rmsnorm, rmsnormBackward } from '../src/backends/cpu/norm.ts';
import { rmsnormBackwardWasmF32, rmsnormWasmF32 } from '../src/backends/cpu/rmsnorm_wasm.ts';
import { signedStream } from '../src/tensor/rng.ts';
import { maxRelErr, splitEveryKernel } from './cpu_kernel_helpers.ts';

describe('WASM RMSNorm equals the reference', () => {
  for (const [name, rows, d, split] of [
    ['toy width, one thread', 1003, 64, false],
    ['a width off the SIMD width', 50, 67, false],
    ['many rows split over threads', 2000, 96, true],
  ] as const) {
    it(name, () => {
      if (split) splitEveryKernel();
      const r = signedStream(rows * d);
      const rand = (n: number, scale: number, offset = 0) => Float32Array.from({ length: n }, () => offset + r() * scale);
      const x = rand(rows * d, 3), w = rand(d, 0.5, 1), gy = rand(rows * d, 1);
      const [y1, y2] = [new Float32Array(rows * d), new Float32Array(rows * d)];
      const [r1, r2] = [new Float32Array(rows), new Float32Array(rows)];
      rmsnorm(x, w, 1e-6, d, y1, r1);
      expect(rmsnormWasmF32(x, w, 1e-6, d, y2, r2)).toBe(true);
      expect(maxRelErr(y2, y1)).toBeLessThan(1e-5);
      expect(maxRelErr(r2, r1)).toBeLessThan(1e-5);
      const [gx1, gx2] = [new Float32Array(rows * d), new Float32Array(rows * d)];
      const [gw1, gw2] = [new Float32Array(d), new Float32Array(d)];
      rmsnormBackward(gy, x, w, r1, d, gx1, gw1);
      expect(rmsnormBackwardWasmF32(gy, x, w, r1, d, gx2, gw2)).toBe(true);
      expect(maxRelErr(gx2, gx1)).toBeLessThan(1e-5);
      // gw sums `rows` terms of size ~1: relative to that scale, f32 partial sums stay within ~1e-6.
      expect(maxRelErr(gw2.map((v) => v / rows), gw1.map((v) => v / rows))).toBeLessThan(1e-5);
    });
  }
  it('declines f64 (the gradient-check path stays in TypeScript)', () => {
    expect(rmsnormWasmF32(new Float64Array(8), new Float64Array(4), 1e-6, 4, new Float64Array(8), new Float64Array(2))).toBe(false);
  });
});
