// Flash attention on tensor cores (mma.sync m16n8k16, f32 accumulate) for bf16/f16 with head dim 64 or
// 128: causal, GQA, packed segments, online softmax; T×S scores live only in registers, a 64-key tile at a
// time. Same semantics and layouts as attention.cu (the generic twin, which the tests hold these to).
//   forward:  one block (4 warps × 16·MT query rows) per 64·MT queries of one (batch, head); MT = 2 at D 64
//   backward: delta = rowsum(dO∘O) (attention.cu), then dQ per 64-query block, and dK/dV per (64-key block,
//             query head) — with GQA the group's heads run in parallel into f32 partials that a last kernel
//             sums in head order: no atomics, deterministic.
// Fragment layouts: see common.cuh. Shared tiles are [rows][D + 8] halves: the 16-byte pad makes the
// eight row addresses of each ldmatrix land in different banks.
#include "mma_tiles.cuh"

struct Range { int lo, hi; };

/** Keys visible to query t (inclusive); an out-of-range t sees none. */
__device__ __forceinline__ Range visible_keys(int t, int Tq, int S, int b, int causal, const int* segStart, const int* segEnd) {
  if (t >= Tq) return Range{0, -1};
  Range r{0, causal ? t + (S - Tq) : S - 1};
  if (segStart) {
    const i64 bt = (i64)b * Tq + t;
    r.lo = segStart[bt];
    if (!causal) r.hi = segEnd[bt];
  }
  return r;
}

/**
 * Forward. Each warp owns MT tiles of 16 query rows (BM = 64·MT per block): every K and V fragment a warp
 * loads from shared memory feeds MT MMAs, which is what bounds this loop.
 */
