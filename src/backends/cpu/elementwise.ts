// CPU reference for layout and elementwise ops: broadcasting binaries, unaries, sums, permute, slice, concat.
import type { BinaryOp, UnaryOp } from '../backend.ts';
import type { FloatArray, HostArray } from '../../tensor/dtype.ts';
import { broadcastStrides, numel, sameShape, stridesOf, type Shape } from '../../tensor/shape.ts';

const BINARY: Record<BinaryOp, (x: number, y: number) => number> = {
  add: (x, y) => x + y,
  sub: (x, y) => x - y,
  mul: (x, y) => x * y,
  div: (x, y) => x / y,
};

const UNARY: Record<UnaryOp, (x: number) => number> = {
  neg: (x) => -x,
  exp: Math.exp,
  log: Math.log,
  sqrt: Math.sqrt,
  silu: (x) => x / (1 + Math.exp(-x)),
  square: (x) => x * x,
  abs: Math.abs,
};

export function binary(
  op: BinaryOp, a: FloatArray, aShape: Shape, b: FloatArray, bShape: Shape, out: FloatArray, outShape: Shape,
): void {
  const n = out.length;
  if (sameShape(aShape, bShape)) return binaryRepeating(op, a, b, out, n, n);
  if (b.length === 1) return binaryRepeating(op, a, b, out, n, 1);
  // The common bias case: b covers the trailing dims of a exactly, so it repeats every b.length items.
  if (sameShape(aShape, outShape) && sameShape(bShape, outShape.slice(outShape.length - bShape.length))) {
    return binaryRepeating(op, a, b, out, n, b.length);
  }
  const f = BINARY[op];
  const sa = broadcastStrides(aShape, outShape);
  const sb = broadcastStrides(bShape, outShape);
  forEachIndex(outShape, (i, idx) => {
    let ia = 0;
    let ib = 0;
    for (let d = 0; d < idx.length; d++) {
      ia += idx[d] * sa[d];
      ib += idx[d] * sb[d];
    }
    out[i] = f(a[ia], b[ib]);
  });
}

/** out[i] = a[i] op b[i mod m] for i < n, m dividing n. One loop per op: calling BINARY[op] per element from
 *  one shared loop made that call site megamorphic (no inlining), ~10× slower on the training step's adds. */
function binaryRepeating(op: BinaryOp, a: FloatArray, b: FloatArray, out: FloatArray, n: number, m: number): void {
  if (m === 1) {
    const y = b[0];
    switch (op) {
      case 'add': for (let i = 0; i < n; i++) out[i] = a[i] + y; return;
      case 'sub': for (let i = 0; i < n; i++) out[i] = a[i] - y; return;
      case 'mul': for (let i = 0; i < n; i++) out[i] = a[i] * y; return;
      case 'div': for (let i = 0; i < n; i++) out[i] = a[i] / y; return;
    }
  }
  for (let i0 = 0; i0 < n; i0 += m) {
    switch (op) {
      case 'add': for (let i = i0, j = 0; j < m; i++, j++) out[i] = a[i] + b[j]; break;
      case 'sub': for (let i = i0, j = 0; j < m; i++, j++) out[i] = a[i] - b[j]; break;
      case 'mul': for (let i = i0, j = 0; j < m; i++, j++) out[i] = a[i] * b[j]; break;
      case 'div': for (let i = i0, j = 0; j < m; i++, j++) out[i] = a[i] / b[j]; break;
    }
  }
}

export function unary(op: UnaryOp, a: FloatArray, out: FloatArray): void {
  const f = UNARY[op];
  for (let i = 0; i < a.length; i++) out[i] = f(a[i]);
}

export function affine(a: FloatArray, mul: number, add: number, out: FloatArray): void {
  for (let i = 0; i < a.length; i++) out[i] = a[i] * mul + add;
}

/** out has `shape` with the summed axes set to 1. */
export function sum(a: FloatArray, shape: Shape, axes: readonly number[], out: FloatArray): void {
  const outShape = shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const so = broadcastStrides(outShape, shape);
  const acc = new Float64Array(out.length);
  forEachIndex(shape, (i, idx) => {
    let o = 0;
    for (let d = 0; d < idx.length; d++) o += idx[d] * so[d];
    acc[o] += a[i];
  });
  out.set(acc);
}

export function permute(a: HostArray, shape: Shape, perm: readonly number[], out: HostArray): void {
  const inStrides = stridesOf(shape);
  const outShape = perm.map((p) => shape[p]);
  const readStrides = perm.map((p) => inStrides[p]);
  forEachIndex(outShape, (i, idx) => {
    let src = 0;
    for (let d = 0; d < idx.length; d++) src += idx[d] * readStrides[d];
    out[i] = a[src];
  });
}

/** View `shape` as [outer, axisLen, inner] around `axis`. */
export function around(shape: Shape, axis: number): [number, number, number] {
  return [numel(shape.slice(0, axis)), shape[axis], numel(shape.slice(axis + 1))];
}

export function slice(a: HostArray, shape: Shape, axis: number, start: number, end: number, out: HostArray): void {
  const [outer, len, inner] = around(shape, axis);
  const w = (end - start) * inner;
  for (let o = 0; o < outer; o++) {
    out.set(a.subarray((o * len + start) * inner, (o * len + start) * inner + w), o * w);
  }
}

export function concat(parts: { data: HostArray; shape: Shape }[], axis: number, out: HostArray): void {
  const outer = around(parts[0].shape, axis)[0];
  let pos = 0;
  for (let o = 0; o < outer; o++) {
    for (const p of parts) {
      const w = p.shape[axis] * around(p.shape, axis)[2];
      out.set(p.data.subarray(o * w, o * w + w), pos);
      pos += w;
    }
  }
}

/** Visit every multi-index of `shape` in row-major order (the index array is reused). */
function forEachIndex(shape: Shape, visit: (flat: number, idx: number[]) => void): void {
  const n = numel(shape);
  const idx = new Array<number>(shape.length).fill(0);
  for (let i = 0; i < n; i++) {
    visit(i, idx);
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
}
