// Generic causal GQA attention with online softmax, forward and backward, for any float type and any head
// dim up to 256 (the tensor-core kernels in flash_attention.cu cover bf16/f16 with D = 64 or 128). One warp
// owns one query row (or, for dK/dV, one key row) and walks the other side 32 positions at a time, so no
// T×S matrix is ever stored. Layouts: q/o [B, T, Hq, D], k/v [B, S, Hkv, D], lse/delta f32 [B, T, Hq].
// Visible keys of query t: [lo, hi] with lo = segment start (or 0) and hi = t + S − T when causal (or the
// segment end, or S − 1), exactly as src/backends/cpu/attention.ts.
#include "common.cuh"

constexpr int kWarps = 4;
constexpr int kMaxD = 256;
constexpr int kPerLane = kMaxD / 32;

/** Start and end (inclusive) of each position's run of equal segment ids; one thread per batch row. */
extern "C" __global__ void segment_bounds(int batch, int t, const int* seg, int* start, int* end) {
  const int b = blockIdx.x * blockDim.x + threadIdx.x;
  if (b >= batch) return;
  const i64 o = (i64)b * t;
  for (int i = 0; i < t; i++) start[o + i] = i > 0 && seg[o + i] == seg[o + i - 1] ? start[o + i - 1] : i;
  for (int i = t - 1; i >= 0; i--) end[o + i] = i < t - 1 && seg[o + i] == seg[o + i + 1] ? end[o + i + 1] : i;
}

struct KeyRange { int lo, hi; };

__device__ __forceinline__ KeyRange key_range(int t, int T, int S, int causal, const int* segStart, const int* segEnd, i64 bt) {
  KeyRange r{0, causal ? t + (S - T) : S - 1};
  if (segStart) {
    r.lo = segStart[bt];
    if (!causal) r.hi = segEnd[bt];
  }
  return r;
}

template <typename T>
__device__ float dot_row(const float* __restrict__ a, const T* __restrict__ b, int d) {
  float s = 0.0f;
  for (int i = 0; i < d; i++) s += a[i] * load(b, i);
  return s;
}

template <typename T>
__device__ void attention_fwd_body(int B, int Tq, int S, int Hq, int Hkv, int D, float scale, int causal,
                                   const int* segStart, const int* segEnd, const T* __restrict__ q,
                                   const T* __restrict__ k, const T* __restrict__ v, T* __restrict__ o,
                                   float* __restrict__ lse) {
  __shared__ float qs[kWarps][kMaxD];
  const int w = warp_id(), lane = lane_id();
  const i64 row = (i64)blockIdx.x * kWarps + w;  // (b, t, h), h fastest
  if (row >= (i64)B * Tq * Hq) return;            // whole warps only
  const int h = (int)(row % Hq);
  const i64 bt = row / Hq;
  const int t = (int)(bt % Tq), b = (int)(bt / Tq);
  const int kh = h / (Hq / Hkv);
  const KeyRange kr = key_range(t, Tq, S, causal, segStart, segEnd, bt);
  for (int i = lane; i < D; i += 32) qs[w][i] = load(q, row * D + i);
  __syncwarp();
  const i64 stride = (i64)Hkv * D;  // between consecutive keys
  const T* kb = k + ((i64)b * S * Hkv + kh) * D;
  const T* vb = v + ((i64)b * S * Hkv + kh) * D;
  float m = -INFINITY, l = 0.0f, acc[kPerLane];
  for (int j = 0; j < kPerLane; j++) acc[j] = 0.0f;
  for (int s0 = kr.lo; s0 <= kr.hi; s0 += 32) {
    const int s = s0 + lane;
    const float score = s <= kr.hi ? dot_row(qs[w], kb + s * stride, D) * scale : -INFINITY;
    const float mn = fmaxf(m, warp_max(score));  // finite: key s0 is always visible
    const float p = s <= kr.hi ? expf(score - mn) : 0.0f;
    const float corr = expf(m - mn);
    l = l * corr + warp_sum(p);
    for (int j = 0; j < kPerLane; j++) acc[j] *= corr;
    const int count = kr.hi - s0 + 1 < 32 ? kr.hi - s0 + 1 : 32;
    for (int jj = 0; jj < count; jj++) {
      const float pj = __shfl_sync(0xffffffffu, p, jj);
      const T* vr = vb + (s0 + jj) * stride;
      for (int j = 0; j < kPerLane; j++) {
        const int dd = lane + 32 * j;
        if (dd < D) acc[j] += pj * load(vr, dd);
      }
    }
    m = mn;
  }
  const float inv = l > 0.0f ? 1.0f / l : 0.0f;  // a query that sees no key gets 0 (and lse −inf)
  for (int j = 0; j < kPerLane; j++) {
    const int dd = lane + 32 * j;
    if (dd < D) store(o, row * D + dd, acc[j] * inv);
  }
  if (lane == 0) lse[row] = l > 0.0f ? m + logf(l) : -INFINITY;
}