template <typename T, int D, int MT>
__device__ void flash_fwd_body(int B, int Tq, int S, int Hq, int Hkv, float scale, int causal, const int* segStart,
                               const int* segEnd, const T* q, const T* k, const T* v, T* o, float* lse) {
  constexpr int P = D + 8, BM = 64 * MT, BN = 64;
  constexpr bool bf = IsBf16<T>::value;
  STILL_DYNAMIC_SMEM(smem);
  // Q, then two K/V buffers: the next tile's copies run while this one's MMAs do.
  u16* Qs = reinterpret_cast<u16*>(smem);
  u16* Kbuf[2] = {Qs + BM * P, Qs + BM * P + 2 * BN * P};
  u16* Vbuf[2] = {Qs + BM * P + BN * P, Qs + BM * P + 3 * BN * P};
  const int bh = blockIdx.y, b = bh / Hq, h = bh % Hq, kh = h / (Hq / Hkv);
  const int q0 = (gridDim.x - 1 - blockIdx.x) * BM;  // the longest (causal) blocks start first
  const int w = warp_id(), lane = lane_id(), g = lane >> 2, tq = lane & 3;
  const i64 qStride = (i64)Hq * D, kStride = (i64)Hkv * D;
  const u16* qb = reinterpret_cast<const u16*>(q) + ((i64)b * Tq * Hq + h) * D;
  const u16* kb = reinterpret_cast<const u16*>(k) + ((i64)b * S * Hkv + kh) * D;
  const u16* vb = reinterpret_cast<const u16*>(v) + ((i64)b * S * Hkv + kh) * D;
  load_tile<D>(Qs, qb, qStride, q0, BM, Tq);
  int ra[MT], rb[MT];
  Range A[MT], Bv[MT];
#pragma unroll
  for (int mt = 0; mt < MT; mt++) {
    ra[mt] = q0 + (w * MT + mt) * 16 + g;
    rb[mt] = ra[mt] + 8;
    A[mt] = visible_keys(ra[mt], Tq, S, b, causal, segStart, segEnd);
    Bv[mt] = visible_keys(rb[mt], Tq, S, b, causal, segStart, segEnd);
  }
  const int lastRow = q0 + BM - 1 < Tq - 1 ? q0 + BM - 1 : Tq - 1;
  const int kLo = visible_keys(q0, Tq, S, b, causal, segStart, segEnd).lo;  // lo and hi grow with t
  const int kHi = visible_keys(lastRow, Tq, S, b, causal, segStart, segEnd).hi;

  float oacc[MT][D / 8][4];
  float ma[MT], mb[MT], la[MT], lb[MT];
#pragma unroll
  for (int mt = 0; mt < MT; mt++) {
#pragma unroll
    for (int i = 0; i < D / 8; i++) oacc[mt][i][0] = oacc[mt][i][1] = oacc[mt][i][2] = oacc[mt][i][3] = 0.0f;
    ma[mt] = mb[mt] = -INFINITY;
    la[mt] = lb[mt] = 0.0f;
  }

  const int kFirst = (kLo / BN) * BN;
  if (kFirst <= kHi) {
    load_tile_async<D>(Kbuf[0], kb, kStride, kFirst, BN, S);
    load_tile_async<D>(Vbuf[0], vb, kStride, kFirst, BN, S);
    cp_async_commit();
  }
  for (int kt = kFirst, it = 0; kt <= kHi; kt += BN, it++) {
    cp_async_wait_all();
    __syncthreads();  // this tile has landed for everyone, and everyone is done with the other buffer
    if (kt + BN <= kHi) {
      load_tile_async<D>(Kbuf[(it + 1) & 1], kb, kStride, kt + BN, BN, S);
      load_tile_async<D>(Vbuf[(it + 1) & 1], vb, kStride, kt + BN, BN, S);
      cp_async_commit();
    }
    const u16* Ks = Kbuf[it & 1];
    const u16* Vs = Vbuf[it & 1];
    float s[MT][BN / 8][4];
#pragma unroll
    for (int mt = 0; mt < MT; mt++)
#pragma unroll
      for (int i = 0; i < BN / 8; i++) s[mt][i][0] = s[mt][i][1] = s[mt][i][2] = s[mt][i][3] = 0.0f;
#pragma unroll
    for (int kc = 0; kc < D / 16; kc++) {
      u32 a[MT][4];
#pragma unroll
      for (int mt = 0; mt < MT; mt++) load_a<D>(a[mt], Qs, (w * MT + mt) * 16, kc * 16);
#pragma unroll
      for (int np = 0; np < BN / 16; np++) {
        u32 bk[4];
        load_b_rows<D>(bk, Ks, np * 16, kc * 16);
#pragma unroll
        for (int mt = 0; mt < MT; mt++) {
          mma_16816(s[mt][2 * np], a[mt], bk, bf);
          mma_16816(s[mt][2 * np + 1], a[mt], bk + 2, bf);
        }
      }
    }
#pragma unroll
    for (int mt = 0; mt < MT; mt++) {
      float mxa = -INFINITY, mxb = -INFINITY;
#pragma unroll
      for (int nt = 0; nt < BN / 8; nt++) {
#pragma unroll
        for (int e = 0; e < 4; e++) {
          const int key = kt + nt * 8 + 2 * tq + (e & 1);
          const Range& R = e < 2 ? A[mt] : Bv[mt];
          const float x = key >= R.lo && key <= R.hi ? s[mt][nt][e] * scale : -INFINITY;
          s[mt][nt][e] = x;
          if (e < 2) mxa = fmaxf(mxa, x);
          else mxb = fmaxf(mxb, x);
        }
      }
      mxa = fmaxf(mxa, __shfl_xor_sync(0xffffffffu, mxa, 1));
      mxa = fmaxf(mxa, __shfl_xor_sync(0xffffffffu, mxa, 2));
      mxb = fmaxf(mxb, __shfl_xor_sync(0xffffffffu, mxb, 1));
      mxb = fmaxf(mxb, __shfl_xor_sync(0xffffffffu, mxb, 2));
      const float mna = fmaxf(ma[mt], mxa), mnb = fmaxf(mb[mt], mxb);
      // A row with nothing visible yet keeps max −inf; subtract 0 instead so exp gives 0, not NaN.
      const float baseA = mna == -INFINITY ? 0.0f : mna, baseB = mnb == -INFINITY ? 0.0f : mnb;
      const float corrA = __expf(ma[mt] - baseA), corrB = __expf(mb[mt] - baseB);
      float sa = 0.0f, sb = 0.0f;
#pragma unroll
      for (int nt = 0; nt < BN / 8; nt++) {
        s[mt][nt][0] = __expf(s[mt][nt][0] - baseA);
        s[mt][nt][1] = __expf(s[mt][nt][1] - baseA);
        s[mt][nt][2] = __expf(s[mt][nt][2] - baseB);
        s[mt][nt][3] = __expf(s[mt][nt][3] - baseB);
        sa += s[mt][nt][0] + s[mt][nt][1];
        sb += s[mt][nt][2] + s[mt][nt][3];
      }
      la[mt] = la[mt] * corrA + sa;  // per-thread partial sums; the quad is summed at the end
      lb[mt] = lb[mt] * corrB + sb;
      ma[mt] = mna;
      mb[mt] = mnb;
#pragma unroll
      for (int i = 0; i < D / 8; i++) {
        oacc[mt][i][0] *= corrA;
        oacc[mt][i][1] *= corrA;
        oacc[mt][i][2] *= corrB;
        oacc[mt][i][3] *= corrB;
      }
    }
#pragma unroll
    for (int kc = 0; kc < BN / 16; kc++) {
      u32 pa[MT][4];
#pragma unroll
      for (int mt = 0; mt < MT; mt++) acc_to_a<T>(pa[mt], s[mt][2 * kc], s[mt][2 * kc + 1]);
#pragma unroll
      for (int dp = 0; dp < D / 16; dp++) {
        u32 bv[4];
        load_b_cols<D>(bv, Vs, kc * 16, dp * 16);
#pragma unroll
        for (int mt = 0; mt < MT; mt++) {
          mma_16816(oacc[mt][2 * dp], pa[mt], bv, bf);
          mma_16816(oacc[mt][2 * dp + 1], pa[mt], bv + 2, bf);
        }
      }
    }
  }
  u16* ob = reinterpret_cast<u16*>(o);
#pragma unroll
  for (int mt = 0; mt < MT; mt++) {
    float l2[2] = {la[mt], lb[mt]};
#pragma unroll
    for (int half = 0; half < 2; half++) {
      float l = l2[half];
      l += __shfl_xor_sync(0xffffffffu, l, 1);
      l += __shfl_xor_sync(0xffffffffu, l, 2);
      const int row = half == 0 ? ra[mt] : rb[mt];
      if (row >= Tq) continue;
      const float inv = l > 0.0f ? 1.0f / l : 0.0f;
      u16* orow = ob + (((i64)b * Tq + row) * Hq + h) * D;
#pragma unroll
      for (int i = 0; i < D / 8; i++) {
        *reinterpret_cast<u32*>(orow + i * 8 + 2 * tq) = pack2<T>(oacc[mt][i][2 * half] * inv, oacc[mt][i][2 * half + 1] * inv);
      }
      if (tq == 0) lse[((i64)b * Tq + row) * Hq + h] = l > 0.0f ? (half == 0 ? ma[mt] : mb[mt]) + logf(l) : -INFINITY;
    }
  }
}

