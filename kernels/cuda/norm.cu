// RMSNorm (HF Llama/Qwen2: normalise in f32, then scale by the weight), forward and backward.
// One block per row for the row-wise parts; the weight gradient is a column sum done in row chunks
// (partial sums [chunks, D] that the backend then sums), which keeps it deterministic.
#include "common.cuh"

template <typename T>
__device__ void rmsnorm_body(int rows, int d, float eps, const T* __restrict__ x, const T* __restrict__ w,
                             T* __restrict__ y, float* __restrict__ rstd) {
  __shared__ float scratch[33];
  for (int r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* xr = x + (i64)r * d;
    float ss = 0.0f;
    for (int i = threadIdx.x; i < d; i += blockDim.x) {
      const float v = load(xr, i);
      ss += v * v;
    }
    ss = block_sum(ss, scratch);
    const float rs = rsqrtf(ss / (float)d + eps);
    if (threadIdx.x == 0) rstd[r] = rs;
    T* yr = y + (i64)r * d;
    for (int i = threadIdx.x; i < d; i += blockDim.x) store(yr, i, load(w, i) * (load(xr, i) * rs));
  }
}

/** gx_i = r w_i gy_i − x_i r³/d · Σ_j w_j gy_j x_j. */
template <typename T>
__device__ void rmsnorm_backward_body(int rows, int d, const T* __restrict__ gy, const T* __restrict__ x,
                                      const T* __restrict__ w, const float* __restrict__ rstd, T* __restrict__ gx) {
  __shared__ float scratch[33];
  for (int r = blockIdx.x; r < rows; r += gridDim.x) {
    const i64 o = (i64)r * d;
    float dot = 0.0f;
    for (int i = threadIdx.x; i < d; i += blockDim.x) dot += load(w, i) * load(gy, o + i) * load(x, o + i);
    dot = block_sum(dot, scratch);
    const float rs = rstd[r];
    const float c = rs * rs * rs * dot / (float)d;
    for (int i = threadIdx.x; i < d; i += blockDim.x) store(gx, o + i, rs * load(w, i) * load(gy, o + i) - load(x, o + i) * c);
  }
}

/** partial[chunk, i] = Σ_{rows in chunk} gy_i x_i r; grid (ceil(d / blockDim), chunks). */
template <typename T>
__device__ void rmsnorm_backward_weight_body(int rows, int d, int rowsPerChunk, const T* __restrict__ gy,
                                             const T* __restrict__ x, const float* __restrict__ rstd,
                                             float* __restrict__ partial) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= d) return;
  const int r0 = blockIdx.y * rowsPerChunk;
  const int r1 = r0 + rowsPerChunk < rows ? r0 + rowsPerChunk : rows;
  float acc = 0.0f;
  for (int r = r0; r < r1; r++) acc += load(gy, (i64)r * d + i) * load(x, (i64)r * d + i) * rstd[r];
  partial[(i64)blockIdx.y * d + i] = acc;
}

#define NORM(S, T)                                                                                                 \
  extern "C" __global__ void rmsnorm_##S(int rows, int d, float eps, const T* x, const T* w, T* y, float* rstd) {  \
    rmsnorm_body<T>(rows, d, eps, x, w, y, rstd);                                                                  \
  }                                                                                                                \
  extern "C" __global__ void rmsnorm_backward_##S(int rows, int d, const T* gy, const T* x, const T* w,           \
                                                  const float* rstd, T* gx) {                                      \
    rmsnorm_backward_body<T>(rows, d, gy, x, w, rstd, gx);                                                         \
  }                                                                                                                \
  extern "C" __global__ void rmsnorm_backward_weight_##S(int rows, int d, int rowsPerChunk, const T* gy,          \
                                                         const T* x, const float* rstd, float* partial) {          \
    rmsnorm_backward_weight_body<T>(rows, d, rowsPerChunk, gy, x, rstd, partial);                                  \
  }
STILL_FLOAT_TYPES(NORM)
