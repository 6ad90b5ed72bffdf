// Shared device helpers for every kernel: element types, bf16/f16 conversions, warp reductions, and the
// tensor-core primitives (ldmatrix, mma.sync). No CUDA headers are included, so the same source compiles
// with nvcc, with NVRTC at run time (no include path there), and with g++ against emu/emu.h for tests.
#pragma once

#ifdef STILL_EMU
#include "emu/emu.h"
#endif

#ifndef INFINITY
#define INFINITY __int_as_float(0x7f800000)
#endif

typedef unsigned int u32;
typedef unsigned short u16;
typedef long long i64;
typedef unsigned long long u64;

/** 16 bytes, for vectorised copies between global and shared memory (both must be 16-byte aligned). */
struct __align__(16) U128 { u32 x, y, z, w; };

// Distinct structs (not typedefs of u16) so templates can tell bf16 from f16.
struct bf16 { u16 bits; };
struct f16 { u16 bits; };

__device__ __forceinline__ float to_f32(float x) { return x; }
__device__ __forceinline__ float to_f32(bf16 x) { return __uint_as_float(((u32)x.bits) << 16); }
__device__ __forceinline__ float to_f32(int x) { return (float)x; }

/** Round-to-nearest-even, NaN kept quiet: the same rule as src/tensor/half.ts. */
__device__ __forceinline__ u16 f32_to_bf16_bits(float f) {
  u32 u = __float_as_uint(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (u16)((u >> 16) | 0x40u);
  return (u16)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

#ifdef STILL_EMU
__device__ __forceinline__ float to_f32(f16 x) { return emu::f16_to_f32(x.bits); }
__device__ __forceinline__ u16 f32_to_f16_bits(float f) { return emu::f32_to_f16(f); }
#else
__device__ __forceinline__ float to_f32(f16 x) {
  float f;
  asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(x.bits));
  return f;
}
__device__ __forceinline__ u16 f32_to_f16_bits(float f) {
  u16 h;
  asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f));
  return h;
}
#endif

template <typename T> struct Conv;
template <> struct Conv<float> { static __device__ __forceinline__ float from(float f) { return f; } };
template <> struct Conv<bf16> {
  static __device__ __forceinline__ bf16 from(float f) { bf16 r; r.bits = f32_to_bf16_bits(f); return r; }
};
template <> struct Conv<f16> {
  static __device__ __forceinline__ f16 from(float f) { f16 r; r.bits = f32_to_f16_bits(f); return r; }
};
template <> struct Conv<int> {
  // Truncation toward zero, like Math.trunc in the CPU backend's cast.
  static __device__ __forceinline__ int from(float f) { return (int)f; }
};

template <typename T> __device__ __forceinline__ T from_f32(float f) { return Conv<T>::from(f); }

template <typename T> __device__ __forceinline__ float load(const T* p, i64 i) { return to_f32(p[i]); }
template <typename T> __device__ __forceinline__ void store(T* p, i64 i, float v) { p[i] = from_f32<T>(v); }

// Instantiate a kernel body template for every float storage type, as extern "C" entry points named
// <base>_f32, <base>_bf16, <base>_f16 (the TS side picks the name from the tensor dtype).
#define STILL_FLOAT_TYPES(X) X(f32, float) X(bf16, bf16) X(f16, f16)

// ---- grid helpers ---------------------------------------------------------------------------------------
__device__ __forceinline__ i64 global_index() { return (i64)blockIdx.x * blockDim.x + threadIdx.x; }
__device__ __forceinline__ i64 grid_stride() { return (i64)gridDim.x * blockDim.x; }
__device__ __forceinline__ int lane_id() { return threadIdx.x & 31; }
__device__ __forceinline__ int warp_id() { return threadIdx.x >> 5; }