template <typename T, int D>
__device__ void flash_bwd_dq_body(int B, int Tq, int S, int Hq, int Hkv, float scale, int causal, const int* segStart,
                                  const int* segEnd, const T* go, const T* q, const T* k, const T* v, const float* lse,
                                  const float* delta, T* gq) {
  constexpr int P = D + 8, BM = 64, BN = 64;
  constexpr bool bf = IsBf16<T>::value;
  STILL_DYNAMIC_SMEM(smem);
  u16* Qs = reinterpret_cast<u16*>(smem);
  u16* Os = Qs + BM * P;  // dO
  u16* Kbuf[2] = {Os + BM * P, Os + BM * P + 2 * BN * P};
  u16* Vbuf[2] = {Os + BM * P + BN * P, Os + BM * P + 3 * BN * P};
  const int bh = blockIdx.y, b = bh / Hq, h = bh % Hq, kh = h / (Hq / Hkv);
  const int q0 = (gridDim.x - 1 - blockIdx.x) * BM;
  const int w = warp_id(), lane = lane_id(), g = lane >> 2, tq = lane & 3;
  const i64 qStride = (i64)Hq * D, kStride = (i64)Hkv * D;
  const i64 qOff = ((i64)b * Tq * Hq + h) * D, kOff = ((i64)b * S * Hkv + kh) * D;
  load_tile<D>(Qs, reinterpret_cast<const u16*>(q) + qOff, qStride, q0, BM, Tq);
  load_tile<D>(Os, reinterpret_cast<const u16*>(go) + qOff, qStride, q0, BM, Tq);
  const int ra = q0 + w * 16 + g, rb = ra + 8;
  const Range A = visible_keys(ra, Tq, S, b, causal, segStart, segEnd);
  const Range Bv = visible_keys(rb, Tq, S, b, causal, segStart, segEnd);
  const i64 rowA = ((i64)b * Tq + ra) * Hq + h, rowB = ((i64)b * Tq + rb) * Hq + h;
  const float lseA = ra < Tq ? lse[rowA] : 0.0f, lseB = rb < Tq ? lse[rowB] : 0.0f;
  const float dA = ra < Tq ? delta[rowA] : 0.0f, dB = rb < Tq ? delta[rowB] : 0.0f;
  const int lastRow = q0 + BM - 1 < Tq - 1 ? q0 + BM - 1 : Tq - 1;
  const int kLo = visible_keys(q0, Tq, S, b, causal, segStart, segEnd).lo;
  const int kHi = visible_keys(lastRow, Tq, S, b, causal, segStart, segEnd).hi;

  float dq[D / 8][4];
#pragma unroll
  for (int i = 0; i < D / 8; i++) dq[i][0] = dq[i][1] = dq[i][2] = dq[i][3] = 0.0f;

  const u16* kb = reinterpret_cast<const u16*>(k) + kOff;
  const u16* vb = reinterpret_cast<const u16*>(v) + kOff;
  const int kFirst = (kLo / BN) * BN;
  if (kFirst <= kHi) {
    load_tile_async<D>(Kbuf[0], kb, kStride, kFirst, BN, S);
    load_tile_async<D>(Vbuf[0], vb, kStride, kFirst, BN, S);
    cp_async_commit();
  }
  for (int kt = kFirst, it = 0; kt <= kHi; kt += BN, it++) {
    cp_async_wait_all();
    __syncthreads();
    if (kt + BN <= kHi) {
      load_tile_async<D>(Kbuf[(it + 1) & 1], kb, kStride, kt + BN, BN, S);
      load_tile_async<D>(Vbuf[(it + 1) & 1], vb, kStride, kt + BN, BN, S);
      cp_async_commit();
    }
    const u16* Ks = Kbuf[it & 1];
    const u16* Vs = Vbuf[it & 1];
    float s[BN / 8][4], dp[BN / 8][4];
#pragma unroll
    for (int i = 0; i < BN / 8; i++)
#pragma unroll
      for (int e = 0; e < 4; e++) s[i][e] = dp[i][e] = 0.0f;
#pragma unroll
    for (int kc = 0; kc < D / 16; kc++) {
      u32 aq[4], ao[4];
      load_a<D>(aq, Qs, w * 16, kc * 16);
      load_a<D>(ao, Os, w * 16, kc * 16);
#pragma unroll
      for (int np = 0; np < BN / 16; np++) {
        u32 bk[4], bv[4];
        load_b_rows<D>(bk, Ks, np * 16, kc * 16);
        mma_16816(s[2 * np], aq, bk, bf);
        mma_16816(s[2 * np + 1], aq, bk + 2, bf);
        load_b_rows<D>(bv, Vs, np * 16, kc * 16);
        mma_16816(dp[2 * np], ao, bv, bf);
        mma_16816(dp[2 * np + 1], ao, bv + 2, bf);
      }
    }
#pragma unroll
    for (int nt = 0; nt < BN / 8; nt++) {
#pragma unroll
      for (int e = 0; e < 4; e++) {
        const int key = kt + nt * 8 + 2 * tq + (e & 1);
        const Range& R = e < 2 ? A : Bv;
        const float p = key >= R.lo && key <= R.hi ? __expf(s[nt][e] * scale - (e < 2 ? lseA : lseB)) : 0.0f;
        s[nt][e] = p * (dp[nt][e] - (e < 2 ? dA : dB)) * scale;  // dS
      }
    }
#pragma unroll
    for (int kc = 0; kc < BN / 16; kc++) {
      u32 da[4];
      acc_to_a<T>(da, s[2 * kc], s[2 * kc + 1]);
#pragma unroll
      for (int dp2 = 0; dp2 < D / 16; dp2++) {
        u32 bk[4];
        load_b_cols<D>(bk, Ks, kc * 16, dp2 * 16);
        mma_16816(dq[2 * dp2], da, bk, bf);
        mma_16816(dq[2 * dp2 + 1], da, bk + 2, bf);
      }
    }
  }
  u16* gb = reinterpret_cast<u16*>(gq);
  if (ra < Tq) {
#pragma unroll
    for (int i = 0; i < D / 8; i++) *reinterpret_cast<u32*>(gb + rowA * D + i * 8 + 2 * tq) = pack2<T>(dq[i][0], dq[i][1]);
  }
  if (rb < Tq) {
#pragma unroll
    for (int i = 0; i < D / 8; i++) *reinterpret_cast<u32*>(gb + rowB * D + i * 8 + 2 * tq) = pack2<T>(dq[i][2], dq[i][3]);
  }
}

