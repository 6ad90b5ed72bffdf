// Fused softmax cross-entropy over logits [N, V] (any float type) with ignore_index. The forward makes one
// pass per row with an online (max, sum-exp) pair, so no f32 copy of the logits is ever made; the backward
// writes softmax − onehot straight into the gradient's storage type, a vocabulary chunk per block.
// A target outside [0, V) (and not ignored) sets err[0] = 1, err[1] = target.
#include "common.cuh"

template <typename T>
__device__ void cross_entropy_body(int rows, int vocab, int ignore, const T* __restrict__ logits,
                                   const int* __restrict__ targets, float* __restrict__ loss, float* __restrict__ lse,
                                   int* err) {
  __shared__ float scratch[66];
  for (int r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* row = logits + (i64)r * vocab;
    float m = -INFINITY, s = 0.0f;
    for (int j = threadIdx.x; j < vocab; j += blockDim.x) {
      const float x = load(row, j);
      if (x > m) {
        s = s * expf(m - x) + 1.0f;
        m = x;
      } else {
        s += expf(x - m);
      }
    }
    block_max_sum(m, s, scratch);
    if (threadIdx.x == 0) {
      const float l = m + logf(s);
      lse[r] = l;
      const int t = targets[r];
      if (t == ignore) {
        loss[r] = 0.0f;
      } else if (t < 0 || t >= vocab) {
        if (atomicExch(err, 1) == 0) err[1] = t;
        loss[r] = 0.0f;
      } else {
        loss[r] = l - load(row, t);
      }
    }
  }
}

/** grid (vocab chunks, row groups); out = gLoss · (softmax − onehot), 0 on ignored rows. */
template <typename T>
__device__ void cross_entropy_backward_body(int rows, int vocab, int ignore, const float* __restrict__ gLoss,
                                            const T* __restrict__ logits, const int* __restrict__ targets,
                                            const float* __restrict__ lse, T* __restrict__ out) {
  for (int r = blockIdx.y; r < rows; r += gridDim.y) {
    const int t = targets[r];
    const float g = t == ignore ? 0.0f : gLoss[r];
    const float l = lse[r];
    const i64 o = (i64)r * vocab;
    for (int j = blockIdx.x * blockDim.x + threadIdx.x; j < vocab; j += gridDim.x * blockDim.x) {
      float v = g * expf(load(logits, o + j) - l);
      if (j == t) v -= g;
      store(out, o + j, v);
    }
  }
}

#define CROSS_ENTROPY(S, T)                                                                                       \
  extern "C" __global__ void cross_entropy_##S(int rows, int vocab, int ignore, const T* logits, const int* targets, \
                                               float* loss, float* lse, int* err) {                               \
    cross_entropy_body<T>(rows, vocab, ignore, logits, targets, loss, lse, err);                                  \
  }                                                                                                               \
  extern "C" __global__ void cross_entropy_backward_##S(int rows, int vocab, int ignore, const float* gLoss,      \
                                                        const T* logits, const int* targets, const float* lse,   \
                                                        T* out) {                                                 \
    cross_entropy_backward_body<T>(rows, vocab, ignore, gLoss, logits, targets, lse, out);                        \
  }
STILL_FLOAT_TYPES(CROSS_ENTROPY)
