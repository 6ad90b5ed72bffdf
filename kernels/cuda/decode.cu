// Generation kernels over the slot KV cache [slots, maxLen, Hkv, D] (see Backend.kvWrite / slotAttention):
// writing new keys/values into slots, and decode attention, where each row b attends over the first
// kvLens[b] positions of its slot. A bad slot or range sets err[0] = 1, err[1] = the row (reported by the
// backend at the next sync) and the row is skipped.
//
// Decode attention has two kernels with the same semantics:
//   slot_decode_<dtype>_d<D>  (bf16/f16, D = 16/32/64/128) flash-decoding on tensor cores: a block per
//     (query row, kv head, split of the row's positions); the query heads of the GQA group are the 16 rows
//     of an mma tile, so they share every K/V tile, which cp.async streams through shared memory in 16-byte
//     pieces (double-buffered). With several splits, each block leaves an unnormalised partial result and
//     the last block of a row to finish (an atomic counter) merges them, so one launch does it all.
//   slot_attention_<dtype>    the CUDA-core twin for any dtype and head dim (f32 caches, odd D).
#include "mma_tiles.cuh"

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


constexpr int kDecTile = 64;   // positions per pipeline stage; each of the 4 warps takes 16 of them
constexpr int kDecHeads = 16;  // query heads per block: the M of the mma tile

/**
 * Flash-decoding over a slot cache. Block (query row bt = b·Tq + t, split, kv head × head chunk): the block's
 * positions are split `split` of the row's visible ones [0, n), cut in multiples of 16; warp w computes
 * S = Q·Kᵀ and P·V for positions 16w..16w+15 of each 64-position tile with its own online softmax, and the
 * warps merge at the end. `part` holds (O unnormalised, m, l) per (bt, head, split) in f32, log2 units.
 */