/** Query tile t0's per-row data for the dK/dV kernel: lse, delta and the visible key range of each row. */
__device__ __forceinline__ void load_query_rows(int BQ, int t0, int b, int h, int Tq, int S, int Hq, int causal,
                                                const int* segStart, const int* segEnd, const float* lse,
                                                const float* delta, float* lseS, float* deltaS, int* qlo, int* qhi) {
  for (int i = threadIdx.x; i < BQ; i += blockDim.x) {
    const int t = t0 + i;
    const Range r = visible_keys(t, Tq, S, b, causal, segStart, segEnd);
    const i64 row = ((i64)b * Tq + t) * Hq + h;
    lseS[i] = t < Tq ? lse[row] : 0.0f;
    deltaS[i] = t < Tq ? delta[row] : 0.0f;
    qlo[i] = r.lo;
    qhi[i] = r.hi;
  }
}

/**
 * dK/dV of one 64-key block from ONE query head (block y = b·Hq + h): with GQA, heads of a group run in
 * parallel blocks and write f32 partials [B, S, Hq, D] that flash_dkv_reduce sums in head order
 * (deterministic); without GQA the block writes dK/dV itself. Query and dO tiles stream through two
 * cp.async buffers, so the next tile's loads overlap this tile's MMAs.
 */