/** delta = rowsum(dO ∘ O) per (b, t, h): the Σ_s P_s dP_s term of the softmax backward. */
template <typename T>
__device__ void attention_delta_body(i64 rows, int D, const T* __restrict__ go, const T* __restrict__ o, float* __restrict__ delta) {
  const i64 row = (i64)blockIdx.x * kWarps + warp_id();
  if (row >= rows) return;
  float s = 0.0f;
  for (int i = lane_id(); i < D; i += 32) s += load(go, row * D + i) * load(o, row * D + i);
  s = warp_sum(s);
  if (lane_id() == 0) delta[row] = s;
}

template <typename T>
__device__ void attention_bwd_dq_body(int B, int Tq, int S, int Hq, int Hkv, int D, float scale, int causal,
                                      const int* segStart, const int* segEnd, const T* __restrict__ go,
                                      const T* __restrict__ q, const T* __restrict__ k, const T* __restrict__ v,
                                      const float* __restrict__ lse, const float* __restrict__ delta,
                                      T* __restrict__ gq) {
  __shared__ float qs[kWarps][kMaxD];
  __shared__ float gos[kWarps][kMaxD];
  const int w = warp_id(), lane = lane_id();
  const i64 row = (i64)blockIdx.x * kWarps + w;
  if (row >= (i64)B * Tq * Hq) return;
  const int h = (int)(row % Hq);
  const i64 bt = row / Hq;
  const int t = (int)(bt % Tq), b = (int)(bt / Tq);
  const int kh = h / (Hq / Hkv);
  const KeyRange kr = key_range(t, Tq, S, causal, segStart, segEnd, bt);
  for (int i = lane; i < D; i += 32) {
    qs[w][i] = load(q, row * D + i);
    gos[w][i] = load(go, row * D + i);
  }
  __syncwarp();
  const float l = lse[row], dl = delta[row];
  const i64 stride = (i64)Hkv * D;
  const T* kb = k + ((i64)b * S * Hkv + kh) * D;
  const T* vb = v + ((i64)b * S * Hkv + kh) * D;
  float acc[kPerLane];
  for (int j = 0; j < kPerLane; j++) acc[j] = 0.0f;
  for (int s0 = kr.lo; s0 <= kr.hi; s0 += 32) {
    const int s = s0 + lane;
    float ds = 0.0f;
    if (s <= kr.hi) {
      const float p = expf(dot_row(qs[w], kb + s * stride, D) * scale - l);
      ds = p * (dot_row(gos[w], vb + s * stride, D) - dl) * scale;
    }
    const int count = kr.hi - s0 + 1 < 32 ? kr.hi - s0 + 1 : 32;
    for (int jj = 0; jj < count; jj++) {
      const float dsj = __shfl_sync(0xffffffffu, ds, jj);
      const T* kr2 = kb + (s0 + jj) * stride;
      for (int j = 0; j < kPerLane; j++) {
        const int dd = lane + 32 * j;
        if (dd < D) acc[j] += dsj * load(kr2, dd);
      }
    }
  }
  for (int j = 0; j < kPerLane; j++) {
    const int dd = lane + 32 * j;
    if (dd < D) store(gq, row * D + dd, acc[j]);
  }
}

