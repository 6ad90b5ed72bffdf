// The fused sampler: draws one token per row of logits [N, V] exactly as the CPU reference `sampleTokens`
// (src/backends/sampler.ts) does, in f64 like it: repetition penalty → greedy or temperature → min-p → top-k →
// top-p → Gumbel-max race with Philox4x32-10 noise, plus the token's log-prob under the raw logits.
// Every row is cut into C chunks of the vocabulary, and every kernel but the last runs C × N blocks, so the
// O(V) passes fill the GPU whatever N is (at N = 1 a one-block-per-row pass would leave all SMs but one idle):
//   1. sample_stats   raw log-sum-exp, the penalised argmax and the top score; greedy rows are then decided,
//                     and plain-temperature rows (no min-p/top-k/top-p) run their race here too; rows with a
//                     repetition penalty leave per-id penalty counts for the later kernels.
//   2. sample_hist    (top-k/top-p rows) histogram of the survivors of min-p by distance below the top score
//                     (NB bins of 1/32 nat; count and probability mass per bin). The row's last block to finish
//                     reads the whole histogram and plans the cuts: the bin bk holding the k-th score, and for
//                     top-p alone the bin bp where the mass ranked above reaches topP·Z.
//   3. sample_select  each block appends its chunk's tokens of the planned bins to a short per-row list and
//                     adds them to a sub-histogram of one bin (NS sub-bins); the row's last block to finish then
//                     finds the exact cuts from the sub-histogram and the list alone (never the whole row): the
//                     k-th score, the top-p cut score and how many of the tokens tied at the cut stay (the
//                     lowest ids), by radix select over the few tokens of one sub-bin.
//   4. sample_race    (rows with any filter) the Gumbel race over the survivors.
//   5. sample_finish  (1 warp per row) merges the chunks' results into the token and its log-prob.
// The race skips the exact f64 noise of a token whose score cannot win: an f32 estimate of the noise, good to
// ~1e-5, against the best exact score so far with a 1e-3 margin; a token whose score plus the largest possible
// noise (22.9 on the 2^-32 grid) is below the top token's own exact score never draws its Philox block.
//   dparams f64 [N, 4]: temperature, topP, minP, repetitionPenalty
//   iparams i32 [N, 8]: topK, key0, key1, step, sample, request, penalized offset, penalized count
//   out     i32 [2N]:   tokens (-1 when every token was filtered out), then the log-probs' f32 bits
// Scratch (src/backends/cuda/sample_plan.ts lays it out): stats f64 [N, C, 4] + i32 [N, C, 2], penalty counts
// u16 [N, V], histogram u32 + f64 [N, NB], sub-histogram u32 + f64 [N, NS], plan i32 [N, 16] + f64 [N, 4],
// per-row cuts f64 [N, 4], candidate list i32 [N, V], race f64 + i32 [N, C]. sample_stats zeroes the
// histograms and the plan's counters, so the scratch needs no clearing between calls or graph replays.
#include "common.cuh"

constexpr int kSampleThreads = 256;   // every kernel but sample_finish (block_crossing assumes it)
constexpr int kMaxChunk = 4096;       // vocabulary ids per chunk at most (the penalty-count table in smem)
constexpr int kBins = 2048;
constexpr float kBinsPerNat = 32.0f;
// Sub-bins per bin (1/16384 nat each): fine enough that the cut's sub-bin holds one or a few distinct scores
// on real rows (bf16 logits have no finer steps), coarse enough that the sub-histogram stays 6 KiB.
constexpr int kSubBits = 9;
constexpr int kSub = 1 << kSubBits;
constexpr int kSelCache = 1024;       // selected tokens whose ids and scores stay in shared memory
// The per-row plan, i32 [N, kPlanInts]: three counters sample_stats zeroes (sample_hist's and sample_select's
// finished blocks, the candidate list's length), then the cut bins sample_hist's last block chose;
constexpr int kPlanHistDone = 0, kPlanSelectDone = 1, kPlanListCount = 2, kPlanTopK = 3, kPlanBk = 4, kPlanNeedK = 5,
              kPlanBp = 6, kPlanListLo = 7, kPlanListHi = 8, kPlanSubBin = 9, kPlanInts = 16;
// and f64 [N, kPlanDoubles]: the top score (penalised max / temperature), and for top-p alone the mass above
// bin bp and the budget topP·Z.
constexpr int kPlanTop = 0, kPlanBefore = 1, kPlanBudget = 2, kPlanDoubles = 4;
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

/** Philox4x32-10 (Random123), as src/backends/philox.ts. */
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
 * Sub-bin of a score (bin · kSub + sub-bin): distance below the top score in 1/(32 · kSub) nat, from f32
 * arithmetic that never contracts, so every kernel computes the same one. Each step (f64 → f32, the
 * subtraction, the scaling by a power of two, the truncation) is monotone, so it is a non-increasing function
 * of the score: a sub-bin, and a bin, hold a contiguous range of scores, and equal scores share them.
 */
