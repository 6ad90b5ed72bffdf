// Differentiable tensor ops: each runs its forward on the tensor's backend and records its backward.
import type { BinaryOp } from '../backends/backend.ts';
import { needsGrad } from './autograd.ts';
import { getBackend } from './context.ts';
import type { DType, HostArray } from './dtype.ts';
import { fmt, numel, sameShape, type Shape } from './shape.ts';
import type { Tensor } from './tensor.ts';

/** Attach a backward to `out` when any input needs a gradient. */
export function record(out: Tensor, inputs: Tensor[], backward: (g: Tensor) => (Tensor | null)[]): Tensor {
  if (needsGrad(...inputs)) out.node = { inputs, backward };
  return out;
}

// ---- creation ------------------------------------------------------------------------------------------
export function tensor(data: HostArray | number[], shape?: Shape, dtype?: DType): Tensor {
  const arr = Array.isArray(data) ? Float32Array.from(data) : data;
  const type = dtype ?? (arr instanceof Int32Array ? 'i32' : arr instanceof Float64Array ? 'f64' : 'f32');
  return getBackend().upload(arr, shape ?? [arr.length], type);
}

export function ids(data: ArrayLike<number>, shape?: Shape): Tensor {
  return getBackend().upload(Int32Array.from(data), shape ?? [data.length], 'i32');
}

export function zeros(shape: Shape, dtype: DType = 'f32'): Tensor {
  return getBackend().zeros(shape, dtype);
}

// ---- elementwise ---------------------------------------------------------------------------------------
/** Sum a broadcast gradient back down to `shape`. */
export function sumTo(g: Tensor, shape: Shape): Tensor {
  if (sameShape(g.shape, shape)) return g;
  const lead = g.rank - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < g.rank; i++) if (i < lead || shape[i - lead] === 1) axes.push(i);
  const summed = g.backend.sum(g, axes, true);
  const out = summed.view(shape);
  summed.dispose();
  return out;
}

/** Whether backpropagation needs this input's gradient (a trainable leaf, or on the way to one). */
function wantsGrad(t: Tensor): boolean {
  return t.requiresGrad || t.node !== null;
}

function binary(op: BinaryOp, a: Tensor, b: Tensor): Tensor {
  const out = a.backend.binary(op, a, b);
  return record(out, [a, b], (g) => {
    const be = g.backend;
    const [wa, wb] = [wantsGrad(a), wantsGrad(b)];
    switch (op) {
      case 'add': return [wa ? sumTo(g, a.shape) : null, wb ? sumTo(g, b.shape) : null];
      case 'sub': return [wa ? sumTo(g, a.shape) : null, wb ? sumTo(be.affine(g, -1, 0), b.shape) : null];
      case 'mul': return [wa ? sumTo(be.binary('mul', g, b), a.shape) : null, wb ? sumTo(be.binary('mul', g, a), b.shape) : null];
      case 'div': {
        const ga = be.binary('div', g, b);
        const gb = be.affine(be.binary('div', be.binary('mul', ga, a), b), -1, 0);
        return [sumTo(ga, a.shape), sumTo(gb, b.shape)];
      }
    }
  });
}

export const add = (a: Tensor, b: Tensor) => binary('add', a, b);
export const sub = (a: Tensor, b: Tensor) => binary('sub', a, b);
export const mul = (a: Tensor, b: Tensor) => binary('mul', a, b);
export const div = (a: Tensor, b: Tensor) => binary('div', a, b);

/** a * s. */
export function scale(a: Tensor, s: number): Tensor {
  return record(a.backend.affine(a, s, 0), [a], (g) => [g.backend.affine(g, s, 0)]);
}

export function exp(a: Tensor): Tensor {
  const out = a.backend.unary('exp', a);
  return record(out, [a], (g) => [g.backend.binary('mul', g, out)]);
}

export function log(a: Tensor): Tensor {
  return record(a.backend.unary('log', a), [a], (g) => [g.backend.binary('div', g, a)]);
}

export function sqrt(a: Tensor): Tensor {
  const out = a.backend.unary('sqrt', a);
  return record(out, [a], (g) => [g.backend.binary('div', g.backend.affine(g, 0.5, 0), out)]);
}

export function square(a: Tensor): Tensor {
  return record(a.backend.unary('square', a), [a], (g) => [g.backend.affine(g.backend.binary('mul', g, a), 2, 0)]);
}

export function silu(a: Tensor): Tensor {
  // silu = swiglu(a, 1); reuse its fused backward rather than composing sigmoid by hand.
  const one = a.backend.full(a.shape, 1, a.dtype);
  const out = a.backend.swiglu(a, one);
  return record(out, [a], (g) => [g.backend.swigluBackward(g, a, one).gGate]);
}

