// Reductions: sum over any set of axes (f32 accumulation), and the per-block partial sums of squares that
// global-norm gradient clipping reads back.
#include "common.cuh"

/**
 * A sum over axes, described after the TS side merged neighbouring dims of the same kind: the kept dims
 * (which index the output, row-major) and the reduced dims, each with its input stride.
 */
struct Reduce {
  i64 keptRank;
  i64 keptDims[6];
  i64 keptStrides[6];
  i64 redRank;
  i64 redDims[6];
  i64 redStrides[6];
  i64 redCount;
};

__device__ __forceinline__ i64 kept_offset(const Reduce& r, i64 o) {
  i64 off = 0;
  for (int d = (int)r.keptRank - 1; d >= 0; d--) {
    off += (o % r.keptDims[d]) * r.keptStrides[d];
    o /= r.keptDims[d];
  }
  return off;
}

__device__ __forceinline__ i64 reduced_offset(const Reduce& r, i64 j) {
  i64 off = 0;
  for (int d = (int)r.redRank - 1; d >= 0; d--) {
    off += (j % r.redDims[d]) * r.redStrides[d];
    j /= r.redDims[d];
  }
  return off;
}

/** One thread per output; good when there are many outputs (e.g. a bias gradient over rows). */
template <typename T, typename O>
__device__ void sum_thread_body(i64 nOut, const T* __restrict__ in, O* __restrict__ out, const Reduce& r) {
  for (i64 o = global_index(); o < nOut; o += grid_stride()) {
    const i64 base = kept_offset(r, o);
    // Odometer over the reduced dims: no division per element.
    i64 idx[6] = {0, 0, 0, 0, 0, 0};
    i64 off = 0;
    float acc = 0.0f;
    for (i64 j = 0; j < r.redCount; j++) {
      acc += load(in, base + off);
      for (int d = (int)r.redRank - 1; d >= 0; d--) {
        off += r.redStrides[d];
        if (++idx[d] < r.redDims[d]) break;
        off -= idx[d] * r.redStrides[d];
        idx[d] = 0;
      }
    }
    store(out, o, acc);
  }
}

/** One block per output; good when there are few outputs and long reductions (e.g. a loss over rows). */
template <typename T, typename O>
__device__ void sum_block_body(i64 nOut, const T* __restrict__ in, O* __restrict__ out, const Reduce& r) {
  __shared__ float scratch[33];
  for (i64 o = blockIdx.x; o < nOut; o += gridDim.x) {
    const i64 base = kept_offset(r, o);
    float acc = 0.0f;
    for (i64 j = threadIdx.x; j < r.redCount; j += blockDim.x) acc += load(in, base + reduced_offset(r, j));
    acc = block_sum(acc, scratch);
    if (threadIdx.x == 0) store(out, o, acc);
  }
}

template <typename T> __device__ void sum_squares_body(i64 n, const T* __restrict__ x, float* __restrict__ partial) {
  __shared__ float scratch[33];
  float acc = 0.0f;
  for (i64 i = global_index(); i < n; i += grid_stride()) {
    const float v = load(x, i);
    acc += v * v;
  }
  acc = block_sum(acc, scratch);
  if (threadIdx.x == 0) partial[blockIdx.x] = acc;
}

#define REDUCE(S, T)                                                                                     \
  extern "C" __global__ void sum_thread_##S(i64 nOut, const T* in, T* out, Reduce r) {                  \
    sum_thread_body<T, T>(nOut, in, out, r);                                                             \
  }                                                                                                      \
  extern "C" __global__ void sum_block_##S(i64 nOut, const T* in, T* out, Reduce r) {                   \
    sum_block_body<T, T>(nOut, in, out, r);                                                              \
  }                                                                                                      \
  extern "C" __global__ void sum_squares_##S(i64 n, const T* x, float* partial) { sum_squares_body<T>(n, x, partial); }
STILL_FLOAT_TYPES(REDUCE)
