// Inference-only fused kernels for the generation path (Backend.fusedLinear, Backend.qkvRopeKvWrite and
// Backend.ropeKvWrite; their definitions, as compositions of plain ops, are in src/backends/fused_reference.ts):
// - fused_gemv: y = [rmsnorm](x)·wᵀ (+ bias) (swiglu) (+ residual) for a few rows (a decode step). The rows of
//   x are staged once per block in shared memory and every weight row is streamed exactly once, 16 bytes per
//   lane per load, several loads in flight (the first ones issued before x is staged: they do not depend on
//   it), so a decode step's projections run at memory speed in one launch each instead of a cuBLASLt GEMM
//   plus elementwise kernels.
// - fused_qkv_gemv: the same GEMV for the stacked q/k/v weight, each warp taking a RoPE pair of rows (i and
//   i + D/2 of one head), finished by bias, RoPE and the slot-cache writes of k and v: one launch.
// - fused_epilogue: bias / swiglu / residual after a cuBLASLt GEMM, for more rows.
// - rope_kv_write: bias, RoPE on q and k, and the slot-cache writes of k and v from a stacked qkv output.
// Intermediate values are rounded to the storage type wherever the unfused ops round their outputs, so the
// fused path differs from the unfused one only in the GEMM's summation order.
#include "common.cuh"

constexpr int kGemvThreads = 256;
constexpr int kGemvWarps = kGemvThreads / 32;
constexpr int kGemvUnroll = 4;  // 16-byte weight loads in flight per lane (×2 with two rows a column)
constexpr int kStage = 4;       // loads in flight per thread while x is staged

template <typename T> __device__ __forceinline__ float round_to(float v) { return to_f32(from_f32<T>(v)); }

/**
 * A 16-byte weight load that bypasses L1 (each chunk is read once). Volatile, so the compiler keeps the loads
 * issued before x is staged where they are, instead of sinking them to their first use.
 */
__device__ __forceinline__ U128 load_weights16(const U128* p) {
#ifdef STILL_EMU
  return *p;
#else
  U128 r;
  asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r.x), "=r"(r.y), "=r"(r.z), "=r"(r.w) : "l"(p));
  return r;
#endif
}

