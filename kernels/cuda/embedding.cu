// Embedding gather (forward) and scatter-add (backward, f32 atomics into a zeroed [V, D] gradient).
// An id outside [0, V) sets err[0] = 1 and err[1] = the id; the backend reports it at the next sync.
#include "common.cuh"

template <typename T>
__device__ void embedding_body(i64 nIds, int d, int vocab, const int* __restrict__ ids, const T* __restrict__ w,
                               T* __restrict__ out, int* err) {
  const i64 n = nIds * d;
  for (i64 i = global_index(); i < n; i += grid_stride()) {
    const i64 row = i / d;
    const int j = (int)(i - row * d);
    const int id = ids[row];
    if (id < 0 || id >= vocab) {
      if (atomicExch(err, 1) == 0) err[1] = id;
      out[i] = from_f32<T>(0.0f);
      continue;
    }
    out[i] = w[(i64)id * d + j];
  }
}

template <typename T>
__device__ void embedding_backward_body(i64 nIds, int d, int vocab, const int* __restrict__ ids,
                                        const T* __restrict__ grad, float* __restrict__ gw, int* err) {
  const i64 n = nIds * d;
  for (i64 i = global_index(); i < n; i += grid_stride()) {
    const i64 row = i / d;
    const int j = (int)(i - row * d);
    const int id = ids[row];
    if (id < 0 || id >= vocab) {
      if (atomicExch(err, 1) == 0) err[1] = id;
      continue;
    }
    atomicAdd(gw + (i64)id * d + j, load(grad, i));
  }
}

#define EMBEDDING(S, T)                                                                                         \
  extern "C" __global__ void embedding_##S(i64 nIds, int d, int vocab, const int* ids, const T* w, T* out,     \
                                           int* err) {                                                          \
    embedding_body<T>(nIds, d, vocab, ids, w, out, err);                                                        \
  }                                                                                                             \
  extern "C" __global__ void embedding_backward_##S(i64 nIds, int d, int vocab, const int* ids, const T* grad, \
                                                    float* gw, int* err) {                                      \
    embedding_backward_body<T>(nIds, d, vocab, ids, grad, gw, err);                                             \
  }
STILL_FLOAT_TYPES(EMBEDDING)
