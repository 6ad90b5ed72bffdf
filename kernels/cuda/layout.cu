// Layout kernels: dtype casts, permute (materialised transpose), and the strided 2-D copy that slice and
// concat are built from. Layout ops move bits, so they come in element sizes (b16, b32), not dtypes.
#include "common.cuh"

template <typename S, typename D> __device__ void cast_body(i64 n, const S* __restrict__ in, D* __restrict__ out) {
  for (i64 i = global_index(); i < n; i += grid_stride()) out[i] = from_f32<D>(to_f32(in[i]));
}

#define CAST(SN, ST, DN, DT) \
  extern "C" __global__ void cast_##SN##_##DN(i64 n, const ST* in, DT* out) { cast_body<ST, DT>(n, in, out); }
CAST(f32, float, bf16, bf16)
CAST(f32, float, f16, f16)
CAST(f32, float, i32, int)
CAST(bf16, bf16, f32, float)
CAST(bf16, bf16, f16, f16)
CAST(bf16, bf16, i32, int)
CAST(f16, f16, f32, float)
CAST(f16, f16, bf16, bf16)
CAST(f16, f16, i32, int)
CAST(i32, int, f32, float)
CAST(i32, int, bf16, bf16)
CAST(i32, int, f16, f16)

/** Output dims and, for each, the input stride it walks (the permuted input strides). */
struct Perm {
  i64 rank;
  i64 dims[8];
  i64 strides[8];
};

template <typename T> __device__ void permute_body(i64 n, const T* __restrict__ in, T* __restrict__ out, const Perm& p) {
  for (i64 i = global_index(); i < n; i += grid_stride()) {
    i64 src = 0, rest = i;
    for (int d = (int)p.rank - 1; d >= 0; d--) {
      src += (rest % p.dims[d]) * p.strides[d];
      rest /= p.dims[d];
    }
    out[i] = in[src];
  }
}

/** dst[r * dstPitch + dstOff + c] = src[r * srcPitch + srcOff + c] for r < rows, c < cols (in elements). */
template <typename T>
__device__ void copy2d_body(i64 rows, i64 cols, const T* __restrict__ src, i64 srcPitch, i64 srcOff, T* __restrict__ dst,
                            i64 dstPitch, i64 dstOff) {
  const i64 n = rows * cols;
  for (i64 i = global_index(); i < n; i += grid_stride()) {
    const i64 r = i / cols, c = i - r * cols;
    dst[r * dstPitch + dstOff + c] = src[r * srcPitch + srcOff + c];
  }
}

#define LAYOUT(S, T)                                                                                        \
  extern "C" __global__ void permute_##S(i64 n, const T* in, T* out, Perm p) { permute_body<T>(n, in, out, p); } \
  extern "C" __global__ void copy2d_##S(i64 rows, i64 cols, const T* src, i64 srcPitch, i64 srcOff, T* dst,  \
                                        i64 dstPitch, i64 dstOff) {                                         \
    copy2d_body<T>(rows, cols, src, srcPitch, srcOff, dst, dstPitch, dstOff);                               \
  }
LAYOUT(b16, u16)
LAYOUT(b32, u32)
