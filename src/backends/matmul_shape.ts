// The shape rules of Backend.matmul, shared by every backend: one place that resolves transposes, the
// batch and a 2-D right operand shared across it, and one error message for a mismatch.
import { fmt, numel, sameShape } from '../tensor/shape.ts';
import type { Tensor } from '../tensor/tensor.ts';

export interface MatmulShape {
  m: number;
  n: number;
  k: number;
  /** a's leading dims (the output's too) and their product. */
  batchShape: number[];
  batch: number;
  /** b is 2-D: one matrix for every batch item. */
  sharedB: boolean;
}

export function matmulShape(a: Tensor, b: Tensor, transA: boolean, transB: boolean): MatmulShape {
  if (a.rank < 2 || b.rank < 2) throw new Error(`matmul needs rank ≥ 2, got ${fmt(a.shape)} and ${fmt(b.shape)}`);
  const [ar, ac] = a.shape.slice(-2);
  const [br, bc] = b.shape.slice(-2);
  const [m, k] = transA ? [ac, ar] : [ar, ac];
  const [kb, n] = transB ? [bc, br] : [br, bc];
  const batchShape = a.shape.slice(0, -2);
  const batch = numel(batchShape);
  const bBatch = numel(b.shape.slice(0, -2));
  if (k !== kb || (bBatch !== 1 && bBatch !== batch) || (b.rank > 2 && !sameShape(b.shape.slice(0, -2), batchShape))) {
    throw new Error(`matmul: shapes ${fmt(a.shape)}${transA ? 'ᵀ' : ''} and ${fmt(b.shape)}${transB ? 'ᵀ' : ''} do not match`);
  }
  return { m, n, k, batchShape, batch, sharedB: b.rank === 2 };
}
