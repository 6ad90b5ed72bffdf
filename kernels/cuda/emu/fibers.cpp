// The emulator's thread model: one block at a time, its threads as fibers on one OS thread.
// A fiber runs until it reaches a barrier (__syncthreads, or a warp-level exchange), so kernels that forget
// a barrier read stale shared memory here too. Warp intrinsics (shuffles, ldmatrix, mma) exchange values
// through a per-warp buffer between two warp barriers.
#include <ucontext.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "emu.h"
#include "registry.h"

// On x86-64 a fiber switch is a few register moves; glibc's swapcontext also saves the signal mask with a
// system call each time, which made the tests spend most of their time in the kernel.
#if defined(__x86_64__)
extern "C" void still_emu_switch(void** saveSp, void* loadSp);
asm(R"(
  .text
  .globl still_emu_switch
  .type still_emu_switch,@function
still_emu_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $8, %rsp
  stmxcsr (%rsp)
  fnstcw 4(%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  ldmxcsr (%rsp)
  fldcw 4(%rsp)
  addq $8, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size still_emu_switch, .-still_emu_switch
)");
#define STILL_EMU_FAST_SWITCH 1
#endif

namespace emu {
Lane* current = nullptr;
uint3 block_idx;
dim3 block_dim, grid_dim;

std::map<std::string, Kernel>& registry() {
  static std::map<std::string, Kernel> r;
  return r;
}

namespace {
constexpr size_t kStack = 512 * 1024;

struct Fiber {
  ucontext_t ctx;
  void* sp = nullptr;  // saved stack pointer (fast switch)
  Lane lane;
  bool done = false;
  bool waitBlock = false;
  bool waitWarp = false;
  char* stack = nullptr;
};

ucontext_t scheduler;
void* schedulerSp = nullptr;
std::vector<Fiber> fibers;
Fiber* running = nullptr;
int aliveBlock = 0, arrivedBlock = 0;
int aliveWarp[32], arrivedWarp[32];
alignas(16) unsigned char exchange[32][32][16];
std::vector<unsigned char> dynamicSmem;
const Call* kernel = nullptr;
void** kernelParams = nullptr;

void yield() {
#ifdef STILL_EMU_FAST_SWITCH
  still_emu_switch(&running->sp, schedulerSp);
#else
  swapcontext(&running->ctx, &scheduler);
#endif
}

void releaseBlock() {
  for (Fiber& f : fibers) f.waitBlock = false;
  arrivedBlock = 0;
}

void releaseWarp(int w) {
  for (size_t i = (size_t)w * 32; i < fibers.size() && i < (size_t)w * 32 + 32; i++) fibers[i].waitWarp = false;
  arrivedWarp[w] = 0;
}

void entry() {
  (*kernel)(kernelParams);
  Fiber& f = *running;
  f.done = true;
  const int w = f.lane.linear / 32;
  aliveBlock--;
  aliveWarp[w]--;
  // Threads that exit no longer take part in barriers (as on the GPU since Volta).
  if (arrivedBlock > 0 && arrivedBlock == aliveBlock) releaseBlock();
  if (arrivedWarp[w] > 0 && arrivedWarp[w] == aliveWarp[w]) releaseWarp(w);
}

#ifdef STILL_EMU_FAST_SWITCH
/** A new fiber's first instructions: run the kernel, then hand control back for good. */
void trampoline() {
  entry();
  still_emu_switch(&running->sp, schedulerSp);
  __builtin_unreachable();
}

/** Lay out a stack so that the first switch to it "returns" into trampoline with the ABI's alignment. */
void* initialStack(char* stack, size_t size) {
  auto top = reinterpret_cast<uintptr_t>(stack + size) & ~uintptr_t(15);
  auto* sp = reinterpret_cast<uint64_t*>(top - 8 - 64);  // ≡ 8 (mod 16): after the pops and ret, rsp ≡ 8 as after a call
  uint32_t csr[2] = {0, 0};
  asm volatile("stmxcsr %0" : "=m"(csr[0]));
  asm volatile("fnstcw %0" : "=m"(csr[1]));
  memcpy(sp, csr, 8);                               // mxcsr, x87 control word
  for (int i = 1; i <= 6; i++) sp[i] = 0;           // r15, r14, r13, r12, rbx, rbp
  sp[7] = reinterpret_cast<uint64_t>(&trampoline);  // return address
  return sp;
}
#endif
}  // namespace

void sync_block() {
  running->waitBlock = true;
  if (++arrivedBlock == aliveBlock) releaseBlock();
  else yield();
}

void sync_warp() {
  const int w = running->lane.linear / 32;
  running->waitWarp = true;
  if (++arrivedWarp[w] == aliveWarp[w]) releaseWarp(w);
  else yield();
}

unsigned char* dynamic_smem() { return dynamicSmem.data(); }

void warp_exchange(const void* mine, size_t bytes, void* all) {
  const int w = running->lane.linear / 32, l = running->lane.linear % 32;
  memcpy(exchange[w][l], mine, bytes);
  sync_warp();
  for (int i = 0; i < 32; i++) memcpy(static_cast<unsigned char*>(all) + i * bytes, exchange[w][i], bytes);
  sync_warp();  // nobody may overwrite the buffer before every lane has read it
}

float f16_to_f32(unsigned short h) {
  const unsigned sign = (h & 0x8000u) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
  unsigned bits;
  if (exp == 0x1f) bits = sign | 0x7f800000u | (mant << 13);
  else if (exp != 0) bits = sign | ((exp - 15 + 127) << 23) | (mant << 13);
  else if (mant == 0) bits = sign;
  else {
    unsigned m = mant;
    int e = -14;
    while ((m & 0x400) == 0) { m <<= 1; e--; }
    bits = sign | ((unsigned)(e + 127) << 23) | ((m & 0x3ff) << 13);
  }
  return __uint_as_float(bits);
}

unsigned short f32_to_f16(float f) {
  const unsigned bits = __float_as_uint(f);
  const unsigned sign = (bits >> 16) & 0x8000u, exp = (bits >> 23) & 0xff, mant = bits & 0x7fffff;
  if (exp == 0xff) return (unsigned short)(mant == 0 ? sign | 0x7c00u : sign | 0x7e00u | (mant >> 13));
  const int e = (int)exp - 127 + 15;
  if (e >= 0x1f) return (unsigned short)(sign | 0x7c00u);
  if (e <= 0) {
    if (e < -10) return (unsigned short)sign;
    const unsigned m = mant | 0x800000u;
    const int shift = 14 - e;
    unsigned half = m >> shift;
    const unsigned rem = m & ((1u << shift) - 1), halfway = 1u << (shift - 1);
    if (rem > halfway || (rem == halfway && (half & 1))) half++;
    return (unsigned short)(sign | half);
  }
  unsigned half = ((unsigned)e << 10) | (mant >> 13);
  const unsigned rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem == 0x1000 && (half & 1))) half++;
  return (unsigned short)(sign | half);
}