/** The 16 / sizeof(T) elements of a 16-byte chunk, widened to f32. */
template <typename T> struct Unpack;template <> struct Unpack<float> {
  static __device__ __forceinline__ void run(const U128& v, float* f) {
    f[0] = __uint_as_float(v.x); f[1] = __uint_as_float(v.y); f[2] = __uint_as_float(v.z); f[3] = __uint_as_float(v.w);
  }
};
template <> struct Unpack<bf16> {
  static __device__ __forceinline__ void run(const U128& v, float* f) {
    const u32 w[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
    for (int i = 0; i < 4; i++) {
      f[2 * i] = __uint_as_float(w[i] << 16);
      f[2 * i + 1] = __uint_as_float(w[i] & 0xffff0000u);
    }
  }
};
template <> struct Unpack<f16> {
  static __device__ __forceinline__ void run(const U128& v, float* f) {
    const u32 w[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
    for (int i = 0; i < 4; i++) {
      f16 lo, hi;
      lo.bits = (u16)(w[i] & 0xffffu);
      hi.bits = (u16)(w[i] >> 16);
      f[2 * i] = to_f32(lo);
      f[2 * i + 1] = to_f32(hi);
    }
  }
};

/**
 * What follows the dot product (g; u is the up row's with swiglu), rounded to T after each step as the unfused
 * ops (GEMM output, bias add, swiglu, residual add) round theirs.
 */
template <typename T>
__device__ __forceinline__ float linear_epilogue(float g, float u, int col, int n, const T* bias, int swiglu, const T* residual, i64 at) {
  float v = round_to<T>(g);
  if (bias) v = round_to<T>(v + load(bias, col));
  if (swiglu) {
    float up = round_to<T>(u);
    if (bias) up = round_to<T>(up + load(bias, n + col));
    v = round_to<T>(v / (1.0f + expf(-v)) * up);
  }
  if (residual) v = load(residual, at) + v;
  return v;
}

/** fusedLinear's finish: column c reads weight row c (and N + c, the up row, with swiglu). */
template <typename T> struct LinearEpilogue {
  int n;
  const T* bias;
  int swiglu;
  const T* residual;
  T* out;
  __device__ __forceinline__ bool two() const { return swiglu != 0; }
  __device__ __forceinline__ i64 row(int c) const { return c; }
  __device__ __forceinline__ i64 row2(int c) const { return (i64)n + c; }
  __device__ __forceinline__ void finish(int m, int c, float g, float u) const {
    const i64 at = (i64)m * n + c;
    store(out, at, linear_epilogue<T>(g, u, c, n, bias, swiglu, residual, at));
  }
};

/** RoPE of the pair (x1, x2) at position p, with rope_body's arithmetic. */
__device__ __forceinline__ void rotate(float& x1, float& x2, int p, float invFreq) {
  const float angle = __fmul_rn((float)p, invFreq);
  float s, c;
  sincosf(angle, &s, &c);
  const float r1 = x1 * c - x2 * s, r2 = x2 * c + x1 * s;
  x1 = r1;
  x2 = r2;
}

/**
 * The stacked q/k/v projection's finish. Column c is the RoPE pair i = c mod D/2 of head h = c div D/2: weight
 * rows h·D + i and h·D + i + D/2. Row m of x is token (b, t) = (m div T, m mod T): q goes to q [M, Hq, D], k
 * and v to slot slots[b], position starts[b] + t of the caches; a bad slot or start sets err, writes nothing.
 */
template <typename T> struct QkvRopeEpilogue {
  int T_, Hq, Hkv, D, maxLen, nSlots;
  const int* pos;
  const float* invFreq;
  const T* bias;
  const int* slots;
  const int* starts;
  T* q;
  T* kc;
  T* vc;
  int* err;
  __device__ __forceinline__ bool two() const { return true; }
  __device__ __forceinline__ i64 row(int c) const { return (i64)(c / (D / 2)) * D + c % (D / 2); }
  __device__ __forceinline__ i64 row2(int c) const { return row(c) + D / 2; }
  __device__ __forceinline__ void finish(int m, int c, float g, float u) const {
    const int half = D / 2, h = c / half, i = c % half;
    float x1 = round_to<T>(g), x2 = round_to<T>(u);
    if (bias) {
      x1 = round_to<T>(x1 + load(bias, (i64)h * D + i));
      x2 = round_to<T>(x2 + load(bias, (i64)h * D + i + half));
    }
    if (h < Hq + Hkv) rotate(x1, x2, pos[m], invFreq[i]);
    if (h < Hq) {
      const i64 at = ((i64)m * Hq + h) * D + i;
      store(q, at, x1);
      store(q, at + half, x2);
      return;
    }
    const int b = m / T_, t = m % T_;
    const int slot = slots[b], start = starts[b];
    if (slot < 0 || slot >= nSlots || start < 0 || start + T_ > maxLen) {
      if (atomicExch(err, 1) == 0) err[1] = b;
      return;
    }
    const bool isK = h < Hq + Hkv;
    const i64 at = (((i64)slot * maxLen + start + t) * Hkv + (isK ? h - Hq : h - Hq - Hkv)) * D + i;
    T* cache = isK ? kc : vc;
    store(cache, at, x1);
    store(cache, at + half, x2);
  }
};

/**
 * N output columns for M ≤ MAXM rows of x [M, K]. Block: 8 warps; `splitK` warps share one column (each takes a
 * contiguous part of K, summed in shared memory), so a block covers 8 / splitK columns at a time, and strides
 * over the columns by the grid (a capped grid stages x fewer times). A column reads weight row epi.row(c), and
 * epi.row2(c) too when epi.two(); epi.finish(m, c, g, u) gets the sums. Needs K a multiple of 16 / sizeof(T),
 * 16-byte aligned x and w, and M·K·sizeof(T) bytes of dynamic shared memory for the staged rows.
 */
template <typename T, int MAXM, typename Epi>
__device__ void gemv_body(int M, int N, int K, int splitK, const T* __restrict__ x, const T* __restrict__ w,
                          const T* __restrict__ normW, float eps, const Epi& epi) {
  constexpr int V = 16 / (int)sizeof(T);
  STILL_DYNAMIC_SMEM(smem);
  T* xs = reinterpret_cast<T*>(smem);
  __shared__ float red[kGemvWarps][MAXM][2];
  __shared__ float scratch[MAXM][33];
  const int chunks = K / V;
  const int warp = warp_id(), lane = lane_id();
  const int colsPerBlock = kGemvWarps / splitK;
  const int part = warp % splitK;
  const int per = (chunks + splitK - 1) / splitK;
  const int lo = part * per;
  const int hi = lo + per < chunks ? lo + per : chunks;
  const bool two = epi.two();

  // 0. The first batch of this warp's weight chunks does not depend on x: start loading it now.
  U128 gv[kGemvUnroll] = {}, uv[kGemvUnroll] = {};
  {
    const int col = blockIdx.x * colsPerBlock + warp / splitK;
    if (col < N) {
      const U128* wg = reinterpret_cast<const U128*>(w + epi.row(col) * K);
      const U128* wu = reinterpret_cast<const U128*>(w + epi.row2(col) * K);
#pragma unroll
      for (int u = 0; u < kGemvUnroll; u++) {
        const int c = lo + lane + 32 * u;
        if (c < hi) {
          gv[u] = load_weights16(wg + c);
          if (two) uv[u] = load_weights16(wu + c);
        }
      }
    }
  }

  // 1. Stage the rows of x (normalised exactly as rmsnorm_body does, rounded to T like its output). Each
  // thread's loads go out kStage at a time, so the staging costs a few memory latencies, not one per element.
  if (normW) {
    float ss[MAXM], rs[MAXM];
#pragma unroll
    for (int m = 0; m < MAXM; m++) {
      ss[m] = 0.0f;
      if (m < M) {
        for (int i0 = threadIdx.x; i0 < K; i0 += kStage * blockDim.x) {
          float v[kStage];
#pragma unroll
          for (int u = 0; u < kStage; u++) {
            const int i = i0 + u * blockDim.x;
            v[u] = i < K ? load(x, (i64)m * K + i) : 0.0f;
          }
#pragma unroll
          for (int u = 0; u < kStage; u++) ss[m] += v[u] * v[u];  // in rmsnorm_body's order (padding adds 0)
        }
      }
    }
    block_sum_n<MAXM>(ss, scratch);
#pragma unroll
    for (int m = 0; m < MAXM; m++) rs[m] = rsqrtf(ss[m] / (float)K + eps);
    for (int i0 = threadIdx.x; i0 < K; i0 += kStage * blockDim.x) {
      float nw[kStage];
#pragma unroll
      for (int u = 0; u < kStage; u++) {
        const int i = i0 + u * blockDim.x;
        nw[u] = i < K ? load(normW, i) : 0.0f;
      }
#pragma unroll
      for (int m = 0; m < MAXM; m++) {
        if (m < M) {
          float v[kStage];
#pragma unroll
          for (int u = 0; u < kStage; u++) {
            const int i = i0 + u * blockDim.x;
            v[u] = i < K ? load(x, (i64)m * K + i) : 0.0f;
          }
#pragma unroll
          for (int u = 0; u < kStage; u++) {
            const int i = i0 + u * blockDim.x;
            if (i < K) store(xs, (i64)m * K + i, nw[u] * (v[u] * rs[m]));
          }
        }
      }
    }
  } else {
    const int total = M * chunks;
    for (int c0 = threadIdx.x; c0 < total; c0 += kStage * blockDim.x) {
      U128 v[kStage];
#pragma unroll
      for (int u = 0; u < kStage; u++) {
        const int c = c0 + u * blockDim.x;
        if (c < total) v[u] = reinterpret_cast<const U128*>(x)[c];
      }
#pragma unroll
      for (int u = 0; u < kStage; u++) {
        const int c = c0 + u * blockDim.x;
        if (c < total) reinterpret_cast<U128*>(xs)[c] = v[u];
      }
    }
  }
  __syncthreads();

  // 2. Each warp: a part of one column's dot products, for every row at once (each weight chunk read once).
  bool prefetched = true;
  for (int base = blockIdx.x * colsPerBlock; base < N; base += gridDim.x * colsPerBlock) {
    const int col = base + warp / splitK;
    float acc[MAXM], acc2[MAXM];
#pragma unroll
    for (int m = 0; m < MAXM; m++) acc[m] = acc2[m] = 0.0f;
    if (col < N) {
      const U128* wg = reinterpret_cast<const U128*>(w + epi.row(col) * K);
      const U128* wu = reinterpret_cast<const U128*>(w + epi.row2(col) * K);
      for (int c0 = lo + lane; c0 < hi; c0 += 32 * kGemvUnroll) {
        if (!prefetched) {
#pragma unroll
          for (int u = 0; u < kGemvUnroll; u++) {
            const int c = c0 + 32 * u;
            if (c < hi) {
              gv[u] = load_weights16(wg + c);
              if (two) uv[u] = load_weights16(wu + c);
            }
          }
        }
        prefetched = false;
#pragma unroll
        for (int u = 0; u < kGemvUnroll; u++) {
          const int c = c0 + 32 * u;
          if (c < hi) {
            float gf[V], uf[V];
            Unpack<T>::run(gv[u], gf);
            if (two) Unpack<T>::run(uv[u], uf);
#pragma unroll
            for (int m = 0; m < MAXM; m++) {
              if (m < M) {
                float xf[V];
                Unpack<T>::run(reinterpret_cast<const U128*>(xs + (i64)m * K)[c], xf);
#pragma unroll
                for (int e = 0; e < V; e++) acc[m] += gf[e] * xf[e];
                if (two) {
#pragma unroll
                  for (int e = 0; e < V; e++) acc2[m] += uf[e] * xf[e];
                }
              }
            }
          }
        }
      }
    }
    prefetched = false;

    // 3. Sum over the warp. A column of its own: lane m finishes row m, and the warp goes on alone.
    warp_sum_n<MAXM>(acc);
    if (two) warp_sum_n<MAXM>(acc2);
    if (splitK == 1) {
#pragma unroll
      for (int m = 0; m < MAXM; m++) {
        if (m < M && lane == m && col < N) epi.finish(m, col, acc[m], acc2[m]);
      }
      continue;
    }
    // Split columns: the parts meet in shared memory, and one thread per (column, row) finishes.
    if (lane == 0) {
#pragma unroll
      for (int m = 0; m < MAXM; m++) {
        red[warp][m][0] = acc[m];
        red[warp][m][1] = acc2[m];
      }
    }
    __syncthreads();
    for (int i = threadIdx.x; i < colsPerBlock * M; i += blockDim.x) {
      const int cb = i / M, m = i % M;
      const int c = base + cb;
      if (c >= N) continue;
      float g = 0.0f, u = 0.0f;
      for (int p = 0; p < splitK; p++) {
        g += red[cb * splitK + p][m][0];
        u += red[cb * splitK + p][m][1];
      }
      epi.finish(m, c, g, u);
    }
    __syncthreads();  // red is rewritten by the next columns
  }
}

/** out [M, N] from a GEMM's y [M, N] ([M, 2N] with swiglu: gate columns, then up columns). */
template <typename T>
__device__ void fused_epilogue_body(i64 M, int N, const T* __restrict__ y, const T* __restrict__ bias, int swiglu,
                                    const T* __restrict__ residual, T* __restrict__ out) {
  const i64 width = swiglu ? 2 * (i64)N : N;
  for (i64 i = global_index(); i < M * N; i += grid_stride()) {
    const i64 m = i / N;
    const int c = (int)(i - m * N);
    const float g = load(y, m * width + c);
    const float u = swiglu ? load(y, m * width + N + c) : 0.0f;
    store(out, i, linear_epilogue<T>(g, u, c, N, bias, swiglu, residual, i));
  }
}

/**
 * qkv [BT, Hq + 2·Hkv, D] (+ bias) → q [BT, Hq, D] with RoPE; k (with RoPE) and v into the slot caches
 * [nSlots, maxLen, Hkv, D] at slot slots[b], position starts[b] + t (row bt = b·T + t). One item per rotation
 * pair (i, i + D/2) of one head; a bad slot or start sets err (as kv_write does) and writes nothing.
 */
template <typename T>
__device__ void rope_kv_write_body(int BT, int T_, int Hq, int Hkv, int D, const int* __restrict__ pos,
                                   const float* __restrict__ invFreq, const T* __restrict__ qkv, const T* __restrict__ bias,
                                   int maxLen, int nSlots, const int* __restrict__ slots, const int* __restrict__ starts,
                                   T* __restrict__ q, T* __restrict__ kc, T* __restrict__ vc, int* err) {
  const int half = D / 2, heads = Hq + 2 * Hkv;
  const i64 n = (i64)BT * heads * half;
  for (i64 i = global_index(); i < n; i += grid_stride()) {
    const int k = (int)(i % half);
    const i64 rh = i / half;  // (bt, head)
    const int h = (int)(rh % heads);
    const i64 bt = rh / heads;
    const i64 o = rh * D;
    float x1 = load(qkv, o + k), x2 = load(qkv, o + k + half);
    if (bias) {
      x1 = round_to<T>(x1 + load(bias, (i64)h * D + k));
      x2 = round_to<T>(x2 + load(bias, (i64)h * D + k + half));
    }
    if (h < Hq + Hkv) rotate(x1, x2, pos[bt], invFreq[k]);
    if (h < Hq) {
      const i64 at = (bt * Hq + h) * D + k;
      store(q, at, x1);
      store(q, at + half, x2);
      continue;
    }
    const int b = (int)(bt / T_), t = (int)(bt % T_);
    const int slot = slots[b], start = starts[b];
    if (slot < 0 || slot >= nSlots || start < 0 || start + T_ > maxLen) {
      if (atomicExch(err, 1) == 0) err[1] = b;
      continue;
    }
    const bool isK = h < Hq + Hkv;
    const int hh = isK ? h - Hq : h - Hq - Hkv;
    const i64 at = (((i64)slot * maxLen + start + t) * Hkv + hh) * D + k;
    T* cache = isK ? kc : vc;
    store(cache, at, x1);
    store(cache, at + half, x2);
  }
}

#define FUSED_GEMV(S, T, MAXM)                                                                                     \
  extern "C" __global__ void __launch_bounds__(kGemvThreads) fused_gemv_##S##_m##MAXM(                              \
      int M, int N, int K, int splitK, const T* x, const T* w, const T* normW, float eps, const T* bias, int swiglu, \
      const T* residual, T* out) {                                                                                   \
    const LinearEpilogue<T> epi{N, bias, swiglu, residual, out};                                                     \
    gemv_body<T, MAXM>(M, N, K, splitK, x, w, normW, eps, epi);                                                     \
  }                                                                                                                 \
  extern "C" __global__ void __launch_bounds__(kGemvThreads) fused_qkv_gemv_##S##_m##MAXM(                          \
      int M, int K, int splitK, const T* x, const T* w, const T* normW, float eps, const T* bias, int T_, int Hq,     \
      int Hkv, int D, const int* pos, const float* invFreq, int maxLen, int nSlots, const int* slots,                \
      const int* starts, T* q, T* kc, T* vc, int* err) {                                                             \
    const QkvRopeEpilogue<T> epi{T_, Hq, Hkv, D, maxLen, nSlots, pos, invFreq, bias, slots, starts, q, kc, vc, err}; \
    gemv_body<T, MAXM>(M, (Hq + 2 * Hkv) * (D / 2), K, splitK, x, w, normW, eps, epi);                              \
  }

