// The GEMM call's parameter type and its argument checks, shared by the TS and WASM paths.

export type FloatArray = Float32Array | Float64Array;

/** out[b] (+)= op(A[b]) · op(B[b]) for b < batch; see gemm.ts for the full contract. */
export interface GemmParams {
  a: FloatArray;
  b: FloatArray;
  out: FloatArray;
  batch: number;
  m: number;
  n: number;
  k: number;
  transA: boolean;
  transB: boolean;
  strideA: number;
  strideB: number;
  strideOut: number;
  aOffset?: number;
  bOffset?: number;
  outOffset?: number;
  accumulate: boolean;
}

function checkCount(field: string, value: number): void {
  if (!Number.isInteger(value) || value < 0) {
    throw new Error(`gemm: '${field}' must be a non-negative integer, got ${value}`);
  }
}

/** Elements of `arr` that operand `name` touches: its last batch item must end inside the array. */
function checkSpan(name: string, arr: FloatArray, offset: number, stride: number, batch: number, size: number): void {
  const end = offset + (batch - 1) * stride + size;
  if (end > arr.length) {
    throw new Error(
      `gemm: '${name}' has ${arr.length} elements, but offset ${offset} + (batch ${batch} - 1) × stride ${stride}` +
        ` + ${size} elements per item needs ${end}`,
    );
  }
}

/** Throws a message naming the field and what was expected; returns nothing when the call is valid. */
export function checkGemmParams(p: GemmParams): void {
  for (const f of ['batch', 'm', 'n', 'k', 'strideA', 'strideB', 'strideOut'] as const) checkCount(f, p[f]);
  for (const f of ['aOffset', 'bOffset', 'outOffset'] as const) checkCount(f, p[f] ?? 0);
  const isF32 = p.out instanceof Float32Array;
  if (!isF32 && !(p.out instanceof Float64Array)) throw new Error(`gemm: 'out' must be a Float32Array or Float64Array`);
  for (const f of ['a', 'b'] as const) {
    if (isF32 ? !(p[f] instanceof Float32Array) : !(p[f] instanceof Float64Array)) {
      throw new Error(`gemm: '${f}' must be a ${isF32 ? 'Float32Array' : 'Float64Array'} like 'out'`);
    }
  }
  if (p.batch === 0) return;
  checkSpan('a', p.a, p.aOffset ?? 0, p.strideA, p.batch, p.m * p.k);
  checkSpan('b', p.b, p.bOffset ?? 0, p.strideB, p.batch, p.k * p.n);
  checkSpan('out', p.out, p.outOffset ?? 0, p.strideOut, p.batch, p.m * p.n);
}
