// Tests the CPU binary ops against the obvious definition: out[idx] = a[idx broadcast] op b[idx broadcast], for
// every op on each path binary() takes (same shape, scalar b, trailing-dims bias, general broadcast), f32 and f64.
import { describe, expect, it } from 'vitest';
import type { BinaryOp } from '../src/backends/backend.ts';
import { binary } from '../src/backends/cpu/elementwise.ts';
import { broadcastShapes } from '../src/tensor/shape.ts';
import { uniformStream } from '../src/tensor/rng.ts';

const OPS: Record<BinaryOp, (x: number, y: number) => number> = {
  add: (x, y) => x + y, sub: (x, y) => x - y, mul: (x, y) => x * y, div: (x, y) => x / y,
};

/** Element of `data` (shape `shape`) that output index `idx` (shape `out`) reads under broadcasting. */
function at(data: ArrayLike<number>, shape: readonly number[], out: readonly number[], idx: readonly number[]): number {
  let flat = 0;
  const lead = out.length - shape.length;
  for (let d = 0; d < shape.length; d++) flat = flat * shape[d] + (shape[d] === 1 ? 0 : idx[lead + d]);
  return data[flat];
}

function reference(op: BinaryOp, a: ArrayLike<number>, aShape: number[], b: ArrayLike<number>, bShape: number[], out: number[]): number[] {
  const n = out.reduce((x, y) => x * y, 1);
  return Array.from({ length: n }, (_, i) => {
    const idx: number[] = [];
    for (let d = out.length - 1, r = i; d >= 0; d--) {
      idx.unshift(r % out[d]);
      r = Math.floor(r / out[d]);
    }
    return OPS[op](at(a, aShape, out, idx), at(b, bShape, out, idx));
  });
}

const CASES: [string, number[], number[]][] = [
  ['same shape', [5, 7], [5, 7]],
  ['scalar b', [3, 4, 5], [1]],
  ['trailing-dims bias', [6, 4, 3], [4, 3]],
  ['general broadcast', [2, 1, 3], [1, 4, 3]],
];

describe('cpu binary ops', () => {
  for (const f64 of [false, true]) {
    for (const [name, aShape, bShape] of CASES) {
      it(`match the definition for every op, ${name}, ${f64 ? 'f64' : 'f32'}`, () => {
        const rand = uniformStream(name.length * 31 + (f64 ? 1 : 0));
        const make = (shape: number[]) => {
          const n = shape.reduce((x, y) => x * y, 1);
          const arr = f64 ? new Float64Array(n) : new Float32Array(n);
          for (let i = 0; i < n; i++) arr[i] = rand() * 4 - 2 + (rand() < 0.5 ? 0.5 : -0.5); // never 0 (div)
          return arr;
        };
        const a = make(aShape), b = make(bShape);
        const outShape = broadcastShapes(aShape, bShape);
        // One process calls every op on the same path in turn, as training does.
        for (const op of ['add', 'mul', 'sub', 'div', 'add'] as BinaryOp[]) {
          const out = f64 ? new Float64Array(outShape.reduce((x, y) => x * y, 1)) : new Float32Array(outShape.reduce((x, y) => x * y, 1));
          binary(op, a, aShape, b, bShape, out, outShape);
          const want = reference(op, a, aShape, b, bShape, outShape);
          const round = f64 ? (x: number) => x : Math.fround;
          for (let i = 0; i < out.length; i++) expect(out[i], `${op} element ${i}`).toBe(round(want[i]));
        }
      });
    }
  }
});