/** One warp per key row (b, s, kv head): sums over every query head of its group and every query that sees it. */
template <typename T>
__device__ void attention_bwd_dkv_body(int B, int Tq, int S, int Hq, int Hkv, int D, float scale, int causal,
                                       const int* segStart, const int* segEnd, const T* __restrict__ go,
                                       const T* __restrict__ q, const T* __restrict__ k, const T* __restrict__ v,
                                       const float* __restrict__ lse, const float* __restrict__ delta,
                                       T* __restrict__ gk, T* __restrict__ gv) {
  __shared__ float ks[kWarps][kMaxD];
  __shared__ float vs[kWarps][kMaxD];
  const int w = warp_id(), lane = lane_id();
  const i64 row = (i64)blockIdx.x * kWarps + w;  // (b, s, kh), kh fastest
  if (row >= (i64)B * S * Hkv) return;
  const int kh = (int)(row % Hkv);
  const i64 bs = row / Hkv;
  const int s = (int)(bs % S), b = (int)(bs / S);
  const int group = Hq / Hkv;
  // The queries that see key s (segments need S == T, checked by the host).
  int tlo, thi;
  if (segStart) {
    tlo = causal ? s : segStart[bs];
    thi = segEnd[bs];
  } else {
    tlo = causal ? (s - (S - Tq) > 0 ? s - (S - Tq) : 0) : 0;
    thi = Tq - 1;
  }
  for (int i = lane; i < D; i += 32) {
    ks[w][i] = load(k, row * D + i);
    vs[w][i] = load(v, row * D + i);
  }
  __syncwarp();
  float ak[kPerLane], av[kPerLane];
  for (int j = 0; j < kPerLane; j++) ak[j] = av[j] = 0.0f;
  for (int h = kh * group; h < (kh + 1) * group; h++) {
    for (int t0 = tlo; t0 <= thi; t0 += 32) {
      const int t = t0 + lane;
      float p = 0.0f, ds = 0.0f;
      if (t <= thi) {
        const i64 qrow = ((i64)b * Tq + t) * Hq + h;
        p = expf(dot_row(ks[w], q + qrow * D, D) * scale - lse[qrow]);
        ds = p * (dot_row(vs[w], go + qrow * D, D) - delta[qrow]) * scale;
      }
      const int count = thi - t0 + 1 < 32 ? thi - t0 + 1 : 32;
      for (int jj = 0; jj < count; jj++) {
        const float pj = __shfl_sync(0xffffffffu, p, jj);
        const float dsj = __shfl_sync(0xffffffffu, ds, jj);
        const i64 qo = (((i64)b * Tq + t0 + jj) * Hq + h) * D;
        for (int j = 0; j < kPerLane; j++) {
          const int dd = lane + 32 * j;
          if (dd < D) {
            av[j] += pj * load(go, qo + dd);
            ak[j] += dsj * load(q, qo + dd);
          }
        }
      }
    }
  }
  for (int j = 0; j < kPerLane; j++) {
    const int dd = lane + 32 * j;
    if (dd < D) {
      store(gk, row * D + dd, ak[j]);
      store(gv, row * D + dd, av[j]);
    }
  }
}

#define ATTENTION(S_, T)                                                                                          \
  extern "C" __global__ void attention_fwd_##S_(int B, int Tq, int S, int Hq, int Hkv, int D, float scale,       \
                                                int causal, const int* segStart, const int* segEnd, const T* q,  \
                                                const T* k, const T* v, T* o, float* lse) {                      \
    attention_fwd_body<T>(B, Tq, S, Hq, Hkv, D, scale, causal, segStart, segEnd, q, k, v, o, lse);               \
  }                                                                                                               \
  extern "C" __global__ void attention_delta_##S_(i64 rows, int D, const T* go, const T* o, float* delta) {      \
    attention_delta_body<T>(rows, D, go, o, delta);                                                               \
  }                                                                                                               \
  extern "C" __global__ void attention_bwd_dq_##S_(int B, int Tq, int S, int Hq, int Hkv, int D, float scale,    \
                                                   int causal, const int* segStart, const int* segEnd,            \
                                                   const T* go, const T* q, const T* k, const T* v,              \
                                                   const float* lse, const float* delta, T* gq) {                 \
    attention_bwd_dq_body<T>(B, Tq, S, Hq, Hkv, D, scale, causal, segStart, segEnd, go, q, k, v, lse, delta, gq); \
  }                                                                                                               \
  extern "C" __global__ void attention_bwd_dkv_##S_(int B, int Tq, int S, int Hq, int Hkv, int D, float scale,   \
                                                    int causal, const int* segStart, const int* segEnd,           \
                                                    const T* go, const T* q, const T* k, const T* v,             \
                                                    const float* lse, const float* delta, T* gk, T* gv) {        \
    attention_bwd_dkv_body<T>(B, Tq, S, Hq, Hkv, D, scale, causal, segStart, segEnd, go, q, k, v, lse, delta, gk, \
                              gv);                                                                                \
  }
STILL_FLOAT_TYPES(ATTENTION)