static float half_value(unsigned short h, bool isBf16) {
  return isBf16 ? __uint_as_float((unsigned)h << 16) : f16_to_f32(h);
}

void mma_16816(float d[4], const unsigned a[4], const unsigned b[2], bool isBf16) {
  // Gather every lane's fragments, rebuild A and B, then compute this lane's four outputs.
  unsigned aa[32][4], bb[32][2];
  warp_exchange(a, 16, aa);
  warp_exchange(b, 8, bb);
  float A[16][16], B[16][8];
  for (int l = 0; l < 32; l++) {
    const int g = l / 4, t = l % 4;
    auto lo = [&](unsigned r) { return half_value((unsigned short)(r & 0xffff), isBf16); };
    auto hi = [&](unsigned r) { return half_value((unsigned short)(r >> 16), isBf16); };
    A[g][2 * t] = lo(aa[l][0]);         A[g][2 * t + 1] = hi(aa[l][0]);
    A[g + 8][2 * t] = lo(aa[l][1]);     A[g + 8][2 * t + 1] = hi(aa[l][1]);
    A[g][2 * t + 8] = lo(aa[l][2]);     A[g][2 * t + 9] = hi(aa[l][2]);
    A[g + 8][2 * t + 8] = lo(aa[l][3]); A[g + 8][2 * t + 9] = hi(aa[l][3]);
    B[2 * t][g] = lo(bb[l][0]);         B[2 * t + 1][g] = hi(bb[l][0]);
    B[2 * t + 8][g] = lo(bb[l][1]);     B[2 * t + 9][g] = hi(bb[l][1]);
  }
  const int l = lane(), g = l / 4, t = l % 4;
  const int rows[4] = {g, g, g + 8, g + 8}, cols[4] = {2 * t, 2 * t + 1, 2 * t, 2 * t + 1};
  for (int i = 0; i < 4; i++) {
    float s = 0.0f;
    for (int k = 0; k < 16; k++) s += A[rows[i]][k] * B[k][cols[i]];
    d[i] += s;
  }
}

