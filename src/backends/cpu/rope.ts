// CPU reference for rotary position embedding, HF "rotate half" layout (pairs i and i + D/2).
import type { FloatArray } from '../../tensor/dtype.ts';

/**
 * Inverse frequencies as HF computes them in float32: 1 / θ^(2i/D). Rounding through f32 keeps our angles
 * equal to HF's bit for bit, which matters at long positions where small frequency errors grow.
 */
export function inverseFrequencies(headDim: number, theta: number): Float64Array {
  const half = headDim / 2;
  const inv = new Float64Array(half);
  for (let i = 0; i < half; i++) inv[i] = Math.fround(1 / Math.fround(Math.pow(theta, Math.fround((2 * i) / headDim))));
  return inv;
}

/** cos and sin of every (position, frequency) angle, [positions][D/2], for one head size and θ. */
export interface AngleTable {
  positions: number;
  cos: Float64Array;
  sin: Float64Array;
}

/** Training and decoding ask for the same few positions again and again: a table per (D, θ), grown to the
 *  largest position seen, turns a step's ~10⁶ Math.cos/Math.sin calls into lookups of the same values. */
const tables = new Map<string, AngleTable>();
const MAX_TABLE_POSITIONS = 8192;

function angleTable(d: number, theta: number, maxPosition: number): AngleTable | null {
  if (maxPosition >= MAX_TABLE_POSITIONS) return null;
  const key = `${d}:${theta}`;
  const have = tables.get(key);
  if (have && have.positions > maxPosition) return have;
  const positions = Math.min(MAX_TABLE_POSITIONS, Math.max(1024, 2 ** Math.ceil(Math.log2(maxPosition + 1))));
  const half = d / 2;
  const inv = inverseFrequencies(d, theta);
  const table: AngleTable = { positions, cos: new Float64Array(positions * half), sin: new Float64Array(positions * half) };
  for (let pos = 0; pos < positions; pos++) {
    for (let i = 0; i < half; i++) {
      const angle = Math.fround(pos * inv[i]);
      table.cos[pos * half + i] = Math.cos(angle);
      table.sin[pos * half + i] = Math.sin(angle);
    }
  }
  tables.set(key, table);
  return table;
}

/** The angle table covering every position, or null for negative or very large positions. */
export function tableFor(positions: Int32Array, d: number, theta: number): AngleTable | null {
  let maxPosition = 0;
  let minPosition = 0;
  for (let i = 0; i < positions.length; i++) {
    maxPosition = Math.max(maxPosition, positions[i]);
    minPosition = Math.min(minPosition, positions[i]);
  }
  return minPosition >= 0 ? angleTable(d, theta, maxPosition) : null;
}

/** x [B, T, H, D], positions [B, T]. inverse rotates by −angle (the backward pass). */
export function rope(
  x: FloatArray, positions: Int32Array, shape: readonly number[], theta: number, inverse: boolean, out: FloatArray,
): void {
  const [b, t, h, d] = shape;
  const half = d / 2;
  const table = tableFor(positions, d, theta);
  const inv = table ? null : inverseFrequencies(d, theta);
  const sign = inverse ? -1 : 1;
  const cos = new Float64Array(half);
  const sin = new Float64Array(half);
  for (let bt = 0; bt < b * t; bt++) {
    const pos = positions[bt];
    for (let i = 0; i < half; i++) {
      if (table) {
        cos[i] = table.cos[pos * half + i];
        sin[i] = sign * table.sin[pos * half + i];
      } else {
        const angle = Math.fround(pos * inv![i]);
        cos[i] = Math.cos(angle);
        sin[i] = sign * Math.sin(angle);
      }
    }
    for (let hh = 0; hh < h; hh++) {
      const o = (bt * h + hh) * d;
      for (let i = 0; i < half; i++) {
        const x1 = x[o + i];
        const x2 = x[o + i + half];
        out[o + i] = x1 * cos[i] - x2 * sin[i];
        out[o + i + half] = x2 * cos[i] + x1 * sin[i];
      }
    }
  }
}
