// A fake libcuda.so.1 for tests on machines without a GPU: the driver-API entry points that
// src/backends/cuda/driver.ts binds, with the real prototypes (cuda.h is included, so a signature mismatch
// fails to compile), host memory for device memory, and kernels run by the fiber emulator.
// Realism where it catches our bugs: guard bytes around every allocation (checked after each launch),
// launch-limit checks, dynamic shared memory above 48 KB only after cuFuncSetAttribute, and functions
// found only if the loaded PTX declares them. Test switches (environment):
//   STILL_EMU_NO_DEVICE=1   cuInit fails with CUDA_ERROR_NO_DEVICE
//   STILL_EMU_REJECT_PTX=1  cuModuleLoadData rejects nvcc's PTX (so the NVRTC fallback runs)
//   STILL_EMU_MEMORY=<MiB>  device memory size (default 1024); allocations beyond fail with OUT_OF_MEMORY
#include <cuda.h>

#include <chrono>
#include <functional>
#include <memory>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "emu.h"
#include "registry.h"

namespace {
constexpr size_t kGuard = 64;
constexpr unsigned char kGuardByte = 0xCD;

struct Allocation { size_t bytes; };
std::map<unsigned char*, Allocation> allocations;  // key: start of the user region
size_t inUse = 0;
bool initialised = false;

struct Module {
  std::set<std::string> entries;
  bool everything;  // an image from the fake NVRTC: it stands for every compiled kernel
};
struct Function {
  std::string name;
  const emu::Kernel* kernel;
  int maxDynamicSmem = 48 * 1024;
};
/** One captured operation, replayed by cuGraphLaunch. */
using Node = std::function<CUresult()>;
struct Stream { bool capturing = false; std::vector<Node> captured; };
struct Graph { std::vector<Node> nodes; };
struct Event { std::chrono::steady_clock::time_point at; };

Stream defaultStream;
std::string lastLaunchError;

size_t memoryLimit() {
  const char* e = getenv("STILL_EMU_MEMORY");
  return (e ? strtoull(e, nullptr, 10) : 1024ull) << 20;
}

CUresult checkGuards() {
  for (auto& [p, a] : allocations) {
    for (size_t i = 0; i < kGuard; i++) {
      if (p[-(long)kGuard + (long)i] != kGuardByte || p[a.bytes + i] != kGuardByte) {
        fprintf(stderr, "emu: a kernel wrote outside a %zu-byte allocation (%s guard, byte %zu)\n", a.bytes,
                p[-(long)kGuard + (long)i] != kGuardByte ? "front" : "back", i);
        return CUDA_ERROR_ILLEGAL_ADDRESS;
      }
    }
  }
  return CUDA_SUCCESS;
}

/** The `.entry name(` lines of a PTX text (or of NVRTC-emulated output, which keeps the same form). */
std::set<std::string> ptxEntries(const char* image) {
  std::set<std::string> out;
  const char* p = image;
  while ((p = strstr(p, ".entry ")) != nullptr) {
    p += 7;
    const char* e = p;
    while (*e && *e != '(' && *e != ' ' && *e != '\n') e++;
    out.insert(std::string(p, e));
    p = e;
  }
  return out;
}

CUresult runLaunch(Function* f, dim3 grid, dim3 block, unsigned smem, void** params) {
  if (block.x * block.y * block.z == 0 || block.x * block.y * block.z > 1024 || block.z > 64) return CUDA_ERROR_INVALID_VALUE;
  if (grid.x == 0 || grid.y == 0 || grid.z == 0 || grid.y > 65535 || grid.z > 65535) return CUDA_ERROR_INVALID_VALUE;
  if ((int)smem > f->maxDynamicSmem) {
    fprintf(stderr, "emu: %s asks for %u bytes of dynamic shared memory; the limit set is %d\n", f->name.c_str(), smem,
            f->maxDynamicSmem);
    return CUDA_ERROR_INVALID_VALUE;
  }
  if (!emu::run_grid(f->kernel->call, params, grid, block, smem, lastLaunchError)) {
    fprintf(stderr, "emu: %s: %s\n", f->name.c_str(), lastLaunchError.c_str());
    return CUDA_ERROR_LAUNCH_FAILED;
  }
  return checkGuards();
}

Stream* streamOf(CUstream s) { return s ? reinterpret_cast<Stream*>(s) : &defaultStream; }

/** Device-side work: recorded while the stream captures a graph, else done now. */
CUresult runOrRecord(CUstream s, Node node) {
  Stream* st = streamOf(s);
  if (st->capturing) {
    st->captured.push_back(std::move(node));
    return CUDA_SUCCESS;
  }
  return node();
}

/** Host-synchronous work is not capturable (as in CUDA, where it would also invalidate the capture). */
bool capturing(CUstream s) { return streamOf(s)->capturing; }
}  // namespace

