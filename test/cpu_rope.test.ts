// The CPU RoPE's angle table gives exactly the angles computed directly (HF's f32 angle, then cos/sin).
import { describe, expect, it } from 'vitest';
import { inverseFrequencies, rope } from '../src/backends/cpu/rope.ts';
import { signedStream } from '../src/tensor/rng.ts';

/** RoPE with every angle computed on the spot, the definition the table must reproduce. */
function ropeDirect(x: Float32Array, positions: Int32Array, [b, t, h, d]: number[], theta: number, inverse: boolean): Float32Array {
  const out = new Float32Array(x.length);
  const inv = inverseFrequencies(d, theta);
  const half = d / 2;
  for (let bt = 0; bt < b * t; bt++) {
    for (let hh = 0; hh < h; hh++) {
      const o = (bt * h + hh) * d;
      for (let i = 0; i < half; i++) {
        const angle = Math.fround(positions[bt] * inv[i]);
        const c = Math.cos(angle);
        const s = (inverse ? -1 : 1) * Math.sin(angle);
        out[o + i] = x[o + i] * c - x[o + i + half] * s;
        out[o + i + half] = x[o + i + half] * c + x[o + i] * s;
      }
    }
  }
  return out;
}

describe('CPU rope', () => {
  const r = signedStream(3);
  for (const [name, positions] of [
    ['positions inside the table', Int32Array.from({ length: 2 * 37 }, (_, i) => (i * 7919) % 3000)],
    ['positions past the table (computed directly)', Int32Array.from({ length: 2 * 37 }, (_, i) => 8000 + i * 131)],
  ] as const) {
    it(`${name}: bit for bit the direct angles, forward and inverse`, () => {
      const shape = [2, 37, 3, 16];
      const x = Float32Array.from({ length: 2 * 37 * 3 * 16 }, () => r());
      for (const inverse of [false, true]) {
        const out = new Float32Array(x.length);
        rope(x, positions, shape, 10000, inverse, out);
        expect(out).toEqual(ropeDirect(x, positions, shape, 10000, inverse));
      }
      // Another θ must not reuse the first table.
      const out = new Float32Array(x.length);
      rope(x, positions, shape, 500, false, out);
      expect(out).toEqual(ropeDirect(x, positions, shape, 500, false));
    });
  }
});
