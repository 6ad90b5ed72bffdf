// A plain tiled GEMM (64×64 tiles, 4×4 outputs per thread, f32 accumulate) for any float type. It is the
// fallback when cuBLASLt cannot be loaded, and an independent check of the cuBLASLt path; it is not fast.
// Row-major: C[b] = op(A[b]) · op(B[b]), op(A) is M×K (A stored [M,K], or [K,M] when transA), op(B) is
// K×N (B stored [K,N], or [N,K] when transB); a batch stride of 0 broadcasts that operand.
#include "common.cuh"

template <typename T>
__device__ void gemm_body(int M, int N, int K, int transA, int transB, const T* __restrict__ A, i64 strideA,
                          const T* __restrict__ B, i64 strideB, T* __restrict__ C, i64 strideC) {
  __shared__ float As[16][65];  // [k][m]
  __shared__ float Bs[16][65];  // [k][n]
  const i64 batch = blockIdx.z;
  A += batch * strideA;
  B += batch * strideB;
  C += batch * strideC;
  const int m0 = blockIdx.y * 64, n0 = blockIdx.x * 64;
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
  float acc[4][4];
  for (int i = 0; i < 4; i++)
    for (int j = 0; j < 4; j++) acc[i][j] = 0.0f;
  for (int k0 = 0; k0 < K; k0 += 16) {
    for (int e = threadIdx.x; e < 64 * 16; e += blockDim.x) {
      // Consecutive threads take consecutive addresses of whichever layout the operand has.
      const int mm = transA ? e % 64 : e / 16, ka = transA ? e / 64 : e % 16;
      const int m = m0 + mm, kk = k0 + ka;
      As[ka][mm] = m < M && kk < K ? load(A, transA ? (i64)kk * M + m : (i64)m * K + kk) : 0.0f;
      const int nn = transB ? e / 16 : e % 64, kb = transB ? e % 16 : e / 64;
      const int n = n0 + nn, kk2 = k0 + kb;
      Bs[kb][nn] = n < N && kk2 < K ? load(B, transB ? (i64)n * K + kk2 : (i64)kk2 * N + n) : 0.0f;
    }
    __syncthreads();
    for (int kk = 0; kk < 16; kk++) {
      float a[4], b[4];
      for (int i = 0; i < 4; i++) a[i] = As[kk][ty + 16 * i];
      for (int j = 0; j < 4; j++) b[j] = Bs[kk][tx + 16 * j];
      for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) acc[i][j] += a[i] * b[j];
    }
    __syncthreads();
  }
  for (int i = 0; i < 4; i++) {
    const int m = m0 + ty + 16 * i;
    if (m >= M) continue;
    for (int j = 0; j < 4; j++) {
      const int n = n0 + tx + 16 * j;
      if (n < N) store(C, (i64)m * N + n, acc[i][j]);
    }
  }
}

#define GEMM(S, T)                                                                                               \
  extern "C" __global__ void gemm_##S(int M, int N, int K, int transA, int transB, const T* A, i64 strideA,     \
                                      const T* B, i64 strideB, T* C, i64 strideC) {                              \
    gemm_body<T>(M, N, K, transA, transB, A, strideA, B, strideB, C, strideC);                                   \
  }
STILL_FLOAT_TYPES(GEMM)