// The GEMVs for f32 and bf16 only (an f16 model takes the GEMM path): each instance is large PTX.
#define FUSED_GEMVS(S, T)                                                                                           \
  FUSED_GEMV(S, T, 1)                                                                                               \
  FUSED_GEMV(S, T, 2)                                                                                               \
  FUSED_GEMV(S, T, 4)                                                                                               \
  FUSED_GEMV(S, T, 8)
FUSED_GEMVS(f32, float)
FUSED_GEMVS(bf16, bf16)

#define FUSED(S, T)                                                                                                 \
  extern "C" __global__ void fused_epilogue_##S(i64 M, int N, const T* y, const T* bias, int swiglu, const T* residual, \
                                                T* out) {                                                            \
    fused_epilogue_body<T>(M, N, y, bias, swiglu, residual, out);                                                   \
  }                                                                                                                 \
  extern "C" __global__ void rope_kv_write_##S(int BT, int T_, int Hq, int Hkv, int D, const int* pos,              \
                                               const float* invFreq, const T* qkv, const T* bias, int maxLen,       \
                                               int nSlots, const int* slots, const int* starts, T* q, T* kc, T* vc, \
                                               int* err) {                                                          \
    rope_kv_write_body<T>(BT, T_, Hq, Hkv, D, pos, invFreq, qkv, bias, maxLen, nSlots, slots, starts, q, kc, vc, err); \
  }
STILL_FLOAT_TYPES(FUSED)
