// The CPU backend's WASM SwiGLU against the plain reference in model_ops.ts, on fresh random inputs.
import { describe, expect, it } from 'vitest';
import { swiglu, swigluBackward } from '../src/backends/cpu/model_ops.ts';
import { swigluBackwardWasmF32, swigluWasmF32 } from '../src/backends/cpu/swiglu_wasm.ts';
import { signedStream } from '../src/tensor/rng.ts';
import { maxRelErr, splitEveryKernel } from './cpu_kernel_helpers.ts';

describe('WASM SwiGLU equals the reference', () => {
  for (const [name, n, split] of [
    ['a length off the SIMD width, one thread', 1003, false],
    ['large, ranges split over threads', 70001, true],
  ] as const) {
    it(name, () => {
      if (split) splitEveryKernel();
      const r = signedStream(n);
      // Gates up to ±12 reach both tails of the sigmoid.
      const rand = (scale: number) => Float32Array.from({ length: n }, () => r() * scale);
      const gate = rand(12), up = rand(2), gy = rand(1);
      const [o1, o2] = [new Float32Array(n), new Float32Array(n)];
      swiglu(gate, up, o1);
      expect(swigluWasmF32(gate, up, o2)).toBe(true);
      expect(maxRelErr(o2, o1)).toBeLessThan(2e-6);
      const [gg1, gu1, gg2, gu2] = [0, 0, 0, 0].map(() => new Float32Array(n));
      swigluBackward(gy, gate, up, gg1, gu1);
      expect(swigluBackwardWasmF32(gy, gate, up, gg2, gu2)).toBe(true);
      expect(maxRelErr(gg2, gg1)).toBeLessThan(2e-6);
      expect(maxRelErr(gu2, gu1)).toBeLessThan(2e-6);
    });
  }
  it('declines f64 (the gradient-check path stays in TypeScript)', () => {
    expect(swigluWasmF32(new Float64Array(8), new Float64Array(8), new Float64Array(8))).toBe(false);
  });
});
