// Elementwise kernels: broadcasting binary ops, unary ops, affine (a*x+b), SwiGLU forward and backward.
// Every op reads its storage type, computes in f32 and writes the storage type (see common.cuh).
#include "common.cuh"

/** Output shape and both inputs' strides (0 on broadcast dims), after merging dims on the TS side. */
struct Bcast {
  i64 rank;  // 0: both inputs have the output's shape, so index i is the same everywhere
  i64 dims[6];
  i64 sa[6];
  i64 sb[6];
};

enum BinaryOp { OP_ADD = 0, OP_SUB = 1, OP_MUL = 2, OP_DIV = 3 };
enum UnaryOp { OP_NEG = 0, OP_EXP = 1, OP_LOG = 2, OP_SQRT = 3, OP_SILU = 4, OP_SQUARE = 5, OP_ABS = 6 };

__device__ __forceinline__ float apply_binary(int op, float x, float y) {
  switch (op) {
    case OP_ADD: return x + y;
    case OP_SUB: return x - y;
    case OP_MUL: return x * y;
    default: return x / y;
  }
}

__device__ __forceinline__ float apply_unary(int op, float x) {
  switch (op) {
    case OP_NEG: return -x;
    case OP_EXP: return expf(x);
    case OP_LOG: return logf(x);
    case OP_SQRT: return sqrtf(x);
    case OP_SILU: return x / (1.0f + expf(-x));
    case OP_SQUARE: return x * x;
    default: return fabsf(x);
  }
}

template <typename T>
__device__ void binary_body(int op, i64 n, const T* __restrict__ a, const T* __restrict__ b, T* __restrict__ out, const Bcast& bc) {
  for (i64 i = global_index(); i < n; i += grid_stride()) {
    i64 ia = i, ib = i;
    if (bc.rank > 0) {
      ia = 0;
      ib = 0;
      i64 rest = i;
      for (int d = (int)bc.rank - 1; d >= 0; d--) {
        const i64 idx = rest % bc.dims[d];
        rest /= bc.dims[d];
        ia += idx * bc.sa[d];
        ib += idx * bc.sb[d];
      }
    }
    store(out, i, apply_binary(op, load(a, ia), load(b, ib)));
  }
}

template <typename T> __device__ void unary_body(int op, i64 n, const T* __restrict__ a, T* __restrict__ out) {
  for (i64 i = global_index(); i < n; i += grid_stride()) store(out, i, apply_unary(op, load(a, i)));
}

template <typename T> __device__ void affine_body(i64 n, const T* __restrict__ a, float mul, float add, T* __restrict__ out) {
  for (i64 i = global_index(); i < n; i += grid_stride()) store(out, i, load(a, i) * mul + add);
}

template <typename T>
__device__ void swiglu_body(i64 n, const T* __restrict__ gate, const T* __restrict__ up, T* __restrict__ out) {
  for (i64 i = global_index(); i < n; i += grid_stride()) {
    const float g = load(gate, i);
    store(out, i, g / (1.0f + expf(-g)) * load(up, i));
  }
}

/** d silu(g)/dg = σ(g)(1 + g(1 − σ(g))). */
template <typename T>
__device__ void swiglu_backward_body(i64 n, const T* __restrict__ gy, const T* __restrict__ gate, const T* __restrict__ up,
                                     T* __restrict__ gGate, T* __restrict__ gUp) {
  for (i64 i = global_index(); i < n; i += grid_stride()) {
    const float g = load(gate, i), dy = load(gy, i);
    const float sig = 1.0f / (1.0f + expf(-g));
    store(gUp, i, dy * g * sig);
    store(gGate, i, dy * load(up, i) * sig * (1.0f + g * (1.0f - sig)));
  }
}

#define ELEMENTWISE(S, T)                                                                                         \
  extern "C" __global__ void binary_##S(int op, i64 n, const T* a, const T* b, T* out, Bcast bc) {                \
    binary_body<T>(op, n, a, b, out, bc);                                                                         \
  }                                                                                                               \
  extern "C" __global__ void unary_##S(int op, i64 n, const T* a, T* out) { unary_body<T>(op, n, a, out); }       \
  extern "C" __global__ void affine_##S(i64 n, const T* a, float mul, float add, T* out) {                        \
    affine_body<T>(n, a, mul, add, out);                                                                          \
  }                                                                                                               \
  extern "C" __global__ void swiglu_##S(i64 n, const T* gate, const T* up, T* out) { swiglu_body<T>(n, gate, up, out); } \
  extern "C" __global__ void swiglu_backward_##S(i64 n, const T* gy, const T* gate, const T* up, T* gGate, T* gUp) { \
    swiglu_backward_body<T>(n, gy, gate, up, gGate, gUp);                                                         \
  }
STILL_FLOAT_TYPES(ELEMENTWISE)
