// Generation kernels over the slot KV cache [slots, maxLen, Hkv, D] (see Backend.kvWrite / slotAttention):
// writing new keys/values into slots, and decode attention, where each row b attends over the first
// kvLens[b] positions of its slot. A bad slot or range sets err[0] = 1, err[1] = the row (reported by the
// backend at the next sync) and the row is skipped.
#include "common.cuh"

/** cache[slots[b], starts[b] + t, :] := src[b, t, :]; rows of `row` elements (Hkv·D), bit copies. */
template <typename E>
__device__ void kv_write_body(int B, int T, i64 row, int maxLen, int nSlots, const int* slots, const int* starts,
                              const E* __restrict__ src, E* __restrict__ cache, int* err) {
  const i64 n = (i64)B * T * row;
  for (i64 i = global_index(); i < n; i += grid_stride()) {
    const i64 bt = i / row;
    const int b = (int)(bt / T), t = (int)(bt % T);
    const int slot = slots[b], start = starts[b];
    if (slot < 0 || slot >= nSlots || start < 0 || start + T > maxLen) {
      if (atomicExch(err, 1) == 0) err[1] = b;
      continue;
    }
    cache[((i64)slot * maxLen + start + t) * row + (i - bt * row)] = src[i];
  }
}

constexpr int kDecodeWarps = 4;
constexpr int kMaxGroup = 8;      // query heads per block (a GQA group, or a chunk of one)
constexpr int kMaxPerLane = 8;    // D ≤ 256

/**
 * Decode/prefill attention over a slot cache. Block (b·T + t, kv head, head chunk): the query heads of one
 * GQA group share every K/V row they read. Each warp walks 32 positions at a time (lane = position) with an
 * online softmax per head; the four warps' partial results are merged at the end.
 */
