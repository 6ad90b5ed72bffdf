// Index plans for the layout kernels: broadcasting binaries, permutes and reductions. Each drops size-1
// dims and merges neighbouring dims that walk memory contiguously, so the kernels index few dims (and the
// common cases collapse to one or two). Pure functions over shapes, tested against brute force.
import { broadcastStrides, numel, sameShape, stridesOf, type Shape } from '../../tensor/shape.ts';

export const MAX_BCAST_RANK = 6;
export const MAX_PERMUTE_RANK = 8;
export const MAX_REDUCE_RANK = 6;

export interface BroadcastPlan {
  /** 0: a and b both have the output's shape (index i reads element i of each). */
  rank: number;
  dims: number[];
  sa: number[];
  sb: number[];
}

/** Merge dim i into i+1 while, for every stride list, stride[i] = stride[i+1] · dims[i+1]. */
function merge(dims: number[], strideLists: number[][]): { dims: number[]; strides: number[][] } {
  const keep = dims.map((d) => d !== 1);
  let D = dims.filter((_, i) => keep[i]);
  let S = strideLists.map((s) => s.filter((_, i) => keep[i]));
  for (let i = D.length - 2; i >= 0; i--) {
    if (S.every((s) => s[i] === s[i + 1] * D[i + 1])) {
      D = [...D.slice(0, i), D[i] * D[i + 1], ...D.slice(i + 2)];
      S = S.map((s) => [...s.slice(0, i), s[i + 1], ...s.slice(i + 2)]);
    }
  }
  return { dims: D, strides: S };
}

export function broadcastPlan(aShape: Shape, bShape: Shape, outShape: Shape): BroadcastPlan {
  if (sameShape(aShape, outShape) && sameShape(bShape, outShape)) return { rank: 0, dims: [], sa: [], sb: [] };
  const m = merge([...outShape], [broadcastStrides(aShape, outShape), broadcastStrides(bShape, outShape)]);
  if (m.dims.length > MAX_BCAST_RANK) {
    throw new Error(`cuda binary: broadcasting [${aShape}] with [${bShape}] needs ${m.dims.length} dims after merging; the kernel takes ${MAX_BCAST_RANK}`);
  }
  return { rank: m.dims.length, dims: m.dims, sa: m.strides[0], sb: m.strides[1] };
}

export interface PermutePlan {
  /** Output dims, and the input stride each one walks. */
  dims: number[];
  strides: number[];
}

export function permutePlan(shape: Shape, perm: readonly number[]): PermutePlan {
  const inStrides = stridesOf(shape);
  const m = merge(perm.map((p) => shape[p]), [perm.map((p) => inStrides[p])]);
  if (m.dims.length > MAX_PERMUTE_RANK) throw new Error(`cuda permute: ${m.dims.length} dims after merging; the kernel takes ${MAX_PERMUTE_RANK}`);
  return { dims: m.dims, strides: m.strides[0] };
}

export interface ReducePlan {
  nOut: number;
  keptDims: number[];
  keptStrides: number[];
  redDims: number[];
  redStrides: number[];
  redCount: number;
}

export function reducePlan(shape: Shape, axes: readonly number[]): ReducePlan {
  const strides = stridesOf(shape);
  const kept = merge(shape.map((d, i) => (axes.includes(i) ? 1 : d)), [strides]);
  const red = merge(shape.map((d, i) => (axes.includes(i) ? d : 1)), [strides]);
  if (kept.dims.length > MAX_REDUCE_RANK || red.dims.length > MAX_REDUCE_RANK) {
    throw new Error(`cuda sum: shape [${shape}] over axes [${axes}] needs more than ${MAX_REDUCE_RANK} dims after merging`);
  }
  return {
    nOut: numel(kept.dims),
    keptDims: kept.dims,
    keptStrides: kept.strides[0],
    redDims: red.dims,
    redStrides: red.strides[0],
    redCount: numel(red.dims),
  };
}

/** Pad a list to n entries (kernel structs have fixed-size arrays). */
export function pad(xs: readonly number[], n: number, fill = 0): number[] {
  return [...xs, ...new Array<number>(Math.max(0, n - xs.length)).fill(fill)];
}