__device__ __forceinline__ int score_fine(double s, float top32) {
  const float d = __fadd_rn(top32, -(float)s);
  if (!(d > 0.0f)) return 0;
  const float f = __fmul_rn(d, kBinsPerNat * (float)kSub);
  return f >= (float)(kBins * kSub - 1) ? kBins * kSub - 1 : (int)f;
}

/** Histogram bin of a score: 1/32 nat below the top per bin, the last bin holding everything further down. */
__device__ __forceinline__ int score_bin(double s, float top32) { return score_fine(s, top32) >> kSubBits; }

/** Row statistics merged from sample_stats' chunk results. */
struct RowStats {
  double rawLse, pMax;
  int pArg;
  Best race;
};

/** Merge two (max, sum of exp(x - max)) pairs; commutative, so a butterfly leaves every lane the same pair. */
__device__ __forceinline__ void lse_merge(double& m, double& s, double m2, double s2) {
  const double mn = fmax(m, m2);
  if (mn != -INFINITY) s = (m == -INFINITY ? 0.0 : s * exp(m - mn)) + (m2 == -INFINITY ? 0.0 : s2 * exp(m2 - mn));
  m = mn;
}

/** `better` over the warp (a total order, so every lane ends with the same winner, as a serial merge would). */
__device__ __forceinline__ Best warp_best(Best x) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) x = better(x, Best{__shfl_xor_sync(0xffffffffu, x.v, o), __shfl_xor_sync(0xffffffffu, x.id, o)});
  return x;
}

/**
 * Called by a whole warp: the row's statistics over its C chunks, every lane the same. Lanes merge C / 32
 * chunks each, then a butterfly: a few L2 round trips instead of C dependent ones (C = 149 at N = 1).
 */
__device__ RowStats warp_merge_stats(int row, int C, const double* statD, const int* statI) {
  double m = -INFINITY, s = 0.0;
  Best pb{-INFINITY, -1}, race{-INFINITY, -1};
  for (int c = lane_id(); c < C; c += 32) {
    const double* d = statD + ((i64)row * C + c) * 4;
    const int* ii = statI + ((i64)row * C + c) * 2;
    lse_merge(m, s, d[0], d[1]);
    pb = better(pb, Best{d[2], ii[0]});
    race = better(race, Best{d[3], ii[1]});
  }
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) lse_merge(m, s, __shfl_xor_sync(0xffffffffu, m, o), __shfl_xor_sync(0xffffffffu, s, o));
  pb = warp_best(pb);
  return RowStats{m + log(s), pb.v, pb.id, warp_best(race)};
}

/**
 * Called by whole warps: adds 1 to cnt[b] (and m to mass[b], when mass is given) for every lane with b ≥ 0.
 * When the warp's lanes agree on b (ties, flat rows, a long tail in one bin) it adds once, not 32 times to one
 * shared word: shared-memory f64 atomics retry on contention, and a cut bin of thousands of tied tokens would
 * otherwise serialise on one address.
 */
__device__ __forceinline__ void warp_add(u32* cnt, double* mass, int b, double m) {
  const unsigned any = __ballot_sync(0xffffffffu, b >= 0);
  if (any == 0u) return;
  const int lead = __shfl_sync(0xffffffffu, b, __ffs((int)any) - 1);
  if (__all_sync(0xffffffffu, b < 0 || b == lead)) {
    const double sum = mass ? warp_sum_f64(b >= 0 ? m : 0.0) : 0.0;
    if (lane_id() == 0) {
      atomicAdd(&cnt[lead], (u32)__popc(any));
      if (mass) atomicAdd(&mass[lead], sum);
    }
  } else if (b >= 0) {
    atomicAdd(&cnt[b], 1u);
    if (mass) atomicAdd(&mass[b], m);
  }
}

/** Exclusive prefix sum of x over the block's threads in order, and the total (the same in every thread). */
template <typename V_> __device__ V_ block_excl_scan(V_ x, V_& total) {
  __shared__ V_ warpTotal[32];
  const int lane = lane_id(), w = warp_id();
  V_ incl = x;
#pragma unroll
  for (int o = 1; o < 32; o <<= 1) {
    const V_ up = __shfl_up_sync(0xffffffffu, incl, o);
    if (lane >= o) incl += up;
  }
  V_ excl = __shfl_up_sync(0xffffffffu, incl, 1);
  if (lane == 0) excl = 0;
  if (lane == 31) warpTotal[w] = incl;
  __syncthreads();
  V_ before = 0, all = 0;
  for (int i = 0; i < (int)(blockDim.x >> 5); i++) {
    if (i < w) before += warpTotal[i];
    all += warpTotal[i];
  }
  __syncthreads();
  total = all;
  return before + excl;
}