// ---- reductions -----------------------------------------------------------------------------------------
#ifdef STILL_EMU
// One warp exchange instead of five shuffles (each a round of fiber switches): every lane gathers the warp's
// values and replays the xor butterfly on them, so each lane gets exactly the GPU's result, rounding included.
template <typename Op> inline float emu_butterfly(float v, Op op) {
  float all[32];
  emu::warp_exchange(&v, sizeof v, all);
  for (int o = 16; o > 0; o >>= 1) {
    float next[32];
    for (int i = 0; i < 32; i++) next[i] = op(all[i], all[i ^ o]);
    memcpy(all, next, sizeof all);
  }
  return all[emu::lane()];
}
inline float warp_sum(float v) { return emu_butterfly(v, [](float a, float b) { return a + b; }); }
inline float warp_max(float v) { return emu_butterfly(v, [](float a, float b) { return fmaxf(a, b); }); }
#else
__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}
#endif

/** Sum over the whole block (blockDim.x a multiple of 32, ≤ 1024); every thread gets the result. */
__device__ __forceinline__ float block_sum(float v, float* scratch /* ≥ 33 floats of shared memory */) {
  v = warp_sum(v);
  const int warps = blockDim.x >> 5;
  if (lane_id() == 0) scratch[warp_id()] = v;
  __syncthreads();
  float r = lane_id() < warps ? scratch[lane_id()] : 0.0f;
  r = warp_sum(r);
  __syncthreads();  // scratch may be reused right after
  return r;
}

/** warp_sum of each of N values (the emulator exchanges four at a time instead of one). */
template <int N> __device__ __forceinline__ void warp_sum_n(float* v) {
#ifdef STILL_EMU
  for (int base = 0; base < N; base += 4) {
    const int count = N - base < 4 ? N - base : 4;
    float mine[4] = {0.0f, 0.0f, 0.0f, 0.0f}, all[32][4];
    for (int i = 0; i < count; i++) mine[i] = v[base + i];
    emu::warp_exchange(mine, sizeof mine, all);
    for (int i = 0; i < count; i++) {
      float col[32];
      for (int l = 0; l < 32; l++) col[l] = all[l][i];
      for (int o = 16; o > 0; o >>= 1) {
        float next[32];
        for (int l = 0; l < 32; l++) next[l] = col[l] + col[l ^ o];
        memcpy(col, next, sizeof col);
      }
      v[base + i] = col[emu::lane()];
    }
  }
#else
#pragma unroll
  for (int i = 0; i < N; i++) v[i] = warp_sum(v[i]);
#endif
}

/** block_sum of each of N values, with the same order of additions as block_sum (so the same results). */
template <int N> __device__ __forceinline__ void block_sum_n(float* v, float (*scratch)[33] /* N × 33 floats of shared memory */) {
  warp_sum_n<N>(v);
  const int warps = blockDim.x >> 5;
  if (lane_id() == 0) {
#pragma unroll
    for (int i = 0; i < N; i++) scratch[i][warp_id()] = v[i];
  }
  __syncthreads();
#pragma unroll
  for (int i = 0; i < N; i++) v[i] = lane_id() < warps ? scratch[i][lane_id()] : 0.0f;
  warp_sum_n<N>(v);
  __syncthreads();  // scratch may be reused right after
}

/** Online-softmax pair (running max m, sum s of exp(x - m)) merged across the block. */
__device__ __forceinline__ void merge_max_sum(float& m, float& s, float m2, float s2) {
  const float mn = fmaxf(m, m2);
  if (mn == -INFINITY) { m = mn; s = 0.0f; return; }
  s = s * __expf(m - mn) + s2 * __expf(m2 - mn);
  m = mn;
}

__device__ __forceinline__ void block_max_sum(float& m, float& s, float* scratch /* ≥ 66 floats */) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    const float m2 = __shfl_xor_sync(0xffffffffu, m, o);
    const float s2 = __shfl_xor_sync(0xffffffffu, s, o);
    merge_max_sum(m, s, m2, s2);
  }
  const int warps = blockDim.x >> 5;
  if (lane_id() == 0) { scratch[warp_id()] = m; scratch[33 + warp_id()] = s; }
  __syncthreads();
  m = -INFINITY;
  s = 0.0f;
  for (int w = 0; w < warps; w++) merge_max_sum(m, s, scratch[w], scratch[33 + w]);
  __syncthreads();
}