extern "C" {
CUresult cuInit(unsigned int) {
  if (getenv("STILL_EMU_NO_DEVICE")) return CUDA_ERROR_NO_DEVICE;
  initialised = true;
  return CUDA_SUCCESS;
}
CUresult cuDriverGetVersion(int* v) { *v = 13000; return CUDA_SUCCESS; }
CUresult cuDeviceGetCount(int* n) { *n = initialised ? 1 : 0; return initialised ? CUDA_SUCCESS : CUDA_ERROR_NOT_INITIALIZED; }
CUresult cuDeviceGet(CUdevice* d, int ordinal) {
  if (!initialised) return CUDA_ERROR_NOT_INITIALIZED;
  if (ordinal != 0) return CUDA_ERROR_INVALID_DEVICE;
  *d = 0;
  return CUDA_SUCCESS;
}
CUresult cuDeviceGetName(char* name, int len, CUdevice) {
  snprintf(name, len, "Emulated CUDA device (CPU fibers)");
  return CUDA_SUCCESS;
}
CUresult cuDeviceGetAttribute(int* v, CUdevice_attribute a, CUdevice) {
  switch (a) {
    case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR: *v = 9; break;
    case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR: *v = 0; break;
    case CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT: *v = 4; break;
    case CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN: *v = 227 * 1024; break;
    default: return CUDA_ERROR_INVALID_VALUE;
  }
  return CUDA_SUCCESS;
}
CUresult cuDeviceTotalMem_v2(size_t* bytes, CUdevice) { *bytes = memoryLimit(); return CUDA_SUCCESS; }
CUresult cuDevicePrimaryCtxRetain(CUcontext* ctx, CUdevice) {
  static int token;
  *ctx = reinterpret_cast<CUcontext>(&token);
  return CUDA_SUCCESS;
}
CUresult cuCtxSetCurrent(CUcontext) { return CUDA_SUCCESS; }
CUresult cuCtxSynchronize(void) { return CUDA_SUCCESS; }

CUresult cuMemAlloc_v2(CUdeviceptr* out, size_t bytes) {
  if (bytes == 0) return CUDA_ERROR_INVALID_VALUE;
  if (inUse + bytes > memoryLimit()) return CUDA_ERROR_OUT_OF_MEMORY;
  auto* raw = static_cast<unsigned char*>(malloc(bytes + 2 * kGuard));
  if (!raw) return CUDA_ERROR_OUT_OF_MEMORY;
  memset(raw, kGuardByte, kGuard);
  memset(raw + kGuard + bytes, kGuardByte, kGuard);
  memset(raw + kGuard, 0xEE, bytes);  // like fresh device memory: not zero
  allocations[raw + kGuard] = {bytes};
  inUse += bytes;
  *out = reinterpret_cast<CUdeviceptr>(raw + kGuard);
  return CUDA_SUCCESS;
}
CUresult cuMemFree_v2(CUdeviceptr p) {
  auto it = allocations.find(reinterpret_cast<unsigned char*>(p));
  if (it == allocations.end()) return CUDA_ERROR_INVALID_VALUE;
  inUse -= it->second.bytes;
  free(it->first - kGuard);
  allocations.erase(it);
  return CUDA_SUCCESS;
}
CUresult cuMemGetInfo_v2(size_t* freeBytes, size_t* total) {
  *total = memoryLimit();
  *freeBytes = *total - inUse;
  return CUDA_SUCCESS;
}
// Copies from and to pageable host memory (all ours are) are refused while capturing.
CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dst, const void* src, size_t n, CUstream s) {
  if (capturing(s)) return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
  memcpy(reinterpret_cast<void*>(dst), src, n);
  return checkGuards();
}
CUresult cuMemcpyDtoHAsync_v2(void* dst, CUdeviceptr src, size_t n, CUstream s) {
  if (capturing(s)) return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
  memcpy(dst, reinterpret_cast<void*>(src), n);
  return CUDA_SUCCESS;
}
CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr dst, CUdeviceptr src, size_t n, CUstream s) {
  return runOrRecord(s, [=] {
    memmove(reinterpret_cast<void*>(dst), reinterpret_cast<void*>(src), n);
    return checkGuards();
  });
}
CUresult cuMemsetD8Async(CUdeviceptr dst, unsigned char v, size_t n, CUstream s) {
  return runOrRecord(s, [=] {
    memset(reinterpret_cast<void*>(dst), v, n);
    return checkGuards();
  });
}
CUresult cuMemsetD16Async(CUdeviceptr dst, unsigned short v, size_t n, CUstream s) {
  return runOrRecord(s, [=] {
    auto* p = reinterpret_cast<unsigned short*>(dst);
    for (size_t i = 0; i < n; i++) p[i] = v;
    return checkGuards();
  });
}
CUresult cuMemsetD32Async(CUdeviceptr dst, unsigned int v, size_t n, CUstream s) {
  return runOrRecord(s, [=] {
    auto* p = reinterpret_cast<unsigned int*>(dst);
    for (size_t i = 0; i < n; i++) p[i] = v;
    return checkGuards();
  });
}