template <typename T>
__device__ void slot_attention_body(int B, int Tq, int Hq, int Hkv, int D, int maxLen, int nSlots, float scale,
                                    const int* slots, const int* kvLens, const T* __restrict__ q,
                                    const T* __restrict__ kc, const T* __restrict__ vc, T* __restrict__ o, int* err) {
  __shared__ float qs[kMaxGroup][256];
  __shared__ float ms[kDecodeWarps][kMaxGroup], ls[kDecodeWarps][kMaxGroup];
  __shared__ float accs[kDecodeWarps][kMaxGroup][256];
  const int bt = blockIdx.x, kh = blockIdx.y;
  const int b = bt / Tq, t = bt % Tq;
  const int group = Hq / Hkv;
  const int h0 = kh * group + blockIdx.z * kMaxGroup;
  const int heads = group - (int)blockIdx.z * kMaxGroup < kMaxGroup ? group - (int)blockIdx.z * kMaxGroup : kMaxGroup;
  const int w = warp_id(), lane = lane_id();
  const int slot = slots[b], len = kvLens[b];
  if (slot < 0 || slot >= nSlots || len < Tq || len > maxLen) {
    if (threadIdx.x == 0 && atomicExch(err, 1) == 0) err[1] = b;
    return;  // the whole block leaves together
  }
  const int last = len - Tq + t;  // query t sees positions 0 ..= last
  for (int i = threadIdx.x; i < heads * D; i += blockDim.x) {
    const int hh = i / D, d = i % D;
    qs[hh][d] = load(q, (((i64)b * Tq + t) * Hq + h0 + hh) * D + d);
  }
  __syncthreads();
  const i64 rowStride = (i64)Hkv * D;
  const T* kb = kc + ((i64)slot * maxLen * Hkv + kh) * D;
  const T* vb = vc + ((i64)slot * maxLen * Hkv + kh) * D;
  // Loops over heads use the compile-time bound with a guard so these arrays stay in registers.
  float m[kMaxGroup], l[kMaxGroup], acc[kMaxGroup][kMaxPerLane];
#pragma unroll
  for (int hh = 0; hh < kMaxGroup; hh++) {
    m[hh] = -INFINITY;
    l[hh] = 0.0f;
#pragma unroll
    for (int j = 0; j < kMaxPerLane; j++) acc[hh][j] = 0.0f;
  }
  for (int s0 = w * 32; s0 <= last; s0 += 32 * kDecodeWarps) {
    const int s = s0 + lane;
    const bool valid = s <= last;
    float score[kMaxGroup];
#pragma unroll
    for (int hh = 0; hh < kMaxGroup; hh++) score[hh] = 0.0f;
    if (valid) {
      const T* kr = kb + s * rowStride;
      for (int d = 0; d < D; d++) {
        const float kv = load(kr, d);
#pragma unroll
        for (int hh = 0; hh < kMaxGroup; hh++)
          if (hh < heads) score[hh] += qs[hh][d] * kv;
      }
    }
    float p[kMaxGroup];
#pragma unroll
    for (int hh = 0; hh < kMaxGroup; hh++) {
      p[hh] = 0.0f;
      if (hh < heads) {
        const float sc = valid ? score[hh] * scale : -INFINITY;
        const float mn = fmaxf(m[hh], warp_max(sc));  // finite: position s0 is valid
        p[hh] = valid ? expf(sc - mn) : 0.0f;
        const float corr = expf(m[hh] - mn);
        l[hh] = l[hh] * corr + warp_sum(p[hh]);
#pragma unroll
        for (int j = 0; j < kMaxPerLane; j++) acc[hh][j] *= corr;
        m[hh] = mn;
      }
    }
    const int count = last - s0 + 1 < 32 ? last - s0 + 1 : 32;
    for (int jj = 0; jj < count; jj++) {
      const T* vr = vb + (s0 + jj) * rowStride;
      float vv[kMaxPerLane];
#pragma unroll
      for (int j = 0; j < kMaxPerLane; j++) vv[j] = lane + 32 * j < D ? load(vr, lane + 32 * j) : 0.0f;
#pragma unroll
      for (int hh = 0; hh < kMaxGroup; hh++) {
        if (hh < heads) {
          const float pj = __shfl_sync(0xffffffffu, p[hh], jj);
#pragma unroll
          for (int j = 0; j < kMaxPerLane; j++) acc[hh][j] += pj * vv[j];
        }
      }
    }
  }
  // Merge the warps: rescale each to the common max.
#pragma unroll
  for (int hh = 0; hh < kMaxGroup; hh++) {
    if (hh < heads) {
      if (lane == 0) {
        ms[w][hh] = m[hh];
        ls[w][hh] = l[hh];
      }
#pragma unroll
      for (int j = 0; j < kMaxPerLane; j++)
        if (lane + 32 * j < D) accs[w][hh][lane + 32 * j] = acc[hh][j];
    }
  }
  __syncthreads();
  for (int i = threadIdx.x; i < heads * D; i += blockDim.x) {
    const int hh = i / D, d = i % D;
    float mx = -INFINITY;
    for (int ww = 0; ww < kDecodeWarps; ww++) mx = fmaxf(mx, ms[ww][hh]);
    float num = 0.0f, den = 0.0f;
    for (int ww = 0; ww < kDecodeWarps; ww++) {
      if (ms[ww][hh] == -INFINITY) continue;  // a warp that saw no position
      const float c = expf(ms[ww][hh] - mx);
      num += c * accs[ww][hh][d];
      den += c * ls[ww][hh];
    }
    store(o, (((i64)b * Tq + t) * Hq + h0 + hh) * D + d, num / den);
  }
}

#define KV_WRITE(S, E)                                                                                        \
  extern "C" __global__ void kv_write_##S(int B, int T, i64 row, int maxLen, int nSlots, const int* slots,   \
                                          const int* starts, const E* src, E* cache, int* err) {              \
    kv_write_body<E>(B, T, row, maxLen, nSlots, slots, starts, src, cache, err);                              \
  }
KV_WRITE(b16, u16)
KV_WRITE(b32, u32)

#define SLOT_ATTENTION(S, T)                                                                                      \
  extern "C" __global__ void slot_attention_##S(int B, int Tq, int Hq, int Hkv, int D, int maxLen, int nSlots,  \
                                                float scale, const int* slots, const int* kvLens, const T* q,   \
                                                const T* kc, const T* vc, T* o, int* err) {                      \
    slot_attention_body<T>(B, Tq, Hq, Hkv, D, maxLen, nSlots, scale, slots, kvLens, q, kc, vc, o, err);          \
  }
STILL_FLOAT_TYPES(SLOT_ATTENTION)