static unsigned read_b16_pair(const unsigned char* lo, const unsigned char* hi) {
  unsigned short a, b;
  memcpy(&a, lo, 2);
  memcpy(&b, hi, 2);
  return (unsigned)a | ((unsigned)b << 16);
}

static void ldmatrix(unsigned* r, int count, const void* rowPtr, bool trans) {
  const unsigned char* rows[32];
  warp_exchange(&rowPtr, sizeof(void*), rows);
  const int l = lane();
  for (int i = 0; i < count; i++) {
    const unsigned char* const* m = rows + 8 * i;  // the 8 row addresses of matrix i
    if (!trans) {
      const unsigned char* p = m[l / 4] + (l % 4) * 4;
      r[i] = read_b16_pair(p, p + 2);
    } else {
      r[i] = read_b16_pair(m[2 * (l % 4)] + (l / 4) * 2, m[2 * (l % 4) + 1] + (l / 4) * 2);
    }
  }
}

void ldmatrix_x4(unsigned r[4], const void* rowPtr, bool trans) { ldmatrix(r, 4, rowPtr, trans); }
void ldmatrix_x2(unsigned r[2], const void* rowPtr, bool trans) { ldmatrix(r, 2, rowPtr, trans); }

bool run_grid(const Call& k, void** params, dim3 grid, dim3 block, size_t dynamicBytes, std::string& error) {
  const int n = (int)(block.x * block.y * block.z);
  kernel = &k;
  kernelParams = params;
  block_dim = block;
  grid_dim = grid;
  dynamicSmem.assign(dynamicBytes + 16, 0xA5);  // garbage, like uninitialised shared memory
  if (fibers.size() < (size_t)n) fibers.resize(n);
  for (int i = 0; i < n; i++) {
    if (!fibers[i].stack) fibers[i].stack = static_cast<char*>(malloc(kStack));
  }
  // STILL_EMU_REVERSE=1 runs fibers last-to-first: a kernel whose result changes with the order has a race.
  const bool reverse = getenv("STILL_EMU_REVERSE") != nullptr;
  for (unsigned bz = 0; bz < grid.z; bz++)
    for (unsigned by = 0; by < grid.y; by++)
      for (unsigned bx = 0; bx < grid.x; bx++) {
        block_idx = {bx, by, bz};
        aliveBlock = n;
        arrivedBlock = 0;
        for (int w = 0; w < 32; w++) {
          aliveWarp[w] = n - w * 32 >= 32 ? 32 : n - w * 32 > 0 ? n - w * 32 : 0;
          arrivedWarp[w] = 0;
        }
        for (int i = 0; i < n; i++) {
          Fiber& f = fibers[i];
          f.done = f.waitBlock = f.waitWarp = false;
          f.lane.linear = i;
          f.lane.tid = {(unsigned)i % block.x, ((unsigned)i / block.x) % block.y, (unsigned)i / (block.x * block.y)};
#ifdef STILL_EMU_FAST_SWITCH
          f.sp = initialStack(f.stack, kStack);
#else
          getcontext(&f.ctx);
          f.ctx.uc_stack.ss_sp = f.stack;
          f.ctx.uc_stack.ss_size = kStack;
          f.ctx.uc_link = &scheduler;
          makecontext(&f.ctx, entry, 0);
#endif
        }
        for (;;) {
          bool anyLeft = false, ran = false;
          for (int j = 0; j < n; j++) {
            Fiber& f = fibers[reverse ? n - 1 - j : j];
            if (f.done) continue;
            anyLeft = true;
            if (f.waitBlock || f.waitWarp) continue;
            running = &f;
            current = &f.lane;
#ifdef STILL_EMU_FAST_SWITCH
            still_emu_switch(&schedulerSp, f.sp);
#else
            swapcontext(&scheduler, &f.ctx);
#endif
            ran = true;
          }
          if (!anyLeft) break;
          if (!ran) {
            char buf[200];
            snprintf(buf, sizeof buf, "barrier deadlock in block (%u,%u,%u): threads wait at different barriers",
                     bx, by, bz);
            error = buf;
            return false;
          }
        }
      }
  return true;
}
}  // namespace emu
