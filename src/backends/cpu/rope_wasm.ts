// The CPU backend's f32 RoPE in WASM (kernels/wasm/rope_f32.ts): rows split over the thread pool, angles from the
// table rope.ts keeps (rounded to f32 once per table). rope.ts stays the path for f64, for positions the table
// does not cover and for sizes that do not fit the shared memory.
import type { FloatArray } from '../../tensor/dtype.ts';
import { QueueKind } from './gemm_pool.ts';
import { callKernel, readBack, splitWork } from './kernel_call.ts';
import { tableFor, type AngleTable } from './rope.ts';

/** Parameter block fields, same numbers as kernels/wasm/rope_f32.ts R. */
const R = { x: 0, out: 1, pos: 2, cos: 3, sin: 4, h: 5, d: 6, sign: 7 } as const;

const f32Tables = new WeakMap<AngleTable, { cos: Float32Array; sin: Float32Array }>();

function f32Table(t: AngleTable): { cos: Float32Array; sin: Float32Array } {
  let have = f32Tables.get(t);
  if (!have) f32Tables.set(t, (have = { cos: Float32Array.from(t.cos), sin: Float32Array.from(t.sin) }));
  return have;
}

/** x [B, T, H, D] rotated by the angles of positions [B, T] (inverse: by their negatives); false when it cannot run. */
export function ropeWasmF32(
  x: FloatArray, positions: Int32Array, shape: readonly number[], theta: number, inverse: boolean, out: FloatArray,
): boolean {
  const [b, t, h, d] = shape;
  if (!(x instanceof Float32Array && out instanceof Float32Array) || d % 2 !== 0) return false;
  const table = tableFor(positions, d, theta);
  if (!table) return false;
  // Only the rows up to the largest position go in.
  let rows = 0;
  for (let i = 0; i < positions.length; i++) rows = Math.max(rows, positions[i] + 1);
  const { cos, sin } = f32Table(table);
  const half = d / 2;
  const at = callKernel(QueueKind.rope, {
    x: { field: R.x, length: x.length, input: x }, out: { field: R.out, length: out.length },
    pos: { field: R.pos, length: b * t, input: positions },
    cos: { field: R.cos, length: rows * half, input: cos.subarray(0, rows * half) },
    sin: { field: R.sin, length: rows * half, input: sin.subarray(0, rows * half) },
  }, splitWork(b * t, h * d), [{ field: R.h, i32: h }, { field: R.d, i32: d }, { field: R.sign, f32: inverse ? -1 : 1 }]);
  if (!at) return false;
  readBack(at.out, out);
  return true;
}