CUresult cuModuleLoadData(CUmodule* mod, const void* image) {
  const char* text = static_cast<const char*>(image);
  const bool fromNvrtc = strncmp(text, "// emu-nvrtc", 12) == 0;
  if (getenv("STILL_EMU_REJECT_PTX") && !fromNvrtc) return CUDA_ERROR_UNSUPPORTED_PTX_VERSION;
  if (!fromNvrtc && !strstr(text, ".entry ")) return CUDA_ERROR_INVALID_PTX;
  *mod = reinterpret_cast<CUmodule>(new Module{ptxEntries(text), fromNvrtc});
  return CUDA_SUCCESS;
}
CUresult cuModuleUnload(CUmodule m) {
  delete reinterpret_cast<Module*>(m);
  return CUDA_SUCCESS;
}
CUresult cuModuleGetFunction(CUfunction* f, CUmodule m, const char* name) {
  auto* mod = reinterpret_cast<Module*>(m);
  if (!mod->everything && !mod->entries.count(name)) return CUDA_ERROR_NOT_FOUND;
  auto it = emu::registry().find(name);
  if (it == emu::registry().end()) {
    fprintf(stderr, "emu: PTX declares %s but the emulator build has no such kernel\n", name);
    return CUDA_ERROR_NOT_FOUND;
  }
  *f = reinterpret_cast<CUfunction>(new Function{name, &it->second});
  return CUDA_SUCCESS;
}
CUresult cuFuncSetAttribute(CUfunction f, CUfunction_attribute a, int v) {
  if (a != CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES) return CUDA_ERROR_INVALID_VALUE;
  if (v > 227 * 1024) return CUDA_ERROR_INVALID_VALUE;
  reinterpret_cast<Function*>(f)->maxDynamicSmem = v;
  return CUDA_SUCCESS;
}

CUresult cuLaunchKernel(CUfunction fn, unsigned int gx, unsigned int gy, unsigned int gz, unsigned int bx, unsigned int by,
                        unsigned int bz, unsigned int smem, CUstream s, void** params, void** extra) {
  if (extra) return CUDA_ERROR_INVALID_VALUE;
  auto* f = reinterpret_cast<Function*>(fn);
  if (!capturing(s)) return runLaunch(f, {gx, gy, gz}, {bx, by, bz}, smem, params);
  // Graph capture copies the argument bytes now, as the driver does.
  auto args = std::make_shared<std::vector<std::vector<unsigned char>>>();
  const auto& sizes = f->kernel->argBytes;
  for (size_t i = 0; i < sizes.size(); i++) {
    auto* p = static_cast<unsigned char*>(params[i]);
    args->emplace_back(p, p + sizes[i]);
  }
  const dim3 grid{gx, gy, gz}, block{bx, by, bz};
  return runOrRecord(s, [=] {
    std::vector<void*> ptrs;
    for (auto& a : *args) ptrs.push_back(a.data());
    return runLaunch(f, grid, block, smem, ptrs.data());
  });
}

CUresult cuStreamCreate(CUstream* s, unsigned int) { *s = reinterpret_cast<CUstream>(new Stream()); return CUDA_SUCCESS; }
CUresult cuStreamDestroy_v2(CUstream s) { delete reinterpret_cast<Stream*>(s); return CUDA_SUCCESS; }
CUresult cuStreamSynchronize(CUstream s) { return capturing(s) ? CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED : CUDA_SUCCESS; }
CUresult cuEventCreate(CUevent* e, unsigned int) { *e = reinterpret_cast<CUevent>(new Event()); return CUDA_SUCCESS; }
CUresult cuEventDestroy_v2(CUevent e) { delete reinterpret_cast<Event*>(e); return CUDA_SUCCESS; }
CUresult cuEventRecord(CUevent e, CUstream) { reinterpret_cast<Event*>(e)->at = std::chrono::steady_clock::now(); return CUDA_SUCCESS; }
CUresult cuEventSynchronize(CUevent) { return CUDA_SUCCESS; }
CUresult cuEventElapsedTime_v2(float* ms, CUevent a, CUevent b) {
  *ms = std::chrono::duration<float, std::milli>(reinterpret_cast<Event*>(b)->at - reinterpret_cast<Event*>(a)->at).count();
  return CUDA_SUCCESS;
}

