// Rotary position embedding, HF "rotate half" layout (pairs i and i + D/2), on x [B, T, H, D] with
// positions i32 [B, T]. The inverse frequencies come from the host, rounded to f32 exactly as HF does
// (see src/backends/cpu/rope.ts); the angle is their f32 product with the position, also as HF.
#include "common.cuh"

template <typename T>
__device__ void rope_body(i64 bt, int h, int d, const int* __restrict__ pos, const float* __restrict__ invFreq, float sign,
                          const T* __restrict__ x, T* __restrict__ out) {
  const int half = d / 2;
  const i64 n = bt * h * half;
  for (i64 i = global_index(); i < n; i += grid_stride()) {
    const int k = (int)(i % half);
    const i64 row = i / half;  // (bt, head)
    const i64 p = row / h;
    const float angle = __fmul_rn((float)pos[p], invFreq[k]);
    float s, c;
    sincosf(angle, &s, &c);
    s *= sign;
    const i64 o = row * d;
    const float x1 = load(x, o + k), x2 = load(x, o + k + half);
    store(out, o + k, x1 * c - x2 * s);
    store(out, o + k + half, x2 * c + x1 * s);
  }
}

#define ROPE(S, T)                                                                                              \
  extern "C" __global__ void rope_##S(i64 bt, int h, int d, const int* pos, const float* invFreq, float sign,  \
                                      const T* x, T* out) {                                                     \
    rope_body<T>(bt, h, d, pos, invFreq, sign, x, out);                                                         \
  }
STILL_FLOAT_TYPES(ROPE)
