// The fused sampler: draws one token per row of logits [N, V] exactly as the CPU reference `sampleTokens`
// (src/sample/sampler.ts) does, in f64 like it: repetition penalty → greedy or temperature → min-p → top-k →
// top-p → Gumbel-max race with Philox4x32-10 noise, plus the token's log-prob under the raw logits.
// Every row is cut into C chunks of the vocabulary, so the O(V) passes fill the GPU whatever N is:
//   1. sample_stats   (C × N blocks) raw log-sum-exp, the penalised argmax and the top score; greedy rows are
//                     then decided, and plain-temperature rows (no min-p/top-k/top-p) run their race here too;
//                     rows with a repetition penalty leave per-id penalty counts for the later kernels.
//   2. sample_hist    (C × N, top-k/top-p rows) histogram of the survivors of min-p by distance below the top
//                     score (NB bins of 1/32 nat; count and probability mass per bin).
//   3. sample_select  (1 block per top-k/top-p row) the bins holding the k-th score and the top-p cut, then
//                     an exact radix select over just those bins' tokens: the k-th score, the cut score and
//                     how many of the tokens tied at the cut stay (the lowest ids).
//   4. sample_race    (C × N, rows with any filter) the Gumbel race over the survivors.
//   5. sample_finish  (1 warp per row) merges the chunks' results into the token and its log-prob.
// The race skips the exact f64 noise of a token whose score cannot win: an f32 estimate of the noise, good to
// ~1e-5, against the best exact score so far with a 1e-3 margin; a token whose score plus the largest possible
// noise (22.9 on the 2^-32 grid) is below the top token's own exact score never draws its Philox block.
//   dparams f64 [N, 4]: temperature, topP, minP, repetitionPenalty
//   iparams i32 [N, 8]: topK, key0, key1, step, sample, request, penalized offset, penalized count
//   out     i32 [2N]:   tokens (-1 when every token was filtered out), then the log-probs' f32 bits
// Scratch (src/backends/cuda/sample_plan.ts lays it out): stats f64 [N, C, 4] + i32 [N, C, 2], penalty counts
// u16 [N, V], histogram u32 + f64 [N, NB], per-row cuts f64 [N, 4], candidates i32 [N, V], race f64 + i32 [N, C].
#include "common.cuh"

constexpr int kSampleThreads = 256;   // chunk kernels
constexpr int kSelectThreads = 1024;  // one block per row
constexpr int kMaxChunk = 4096;       // vocabulary ids per chunk at most (the penalty-count table in smem)
constexpr int kBins = 2048;
constexpr float kBinsPerNat = 32.0f;
constexpr double kGreedyTemperature = 1e-5;
constexpr double kGumbelMax = 23.0;   // > -log(-log((2^32 - 0.5) / 2^32)) = 22.87: no draw adds more

// ---- shared pieces ---------------------------------------------------------------------------------------
/** f64 bits → u64 whose unsigned order is the numeric order. */
__device__ __forceinline__ u64 order_key(double x) {
  const u64 b = (u64)__double_as_longlong(x);
  return (b >> 63) ? ~b : (b | 0x8000000000000000ull);
}
__device__ __forceinline__ double from_order_key(u64 k) {
  return __longlong_as_double((long long)((k >> 63) ? (k & 0x7fffffffffffffffull) : ~k));
}

struct Best { double v; int id; };
/** Larger value wins; equal values go to the lower id (the CPU's strict > over increasing ids). */
__device__ __forceinline__ Best better(Best a, Best b) {
  if (b.v > a.v || (b.v == a.v && b.id >= 0 && (a.id < 0 || b.id < a.id)) || (a.id < 0 && b.id >= 0)) return b;
  return a;
}

__device__ Best block_best(Best x, double* sv, int* si) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    Best y{__shfl_xor_sync(0xffffffffu, x.v, o), __shfl_xor_sync(0xffffffffu, x.id, o)};
    x = better(x, y);
  }
  if (lane_id() == 0) { sv[warp_id()] = x.v; si[warp_id()] = x.id; }
  __syncthreads();
  Best r{-INFINITY, -1};
  for (int w = 0; w < (int)(blockDim.x >> 5); w++) r = better(r, Best{sv[w], si[w]});
  __syncthreads();
  return r;
}

__device__ __forceinline__ double warp_sum_f64(double v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__device__ double block_sum_f64(double v, double* s) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  if (lane_id() == 0) s[warp_id()] = v;
  __syncthreads();
  double r = 0.0;
  for (int w = 0; w < (int)(blockDim.x >> 5); w++) r += s[w];
  __syncthreads();
  return r;
}

__device__ double block_max_f64(double v, double* s) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmax(v, __shfl_xor_sync(0xffffffffu, v, o));
  if (lane_id() == 0) s[warp_id()] = v;
  __syncthreads();
  double r = -INFINITY;
  for (int w = 0; w < (int)(blockDim.x >> 5); w++) r = fmax(r, s[w]);
  __syncthreads();
  return r;
}

