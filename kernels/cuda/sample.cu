// The fused sampler: one block per row of logits [N, V] draws a token exactly as the CPU reference
// `sampleTokens` (src/sample/sampler.ts) does, in f64 like it: repetition penalty → greedy or
// temperature → min-p → top-k → top-p → Gumbel-max race with Philox4x32-10 noise, plus the token's
// log-prob under the raw logits. No sort: top-k is a radix select over the scores' ordered bits, and
// top-p a radix select weighted by probability mass, 8 bits per pass.
//   dparams f64 [N, 4]: temperature, topP, minP, repetitionPenalty
//   iparams i32 [N, 8]: topK, key0, key1, step, sample, request, penalized offset, penalized count
//   out     i32 [2N]:   tokens, then the log-probs' f32 bits
// The scores live in `scratch` f64 [N, V] (-inf = filtered out).
#include "common.cuh"

constexpr int kSampleThreads = 1024;
constexpr double kGreedyTemperature = 1e-5;

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
  if (b.v > a.v || (b.v == a.v && b.id < a.id) || (a.id < 0 && b.id >= 0)) return b;
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

/** Philox4x32-10 (Random123), as src/sample/philox.ts. */
__device__ void philox(u32 c0, u32 c1, u32 c2, u32 c3, u32 k0, u32 k1, u32 out[4]) {
  const u32 M0 = 0xd2511f53u, M1 = 0xcd9e8d57u, W0 = 0x9e3779b9u, W1 = 0xbb67ae85u;
  for (int round = 0; round < 10; round++) {
    if (round > 0) { k0 += W0; k1 += W1; }
    const u32 hi0 = __umulhi(M0, c0), lo0 = M0 * c0;
    const u32 hi1 = __umulhi(M1, c2), lo1 = M1 * c2;
    const u32 n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
    c0 = n0; c1 = lo1; c2 = n2; c3 = lo0;
  }
  out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

template <typename T>
__device__ void sample_body(int N, int V, const T* __restrict__ logits, double* __restrict__ scratch,
                            const double* __restrict__ dparams, const int* __restrict__ iparams,
                            const int* __restrict__ penalized, int* __restrict__ out) {
  __shared__ double sd[32];
  __shared__ int si[32];
  __shared__ u32 hcount[256];
  __shared__ double hmass[256];
  __shared__ u64 selPrefix;
  __shared__ double selMassAbove;
  __shared__ int selRemaining;
  const int row = blockIdx.x;
  if (row >= N) return;
  const T* lg = logits + (i64)row * V;
  double* s = scratch + (i64)row * V;
  const double temperature = dparams[row * 4 + 0], topP = dparams[row * 4 + 1], minP = dparams[row * 4 + 2];
  const double penalty = dparams[row * 4 + 3];
  const int topK = iparams[row * 8 + 0];
  const u32 key0 = (u32)iparams[row * 8 + 1], key1 = (u32)iparams[row * 8 + 2];
  const u32 c1 = (u32)iparams[row * 8 + 3], c2 = (u32)iparams[row * 8 + 4], c3 = (u32)iparams[row * 8 + 5];
  const int penOffset = iparams[row * 8 + 6], penCount = iparams[row * 8 + 7];

  // Raw log-sum-exp (for the log-prob) and the scores' starting copy.
  double mx = -INFINITY;
  for (int i = threadIdx.x; i < V; i += blockDim.x) {
    const double x = (double)load(lg, i);
    s[i] = x;
    mx = fmax(mx, x);
  }
  const double rawMax = block_max_f64(mx, sd);
  double acc = 0.0;
  for (int i = threadIdx.x; i < V; i += blockDim.x) acc += exp((double)load(lg, i) - rawMax);
  const double rawLse = rawMax + log(block_sum_f64(acc, sd));

  // 1. Repetition penalty, applied in list order by one thread (the CPU's order, duplicates included).
  if (penalty != 1.0 && threadIdx.x == 0) {
    for (int j = 0; j < penCount; j++) {
      const int id = penalized[penOffset + j];
      s[id] = s[id] > 0.0 ? s[id] / penalty : s[id] * penalty;
    }
  }
  __syncthreads();

  int token;
  if (temperature < kGreedyTemperature) {
    // 2. Greedy: argmax of the penalised logits, lowest id on ties.
    Best b{-INFINITY, -1};
    for (int i = threadIdx.x; i < V; i += blockDim.x) b = better(b, Best{s[i], i});
    token = block_best(b, sd, si).id;
  } else {
    // 3. Temperature, and 4. min-p against the top score.
    double m = -INFINITY;
    for (int i = threadIdx.x; i < V; i += blockDim.x) {
      s[i] = s[i] / temperature;
      m = fmax(m, s[i]);
    }
    const double top = block_max_f64(m, sd);
    if (minP > 0.0) {
      for (int i = threadIdx.x; i < V; i += blockDim.x)
        if (exp(s[i] - top) < minP) s[i] = -INFINITY;
    }
    __syncthreads();
    // 5. Top-k: the k-th largest surviving score, by radix select over ordered bits; keep scores ≥ it.
    if (topK > 0) {
      int alive = 0;
      for (int i = threadIdx.x; i < V; i += blockDim.x) alive += s[i] > -INFINITY ? 1 : 0;
      alive = block_count(alive, si);
      if (topK < alive) {
        if (threadIdx.x == 0) { selPrefix = 0; selRemaining = topK; }
        for (int pass = 0; pass < 8; pass++) {
          const int shift = 56 - 8 * pass;
          for (int b = threadIdx.x; b < 256; b += blockDim.x) hcount[b] = 0;
          __syncthreads();
          const u64 prefix = selPrefix;
          for (int i = threadIdx.x; i < V; i += blockDim.x) {
            if (!(s[i] > -INFINITY)) continue;
            const u64 k = order_key(s[i]);
            if (pass > 0 && (k >> (shift + 8)) != (prefix >> (shift + 8))) continue;
            atomicAdd(&hcount[(k >> shift) & 255], 1u);
          }
          __syncthreads();
          if (threadIdx.x == 0) {
            int need = selRemaining;
            for (int b = 255; b >= 0; b--) {
              if ((int)hcount[b] >= need) {
                selPrefix = prefix | ((u64)b << shift);
                break;
              }
              need -= (int)hcount[b];
            }
            selRemaining = need;
          }
          __syncthreads();
        }
        const double kth = from_order_key(selPrefix);
        for (int i = threadIdx.x; i < V; i += blockDim.x)
          if (s[i] < kth) s[i] = -INFINITY;
        __syncthreads();
      }
    }
    // 6. Top-p: keep, in (score desc, id asc) order, each token whose mass ranked above it is < topP·Z.
    // The cut is the smallest score v with mass(scores > v) < budget; ties at v are kept in id order.
    if (topP < 1.0) {
      double m2 = -INFINITY;
      for (int i = threadIdx.x; i < V; i += blockDim.x) m2 = fmax(m2, s[i]);
      const double top2 = block_max_f64(m2, sd);
      double z = 0.0;
      for (int i = threadIdx.x; i < V; i += blockDim.x)
        if (s[i] > -INFINITY) z += exp(s[i] - top2);
      const double budget = topP * block_sum_f64(z, sd);
      if (threadIdx.x == 0) { selPrefix = 0; selMassAbove = 0.0; }
      for (int pass = 0; pass < 8; pass++) {
        const int shift = 56 - 8 * pass;
        for (int b = threadIdx.x; b < 256; b += blockDim.x) { hcount[b] = 0; hmass[b] = 0.0; }
        __syncthreads();
        const u64 prefix = selPrefix;
        for (int i = threadIdx.x; i < V; i += blockDim.x) {
          if (!(s[i] > -INFINITY)) continue;
          const u64 k = order_key(s[i]);
          if (pass > 0 && (k >> (shift + 8)) != (prefix >> (shift + 8))) continue;
          const int b = (int)((k >> shift) & 255);
          atomicAdd(&hcount[b], 1u);
          atomicAdd(&hmass[b], exp(s[i] - top2));
        }
        __syncthreads();
        if (threadIdx.x == 0) {
          // Descend into the first bin (from the top) in which the budget runs out; if it never does,
          // every survivor is kept and the cut is the lowest score: descend into the lowest bin.
          int chosen = -1, lowest = -1;
          double above = selMassAbove;
          for (int b = 255; b >= 0; b--) {
            if (hcount[b] == 0) continue;
            if (above + hmass[b] >= budget) {
              chosen = b;
              break;
            }
            above += hmass[b];
            lowest = b;
          }
          if (chosen < 0) {
            chosen = lowest;
            above -= hmass[lowest];
          }
          selPrefix = prefix | ((u64)chosen << shift);
          selMassAbove = above;
        }
        __syncthreads();
      }
      const double cut = from_order_key(selPrefix);
      // Ties at the cut: the CPU keeps them one by one while the running mass stays below the budget.
      int ties = 0;
      for (int i = threadIdx.x; i < V; i += blockDim.x) ties += s[i] == cut ? 1 : 0;
      ties = block_count(ties, si);
      if (threadIdx.x == 0) {
        const double e = exp(cut - top2);
        double running = selMassAbove;
        int keep = 0;
        while (keep < ties && running < budget) {
          running += e;
          keep++;
        }
        selRemaining = keep;
      }
      __syncthreads();
      const int keepTies = selRemaining;
      // Drop scores below the cut, and the ties after the first keepTies ids: a block scan in id order.
      if (threadIdx.x == 0) selMassAbove = 0.0;  // reused below as the count of ties in earlier chunks
      __syncthreads();
      for (int base = 0; base < V; base += blockDim.x) {
        const int i = base + threadIdx.x;
        const bool tie = i < V && s[i] == cut;
        const unsigned ballot = __ballot_sync(0xffffffffu, tie);
        if (lane_id() == 0) si[warp_id()] = __popc(ballot);
        __syncthreads();
        int rank = (int)selMassAbove + __popc(ballot & ((1u << lane_id()) - 1u));
        int chunkTies = 0;
        for (int w = 0; w < (int)(blockDim.x >> 5); w++) {
          if (w < warp_id()) rank += si[w];
          chunkTies += si[w];
        }
        if (i < V && (s[i] < cut || (tie && rank >= keepTies))) s[i] = -INFINITY;
        __syncthreads();  // every thread has read si and the running count
        if (threadIdx.x == 0) selMassAbove += (double)chunkTies;
        __syncthreads();
      }
    }
    // 7. Gumbel-max race over the survivors with Philox noise, lowest id on ties.
    Best b{-INFINITY, -1};
    for (int g = threadIdx.x; g * 4 < V; g += blockDim.x) {
      u32 w[4];
      philox((u32)g, c1, c2, c3, key0, key1, w);
      for (int j = 0; j < 4 && g * 4 + j < V; j++) {
        const int i = g * 4 + j;
        if (!(s[i] > -INFINITY)) continue;
        const double u = ((double)w[j] + 0.5) / 4294967296.0;
        b = better(b, Best{s[i] - log(-log(u)), i});
      }
    }
    token = block_best(b, sd, si).id;
  }
  if (threadIdx.x == 0) {
    out[row] = token;
    const float lp = token >= 0 ? (float)((double)load(lg, token) - rawLse) : __int_as_float(0x7fc00000);
    out[N + row] = __float_as_int(lp);
  }
}

#define SAMPLE(S, T)                                                                                            \
  extern "C" __global__ void __launch_bounds__(kSampleThreads) sample_##S(int N, int V, const T* logits,       \
      double* scratch, const double* dparams, const int* iparams, const int* penalized, int* out) {             \
    sample_body<T>(N, V, logits, scratch, dparams, iparams, penalized, out);                                     \
  }
STILL_FLOAT_TYPES(SAMPLE)