template <typename T, int D, int BQ>
__device__ void flash_bwd_dkv_body(int B, int Tq, int S, int Hq, int Hkv, float scale, int causal, const int* segStart,
                                   const int* segEnd, const T* go, const T* q, const T* k, const T* v, const float* lse,
                                   const float* delta, T* gk, T* gv, float* pk, float* pv) {
  constexpr int P = D + 8, BN = 64;
  constexpr bool bf = IsBf16<T>::value;
  STILL_DYNAMIC_SMEM(smem);
  // K, V, then two stages of [Q tile, dO tile], then two stages of [lse, delta, first key, last key] per query.
  u16* Ks = reinterpret_cast<u16*>(smem);
  u16* Vs = Ks + BN * P;
  u16* const tiles = Vs + BN * P;
  float* const rowsData = reinterpret_cast<float*>(tiles + 4 * BQ * P);
  const int bh = blockIdx.y, b = bh / Hq, h = bh % Hq, group = Hq / Hkv, kh = h / group;
  const int k0 = blockIdx.x * BN;
  const int w = warp_id(), lane = lane_id(), g = lane >> 2, tq = lane & 3;
  const i64 qStride = (i64)Hq * D, kStride = (i64)Hkv * D;
  const i64 kOff = ((i64)b * S * Hkv + kh) * D;
  const i64 qOff = ((i64)b * Tq * Hq + h) * D;
  const u16* qb = reinterpret_cast<const u16*>(q) + qOff;
  const u16* ob = reinterpret_cast<const u16*>(go) + qOff;
  load_tile<D>(Ks, reinterpret_cast<const u16*>(k) + kOff, kStride, k0, BN, S);
  load_tile<D>(Vs, reinterpret_cast<const u16*>(v) + kOff, kStride, k0, BN, S);
  const int ka = k0 + w * 16 + g, kb2 = ka + 8;
  // The queries that see some key of this tile (segments need S == T, checked by the host).
  const int lastKey = k0 + BN - 1 < S - 1 ? k0 + BN - 1 : S - 1;
  int tlo, thi;
  if (segStart) {
    tlo = causal ? k0 : segStart[(i64)b * Tq + k0];
    thi = segEnd[(i64)b * Tq + lastKey];
  } else {
    tlo = causal ? (k0 - (S - Tq) > 0 ? k0 - (S - Tq) : 0) : 0;
    thi = Tq - 1;
  }

  float dk[D / 8][4], dv[D / 8][4];
#pragma unroll
  for (int i = 0; i < D / 8; i++)
#pragma unroll
    for (int e = 0; e < 4; e++) dk[i][e] = dv[i][e] = 0.0f;

  // Issue stage `st`'s copies for query tile t0 (the small per-row arrays are plain stores).
  auto prefetch = [&](int st, int t0) {
    u16* qs = tiles + st * 2 * BQ * P;
    float* r = rowsData + st * 4 * BQ;
    load_tile_async<D>(qs, qb, qStride, t0, BQ, Tq);
    load_tile_async<D>(qs + BQ * P, ob, qStride, t0, BQ, Tq);
    cp_async_commit();
    load_query_rows(BQ, t0, b, h, Tq, S, Hq, causal, segStart, segEnd, lse, delta, r, r + BQ,
                    reinterpret_cast<int*>(r + 2 * BQ), reinterpret_cast<int*>(r + 3 * BQ));
  };
  const int tFirst = (tlo / BQ) * BQ;
  if (tFirst <= thi) prefetch(0, tFirst);
  for (int t0 = tFirst, it = 0; t0 <= thi; t0 += BQ, it++) {
    cp_async_wait_all();
    __syncthreads();  // this tile has landed for everyone, and everyone is done with the other stage
    if (t0 + BQ <= thi) prefetch((it + 1) & 1, t0 + BQ);
    const u16* Qs = tiles + (it & 1) * 2 * BQ * P;
    const u16* Os = Qs + BQ * P;  // dO
    const float* lseS = rowsData + (it & 1) * 4 * BQ;
    const float* deltaS = lseS + BQ;
    const int* qlo = reinterpret_cast<const int*>(lseS + 2 * BQ);
    const int* qhi = reinterpret_cast<const int*>(lseS + 3 * BQ);
    float st[BQ / 8][4], dpt[BQ / 8][4];  // Sᵀ and dPᵀ: rows = this warp's keys, columns = queries
#pragma unroll
    for (int i = 0; i < BQ / 8; i++)
#pragma unroll
      for (int e = 0; e < 4; e++) st[i][e] = dpt[i][e] = 0.0f;
#pragma unroll
    for (int kc = 0; kc < D / 16; kc++) {
      u32 ak[4], av[4];
      load_a<D>(ak, Ks, w * 16, kc * 16);
      load_a<D>(av, Vs, w * 16, kc * 16);
#pragma unroll
      for (int np = 0; np < BQ / 16; np++) {
        u32 bq[4], bo[4];
        load_b_rows<D>(bq, Qs, np * 16, kc * 16);
        mma_16816(st[2 * np], ak, bq, bf);
        mma_16816(st[2 * np + 1], ak, bq + 2, bf);
        load_b_rows<D>(bo, Os, np * 16, kc * 16);
        mma_16816(dpt[2 * np], av, bo, bf);
        mma_16816(dpt[2 * np + 1], av, bo + 2, bf);
      }
    }
#pragma unroll
    for (int nt = 0; nt < BQ / 8; nt++) {
#pragma unroll
      for (int e = 0; e < 4; e++) {
        const int col = nt * 8 + 2 * tq + (e & 1);
        const int key = e < 2 ? ka : kb2;
        const float p = key >= qlo[col] && key <= qhi[col] ? __expf(st[nt][e] * scale - lseS[col]) : 0.0f;
        st[nt][e] = p;
        dpt[nt][e] = p * (dpt[nt][e] - deltaS[col]) * scale;  // dSᵀ
      }
    }
#pragma unroll
    for (int kc = 0; kc < BQ / 16; kc++) {
      u32 pa[4], da[4];
      acc_to_a<T>(pa, st[2 * kc], st[2 * kc + 1]);
      acc_to_a<T>(da, dpt[2 * kc], dpt[2 * kc + 1]);
#pragma unroll
      for (int dp2 = 0; dp2 < D / 16; dp2++) {
        u32 bo[4], bq[4];
        load_b_cols<D>(bo, Os, kc * 16, dp2 * 16);
        mma_16816(dv[2 * dp2], pa, bo, bf);
        mma_16816(dv[2 * dp2 + 1], pa, bo + 2, bf);
        load_b_cols<D>(bq, Qs, kc * 16, dp2 * 16);
        mma_16816(dk[2 * dp2], da, bq, bf);
        mma_16816(dk[2 * dp2 + 1], da, bq + 2, bf);
      }
    }
  }
  if (group > 1) {
    // f32 partials of this head: [B, S, Hq, D].
#pragma unroll
    for (int half = 0; half < 2; half++) {
      const int key = half == 0 ? ka : kb2;
      if (key >= S) continue;
      const i64 o = (((i64)b * S + key) * Hq + h) * D + 2 * tq;
#pragma unroll
      for (int i = 0; i < D / 8; i++) {
        pk[o + i * 8] = dk[i][2 * half];
        pk[o + i * 8 + 1] = dk[i][2 * half + 1];
        pv[o + i * 8] = dv[i][2 * half];
        pv[o + i * 8 + 1] = dv[i][2 * half + 1];
      }
    }
    return;
  }
  u16* kOut = reinterpret_cast<u16*>(gk);
  u16* vOut = reinterpret_cast<u16*>(gv);
  if (ka < S) {
    const i64 o = (((i64)b * S + ka) * Hkv + kh) * D + 2 * tq;
#pragma unroll
    for (int i = 0; i < D / 8; i++) {
      *reinterpret_cast<u32*>(kOut + o + i * 8) = pack2<T>(dk[i][0], dk[i][1]);
      *reinterpret_cast<u32*>(vOut + o + i * 8) = pack2<T>(dv[i][0], dv[i][1]);
    }
  }
  if (kb2 < S) {
    const i64 o = (((i64)b * S + kb2) * Hkv + kh) * D + 2 * tq;
#pragma unroll
    for (int i = 0; i < D / 8; i++) {
      *reinterpret_cast<u32*>(kOut + o + i * 8) = pack2<T>(dk[i][2], dk[i][3]);
      *reinterpret_cast<u32*>(vOut + o + i * 8) = pack2<T>(dv[i][2], dv[i][3]);
    }
  }
}