__device__ int block_count(int v, int* s) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  if (lane_id() == 0) s[warp_id()] = v;
  __syncthreads();
  int r = 0;
  for (int w = 0; w < (int)(blockDim.x >> 5); w++) r += s[w];
  __syncthreads();
  return r;
}

__device__ u64 block_and_u64(u64 v, u64* s) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v &= __shfl_xor_sync(0xffffffffu, v, o);
  if (lane_id() == 0) s[warp_id()] = v;
  __syncthreads();
  u64 r = ~0ull;
  for (int w = 0; w < (int)(blockDim.x >> 5); w++) r &= s[w];
  __syncthreads();
  return r;
}

__device__ u64 block_or_u64(u64 v, u64* s) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v |= __shfl_xor_sync(0xffffffffu, v, o);
  if (lane_id() == 0) s[warp_id()] = v;
  __syncthreads();
  u64 r = 0ull;
  for (int w = 0; w < (int)(blockDim.x >> 5); w++) r |= s[w];
  __syncthreads();
  return r;
}

/** Philox4x32-10 (Random123), as src/sample/philox.ts. */
__device__ void philox(u32 c0, u32 c1, u32 c2, u32 c3, u32 k0, u32 k1, u32 out[4]) {
  const u32 M0 = 0xd2511f53u, M1 = 0xcd9e8d57u, W0 = 0x9e3779b9u, W1 = 0xbb67ae85u;
#pragma unroll
  for (int round = 0; round < 10; round++) {
    if (round > 0) { k0 += W0; k1 += W1; }
    const u32 hi0 = __umulhi(M0, c0), lo0 = M0 * c0;
    const u32 hi1 = __umulhi(M1, c2), lo1 = M1 * c2;
    const u32 n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
    c0 = n0; c1 = lo1; c2 = n2; c3 = lo0;
  }
  out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

/** The exact Gumbel noise of a Philox word, as the CPU computes it: -log(-log((w + 0.5) / 2^32)). */
__device__ __forceinline__ double gumbel(u32 w) {
  return -log(-log(((double)w + 0.5) / 4294967296.0));
}

/** gumbel(w) in f32, within ~1e-5: -log(u) through log1p near u = 1 so the tail keeps its precision. */
__device__ __forceinline__ float gumbel_estimate(u32 w) {
  const float twoM32 = 2.3283064365386963e-10f;
  const float e = w < 0x80000000u ? -__logf(((float)w + 0.5f) * twoM32)
                                  : -log1pf(-(((float)(0xffffffffu - w) + 0.5f) * twoM32));
  return -__logf(e);
}

/** One row's parameters. */
struct RowParams {
  double temperature, topP, minP, penalty;
  int topK, penOffset, penCount;
  u32 key0, key1, c1, c2, c3;
  bool greedy, plain, select, filtered;
};

__device__ RowParams row_params(int row, int V, const double* dparams, const int* iparams) {
  RowParams p;
  p.temperature = dparams[row * 4 + 0];
  p.topP = dparams[row * 4 + 1];
  p.minP = dparams[row * 4 + 2];
  p.penalty = dparams[row * 4 + 3];
  p.topK = iparams[row * 8 + 0];
  p.key0 = (u32)iparams[row * 8 + 1];
  p.key1 = (u32)iparams[row * 8 + 2];
  p.c1 = (u32)iparams[row * 8 + 3];
  p.c2 = (u32)iparams[row * 8 + 4];
  p.c3 = (u32)iparams[row * 8 + 5];
  p.penOffset = iparams[row * 8 + 6];
  p.penCount = p.penalty != 1.0 ? iparams[row * 8 + 7] : 0;
  p.greedy = p.temperature < kGreedyTemperature;
  const bool topK = p.topK > 0 && p.topK < V, topP = p.topP < 1.0;
  p.select = !p.greedy && (topK || topP);
  p.plain = !p.greedy && !p.select && !(p.minP > 0.0);
  p.filtered = !p.greedy && !p.plain;
  return p;
}

/** The penalised logit of an id the penalty hit `count` times (the CPU applies it once per listing). */
__device__ __forceinline__ double penalise(double x, int count, double penalty) {
  for (int j = 0; j < count; j++) x = x > 0.0 ? x / penalty : x * penalty;
  return x;
}

/** Penalised logit of id i: the count comes from the table sample_stats left (rows with a penalty only). */
template <typename T>
__device__ __forceinline__ double penalised_logit(const T* lg, int i, const RowParams& p, const u16* counts) {
  const double x = (double)load(lg, i);
  return p.penCount > 0 ? penalise(x, counts[i], p.penalty) : x;
}

/**
 * Histogram bin of a penalised logit: distance below the top in 1/32 nat, from f32 arithmetic that never
 * contracts, so every kernel computes the same bin; it is a non-increasing function of the f64 score, so a
 * bin holds a contiguous range of scores.
 */
__device__ __forceinline__ int score_bin(double xp, float top32, float invT32) {
  const float d = __fadd_rn(top32, -__fmul_rn((float)xp, invT32));
  if (!(d > 0.0f)) return 0;
  const float f = __fmul_rn(d, kBinsPerNat);
  return f >= (float)(kBins - 1) ? kBins - 1 : (int)f;
}

/** The top score's f32 twin for score_bin (the largest value score_bin's product takes over the row). */
__device__ __forceinline__ float top_bin_base(double pMax, float invT32) { return __fmul_rn((float)pMax, invT32); }

/** Row statistics merged from sample_stats' chunk results. */
struct RowStats {
  double rawLse, pMax;
  int pArg;
  Best race;
};

__device__ RowStats merge_stats(int row, int C, const double* statD, const int* statI) {
  RowStats r{0.0, -INFINITY, -1, Best{-INFINITY, -1}};
  double m = -INFINITY, s = 0.0;
  for (int c = 0; c < C; c++) {
    const double* d = statD + ((i64)row * C + c) * 4;
    const int* ii = statI + ((i64)row * C + c) * 2;
    const double m2 = d[0], s2 = d[1];
    const double mn = fmax(m, m2);
    if (mn != -INFINITY) s = (m == -INFINITY ? 0.0 : s * exp(m - mn)) + (m2 == -INFINITY ? 0.0 : s2 * exp(m2 - mn));
    m = mn;
    const Best pb = better(Best{r.pMax, r.pArg}, Best{d[2], ii[0]});
    r.pMax = pb.v;
    r.pArg = pb.id;
    r.race = better(r.race, Best{d[3], ii[1]});
  }
  r.rawLse = m + log(s);
  return r;
}

/**
 * The Gumbel race over one group of 4 ids (Philox block `g`), updating `best`. `s[j]` are the scores, or
 * -inf for ids that are filtered out or past the vocabulary; `bar` is a score that some survivor reaches.
 */
__device__ __forceinline__ void race_group(int g, const double s[4], const RowParams& p, double bar, Best& best) {
  const double floor = fmax(best.v, bar) - kGumbelMax;
  if (!(s[0] >= floor || s[1] >= floor || s[2] >= floor || s[3] >= floor)) return;  // no draw can win
  u32 w[4];
  philox((u32)g, p.c1, p.c2, p.c3, p.key0, p.key1, w);
#pragma unroll
  for (int j = 0; j < 4; j++) {
    if (!(s[j] > -INFINITY)) continue;
    if (best.id >= 0 && s[j] + (double)gumbel_estimate(w[j]) < best.v - 1e-3) continue;  // cannot reach best
    best = better(best, Best{s[j] - log(-log(((double)w[j] + 0.5) / 4294967296.0)), g * 4 + j});
  }
}

__device__ __forceinline__ void chunk_range(int V, int chunk, int& c0, int& c1) {
  c0 = blockIdx.x * chunk;
  c1 = c0 + chunk < V ? c0 + chunk : V;
}

// ---- 1. statistics -----------------------------------------------------------------------------------------
template <typename T>
__device__ void sample_stats_body(int N, int V, int C, int chunk, const T* __restrict__ logits,
                                  const double* __restrict__ dparams, const int* __restrict__ iparams,
                                  const int* __restrict__ penalized, u16* __restrict__ counts, double* statD,
                                  int* statI, u32* histC, double* histM) {
  __shared__ double sd[32];
  __shared__ int si[32];
  __shared__ u32 cnt[kMaxChunk];
  const int row = blockIdx.y;
  const RowParams p = row_params(row, V, dparams, iparams);
  const T* lg = logits + (i64)row * V;
  u16* rowCounts = counts + (i64)row * V;
  int c0, c1;
  chunk_range(V, chunk, c0, c1);
  if (p.penCount > 0) {
    // This chunk's penalty counts (the list may repeat ids: each listing applies once more, as on the CPU).
    for (int i = threadIdx.x; i < c1 - c0; i += blockDim.x) cnt[i] = 0;
    __syncthreads();
    for (int j = threadIdx.x; j < p.penCount; j += blockDim.x) {
      const int id = penalized[p.penOffset + j];
      if (id >= c0 && id < c1) atomicAdd(&cnt[id - c0], 1u);
    }
    __syncthreads();
    for (int i = threadIdx.x; i < c1 - c0; i += blockDim.x) rowCounts[c0 + i] = (u16)(cnt[i] < 65535u ? cnt[i] : 65535u);
  }
  if (p.select) {
    // The row's histogram, zeroed by all of its blocks together for sample_hist.
    for (int b = blockIdx.x * blockDim.x + threadIdx.x; b < kBins; b += gridDim.x * blockDim.x) {
      histC[(i64)row * kBins + b] = 0u;
      histM[(i64)row * kBins + b] = 0.0;
    }
  }
  // Raw logits: max, then the sum of exp(x - max) over the chunk; penalised logits: max and argmax.
  double mx = -INFINITY;
  Best pb{-INFINITY, -1};
#pragma unroll 4
  for (int i = c0 + (int)threadIdx.x; i < c1; i += blockDim.x) {
    const double x = (double)load(lg, i);
    mx = fmax(mx, x);
    const double xp = p.penCount > 0 ? penalise(x, cnt[i - c0], p.penalty) : x;
    pb = better(pb, Best{xp, i});
  }
  mx = block_max_f64(mx, sd);
  double acc = 0.0;
  if (mx != -INFINITY) {
#pragma unroll 4
    for (int i = c0 + (int)threadIdx.x; i < c1; i += blockDim.x) acc += exp((double)load(lg, i) - mx);
  }
  acc = block_sum_f64(acc, sd);
  pb = block_best(pb, sd, si);
  // Plain temperature: the whole race happens here, in one pass.
  Best race{-INFINITY, -1};
  if (p.plain) {
    for (int g = c0 / 4 + (int)threadIdx.x; g * 4 < c1; g += blockDim.x) {
      double s[4];
#pragma unroll
      for (int j = 0; j < 4; j++) {
        const int i = g * 4 + j;
        s[j] = i < c1 ? (p.penCount > 0 ? penalise((double)load(lg, i), cnt[i - c0], p.penalty) : (double)load(lg, i)) / p.temperature
                      : -INFINITY;
      }
      race_group(g, s, p, -INFINITY, race);
    }
    race = block_best(race, sd, si);
  }
  if (threadIdx.x == 0) {
    double* d = statD + ((i64)row * C + blockIdx.x) * 4;
    int* ii = statI + ((i64)row * C + blockIdx.x) * 2;
    d[0] = mx;
    d[1] = acc;
    d[2] = pb.v;
    d[3] = race.v;
    ii[0] = pb.id;
    ii[1] = race.id;
  }
}

// ---- 2. histogram of the survivors of min-p ------------------------------------------------------------------
template <typename T>
__device__ void sample_hist_body(int N, int V, int C, int chunk, const T* __restrict__ logits,
                                 const double* __restrict__ dparams, const int* __restrict__ iparams,
                                 const u16* __restrict__ counts, const double* statD, const int* statI, u32* histC,
                                 double* histM) {
  __shared__ u32 hc[kBins];
  __shared__ double hm[kBins];
  __shared__ double topS;
  const int row = blockIdx.y;
  const RowParams p = row_params(row, V, dparams, iparams);
  if (!p.select) return;
  if (threadIdx.x == 0) topS = merge_stats(row, C, statD, statI).pMax;
  for (int b = threadIdx.x; b < kBins; b += blockDim.x) {
    hc[b] = 0u;
    hm[b] = 0.0;
  }
  __syncthreads();
  const double pMax = topS, top = pMax / p.temperature;
  const float invT32 = (float)(1.0 / p.temperature), top32 = top_bin_base(pMax, invT32);
  const T* lg = logits + (i64)row * V;
  const u16* rowCounts = counts + (i64)row * V;
  int c0, c1;
  chunk_range(V, chunk, c0, c1);
  // Whole warps step together, so a warp whose survivors share one bin (a flat row, or a long tail far below
  // the top) adds once instead of 32 times to the same shared-memory word.
  for (int base = c0; base < c1; base += blockDim.x) {
    const int i = base + (int)threadIdx.x;
    int b = -1;
    double mass = 0.0;
    if (i < c1) {
      const double xp = penalised_logit(lg, i, p, rowCounts);
      const double s = xp / p.temperature;
      if (s > -INFINITY) {
        mass = exp(s - top);
        if (!(p.minP > 0.0 && mass < p.minP)) b = score_bin(xp, top32, invT32);
      }
    }
    const unsigned any = __ballot_sync(0xffffffffu, b >= 0);
    if (any == 0u) continue;
    const int lead = __shfl_sync(0xffffffffu, b, __ffs((int)any) - 1);
    if (__all_sync(0xffffffffu, b < 0 || b == lead)) {
      const double m = warp_sum_f64(b >= 0 ? mass : 0.0);
      if (lane_id() == 0) {
        atomicAdd(&hc[lead], (u32)__popc(any));
        atomicAdd(&hm[lead], m);
      }
    } else if (b >= 0) {
      atomicAdd(&hc[b], 1u);
      atomicAdd(&hm[b], mass);
    }
  }
  __syncthreads();
  for (int b = threadIdx.x; b < kBins; b += blockDim.x) {
    if (hc[b] == 0u) continue;
    atomicAdd(&histC[(i64)row * kBins + b], hc[b]);
    atomicAdd(&histM[(i64)row * kBins + b], hm[b]);
  }
}

// ---- 3. the cuts -------------------------------------------------------------------------------------------------
constexpr int kCandCache = 2048;  // candidate scores kept in shared memory (more are recomputed)

/** Bin b of the lane's `BINS / 32` consecutive bins in scan order (ascending ids, or descending). */
template <int BINS> __device__ __forceinline__ int scan_bin(int lane, int j, bool asc) {
  constexpr int per = BINS / 32;
  return asc ? lane * per + j : BINS - 1 - lane * per - j;
}

/** Running total of v over the bins in scan order, as warp_crossing adds them (lane sums, then a lane scan). */
template <typename V_, int BINS>
__device__ V_ warp_scan_lanes(const V_* v, bool asc, V_& mine) {
  mine = 0;
  for (int j = 0; j < BINS / 32; j++) mine += v[scan_bin<BINS>(lane_id(), j, asc)];
  V_ incl = mine;
#pragma unroll
  for (int o = 1; o < 32; o <<= 1) {
    const V_ up = __shfl_up_sync(0xffffffffu, incl, o);
    if (lane_id() >= o) incl += up;
  }
  return incl;
}

/** Total of v over all bins, in warp_crossing's order (called by a whole warp). */
template <typename V_, int BINS> __device__ V_ warp_total(const V_* v) {
  V_ mine;
  return __shfl_sync(0xffffffffu, warp_scan_lanes<V_, BINS>(v, true, mine), 31);
}

/**
 * Called by one whole warp: the first bin in scan order at which base plus the running total of v reaches
 * target, skipping empty bins (count 0); `above` gets base plus the total of the bins before it. When the
 * total never reaches the target (rounding), the last non-empty bin, with everything before it above.
 */
template <typename V_, int BINS>
__device__ int warp_crossing(const V_* v, const u32* count, V_ base, V_ target, bool asc, V_& above) {
  constexpr int per = BINS / 32;
  const int lane = lane_id();
  V_ mine;
  const V_ incl = warp_scan_lanes<V_, BINS>(v, asc, mine);
  int last = -1;
  for (int j = 0; j < per; j++) if (count[scan_bin<BINS>(lane, j, asc)] != 0u) last = scan_bin<BINS>(lane, j, asc);
  const unsigned reach = __ballot_sync(0xffffffffu, base + incl >= target);
  int bin = -1;
  V_ run = base + (incl - mine);
  if (reach != 0u && lane == __ffs((int)reach) - 1) {
    for (int j = 0; j < per; j++) {
      const int b = scan_bin<BINS>(lane, j, asc);
      if (count[b] == 0u) continue;
      if (run + v[b] >= target) { bin = b; break; }
      run += v[b];
    }
    if (bin < 0 && last >= 0) { bin = last; run -= v[last]; }
  }
  if (reach != 0u) {
    const int winner = __ffs((int)reach) - 1;
    bin = __shfl_sync(0xffffffffu, bin, winner);
    run = __shfl_sync(0xffffffffu, run, winner);
    if (bin >= 0) { above = run; return bin; }
  }
  const unsigned has = __ballot_sync(0xffffffffu, last >= 0);
  if (has == 0u) { above = base; return -1; }
  bin = __shfl_sync(0xffffffffu, last, 31 - __clz((int)has));
  above = base + __shfl_sync(0xffffffffu, incl, 31) - v[bin];
  return bin;
}

/** Append the ids of `bin` (surviving min-p, and with score ≥ floor) to the row's candidate list. */
template <typename T>
__device__ int gather_bin(int V, const T* lg, const u16* rowCounts, const RowParams& p, double top, float top32,
                          float invT32, int bin, double floor, int* cand, double* cache, int* candCount) {
  if (threadIdx.x == 0) *candCount = 0;
  __syncthreads();
  constexpr int U = 8;  // logits loaded before any is used: one block streams the whole row, so keep loads in flight
  for (int base = threadIdx.x; base < V; base += U * blockDim.x) {
    double xs[U];
#pragma unroll
    for (int u = 0; u < U; u++) {
      const int i = base + u * blockDim.x;
      xs[u] = i < V ? (double)load(lg, i) : -INFINITY;
    }
#pragma unroll
    for (int u = 0; u < U; u++) {
      const int i = base + u * blockDim.x;
      if (i >= V) continue;
      const double xp = p.penCount > 0 ? penalise(xs[u], rowCounts[i], p.penalty) : xs[u];
      if (score_bin(xp, top32, invT32) != bin) continue;
      const double s = xp / p.temperature;
      if (!(s > -INFINITY) || s < floor) continue;
      if (p.minP > 0.0 && exp(s - top) < p.minP) continue;
      const int j = atomicAdd(candCount, 1);
      cand[j] = i;
      if (j < kCandCache) cache[j] = s;
    }
  }
  __syncthreads();
  return *candCount;
}

/** Candidate j's score: from the shared cache, or recomputed past it. */
template <typename T>
__device__ __forceinline__ double cand_score(int j, const int* cand, const double* cache, const T* lg,
                                             const u16* rowCounts, const RowParams& p) {
  return j < kCandCache ? cache[j] : penalised_logit(lg, cand[j], p, rowCounts) / p.temperature;
}

/** The first byte (0 = most significant) at which the order keys of the candidates with score ≥ floor differ. */
template <typename T>
__device__ int common_prefix(int n, const int* cand, const double* cache, const T* lg, const u16* rowCounts,
                             const RowParams& p, double floor, u64* su, u64& prefix) {
  u64 kand = ~0ull, kor = 0ull;
  for (int j = threadIdx.x; j < n; j += blockDim.x) {
    const double s = cand_score(j, cand, cache, lg, rowCounts, p);
    if (s < floor) continue;
    kand &= order_key(s);
    kor |= order_key(s);
  }
  kand = block_and_u64(kand, su);
  kor = block_or_u64(kor, su);
  const u64 diff = kand ^ kor;
  const int first = diff == 0ull ? 8 : __clzll((long long)diff) / 8;
  prefix = first == 0 ? 0ull : first == 8 ? kand : kand & (~0ull << (64 - 8 * first));
  return first;
}

template <typename T>
__device__ void sample_select_body(int N, int V, int C, const T* __restrict__ logits, const double* __restrict__ dparams,
                                   const int* __restrict__ iparams, const u16* __restrict__ counts, const double* statD,
                                   const int* statI, const u32* histC, const double* histM, double* cuts, int* candAll) {
  __shared__ u32 hc[kBins];
  __shared__ double hm[kBins];
  __shared__ double cache[kCandCache];
  __shared__ u32 rc[256];
  __shared__ double rm[256];
  __shared__ double sd[32];
  __shared__ int si[32];
  __shared__ u64 su[32];
  __shared__ u64 selPrefix;
  __shared__ double selMass, shareD;
  __shared__ int selNeed, candCount, shareI;
  const int row = blockIdx.x;
  const RowParams p = row_params(row, V, dparams, iparams);
  if (!p.select) return;
  if (threadIdx.x == 0) shareD = merge_stats(row, C, statD, statI).pMax;
  for (int b = threadIdx.x; b < kBins; b += blockDim.x) {
    hc[b] = histC[(i64)row * kBins + b];
    hm[b] = histM[(i64)row * kBins + b];
  }
  __syncthreads();
  const double pMax = shareD, top = pMax / p.temperature;
  const float invT32 = (float)(1.0 / p.temperature), top32 = top_bin_base(pMax, invT32);
  const T* lg = logits + (i64)row * V;
  const u16* rowCounts = counts + (i64)row * V;
  int* cand = candAll + (i64)row * V;
  int alive = 0;
  for (int b = threadIdx.x; b < kBins; b += blockDim.x) alive += (int)hc[b];
  alive = block_count(alive, si);
  int n = 0;

  // 5. Top-k: the k-th largest score lies in bin bk; find it exactly among that bin's tokens.
  double kth = -INFINITY;
  int bk = -1;
  if (p.topK > 0 && p.topK < alive) {
    if (warp_id() == 0) {
      u32 above = 0;
      const int b = warp_crossing<u32, kBins>(hc, hc, 0u, (u32)p.topK, true, above);
      if (lane_id() == 0) { shareI = b; selNeed = p.topK - (int)above; }
    }
    __syncthreads();
    bk = shareI;
    n = gather_bin(V, lg, rowCounts, p, top, top32, invT32, bk, -INFINITY, cand, cache, &candCount);
    u64 prefix0;
    const int first = common_prefix(n, cand, cache, lg, rowCounts, p, -INFINITY, su, prefix0);
    if (threadIdx.x == 0) selPrefix = prefix0;
    __syncthreads();
    for (int pass = first; pass < 8; pass++) {
      const int shift = 56 - 8 * pass;
      for (int b = threadIdx.x; b < 256; b += blockDim.x) rc[b] = 0u;
      __syncthreads();
      const u64 prefix = selPrefix;
      for (int j = threadIdx.x; j < n; j += blockDim.x) {
        const u64 k = order_key(cand_score(j, cand, cache, lg, rowCounts, p));
        if (shift < 56 && (k >> (shift + 8)) != (prefix >> (shift + 8))) continue;
        atomicAdd(&rc[(k >> shift) & 255], 1u);
      }
      __syncthreads();
      if (warp_id() == 0) {
        u32 above = 0;
        const int b = warp_crossing<u32, 256>(rc, rc, 0u, (u32)selNeed, false, above);
        __syncwarp();
        if (lane_id() == 0) {
          selPrefix = prefix | ((u64)b << shift);
          selNeed -= (int)above;
        }
      }
      __syncthreads();
    }
    kth = from_order_key(selPrefix);
    // The top-k survivors' mass in bin bk; bins below it are out.
    double m = 0.0;
    for (int j = threadIdx.x; j < n; j += blockDim.x) {
      const double s = cand_score(j, cand, cache, lg, rowCounts, p);
      if (s >= kth) m += exp(s - top);
    }
    m = block_sum_f64(m, sd);
    for (int b = threadIdx.x; b < kBins; b += blockDim.x) {
      if (b == bk) hm[b] = m;
      if (b > bk) { hm[b] = 0.0; hc[b] = 0u; }
    }
    __syncthreads();
  }

  // 6. Top-p: the cut score u where the mass ranked above reaches topP·Z, found inside its bin bp.
  double cut = -INFINITY;
  int cutId = 0x7fffffff;
  if (p.topP < 1.0) {
    if (warp_id() == 0) {
      const double budget = p.topP * warp_total<double, kBins>(hm);  // Z summed as warp_crossing sums
      double before = 0.0;
      const int b = warp_crossing<double, kBins>(hm, hc, 0.0, budget, true, before);
      if (lane_id() == 0) { shareI = b; shareD = before; selMass = budget; }
    }
    __syncthreads();
    const int bp = shareI;
    const double budget = selMass;
    if (bp != bk) n = gather_bin(V, lg, rowCounts, p, top, top32, invT32, bp, kth, cand, cache, &candCount);
    u64 prefix0;
    const int first = common_prefix(n, cand, cache, lg, rowCounts, p, kth, su, prefix0);
    if (threadIdx.x == 0) { selPrefix = prefix0; selMass = shareD; }
    __syncthreads();
    // Mass-weighted radix select: descend into the first byte value (from the top) at which the mass above
    // plus its own reaches the budget; if it never does, into the lowest (every candidate is kept).
    for (int pass = first; pass < 8; pass++) {
      const int shift = 56 - 8 * pass;
      for (int b = threadIdx.x; b < 256; b += blockDim.x) { rc[b] = 0u; rm[b] = 0.0; }
      __syncthreads();
      const u64 prefix = selPrefix;
      for (int j = threadIdx.x; j < n; j += blockDim.x) {
        const double s = cand_score(j, cand, cache, lg, rowCounts, p);
        if (s < kth) continue;
        const u64 k = order_key(s);
        if (shift < 56 && (k >> (shift + 8)) != (prefix >> (shift + 8))) continue;
        const int b = (int)((k >> shift) & 255);
        atomicAdd(&rc[b], 1u);
        atomicAdd(&rm[b], exp(s - top));
      }
      __syncthreads();
      if (warp_id() == 0) {
        double above = 0.0;
        const int b = warp_crossing<double, 256>(rm, rc, selMass, budget, false, above);
        __syncwarp();
        if (lane_id() == 0) {
          selPrefix = prefix | ((u64)(b < 0 ? 0 : b) << shift);
          selMass = above;
        }
      }
      __syncthreads();
    }
    const double u = from_order_key(selPrefix);
    // Ties at u: the CPU keeps them one by one, lowest id first, while the mass ranked above stays below the budget.
    int ties = 0;
    for (int j = threadIdx.x; j < n; j += blockDim.x) ties += cand_score(j, cand, cache, lg, rowCounts, p) == u ? 1 : 0;
    ties = block_count(ties, si);
    if (threadIdx.x == 0) {
      const double e = exp(u - top);
      double running = selMass;
      int keep = 0;
      while (keep < ties && running < budget) {
        running += e;
        keep++;
      }
      selNeed = keep;
    }
    __syncthreads();
    const int keep = selNeed;
    cut = u;
    if (ties == 0) {
      cut = -INFINITY;  // no candidate at all (rounding left the bin empty): keep everything
    } else if (keep == 0) {
      cutId = -1;
    } else if (keep < ties) {
      // The keep-th smallest id among the ties, by radix select over the ids' bytes.
      if (threadIdx.x == 0) selPrefix = 0ull;
      __syncthreads();
      for (int pass = 0; pass < 4; pass++) {
        const int shift = 24 - 8 * pass;
        for (int b = threadIdx.x; b < 256; b += blockDim.x) rc[b] = 0u;
        __syncthreads();
        const u32 prefix = (u32)selPrefix;
        for (int j = threadIdx.x; j < n; j += blockDim.x) {
          if (cand_score(j, cand, cache, lg, rowCounts, p) != u) continue;
          const u32 id = (u32)cand[j];
          if (pass > 0 && (id >> (shift + 8)) != (prefix >> (shift + 8))) continue;
          atomicAdd(&rc[(id >> shift) & 255], 1u);
        }
        __syncthreads();
        if (warp_id() == 0) {
          u32 above = 0;
          const int b = warp_crossing<u32, 256>(rc, rc, 0u, (u32)selNeed, true, above);
          __syncwarp();
          if (lane_id() == 0) {
            selPrefix = prefix | ((u32)b << shift);
            selNeed -= (int)above;
          }
        }
        __syncthreads();
      }
      cutId = (int)(u32)selPrefix;
    }
  }
  if (threadIdx.x == 0) {
    cuts[row * 4 + 0] = kth;
    cuts[row * 4 + 1] = cut;
    cuts[row * 4 + 2] = (double)cutId;
  }
}

// ---- 4. the race over the survivors -------------------------------------------------------------------------------
template <typename T>
__device__ void sample_race_body(int N, int V, int C, int chunk, const T* __restrict__ logits,
                                 const double* __restrict__ dparams, const int* __restrict__ iparams,
                                 const u16* __restrict__ counts, const double* statD, const int* statI,
                                 const double* cuts, double* raceD, int* raceI) {
  __shared__ double sd[32];
  __shared__ int si[32];
  __shared__ double barS, pMaxS;
  __shared__ int topIdS;
  const int row = blockIdx.y;
  const RowParams p = row_params(row, V, dparams, iparams);
  if (!p.filtered) return;
  const T* lg = logits + (i64)row * V;
  const u16* rowCounts = counts + (i64)row * V;
  if (threadIdx.x == 0) {
    // The top token survives every filter, so its own exact score is a bar the winner reaches.
    const RowStats st = merge_stats(row, C, statD, statI);
    u32 w[4];
    philox((u32)(st.pArg >> 2), p.c1, p.c2, p.c3, p.key0, p.key1, w);
    pMaxS = st.pMax;
    topIdS = st.pArg;
    barS = st.pArg >= 0 ? st.pMax / p.temperature - log(-log(((double)w[st.pArg & 3] + 0.5) / 4294967296.0)) : -INFINITY;
  }
  __syncthreads();
  const double top = pMaxS / p.temperature;
  const double kth = p.select ? cuts[row * 4 + 0] : -INFINITY;
  const double cut = p.select ? cuts[row * 4 + 1] : -INFINITY;
  const int cutId = p.select ? (int)cuts[row * 4 + 2] : 0x7fffffff;
  Best best{barS, topIdS};
  int c0, c1;
  chunk_range(V, chunk, c0, c1);
  for (int g = c0 / 4 + (int)threadIdx.x; g * 4 < c1; g += blockDim.x) {
    double s[4];
#pragma unroll
    for (int j = 0; j < 4; j++) {
      const int i = g * 4 + j;
      s[j] = -INFINITY;
      if (i >= c1) continue;
      const double x = penalised_logit(lg, i, p, rowCounts) / p.temperature;
      if (!(x > -INFINITY) || x < kth || x < cut || (x == cut && i > cutId)) continue;
      if (p.minP > 0.0 && exp(x - top) < p.minP) continue;
      s[j] = x;
    }
    race_group(g, s, p, best.v, best);
  }
  best = block_best(best, sd, si);
  if (threadIdx.x == 0) {
    raceD[(i64)row * C + blockIdx.x] = best.v;
    raceI[(i64)row * C + blockIdx.x] = best.id;
  }
}

// ---- 5. the token and its log-prob --------------------------------------------------------------------------------
template <typename T>
__device__ void sample_finish_body(int N, int V, int C, const T* __restrict__ logits, const double* __restrict__ dparams,
                                   const int* __restrict__ iparams, const double* statD, const int* statI,
                                   const double* raceD, const int* raceI, int* __restrict__ out) {
  const int row = blockIdx.x;
  if (threadIdx.x != 0) return;
  const RowParams p = row_params(row, V, dparams, iparams);
  const RowStats st = merge_stats(row, C, statD, statI);
  int token;
  if (p.greedy) token = st.pArg;
  else if (p.plain) token = st.race.id;
  else {
    Best b{-INFINITY, -1};
    for (int c = 0; c < C; c++) b = better(b, Best{raceD[(i64)row * C + c], raceI[(i64)row * C + c]});
    token = b.id;
  }
  out[row] = token;
  const float lp = token >= 0 ? (float)((double)load(logits + (i64)row * V, token) - st.rawLse) : __int_as_float(0x7fc00000);
  out[N + row] = __float_as_int(lp);
}

#define SAMPLE(S, T)                                                                                               \
  extern "C" __global__ void __launch_bounds__(kSampleThreads) sample_stats_##S(                                  \
      int N, int V, int C, int chunk, const T* logits, const double* dparams, const int* iparams,                 \
      const int* penalized, u16* counts, double* statD, int* statI, u32* histC, double* histM) {                  \
    sample_stats_body<T>(N, V, C, chunk, logits, dparams, iparams, penalized, counts, statD, statI, histC, histM); \
  }                                                                                                                \
  extern "C" __global__ void __launch_bounds__(kSampleThreads) sample_hist_##S(                                   \
      int N, int V, int C, int chunk, const T* logits, const double* dparams, const int* iparams,                 \
      const u16* counts, const double* statD, const int* statI, u32* histC, double* histM) {                      \
    sample_hist_body<T>(N, V, C, chunk, logits, dparams, iparams, counts, statD, statI, histC, histM);             \
  }                                                                                                                \
  extern "C" __global__ void __launch_bounds__(kSelectThreads) sample_select_##S(                                 \
      int N, int V, int C, const T* logits, const double* dparams, const int* iparams, const u16* counts,         \
      const double* statD, const int* statI, const u32* histC, const double* histM, double* cuts, int* cand) {    \
    sample_select_body<T>(N, V, C, logits, dparams, iparams, counts, statD, statI, histC, histM, cuts, cand);      \
  }                                                                                                                \
  extern "C" __global__ void __launch_bounds__(kSampleThreads) sample_race_##S(                                   \
      int N, int V, int C, int chunk, const T* logits, const double* dparams, const int* iparams,                 \
      const u16* counts, const double* statD, const int* statI, const double* cuts, double* raceD, int* raceI) {  \
    sample_race_body<T>(N, V, C, chunk, logits, dparams, iparams, counts, statD, statI, cuts, raceD, raceI);       \
  }                                                                                                                \
  extern "C" __global__ void sample_finish_##S(int N, int V, int C, const T* logits, const double* dparams,       \
                                               const int* iparams, const double* statD, const int* statI,        \
                                               const double* raceD, const int* raceI, int* out) {                \
    sample_finish_body<T>(N, V, C, logits, dparams, iparams, statD, statI, raceD, raceI, out);                    \
  }
STILL_FLOAT_TYPES(SAMPLE)