// ---- reductions ----------------------------------------------------------------------------------------
/** Sum over `axes` (all axes when omitted). */
export function sum(a: Tensor, axes?: number[], keepDims = false): Tensor {
  const ax = (axes ?? a.shape.map((_, i) => i)).map((x) => (x < 0 ? x + a.rank : x));
  const out = a.backend.sum(a, ax, keepDims);
  return record(out, [a], (g) => {
    const kept = a.shape.map((d, i) => (ax.includes(i) ? 1 : d));
    const gk = g.view(kept);
    const ones = g.backend.full(a.shape, 1, g.dtype);
    return [g.backend.binary('mul', ones, gk)];
  });
}

export function mean(a: Tensor, axes?: number[], keepDims = false): Tensor {
  const ax = axes ?? a.shape.map((_, i) => i);
  const count = ax.reduce((p, x) => p * a.shape[x < 0 ? x + a.rank : x], 1);
  return scale(sum(a, ax, keepDims), 1 / count);
}

// ---- shape ---------------------------------------------------------------------------------------------
export function reshape(a: Tensor, shape: Shape): Tensor {
  const out = a.view(shape);
  return record(out, [a], (g) => [g.view(a.shape)]);
}

export function permute(a: Tensor, perm: number[]): Tensor {
  if (perm.length !== a.rank || [...perm].sort().some((p, i) => p !== i)) {
    throw new Error(`permute: [${perm}] is not a permutation of ${a.rank} axes`);
  }
  const inverse = perm.map((_, i) => perm.indexOf(i));
  return record(a.backend.permute(a, perm), [a], (g) => [g.backend.permute(g, inverse)]);
}

export function slice(a: Tensor, axis: number, start: number, end: number): Tensor {
  const out = a.backend.slice(a, axis, start, end);
  return record(out, [a], (g) => {
    const be = g.backend;
    const parts: Tensor[] = [];
    const padShape = (n: number) => a.shape.map((d, i) => (i === axis ? n : d));
    if (start > 0) parts.push(be.zeros(padShape(start), g.dtype));
    parts.push(g);
    if (end < a.shape[axis]) parts.push(be.zeros(padShape(a.shape[axis] - end), g.dtype));
    return [parts.length === 1 ? g : be.concat(parts, axis)];
  });
}

export function concat(parts: Tensor[], axis: number): Tensor {
  const out = parts[0].backend.concat(parts, axis);
  return record(out, parts, (g) => {
    let pos = 0;
    return parts.map((p) => {
      const gp = g.backend.slice(g, axis, pos, pos + p.shape[axis]);
      pos += p.shape[axis];
      return gp;
    });
  });
}

// ---- matmul --------------------------------------------------------------------------------------------
export interface MatmulOptions {
  transA?: boolean;
  transB?: boolean;
}

/** Batched matmul; b may be 2-D and shared across a's batch. See Backend.matmul for layouts. */
export function matmul(a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor {
  const ta = opts.transA ?? false;
  const tb = opts.transB ?? false;
  const out = a.backend.matmul(a, b, ta, tb);
  return record(out, [a, b], (g) => {
    const be = g.backend;
    // A frozen operand (a base weight under LoRA) gets no gradient: that GEMM would be thrown away.
    const ga = !wantsGrad(a) ? null : ta ? be.matmul(b, g, tb, true) : be.matmul(g, b, false, !tb);
    if (!wantsGrad(b)) return [ga, null];
    let gb: Tensor;
    if (b.rank === 2 && a.rank > 2 && !ta) {
      // Shared weight: fold the batch into rows so its gradient is one big GEMM, not a sum of small ones.
      const rows = numel(a.shape.slice(0, -1));
      const a2 = a.view([rows, a.shape[a.rank - 1]]);
      const g2 = g.view([rows, g.shape[g.rank - 1]]);
      gb = tb ? be.matmul(g2, a2, true, false) : be.matmul(a2, g2, true, false);
      a2.dispose();
      g2.dispose();
    } else {
      gb = tb ? be.matmul(g, a, true, ta) : be.matmul(a, g, !ta, false);
      if (gb.rank !== b.rank) gb = sumTo(gb, b.shape);
    }
    return [ga, gb];
  });
}

/** x · wᵀ (+ bias), the HF nn.Linear convention (w is [out, in]). */
export function linear(x: Tensor, w: Tensor, bias?: Tensor | null): Tensor {
  if (x.shape[x.rank - 1] !== w.shape[1]) {
    throw new Error(`linear: input ${fmt(x.shape)} does not match weight ${fmt(w.shape)} ([out, in])`);
  }
  const y = matmul(x, w, { transB: true });
  return bias ? add(y, bias) : y;
}