/** dK/dV [B, S, Hkv, D] := the sum over each group's query heads of the f32 partials [B, S, Hq, D], in head order. */
template <typename T>
__device__ void flash_dkv_reduce_body(i64 n, int Hq, int Hkv, int D, const float* pk, const float* pv, T* gk, T* gv) {
  const int group = Hq / Hkv;
  for (i64 i = global_index(); i < n; i += grid_stride()) {
    const int d = (int)(i % D);
    const i64 bsk = i / D;  // (b·S + s)·Hkv + kh
    const int kh = (int)(bsk % Hkv);
    const i64 base = ((bsk / Hkv) * Hq + (i64)kh * group) * D + d;
    float sk = 0.0f, sv = 0.0f;
    for (int j = 0; j < group; j++) {
      sk += pk[base + (i64)j * D];
      sv += pv[base + (i64)j * D];
    }
    store(gk, i, sk);
    store(gv, i, sv);
  }
}

#define FLASH(S_, T, D, MT, BQ, MINB)                                                                                         \
  extern "C" __global__ void __launch_bounds__(128) flash_fwd_##S_##_d##D(                                          \
      int B, int Tq, int S, int Hq, int Hkv, float scale, int causal, const int* segStart, const int* segEnd,        \
      const T* q, const T* k, const T* v, T* o, float* lse) {                                                       \
    flash_fwd_body<T, D, MT>(B, Tq, S, Hq, Hkv, scale, causal, segStart, segEnd, q, k, v, o, lse);                 \
  }                                                                                                                 \
  extern "C" __global__ void __launch_bounds__(128) flash_bwd_dq_##S_##_d##D(                                       \
      int B, int Tq, int S, int Hq, int Hkv, float scale, int causal, const int* segStart, const int* segEnd,        \
      const T* go, const T* q, const T* k, const T* v, const float* lse, const float* delta, T* gq) {               \
    flash_bwd_dq_body<T, D>(B, Tq, S, Hq, Hkv, scale, causal, segStart, segEnd, go, q, k, v, lse, delta, gq);        \
  }                                                                                                                 \
  extern "C" __global__ void __launch_bounds__(128, MINB) flash_bwd_dkv_##S_##_d##D(                                      \
      int B, int Tq, int S, int Hq, int Hkv, float scale, int causal, const int* segStart, const int* segEnd,        \
      const T* go, const T* q, const T* k, const T* v, const float* lse, const float* delta, T* gk, T* gv,          \
      float* pk, float* pv) {                                                                                        \
    flash_bwd_dkv_body<T, D, BQ>(B, Tq, S, Hq, Hkv, scale, causal, segStart, segEnd, go, q, k, v, lse, delta, gk, gv, \
                                 pk, pv);                                                                            \
  }