CUresult cuStreamBeginCapture_v2(CUstream s, CUstreamCaptureMode) {
  if (!s) return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
  Stream* st = streamOf(s);
  st->capturing = true;
  st->captured.clear();
  return CUDA_SUCCESS;
}
CUresult cuStreamEndCapture(CUstream s, CUgraph* g) {
  Stream* st = streamOf(s);
  if (!st->capturing) return CUDA_ERROR_ILLEGAL_STATE;
  st->capturing = false;
  *g = reinterpret_cast<CUgraph>(new Graph{std::move(st->captured)});
  return CUDA_SUCCESS;
}
CUresult cuGraphInstantiateWithFlags(CUgraphExec* e, CUgraph g, unsigned long long) {
  *e = reinterpret_cast<CUgraphExec>(new Graph(*reinterpret_cast<Graph*>(g)));
  return CUDA_SUCCESS;
}
CUresult cuGraphLaunch(CUgraphExec e, CUstream) {
  for (Node& n : reinterpret_cast<Graph*>(e)->nodes) {
    const CUresult r = n();
    if (r != CUDA_SUCCESS) return r;
  }
  return CUDA_SUCCESS;
}
/**
 * For the fake cuBLASLt (cublaslt.cpp, which finds this through dlopen by soname): run its GEMM now, or record
 * it into the graph the stream is capturing, like a kernel launch. Takes ownership of `work`.
 */
int still_emu_submit(CUstream s, std::function<int()>* work) {
  std::function<int()> w = std::move(*work);
  delete work;
  return runOrRecord(s, [w] { return static_cast<CUresult>(w()); });
}

CUresult cuGraphExecDestroy(CUgraphExec e) { delete reinterpret_cast<Graph*>(e); return CUDA_SUCCESS; }
CUresult cuGraphDestroy(CUgraph g) { delete reinterpret_cast<Graph*>(g); return CUDA_SUCCESS; }

CUresult cuGetErrorName(CUresult e, const char** s) {
  switch (e) {
    case CUDA_SUCCESS: *s = "CUDA_SUCCESS"; break;
    case CUDA_ERROR_INVALID_VALUE: *s = "CUDA_ERROR_INVALID_VALUE"; break;
    case CUDA_ERROR_OUT_OF_MEMORY: *s = "CUDA_ERROR_OUT_OF_MEMORY"; break;
    case CUDA_ERROR_NOT_INITIALIZED: *s = "CUDA_ERROR_NOT_INITIALIZED"; break;
    case CUDA_ERROR_NO_DEVICE: *s = "CUDA_ERROR_NO_DEVICE"; break;
    case CUDA_ERROR_INVALID_PTX: *s = "CUDA_ERROR_INVALID_PTX"; break;
    case CUDA_ERROR_UNSUPPORTED_PTX_VERSION: *s = "CUDA_ERROR_UNSUPPORTED_PTX_VERSION"; break;
    case CUDA_ERROR_NOT_FOUND: *s = "CUDA_ERROR_NOT_FOUND"; break;
    case CUDA_ERROR_ILLEGAL_ADDRESS: *s = "CUDA_ERROR_ILLEGAL_ADDRESS"; break;
    case CUDA_ERROR_LAUNCH_FAILED: *s = "CUDA_ERROR_LAUNCH_FAILED"; break;
    case CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED: *s = "CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED"; break;
    default: *s = nullptr; return CUDA_ERROR_INVALID_VALUE;
  }
  return CUDA_SUCCESS;
}
CUresult cuGetErrorString(CUresult e, const char** s) {
  switch (e) {
    case CUDA_ERROR_NO_DEVICE: *s = "no CUDA-capable device is detected"; break;
    case CUDA_ERROR_OUT_OF_MEMORY: *s = "out of memory"; break;
    case CUDA_ERROR_ILLEGAL_ADDRESS: *s = "an illegal memory access was encountered"; break;
    case CUDA_ERROR_UNSUPPORTED_PTX_VERSION: *s = "the provided PTX was compiled with an unsupported toolchain."; break;
    case CUDA_ERROR_LAUNCH_FAILED: *s = "unspecified launch failure"; break;
    case CUDA_ERROR_NOT_FOUND: *s = "named symbol not found"; break;
    case CUDA_ERROR_INVALID_VALUE: *s = "invalid argument"; break;
    default: *s = nullptr; return CUDA_ERROR_INVALID_VALUE;
  }
  return CUDA_SUCCESS;
}
}  // extern "C"
