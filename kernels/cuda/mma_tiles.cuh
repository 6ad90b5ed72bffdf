// Tensor-core tile helpers shared by the attention kernels (flash_attention.cu, decode.cu): shared-memory
// tiles of 16-bit rows padded to D + 8 halves (the 16-byte pad puts the eight row addresses of each ldmatrix
// in different banks), synchronous and cp.async loads into them, and the ldmatrix patterns that turn them
// into mma.m16n8k16 fragments (layouts in common.cuh).
#pragma once
#include "common.cuh"

template <typename T> struct IsBf16 { static constexpr bool value = false; };
template <> struct IsBf16<bf16> { static constexpr bool value = true; };

/** rows [r0, r0 + rows) of a tensor whose rows are `stride` halves apart → tile [rows][D + 8]; rows ≥ limit are 0. */
template <int D>
__device__ __forceinline__ void load_tile(u16* tile, const u16* base, i64 stride, int r0, int rows, int limit) {
  constexpr int chunks = D / 8;  // 16-byte pieces per row
  for (int i = threadIdx.x; i < rows * chunks; i += blockDim.x) {
    const int r = i / chunks, c = i % chunks;
    U128 val = {0u, 0u, 0u, 0u};
    if (r0 + r < limit) val = *reinterpret_cast<const U128*>(base + (i64)(r0 + r) * stride + c * 8);
    *reinterpret_cast<U128*>(tile + r * (D + 8) + c * 8) = val;
  }
}

/** load_tile's asynchronous twin: issue the copies now; cp_async_wait_all() + __syncthreads() before use. */
template <int D>
__device__ __forceinline__ void load_tile_async(u16* tile, const u16* base, i64 stride, int r0, int rows, int limit) {
  constexpr int chunks = D / 8;
  for (int i = threadIdx.x; i < rows * chunks; i += blockDim.x) {
    const int r = i / chunks, c = i % chunks;
    const bool valid = r0 + r < limit;
    cp_async16(tile + r * (D + 8) + c * 8, valid ? base + (i64)(r0 + r) * stride + c * 8 : base, valid);
  }
}

/** A fragment (16×16, row-major) at tile[row0.., col0..]. */
template <int D> __device__ __forceinline__ void load_a(u32 a[4], const u16* tile, int row0, int col0) {
  const int lane = lane_id();
  ldmatrix_x4(a, tile + (row0 + (lane & 15)) * (D + 8) + col0 + (lane >> 4) * 8);
}
/** B fragments for two n-tiles (n = tile rows row0..row0+15, k = cols col0..col0+15): {b[0],b[1]}, {b[2],b[3]}. */
template <int D> __device__ __forceinline__ void load_b_rows(u32 b[4], const u16* tile, int row0, int col0) {
  const int lane = lane_id();
  ldmatrix_x4(b, tile + (row0 + (lane >> 4) * 8 + (lane & 7)) * (D + 8) + col0 + ((lane >> 3) & 1) * 8);
}
/** B fragments for two n-tiles (k = tile rows row0..row0+15, n = cols col0..col0+15), transposing. */
template <int D> __device__ __forceinline__ void load_b_cols(u32 b[4], const u16* tile, int row0, int col0) {
  const int lane = lane_id();
  ldmatrix_x4_trans(b, tile + (row0 + (lane & 15)) * (D + 8) + col0 + (lane >> 4) * 8);
}

/** Accumulator tiles nt = 2kc and 2kc+1 (16 columns) as an A fragment. */
template <typename T> __device__ __forceinline__ void acc_to_a(u32 a[4], const float* lo, const float* hi) {
  a[0] = pack2<T>(lo[0], lo[1]);
  a[1] = pack2<T>(lo[2], lo[3]);
  a[2] = pack2<T>(hi[0], hi[1]);
  a[3] = pack2<T>(hi[2], hi[3]);
}