// MT: forward query tiles of 16 rows per warp (the block takes 64·MT queries; src/backends/cuda/index.ts
// launches accordingly); BQ: queries per dK/dV step; MINB: dK/dV blocks an SM should hold (the register cap
// that follows: 170 registers for 3).
FLASH(bf16, bf16, 64, 2, 64, 3)
FLASH(bf16, bf16, 128, 1, 32, 2)
FLASH(f16, f16, 64, 2, 64, 3)
FLASH(f16, f16, 128, 1, 32, 2)

// The D 64 forward with 64 queries per block (MT = 1: fewer registers, more blocks per SM), kept to compare
// against (CudaBackend.flashQueryTiles = 1).
#define FLASH_FWD_Q64(S_, T)                                                                                         \
  extern "C" __global__ void __launch_bounds__(128) flash_fwd_##S_##_d64_q64(                                      \
      int B, int Tq, int S, int Hq, int Hkv, float scale, int causal, const int* segStart, const int* segEnd,        \
      const T* q, const T* k, const T* v, T* o, float* lse) {                                                       \
    flash_fwd_body<T, 64, 1>(B, Tq, S, Hq, Hkv, scale, causal, segStart, segEnd, q, k, v, o, lse);                   \
  }
FLASH_FWD_Q64(bf16, bf16)
FLASH_FWD_Q64(f16, f16)

#define FLASH_REDUCE(S_, T)                                                                                          \
  extern "C" __global__ void flash_dkv_reduce_##S_(i64 n, int Hq, int Hkv, int D, const float* pk, const float* pv, \
                                                    T* gk, T* gv) {                                                  \
    flash_dkv_reduce_body<T>(n, Hq, Hkv, D, pk, pv, gk, gv);                                                        \
  }
FLASH_REDUCE(bf16, bf16)
FLASH_REDUCE(f16, f16)
