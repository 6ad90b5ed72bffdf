// Element types. CPU computes in f32 (f64 for gradient checks); bf16/f16 are storage types for GPU weights.
export type DType = 'f32' | 'f64' | 'bf16' | 'f16' | 'i32';

export type FloatArray = Float32Array | Float64Array;
/** What a tensor's host copy looks like: floats come back as f32/f64, ids as i32, halves as raw bits. */
export type HostArray = Float32Array | Float64Array | Int32Array | Uint16Array;

export const BYTES: Record<DType, number> = { f32: 4, f64: 8, bf16: 2, f16: 2, i32: 4 };

export function isFloat(dtype: DType): boolean {
  return dtype !== 'i32';
}

export function hostArray(dtype: DType, n: number): HostArray {
  switch (dtype) {
    case 'f32': return new Float32Array(n);
    case 'f64': return new Float64Array(n);
    case 'i32': return new Int32Array(n);
    case 'bf16': case 'f16': return new Uint16Array(n);
  }
}