// ---- tensor cores (sm_80+) ------------------------------------------------------------------------------
// Fragment layouts follow the PTX ISA for mma.m16n8k16 (bf16/f16 in, f32 accumulate); with
// g = lane / 4 and t = lane % 4:
//   A (16×16, row-major) regs: {(g, 2t..2t+1)}, {(g+8, 2t..)}, {(g, 2t+8..)}, {(g+8, 2t+8..)}
//   B (16×8, k × n)      regs: {(k=2t..2t+1, n=g)}, {(k=2t+8.., n=g)}
//   C/D (16×8, f32)      [0],[1] = (g, 2t..2t+1), [2],[3] = (g+8, 2t..2t+1)
// Each 32-bit register packs two 16-bit values, the lower column (or k) in the low half.

#ifdef STILL_EMU
__device__ __forceinline__ void mma_16816(float d[4], const u32 a[4], const u32 b[2], bool isBf16) {
  emu::mma_16816(d, a, b, isBf16);
}
__device__ __forceinline__ void ldmatrix_x4(u32 r[4], const void* rowPtr) { emu::ldmatrix_x4(r, rowPtr, false); }
__device__ __forceinline__ void ldmatrix_x4_trans(u32 r[4], const void* rowPtr) { emu::ldmatrix_x4(r, rowPtr, true); }
__device__ __forceinline__ void ldmatrix_x2(u32 r[2], const void* rowPtr) { emu::ldmatrix_x2(r, rowPtr, false); }
__device__ __forceinline__ void ldmatrix_x2_trans(u32 r[2], const void* rowPtr) { emu::ldmatrix_x2(r, rowPtr, true); }
#else
/** d += A·B on tensor cores. */
__device__ __forceinline__ void mma_16816(float d[4], const u32 a[4], const u32 b[2], bool isBf16) {
  if (isBf16) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
  } else {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
  }
}
__device__ __forceinline__ u32 smem_addr(const void* p) { return (u32)__cvta_generic_to_shared(p); }
/** Four 8×8 b16 matrices; lanes 8i..8i+7 give the row addresses of matrix i. */
__device__ __forceinline__ void ldmatrix_x4(u32 r[4], const void* rowPtr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(smem_addr(rowPtr)));
}
__device__ __forceinline__ void ldmatrix_x4_trans(u32 r[4], const void* rowPtr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(smem_addr(rowPtr)));
}
/** Two 8×8 matrices; lanes 0..15 give the row addresses (the others' are ignored but must be valid). */
__device__ __forceinline__ void ldmatrix_x2(u32 r[2], const void* rowPtr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%0,%1}, [%2];\n"
               : "=r"(r[0]), "=r"(r[1]) : "r"(smem_addr(rowPtr)));
}
__device__ __forceinline__ void ldmatrix_x2_trans(u32 r[2], const void* rowPtr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x2.trans.shared.b16 {%0,%1}, [%2];\n"
               : "=r"(r[0]), "=r"(r[1]) : "r"(smem_addr(rowPtr)));
}
#endif

// Asynchronous global → shared copies (sm_80): issue, then wait before reading (after a __syncthreads).
#ifdef STILL_EMU
__device__ __forceinline__ void cp_async16(void* smem, const void* gmem, bool valid) {
  if (valid) memcpy(smem, gmem, 16);
  else memset(smem, 0, 16);
}
__device__ __forceinline__ void cp_async_commit() {}
__device__ __forceinline__ void cp_async_wait_all() {}
#else
/** 16 bytes; when !valid nothing is read and the destination is zero-filled. */
__device__ __forceinline__ void cp_async16(void* smem, const void* gmem, bool valid) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_addr(smem)), "l"(gmem), "r"(valid ? 16 : 0));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
__device__ __forceinline__ void cp_async_wait_all() { asm volatile("cp.async.wait_group 0;\n" ::: "memory"); }
#endif

/** Pack two floats into a 32-bit register of two 16-bit values (lo = first). */
template <typename T> __device__ __forceinline__ u32 pack2(float lo, float hi) {
  return (u32)from_f32<T>(lo).bits | ((u32)from_f32<T>(hi).bits << 16);
}

// Dynamic shared memory (attention tiles exceed the 48 KB static limit).
#ifdef STILL_EMU
#define STILL_DYNAMIC_SMEM(name) unsigned char* name = emu::dynamic_smem()
#else
#define STILL_DYNAMIC_SMEM(name) extern __shared__ __align__(16) unsigned char name[]
#endif
