// AdamW (PyTorch semantics: decoupled weight decay, bias-corrected moments) on fp32 master weights and
// moments, with the gradient in any float type. The host passes the step's scalars, computed exactly as
// the CPU reference does (src/backends/cpu/model_ops.ts).
#include "common.cuh"

template <typename T>
__device__ void adamw_body(i64 n, float* __restrict__ p, const T* __restrict__ g, float* __restrict__ m,
                           float* __restrict__ v, float beta1, float beta2, float eps, float decay, float stepSize,
                           float bc2Sqrt) {
  for (i64 i = global_index(); i < n; i += grid_stride()) {
    const float gi = load(g, i);
    const float mi = beta1 * m[i] + (1.0f - beta1) * gi;
    const float vi = beta2 * v[i] + (1.0f - beta2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] = p[i] * decay - stepSize * mi / (sqrtf(vi) / bc2Sqrt + eps);
  }
}

#define ADAMW(S, T)                                                                                             \
  extern "C" __global__ void adamw_##S(i64 n, float* p, const T* g, float* m, float* v, float beta1, float beta2, \
                                       float eps, float decay, float stepSize, float bc2Sqrt) {                 \
    adamw_body<T>(n, p, g, m, v, beta1, beta2, eps, decay, stepSize, bc2Sqrt);                                 \
  }
STILL_FLOAT_TYPES(ADAMW)