/**
 * Called by the whole block (kSampleThreads threads): the first bin in scan order (ascending ids, or
 * descending) at which base plus the running total of the values reaches the target, skipping empty bins
 * (count 0); `above` gets base plus the total of the bins before it. When the total never reaches the target
 * (rounding), the last non-empty bin, with everything before it above; -1 when every bin is empty.
 * get(b, count, value) reads bin b from anywhere (global memory, with adjustments); target(total) gives the
 * target from the total over all bins. Each thread takes BINS / kSampleThreads consecutive bins, so a
 * 2048-bin histogram costs 8 loads a thread and one block scan, not 64 serial steps of one warp.
 */
template <typename V_, int BINS, typename Get, typename Target>
__device__ int block_crossing(Get get, V_ base, Target target, bool asc, V_& above) {
  constexpr int PER = BINS / kSampleThreads;
  static_assert(PER * kSampleThreads == BINS, "block_crossing: BINS must be a multiple of the block size");
  __shared__ int winPos, lastPos, resBin;
  __shared__ V_ resAbove;
  const int t = threadIdx.x;
  u32 c[PER];
  V_ v[PER];
  V_ mine = 0;
#pragma unroll
  for (int j = 0; j < PER; j++) {
    get(asc ? t * PER + j : BINS - 1 - t * PER - j, c[j], v[j]);
    mine += v[j];
  }
  V_ total;
  V_ run = base + block_excl_scan<V_>(mine, total);
  const V_ goal = target(total);
  int found = -1, lastJ = -1;
  V_ foundAbove = 0;
#pragma unroll
  for (int j = 0; j < PER; j++) {
    if (c[j] == 0u) continue;
    lastJ = j;
    if (found >= 0) continue;
    if (run + v[j] >= goal) {
      found = j;
      foundAbove = run;
    } else {
      run += v[j];
    }
  }
  if (t == 0) {
    winPos = 0x7fffffff;
    lastPos = -1;
  }
  __syncthreads();
  if (found >= 0) atomicMin(&winPos, t * PER + found);
  if (lastJ >= 0) atomicMax(&lastPos, t * PER + lastJ);
  __syncthreads();
  const bool reached = winPos != 0x7fffffff;
  const int pos = reached ? winPos : lastPos;
  if (pos < 0 && t == 0) {
    resBin = -1;
    resAbove = base;
  } else if (pos >= 0 && t == pos / PER) {
    const int j = pos % PER;
    resBin = asc ? pos : BINS - 1 - pos;
    resAbove = reached ? foundAbove : base + total - v[j];
  }
  __syncthreads();
  above = resAbove;
  const int bin = resBin;
  __syncthreads();
  return bin;
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
                                  int* statI, u32* histC, double* histM, u32* subC, double* subM, int* plan) {
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
    // The row's histograms and counters, zeroed by all of its blocks together for sample_hist and sample_select.
    for (int b = blockIdx.x * blockDim.x + threadIdx.x; b < kBins; b += gridDim.x * blockDim.x) {
      histC[(i64)row * kBins + b] = 0u;
      histM[(i64)row * kBins + b] = 0.0;
      if (b < kSub) {
        subC[(i64)row * kSub + b] = 0u;
        subM[(i64)row * kSub + b] = 0.0;
      }
      if (b <= kPlanListCount) plan[row * kPlanInts + b] = 0;
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

// ---- 2. histogram of the survivors of min-p, and the plan of the cuts ------------------------------------------
/** One row as the cut kernels see it. */
template <typename T> struct RowView {
  const T* lg;
  const u16* counts;
  RowParams p;
  double top;   // the top score: the penalised max / temperature
  float top32;  // its f32 twin, for score_fine
};

template <typename T> __device__ __forceinline__ double row_score(const RowView<T>& r, int i) {
  return penalised_logit(r.lg, i, r.p, r.counts) / r.p.temperature;
}

/**
 * Called by the whole of the row's last sample_hist block, once the histogram is complete: the bins the cuts
 * fall in. Top-k: the bin bk holding the k-th score and how many of its tokens rank in the top k. Top-p alone:
 * the bin bp where the mass ranked above reaches topP·Z, the mass above it and the budget. Top-p after top-k
 * depends on the exact k-th score, so sample_select's last block finds its bin, which is bk or above it.
 * sample_select lists the tokens of bins [bk, bk], [bp, bp], or for top-k with top-p [0, bk] (fewer than k
 * tokens lie above bk), and sub-bins bk (top-k) or bp.
 */
__device__ void plan_cuts(int row, const RowParams& p, double top, const u32* histC, const double* histM, int* plan,
                          double* planD) {
  __shared__ int si[32];
  const u32* hc = histC + (i64)row * kBins;
  const double* hm = histM + (i64)row * kBins;
  int alive = 0;
  for (int b = threadIdx.x; b < kBins; b += blockDim.x) alive += (int)__ldcg(hc + b);
  alive = block_count(alive, si);
  const bool topK = p.topK > 0 && p.topK < alive, topP = p.topP < 1.0;
  int bk = -1, needK = 0, bp = -1;
  double before = 0.0, budget = 0.0;
  if (topK) {
    u32 above = 0u;
    bk = block_crossing<u32, kBins>([&](int b, u32& c, u32& v) { c = v = __ldcg(hc + b); }, 0u,
                                    [&](u32) { return (u32)p.topK; }, true, above);
    needK = p.topK - (int)above;
  } else if (topP) {
    bp = block_crossing<double, kBins>([&](int b, u32& c, double& v) { c = __ldcg(hc + b); v = __ldcg(hm + b); }, 0.0,
                                       [&](double z) { return budget = p.topP * z; }, true, before);
  }
  if (threadIdx.x == 0) {
    int* q = plan + row * kPlanInts;
    q[kPlanTopK] = topK ? 1 : 0;
    q[kPlanBk] = bk;
    q[kPlanNeedK] = needK;
    q[kPlanBp] = bp;
    q[kPlanListLo] = topK ? (topP ? 0 : bk) : bp;
    q[kPlanListHi] = topK ? bk : bp;
    q[kPlanSubBin] = topK ? bk : bp;
    double* d = planD + row * kPlanDoubles;
    d[kPlanTop] = top;
    d[kPlanBefore] = before;
    d[kPlanBudget] = budget;
  }
}

template <typename T>
__device__ void sample_hist_body(int N, int V, int C, int chunk, const T* __restrict__ logits,
                                 const double* __restrict__ dparams, const int* __restrict__ iparams,
                                 const u16* __restrict__ counts, const double* statD, const int* statI, u32* histC,
                                 double* histM, int* plan, double* planD) {
  __shared__ u32 hc[kBins];
  __shared__ double hm[kBins];
  __shared__ double topS;
  __shared__ int lastS;
  const int row = blockIdx.y;
  const RowParams p = row_params(row, V, dparams, iparams);
  if (!p.select) return;
  if (warp_id() == 0) {
    const RowStats st = warp_merge_stats(row, C, statD, statI);
    if (lane_id() == 0) topS = st.pMax / p.temperature;
  }
  for (int b = threadIdx.x; b < kBins; b += blockDim.x) {
    hc[b] = 0u;
    hm[b] = 0.0;
  }
  __syncthreads();
  const RowView<T> r{logits + (i64)row * V, counts + (i64)row * V, p, topS, (float)topS};
  int c0, c1;
  chunk_range(V, chunk, c0, c1);
  // Whole warps step together, so warp_add can add once for a warp whose survivors share one bin.
  for (int base = c0; base < c1; base += blockDim.x) {
    const int i = base + (int)threadIdx.x;
    int b = -1;
    double mass = 0.0;
    if (i < c1) {
      const double s = row_score(r, i);
      if (s > -INFINITY) {
        mass = exp(s - r.top);
        if (!(p.minP > 0.0 && mass < p.minP)) b = score_bin(s, r.top32);
      }
    }
    warp_add(hc, hm, b, mass);
  }
  __syncthreads();
  for (int b = threadIdx.x; b < kBins; b += blockDim.x) {
    if (hc[b] == 0u) continue;
    atomicAdd(&histC[(i64)row * kBins + b], hc[b]);
    atomicAdd(&histM[(i64)row * kBins + b], hm[b]);
  }
  // The row's last block to finish plans the cuts (each block's adds are fenced before it counts itself done).
  __threadfence();
  __syncthreads();
  if (threadIdx.x == 0) lastS = atomicAdd(&plan[row * kPlanInts + kPlanHistDone], 1) == C - 1;
  __syncthreads();
  if (!lastS) return;
  __threadfence();
  plan_cuts(row, p, r.top, histC, histM, plan, planD);
}

// ---- 3. the cuts -------------------------------------------------------------------------------------------------
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

/**
 * Called by one whole warp, for the radix passes' 256 buckets in shared memory: block_crossing's rule (the
 * first non-empty bucket in scan order at which base plus the running total reaches target, else the last
 * non-empty one), with `above` the total before it.
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

/** A selection: the listed tokens whose sub-bin lies in [lo, hi] (n of them, once collected). */
struct Sel {
  int lo, hi, n;
};

/** What the last sample_select block works with: the row, its candidate list, and shared scratch. */
template <typename T> struct SelCtx {
  RowView<T> r;
  const int* list;  // ids of the planned bins' tokens, in no particular order
  int listN;
  int* ids;         // the selection's first kSelCache ids and scores
  double* scores;
  u32* rc;          // radix buckets
  double* rm;
  double* sd;       // reductions
  int* si;
  u64* su;
  int* count;
};

/** Listed token k: its id and score, and whether it is in the selection. */
template <typename T>
__device__ __forceinline__ bool listed(const SelCtx<T>& c, const Sel& s, int k, int& id, double& score) {
  id = __ldcg(c.list + k);
  score = row_score(c.r, id);
  const int f = score_fine(score, c.r.top32);
  return f >= s.lo && f <= s.hi;
}

/** Collect the selection from the list: its size, and its first kSelCache tokens into shared memory. */
template <typename T> __device__ void collect(const SelCtx<T>& c, Sel& s) {
  if (threadIdx.x == 0) *c.count = 0;
  __syncthreads();
  for (int base = 0; base < c.listN; base += blockDim.x) {
    const int k = base + (int)threadIdx.x;
    int id = 0;
    double score = -INFINITY;
    const bool ok = k < c.listN && listed(c, s, k, id, score);
    const unsigned m = __ballot_sync(0xffffffffu, ok);
    int at = 0;
    if (lane_id() == 0 && m != 0u) at = atomicAdd(c.count, __popc(m));
    at = __shfl_sync(0xffffffffu, at, 0) + __popc(m & ((1u << lane_id()) - 1u));
    if (ok && at < kSelCache) {
      c.ids[at] = id;
      c.scores[at] = score;
    }
  }
  __syncthreads();
  s.n = *c.count;
  __syncthreads();
}

/** f(ok, id, score) over the selection, called by every thread in whole-warp steps (ok false: no token). */
template <typename T, typename F> __device__ void for_each_sel(const SelCtx<T>& c, const Sel& s, F f) {
  if (s.n <= kSelCache) {
    for (int base = 0; base < s.n; base += blockDim.x) {
      const int j = base + (int)threadIdx.x;
      const bool ok = j < s.n;
      f(ok, ok ? c.ids[j] : 0, ok ? c.scores[j] : -INFINITY);
    }
    return;
  }
  // More than the cache holds (a flat row): filter the list again, the scores recomputed from the logits.
  for (int base = 0; base < c.listN; base += blockDim.x) {
    const int k = base + (int)threadIdx.x;
    int id = 0;
    double score = -INFINITY;
    const bool ok = k < c.listN && listed(c, s, k, id, score);
    f(ok, id, score);
  }
}

/** The first byte (0 = most significant) at which the order keys of the selected scores ≥ floor differ. */
template <typename T> __device__ int sel_prefix(const SelCtx<T>& c, const Sel& s, double floor, u64& prefix) {
  u64 kand = ~0ull, kor = 0ull;
  for_each_sel(c, s, [&](bool ok, int, double score) {
    if (!ok || score < floor) return;
    kand &= order_key(score);
    kor |= order_key(score);
  });
  kand = block_and_u64(kand, c.su);
  kor = block_or_u64(kor, c.su);
  const u64 diff = kand ^ kor;
  const int first = diff == 0ull ? 8 : __clzll((long long)diff) / 8;
  prefix = first == 0 ? 0ull : first == 8 ? kand : kand & (~0ull << (64 - 8 * first));
  return first;
}

/** The need-th largest score of the selection (1 ≤ need ≤ n), by radix select over its order keys' bytes. */
template <typename T> __device__ double sel_kth(const SelCtx<T>& c, const Sel& s, int need) {
  __shared__ u64 pre;
  __shared__ int left;
  u64 prefix0;
  const int first = sel_prefix(c, s, -INFINITY, prefix0);
  if (threadIdx.x == 0) {
    pre = prefix0;
    left = need;
  }
  __syncthreads();
  for (int pass = first; pass < 8; pass++) {
    const int shift = 56 - 8 * pass;
    for (int b = threadIdx.x; b < 256; b += blockDim.x) c.rc[b] = 0u;
    __syncthreads();
    const u64 prefix = pre;
    for_each_sel(c, s, [&](bool ok, int, double score) {
      const u64 k = order_key(score);
      const bool in = ok && (shift == 56 || (k >> (shift + 8)) == (prefix >> (shift + 8)));
      warp_add(c.rc, nullptr, in ? (int)((k >> shift) & 255) : -1, 0.0);
    });
    __syncthreads();
    if (warp_id() == 0) {
      u32 above = 0;
      const int b = warp_crossing<u32, 256>(c.rc, c.rc, 0u, (u32)left, false, above);
      __syncwarp();
      if (lane_id() == 0) {
        pre = prefix | ((u64)b << shift);
        left -= (int)above;
      }
    }
    __syncthreads();
  }
  const double kth = from_order_key(pre);
  __syncthreads();
  return kth;
}

/**
 * Top-p inside the selection (scores ≥ floor): the cut score u where base plus the mass ranked above reaches
 * the budget, by a mass-weighted radix select (descend into the first byte value, from the top, at which the
 * mass above plus its own reaches the budget; if it never does, into the lowest: every token is kept), then
 * the ties at u: the CPU keeps them one by one, lowest id first, while the mass ranked above stays below the
 * budget, so cutId is the keep-th smallest tied id (-1: none kept). cut = -inf when nothing is cut.
 */
template <typename T>
__device__ void sel_cut(const SelCtx<T>& c, const Sel& s, double floor, double base, double budget, double& cut,
                        int& cutId) {
  __shared__ u64 pre;
  __shared__ double massAbove;
  __shared__ int left;
  cut = -INFINITY;
  cutId = 0x7fffffff;
  if (s.n == 0) return;  // rounding left the bin empty: keep everything
  u64 prefix0;
  const int first = sel_prefix(c, s, floor, prefix0);
  if (threadIdx.x == 0) {
    pre = prefix0;
    massAbove = base;
  }
  __syncthreads();
  for (int pass = first; pass < 8; pass++) {
    const int shift = 56 - 8 * pass;
    for (int b = threadIdx.x; b < 256; b += blockDim.x) {
      c.rc[b] = 0u;
      c.rm[b] = 0.0;
    }
    __syncthreads();
    const u64 prefix = pre;
    for_each_sel(c, s, [&](bool ok, int, double score) {
      const u64 k = order_key(score);
      const bool in = ok && score >= floor && (shift == 56 || (k >> (shift + 8)) == (prefix >> (shift + 8)));
      warp_add(c.rc, c.rm, in ? (int)((k >> shift) & 255) : -1, in ? exp(score - c.r.top) : 0.0);
    });
    __syncthreads();
    if (warp_id() == 0) {
      double above = 0.0;
      const int b = warp_crossing<double, 256>(c.rm, c.rc, massAbove, budget, false, above);
      __syncwarp();
      if (lane_id() == 0) {
        pre = prefix | ((u64)(b < 0 ? 0 : b) << shift);
        massAbove = above;
      }
    }
    __syncthreads();
  }
  const double u = from_order_key(pre);
  int ties = 0;
  for_each_sel(c, s, [&](bool ok, int, double score) { ties += ok && score == u ? 1 : 0; });
  ties = block_count(ties, c.si);
  if (threadIdx.x == 0) {
    const double e = exp(u - c.r.top);
    double running = massAbove;
    int keep = 0;
    while (keep < ties && running < budget) {
      running += e;
      keep++;
    }
    left = keep;
  }
  __syncthreads();
  const int keep = left;
  if (ties == 0) return;  // no token at all (rounding left the bin empty): keep everything
  cut = u;
  if (keep == 0) {
    cutId = -1;
  } else if (keep < ties) {
    // The keep-th smallest id among the ties, by radix select over the ids' bytes.
    if (threadIdx.x == 0) pre = 0ull;
    __syncthreads();
    for (int pass = 0; pass < 4; pass++) {
      const int shift = 24 - 8 * pass;
      for (int b = threadIdx.x; b < 256; b += blockDim.x) c.rc[b] = 0u;
      __syncthreads();
      const u32 prefix = (u32)pre;
      for_each_sel(c, s, [&](bool ok, int id, double score) {
        const u32 k = (u32)id;
        const bool in = ok && score == u && (pass == 0 || (k >> (shift + 8)) == (prefix >> (shift + 8)));
        warp_add(c.rc, nullptr, in ? (int)((k >> shift) & 255) : -1, 0.0);
      });
      __syncthreads();
      if (warp_id() == 0) {
        u32 above = 0;
        const int b = warp_crossing<u32, 256>(c.rc, c.rc, 0u, (u32)left, true, above);
        __syncwarp();
        if (lane_id() == 0) {
          pre = prefix | ((u32)b << shift);
          left -= (int)above;
        }
      }
      __syncthreads();
    }
    cutId = (int)(u32)pre;
  }
  __syncthreads();
}

/**
 * Called by the whole of the row's last sample_select block, with the list and the sub-histogram complete:
 * the exact cuts, from the plan, the sub-histogram and the listed tokens of one sub-bin (or, for a top-p cut
 * above bin bk after top-k, of one bin, which holds fewer than k tokens).
 *   5. Top-k: the k-th score lies in sub-bin sk of bin bk; radix-select it among that sub-bin's tokens.
 *   6. Top-p: the bin bp of the cut (planned, or found over the histogram with top-k's survivors), its sub-bin
 *      sp, then the cut score and the tied ids kept inside it.
 */
template <typename T>
__device__ void select_row(const SelCtx<T>& c, const int* q, const double* qd, const u32* subC, const double* subM,
                           const u32* histC, const double* histM, double* cuts) {
  const RowParams& p = c.r.p;
  const bool topK = q[kPlanTopK] != 0;
  double kth = -INFINITY, mK = 0.0;
  int sk = -1;
  u32 cK = 0u;
  Sel s{0, -1, 0};
  if (topK) {
    const int bk = q[kPlanBk], needK = q[kPlanNeedK];
    u32 above = 0u;
    sk = block_crossing<u32, kSub>([&](int b, u32& n, u32& v) { n = v = __ldcg(subC + b); }, 0u,
                                   [&](u32) { return (u32)needK; }, true, above);
    s.lo = s.hi = bk * kSub + sk;
    collect(c, s);
    kth = sel_kth(c, s, needK - (int)above);
    // Sub-bin sk's top-k survivors (every token of the sub-bins above it survives).
    double m = 0.0;
    int n = 0;
    for_each_sel(c, s, [&](bool ok, int, double score) {
      if (!ok || score < kth) return;
      m += exp(score - c.r.top);
      n++;
    });
    mK = block_sum_f64(m, c.sd);
    cK = (u32)block_count(n, c.si);
  }
  double cut = -INFINITY;
  int cutId = 0x7fffffff;
  if (p.topP < 1.0) {
    int bp;
    double before = 0.0, budget = 0.0;
    if (topK) {
      // Over the histogram with top-k applied: bins below bk are out, bin bk keeps its survivors' mass.
      const int bk = q[kPlanBk];
      double part = 0.0;
      for (int b = threadIdx.x; b < sk; b += blockDim.x) part += __ldcg(subM + b);
      const double m = block_sum_f64(part, c.sd) + mK;
      bp = block_crossing<double, kBins>(
          [&](int b, u32& n, double& v) {
            n = b <= bk ? __ldcg(histC + b) : 0u;
            v = b < bk ? __ldcg(histM + b) : b == bk ? m : 0.0;
          },
          0.0, [&](double z) { return budget = p.topP * z; }, true, before);
    } else {
      bp = q[kPlanBp];
      before = qd[kPlanBefore];
      budget = qd[kPlanBudget];
    }
    Sel ps{0, -1, 0};
    bool reuse = false;  // the cut lies in top-k's sub-bin sk: its selection, above the floor kth
    if (bp >= 0 && bp == q[kPlanSubBin]) {
      double inside = 0.0;
      const int sp = block_crossing<double, kSub>(
          [&](int b, u32& n, double& v) {
            if (topK && b >= sk) {
              n = b == sk ? cK : 0u;
              v = b == sk ? mK : 0.0;
            } else {
              n = __ldcg(subC + b);
              v = __ldcg(subM + b);
            }
          },
          before, [&](double) { return budget; }, true, inside);
      before = inside;
      if (topK && sp == sk) reuse = true;
      else if (sp >= 0) ps.lo = ps.hi = bp * kSub + sp;
    } else if (bp >= 0) {
      ps.lo = bp * kSub;  // top-k then top-p with the cut above bin bk (listed: bins [0, bk])
      ps.hi = bp * kSub + kSub - 1;
    }
    if (!reuse && ps.lo <= ps.hi) collect(c, ps);
    sel_cut(c, reuse ? s : ps, kth, before, budget, cut, cutId);
  }
  if (threadIdx.x == 0) {
    cuts[0] = kth;
    cuts[1] = cut;
    cuts[2] = (double)cutId;
  }
}

template <typename T>
__device__ void sample_select_body(int N, int V, int C, int chunk, const T* __restrict__ logits,
                                   const double* __restrict__ dparams, const int* __restrict__ iparams,
                                   const u16* __restrict__ counts, const u32* histC, const double* histM, u32* subC,
                                   double* subM, int* plan, const double* planD, int* cand, double* cuts) {
  __shared__ u32 sc[kSub];
  __shared__ double sm[kSub];
  __shared__ int ids[kSelCache];
  __shared__ double scores[kSelCache];
  __shared__ u32 rc[256];
  __shared__ double rm[256];
  __shared__ double sd[32];
  __shared__ int si[32];
  __shared__ u64 su[32];
  __shared__ int count, lastS;
  const int row = blockIdx.y;
  const RowParams p = row_params(row, V, dparams, iparams);
  if (!p.select) return;
  int* q = plan + row * kPlanInts;
  const double* qd = planD + row * kPlanDoubles;
  const RowView<T> r{logits + (i64)row * V, counts + (i64)row * V, p, qd[kPlanTop], (float)qd[kPlanTop]};
  const int lo = q[kPlanListLo], hi = q[kPlanListHi], subBin = q[kPlanSubBin];
  int* list = cand + (i64)row * V;
  u32* rowSubC = subC + (i64)row * kSub;
  double* rowSubM = subM + (i64)row * kSub;
  if (lo >= 0) {
    // This chunk's tokens of the planned bins (survivors of min-p, as sample_hist counted them): onto the
    // list, and into the sub-histogram when in the sub-binned bin.
    for (int b = threadIdx.x; b < kSub; b += blockDim.x) {
      sc[b] = 0u;
      sm[b] = 0.0;
    }
    __syncthreads();
    int c0, c1;
    chunk_range(V, chunk, c0, c1);
    for (int base = c0; base < c1; base += blockDim.x) {
      const int i = base + (int)threadIdx.x;
      int f = -1;
      double mass = 0.0;
      if (i < c1) {
        const double s = row_score(r, i);
        if (s > -INFINITY) {
          const int fine = score_fine(s, r.top32), b = fine >> kSubBits;
          if (b >= lo && b <= hi) {
            mass = exp(s - r.top);
            if (!(p.minP > 0.0 && mass < p.minP)) f = fine;
          }
        }
      }
      const unsigned m = __ballot_sync(0xffffffffu, f >= 0);
      if (m == 0u) continue;
      int at = 0;
      if (lane_id() == 0) at = atomicAdd(&q[kPlanListCount], __popc(m));
      at = __shfl_sync(0xffffffffu, at, 0) + __popc(m & ((1u << lane_id()) - 1u));
      if (f >= 0) list[at] = i;
      warp_add(sc, sm, f >= 0 && (f >> kSubBits) == subBin ? (f & (kSub - 1)) : -1, mass);
    }
    __syncthreads();
    for (int b = threadIdx.x; b < kSub; b += blockDim.x) {
      if (sc[b] == 0u) continue;
      atomicAdd(&rowSubC[b], sc[b]);
      atomicAdd(&rowSubM[b], sm[b]);
    }
  }
  // The row's last block to finish finds the cuts (each block's list entries and adds are fenced first).
  __threadfence();
  __syncthreads();
  if (threadIdx.x == 0) lastS = atomicAdd(&q[kPlanSelectDone], 1) == C - 1;
  __syncthreads();
  if (!lastS) return;
  __threadfence();
  const SelCtx<T> c{r, list, __ldcg(&q[kPlanListCount]), ids, scores, rc, rm, sd, si, su, &count};
  select_row(c, q, qd, rowSubC, rowSubM, histC + (i64)row * kBins, histM + (i64)row * kBins, cuts + row * 4);
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
  if (warp_id() == 0) {
    // The top token survives every filter, so its own exact score is a bar the winner reaches.
    const RowStats st = warp_merge_stats(row, C, statD, statI);
    u32 w[4];
    philox((u32)(st.pArg >> 2), p.c1, p.c2, p.c3, p.key0, p.key1, w);
    if (lane_id() == 0) {
      pMaxS = st.pMax;
      topIdS = st.pArg;
      barS = st.pArg >= 0 ? st.pMax / p.temperature - log(-log(((double)w[st.pArg & 3] + 0.5) / 4294967296.0)) : -INFINITY;
    }
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
  // One warp (launched with 32 threads): the merges take C / 32 loads a lane instead of C in a row.
  const int row = blockIdx.x;
  const RowParams p = row_params(row, V, dparams, iparams);
  const RowStats st = warp_merge_stats(row, C, statD, statI);
  int token;
  if (p.greedy) token = st.pArg;
  else if (p.plain) token = st.race.id;
  else {
    Best b{-INFINITY, -1};
    for (int c = lane_id(); c < C; c += 32) b = better(b, Best{raceD[(i64)row * C + c], raceI[(i64)row * C + c]});
    token = warp_best(b).id;
  }
  if (lane_id() != 0) return;
  out[row] = token;
  const float lp = token >= 0 ? (float)((double)load(logits + (i64)row * V, token) - st.rawLse) : __int_as_float(0x7fc00000);
  out[N + row] = __float_as_int(lp);
}

#define SAMPLE(S, T)                                                                                               \
  extern "C" __global__ void __launch_bounds__(kSampleThreads) sample_stats_##S(                                  \
      int N, int V, int C, int chunk, const T* logits, const double* dparams, const int* iparams,                 \
      const int* penalized, u16* counts, double* statD, int* statI, u32* histC, double* histM, u32* subC,         \
      double* subM, int* plan) {                                                                                   \
    sample_stats_body<T>(N, V, C, chunk, logits, dparams, iparams, penalized, counts, statD, statI, histC, histM, \
                         subC, subM, plan);                                                                        \
  }                                                                                                                \
  extern "C" __global__ void __launch_bounds__(kSampleThreads) sample_hist_##S(                                   \
      int N, int V, int C, int chunk, const T* logits, const double* dparams, const int* iparams,                 \
      const u16* counts, const double* statD, const int* statI, u32* histC, double* histM, int* plan,             \
      double* planD) {                                                                                             \
    sample_hist_body<T>(N, V, C, chunk, logits, dparams, iparams, counts, statD, statI, histC, histM, plan, planD); \
  }                                                                                                                \
  extern "C" __global__ void __launch_bounds__(kSampleThreads) sample_select_##S(                                 \
      int N, int V, int C, int chunk, const T* logits, const double* dparams, const int* iparams,                 \
      const u16* counts, const u32* histC, const double* histM, u32* subC, double* subM, int* plan,               \
      const double* planD, int* cand, double* cuts) {                                                              \
    sample_select_body<T>(N, V, C, chunk, logits, dparams, iparams, counts, histC, histM, subC, subM, plan, planD, \
                          cand, cuts);                                                                             \
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