template <typename T, int D>
__device__ void slot_decode_body(int B, int Tq, int Hq, int Hkv, int maxLen, int nSlots, float scale, int splits,
                                 const int* slots, const int* kvLens, const T* q, const T* kc, const T* vc, T* o,
                                 float* part, unsigned* counters, int* err) {
  constexpr int P = D + 8;
  constexpr bool bf = IsBf16<T>::value;
  STILL_DYNAMIC_SMEM(smem);
  __shared__ int lastFlag;
  u16* Qs = reinterpret_cast<u16*>(smem);
  u16* Kbuf[2] = {Qs + kDecHeads * P, Qs + kDecHeads * P + 2 * kDecTile * P};
  u16* Vbuf[2] = {Qs + kDecHeads * P + kDecTile * P, Qs + kDecHeads * P + 3 * kDecTile * P};
  const int bt = blockIdx.x, split = blockIdx.y;
  const int group = Hq / Hkv, chunks = (group + kDecHeads - 1) / kDecHeads;
  const int kh = blockIdx.z / chunks, chunk = blockIdx.z % chunks;
  const int h0 = kh * group + chunk * kDecHeads;
  const int heads = group - chunk * kDecHeads < kDecHeads ? group - chunk * kDecHeads : kDecHeads;
  const int b = bt / Tq, t = bt % Tq;
  const int slot = slots[b], len = kvLens[b];
  if (slot < 0 || slot >= nSlots || len < Tq || len > maxLen) {
    if (threadIdx.x == 0 && split == 0 && atomicExch(err, 1) == 0) err[1] = b;
    return;  // every block of this row leaves, so its counter is never touched
  }
  const int n = len - Tq + t + 1;  // query t sees positions 0 .. n-1
  const int per = ((n + splits - 1) / splits + 15) / 16 * 16;
  const int s0 = split * per < n ? split * per : n;
  const int s1 = s0 + per < n ? s0 + per : n;
  const int w = warp_id(), lane = lane_id(), g = lane >> 2, tq = lane & 3;
  const i64 kStride = (i64)Hkv * D;
  const u16* kb = reinterpret_cast<const u16*>(kc) + ((i64)slot * maxLen * Hkv + kh) * D;
  const u16* vb = reinterpret_cast<const u16*>(vc) + ((i64)slot * maxLen * Hkv + kh) * D;
  if (s0 < s1) {
    load_tile_async<D>(Kbuf[0], kb, kStride, s0, kDecTile, s1);
    load_tile_async<D>(Vbuf[0], vb, kStride, s0, kDecTile, s1);
    cp_async_commit();
  }
  // The group's query rows, zero-padded to 16 (padding rows score 0 and are never written out).
  load_tile<D>(Qs, reinterpret_cast<const u16*>(q) + (((i64)b * Tq + t) * Hq + h0) * D, D, 0, kDecHeads, heads);
  __syncthreads();
  u32 qa[D / 16][4];
#pragma unroll
  for (int kc2 = 0; kc2 < D / 16; kc2++) load_a<D>(qa[kc2], Qs, 0, kc2 * 16);
  const float scale2 = scale * 1.4426950408889634f;  // scores in log2 units: exp2 instead of exp

  float oacc[D / 8][4];
#pragma unroll
  for (int i = 0; i < D / 8; i++) oacc[i][0] = oacc[i][1] = oacc[i][2] = oacc[i][3] = 0.0f;
  float ma = -INFINITY, mb = -INFINITY, la = 0.0f, lb = 0.0f;
  for (int kt = s0, it = 0; kt < s1; kt += kDecTile, it++) {
    cp_async_wait_all();
    __syncthreads();  // this tile has landed for everyone, and everyone is done with the other buffer
    if (kt + kDecTile < s1) {
      load_tile_async<D>(Kbuf[(it + 1) & 1], kb, kStride, kt + kDecTile, kDecTile, s1);
      load_tile_async<D>(Vbuf[(it + 1) & 1], vb, kStride, kt + kDecTile, kDecTile, s1);
      cp_async_commit();
    }
    if (kt + w * 16 >= s1) continue;  // nothing for this warp in this tile (it still joins the next barrier)
    const u16* Ks = Kbuf[it & 1];
    const u16* Vs = Vbuf[it & 1];
    float s[2][4];
#pragma unroll
    for (int i = 0; i < 2; i++) s[i][0] = s[i][1] = s[i][2] = s[i][3] = 0.0f;
#pragma unroll
    for (int kc2 = 0; kc2 < D / 16; kc2++) {
      u32 bk[4];
      load_b_rows<D>(bk, Ks, w * 16, kc2 * 16);
      mma_16816(s[0], qa[kc2], bk, bf);
      mma_16816(s[1], qa[kc2], bk + 2, bf);
    }
    float mxa = -INFINITY, mxb = -INFINITY;
#pragma unroll
    for (int nt = 0; nt < 2; nt++) {
#pragma unroll
      for (int e = 0; e < 4; e++) {
        const int pos = kt + w * 16 + nt * 8 + 2 * tq + (e & 1);
        const float x = pos < s1 ? s[nt][e] * scale2 : -INFINITY;
        s[nt][e] = x;
        if (e < 2) mxa = fmaxf(mxa, x);
        else mxb = fmaxf(mxb, x);
      }
    }
    mxa = fmaxf(mxa, __shfl_xor_sync(0xffffffffu, mxa, 1));
    mxa = fmaxf(mxa, __shfl_xor_sync(0xffffffffu, mxa, 2));
    mxb = fmaxf(mxb, __shfl_xor_sync(0xffffffffu, mxb, 1));
    mxb = fmaxf(mxb, __shfl_xor_sync(0xffffffffu, mxb, 2));
    const float mna = fmaxf(ma, mxa), mnb = fmaxf(mb, mxb);  // finite: position kt + 16w is visible
    const float corrA = exp2f(ma - mna), corrB = exp2f(mb - mnb);
    float sa = 0.0f, sb = 0.0f;
#pragma unroll
    for (int nt = 0; nt < 2; nt++) {
      s[nt][0] = exp2f(s[nt][0] - mna);
      s[nt][1] = exp2f(s[nt][1] - mna);
      s[nt][2] = exp2f(s[nt][2] - mnb);
      s[nt][3] = exp2f(s[nt][3] - mnb);
      sa += s[nt][0] + s[nt][1];
      sb += s[nt][2] + s[nt][3];
    }
    la = la * corrA + sa;  // per-thread partial sums; the quad is summed at the end
    lb = lb * corrB + sb;
    ma = mna;
    mb = mnb;
    u32 pa[4];
    acc_to_a<T>(pa, s[0], s[1]);
#pragma unroll
    for (int dp = 0; dp < D / 16; dp++) {
      u32 bv[4];
      load_b_cols<D>(bv, Vs, w * 16, dp * 16);
#pragma unroll
      for (int e = 0; e < 4; e++) {
        oacc[2 * dp][e] *= e < 2 ? corrA : corrB;
        oacc[2 * dp + 1][e] *= e < 2 ? corrA : corrB;
      }
      mma_16816(oacc[2 * dp], pa, bv, bf);
      mma_16816(oacc[2 * dp + 1], pa, bv + 2, bf);
    }
  }
  la += __shfl_xor_sync(0xffffffffu, la, 1);
  la += __shfl_xor_sync(0xffffffffu, la, 2);
  lb += __shfl_xor_sync(0xffffffffu, lb, 1);
  lb += __shfl_xor_sync(0xffffffffu, lb, 2);

  // Merge the four warps through shared memory (the K/V buffers are free now).
  cp_async_wait_all();
  __syncthreads();
  float* Ms = reinterpret_cast<float*>(Kbuf[0]);  // [4][16]
  float* Ls = Ms + 4 * kDecHeads;                 // [4][16]
  float* Os = Ls + 4 * kDecHeads;                 // [4][16][D]
  if (tq == 0) {
    Ms[w * kDecHeads + g] = ma;
    Ms[w * kDecHeads + g + 8] = mb;
    Ls[w * kDecHeads + g] = la;
    Ls[w * kDecHeads + g + 8] = lb;
  }
#pragma unroll
  for (int i = 0; i < D / 8; i++) {
    float* ra = Os + (w * kDecHeads + g) * D + i * 8 + 2 * tq;
    float* rb = Os + (w * kDecHeads + g + 8) * D + i * 8 + 2 * tq;
    ra[0] = oacc[i][0];
    ra[1] = oacc[i][1];
    rb[0] = oacc[i][2];
    rb[1] = oacc[i][3];
  }
  __syncthreads();
  const i64 orow = ((i64)bt * Hq + h0) * D;
  for (int i = threadIdx.x; i < heads * D; i += blockDim.x) {
    const int hh = i / D, d = i % D;
    float mx = -INFINITY;
    for (int ww = 0; ww < 4; ww++) mx = fmaxf(mx, Ms[ww * kDecHeads + hh]);
    float num = 0.0f, den = 0.0f;
    if (mx != -INFINITY) {
      for (int ww = 0; ww < 4; ww++) {
        const float mw = Ms[ww * kDecHeads + hh];
        if (mw == -INFINITY) continue;  // a warp that saw no position
        const float c = exp2f(mw - mx);
        num += c * Os[(ww * kDecHeads + hh) * D + d];
        den += c * Ls[ww * kDecHeads + hh];
      }
    }
    if (splits == 1) {
      store(o, orow + i, num / den);
    } else {
      float* rec = part + (((i64)bt * Hq + h0 + hh) * splits + split) * (D + 2);
      rec[d] = num;
      if (d == 0) {
        rec[D] = mx;
        rec[D + 1] = den;
      }
    }
  }
  if (splits == 1) return;
  // The last block of this (row, kv head, chunk) to finish merges every split's partial result.
  __threadfence();
  __syncthreads();
  unsigned* counter = counters + (i64)bt * gridDim.z + blockIdx.z;
  if (threadIdx.x == 0) lastFlag = atomicAdd(counter, 1u) == (unsigned)(splits - 1);
  __syncthreads();
  if (!lastFlag) return;
  __threadfence();
  for (int i = threadIdx.x; i < heads * D; i += blockDim.x) {
    const int hh = i / D, d = i % D;
    const float* recs = part + ((i64)bt * Hq + h0 + hh) * splits * (D + 2);
    float mx = -INFINITY;
    for (int sp = 0; sp < splits; sp++) mx = fmaxf(mx, __ldcg(recs + sp * (D + 2) + D));
    float num = 0.0f, den = 0.0f;
    for (int sp = 0; sp < splits; sp++) {
      const float m = __ldcg(recs + sp * (D + 2) + D);
      if (m == -INFINITY) continue;  // a split with no positions
      const float c = exp2f(m - mx);
      num += c * __ldcg(recs + sp * (D + 2) + d);
      den += c * __ldcg(recs + sp * (D + 2) + D + 1);
    }
    store(o, orow + i, num / den);
  }
  if (threadIdx.x == 0) *counter = 0u;  // ready for the next launch (stream order makes it visible)
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

#define SLOT_DECODE(S, T, D)                                                                                     \
  extern "C" __global__ void __launch_bounds__(128) slot_decode_##S##_d##D(                                     \
      int B, int Tq, int Hq, int Hkv, int maxLen, int nSlots, float scale, int splits, const int* slots,        \
      const int* kvLens, const T* q, const T* kc, const T* vc, T* o, float* part, unsigned* counters, int* err) { \
    slot_decode_body<T, D>(B, Tq, Hq, Hkv, maxLen, nSlots, scale, splits, slots, kvLens, q, kc, vc, o, part,    \
                           counters, err);                                                                      \
  }
SLOT_DECODE(bf16, bf16, 16)
SLOT_DECODE(bf16, bf16, 32)
SLOT_DECODE(bf16, bf16, 64)
SLOT_DECODE(bf16, bf16, 128)
SLOT_DECODE(f16, f16, 16)
SLOT_DECODE(f16, f16, 32)
SLOT_DECODE(f16, f16, 64)
SLOT_DECODE(f16, f16, 128)
