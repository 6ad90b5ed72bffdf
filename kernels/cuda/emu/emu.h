// A CPU emulation of the small part of CUDA C our kernels use, so their logic can be tested on machines
// without a GPU (see emu.cpp: each block's threads run as cooperative fibers that switch at barriers).
// Compile a kernel file with g++ -DSTILL_EMU; common.cuh includes this header instead of any CUDA one.
#pragma once
#include <cmath>
#include <cstddef>
#include <cstring>

struct uint3 { unsigned x, y, z; };
struct dim3 { unsigned x, y, z; };

namespace emu {
struct Lane {
  uint3 tid;
  int linear;  // threadIdx flattened; lane = linear % 32, warp = linear / 32
};
extern Lane* current;  // the emulated thread that is running now
extern uint3 block_idx;
extern dim3 block_dim, grid_dim;

void sync_block();
void sync_warp();
unsigned char* dynamic_smem();
/** Every live lane of the current warp contributes `bytes` (≤ 16); `all` receives 32 slots of that size. */
void warp_exchange(const void* mine, size_t bytes, void* all);

float f16_to_f32(unsigned short h);
unsigned short f32_to_f16(float f);

void mma_16816(float d[4], const unsigned a[4], const unsigned b[2], bool isBf16);
void ldmatrix_x4(unsigned r[4], const void* rowPtr, bool trans);
void ldmatrix_x2(unsigned r[2], const void* rowPtr, bool trans);

inline int lane() { return current->linear & 31; }
}  // namespace emu

#define threadIdx (emu::current->tid)
#define blockIdx (emu::block_idx)
#define blockDim (emu::block_dim)
#define gridDim (emu::grid_dim)
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
// Blocks run one at a time, so a function-static variable is exactly one block's shared memory.
#define __shared__ static
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))

inline void __syncthreads() { emu::sync_block(); }
inline void __syncwarp(unsigned = 0xffffffffu) { emu::sync_warp(); }

template <typename T> inline T emu_shfl_from(T v, int src) {
  static_assert(sizeof(T) <= 16, "shuffle of a value wider than 16 bytes");
  T all[32];
  emu::warp_exchange(&v, sizeof(T), all);
  return all[src & 31];
}
template <typename T> inline T __shfl_xor_sync(unsigned, T v, int m, int = 32) { return emu_shfl_from(v, emu::lane() ^ m); }
template <typename T> inline T __shfl_sync(unsigned, T v, int src, int width = 32) {
  return emu_shfl_from(v, (emu::lane() & ~(width - 1)) | (src & (width - 1)));
}
template <typename T> inline T __shfl_down_sync(unsigned, T v, unsigned delta, int width = 32) {
  const int l = emu::lane();
  return emu_shfl_from(v, (l & (width - 1)) + (int)delta < width ? l + (int)delta : l);
}
template <typename T> inline T __shfl_up_sync(unsigned, T v, unsigned delta, int width = 32) {
  const int l = emu::lane();
  return emu_shfl_from(v, (l & (width - 1)) >= (int)delta ? l - (int)delta : l);
}
inline unsigned __ballot_sync(unsigned, int pred) {
  int all[32];
  int mine = pred ? 1 : 0;
  emu::warp_exchange(&mine, sizeof(int), all);
  unsigned m = 0;
  for (int i = 0; i < 32; i++) if (all[i] == 1) m |= 1u << i;
  return m;
}
inline int __any_sync(unsigned mask, int pred) { return __ballot_sync(mask, pred) != 0; }
inline int __all_sync(unsigned mask, int pred) { return __ballot_sync(mask, pred) == __ballot_sync(mask, 1); }

// Fibers switch only at barriers, so read-modify-write is atomic by construction.
template <typename T> inline T atomicAdd(T* p, T v) { T o = *p; *p = o + v; return o; }
inline int atomicExch(int* p, int v) { int o = *p; *p = v; return o; }
inline int atomicMax(int* p, int v) { int o = *p; if (v > o) *p = v; return o; }
inline int atomicMin(int* p, int v) { int o = *p; if (v < o) *p = v; return o; }
inline int atomicCAS(int* p, int cmp, int v) { int o = *p; if (o == cmp) *p = v; return o; }
inline unsigned long long atomicCAS(unsigned long long* p, unsigned long long cmp, unsigned long long v) {
  unsigned long long o = *p; if (o == cmp) *p = v; return o;
}

inline unsigned __float_as_uint(float f) { unsigned u; memcpy(&u, &f, 4); return u; }
inline float __uint_as_float(unsigned u) { float f; memcpy(&f, &u, 4); return f; }
inline int __float_as_int(float f) { int u; memcpy(&u, &f, 4); return u; }
inline float __int_as_float(int u) { float f; memcpy(&f, &u, 4); return f; }
inline long long __double_as_longlong(double d) { long long u; memcpy(&u, &d, 8); return u; }
inline double __longlong_as_double(long long u) { double d; memcpy(&d, &u, 8); return d; }
inline float __expf(float x) { return expf(x); }
inline float __logf(float x) { return logf(x); }
inline float __fdividef(float a, float b) { return a / b; }
inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __saturatef(float x) { return x < 0.0f ? 0.0f : x > 1.0f ? 1.0f : x; }
inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __ffs(int x) { return __builtin_ffs(x); }
inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz((unsigned)x); }
inline int __clzll(long long x) { return x == 0 ? 64 : __builtin_clzll((unsigned long long)x); }
template <typename T> inline T __ldg(const T* p) { return *p; }
template <typename T> inline T __ldcg(const T* p) { return *p; }
// Blocks run one after another, so every write is visible to later blocks without a fence.
inline void __threadfence() {}
inline unsigned __umulhi(unsigned a, unsigned b) { return (unsigned)(((unsigned long long)a * b) >> 32); }
