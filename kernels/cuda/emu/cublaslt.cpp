// A fake libcublasLt.so.13 for the emulator: the handful of cuBLASLt calls src/backends/cuda/cublaslt.ts
// makes, with cuBLASLt's column-major semantics (D = α·op(A)·op(B) + β·C, strided batches) done naively in
// f32. It checks what cuBLASLt checks (layout shapes against the transposes, attribute sizes), so a wrong
// row-major ↔ column-major mapping on our side fails here before it reaches a GPU. Like the real library it
// works in stream order: while the stream captures a graph, the GEMM is recorded (through the fake libcuda)
// and runs at each replay, on whatever the pointers then hold. bf16 and f16 results are rounded to nearest
// even, as the GPU's conversions do. STILL_EMU_CUBLASLT_FAIL=1 makes every cublasLtMatmul return
// NOT_SUPPORTED, for the tests of the backend's fallback to its own GEMM kernel.
#include <dlfcn.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <functional>

namespace {
typedef int Status;
constexpr Status OK = 0, INVALID_VALUE = 7, NOT_SUPPORTED = 15;
constexpr int R_32F = 0, R_16F = 2, R_16BF = 14;

struct Desc { int compute, scale, transa = 0, transb = 0; };
struct Layout { int type; uint64_t rows, cols; int64_t ld; int order = 0; int batch = 1; int64_t stride = 0; };
struct Pref { uint64_t workspace = 0; };
struct Algo { uint64_t data[8]; };
struct Result { Algo algo; size_t workspaceSize; Status state; float wavesCount; int reserved[4]; };
constexpr uint64_t kAlgoMark = 0x5ea5e;

float f16(uint16_t h) {
  const uint32_t sign = (h & 0x8000u) << 16, e = (h >> 10) & 0x1f, m = h & 0x3ff;
  uint32_t bits = e == 0x1f ? sign | 0x7f800000u | (m << 13) : e ? sign | ((e + 112) << 23) | (m << 13) : sign;
  if (e == 0 && m) {  // subnormal
    float v = (float)m / 1024.0f / 16384.0f;
    return sign ? -v : v;
  }
  float f;
  memcpy(&f, &bits, 4);
  return f;
}

float read(const void* p, int type, int64_t i) {
  if (type == R_32F) return static_cast<const float*>(p)[i];
  const uint16_t h = static_cast<const uint16_t*>(p)[i];
  if (type == R_16F) return f16(h);
  uint32_t bits = (uint32_t)h << 16;
  float f;
  memcpy(&f, &bits, 4);
  return f;
}

/** f32 → f16 bits, rounded to nearest even like __float2half_rn (overflow to ±inf, subnormals kept). */
uint16_t toF16(float v) {
  uint32_t x;
  memcpy(&x, &v, 4);
  const uint32_t sign = (x >> 16) & 0x8000u, a = x & 0x7fffffffu;
  if (a > 0x7f800000u) return (uint16_t)(sign | 0x7e00u);   // NaN
  if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u);  // ≥ 65520 rounds to inf
  if (a < 0x38800000u) {                                    // below 2^-14: a multiple of 2^-24
    float f;
    memcpy(&f, &a, 4);
    return (uint16_t)(sign | (uint32_t)lrintf(f * 16777216.0f));  // lrintf rounds half to even
  }
  uint32_t h = ((((a >> 23) - 112) << 10) | ((a >> 13) & 0x3ffu));
  const uint32_t rest = a & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) h++;  // a carry into the exponent is still right
  return (uint16_t)(sign | h);
}

void write(void* p, int type, int64_t i, float v) {
  if (type == R_32F) { static_cast<float*>(p)[i] = v; return; }
  if (type == R_16F) { static_cast<uint16_t*>(p)[i] = toF16(v); return; }
  uint32_t u;
  memcpy(&u, &v, 4);
  static_cast<uint16_t*>(p)[i] = (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

bool validType(int t) { return t == R_32F || t == R_16F || t == R_16BF; }

/** The fake libcuda's still_emu_submit (run now or record into a capturing stream), or null without it. */
using Submit = int (*)(void* stream, std::function<int()>* work);
Submit submitter() {
  static const Submit fn = [] {
    void* lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD);
    return lib ? reinterpret_cast<Submit>(dlsym(lib, "still_emu_submit")) : nullptr;
  }();
  return fn;
}
}  // namespace

extern "C" {
Status cublasLtCreate(void** h) { static int token; *h = &token; return OK; }
Status cublasLtDestroy(void*) { return OK; }
size_t cublasLtGetVersion() { return 130100; }
const char* cublasLtGetStatusName(Status s) {
  switch (s) {
    case OK: return "CUBLAS_STATUS_SUCCESS";
    case INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    default: return "CUBLAS_STATUS_UNKNOWN";
  }
}
const char* cublasLtGetStatusString(Status s) {
  return s == INVALID_VALUE ? "an invalid value was used as an argument" : s == NOT_SUPPORTED ? "the functionality requested is not supported" : "unknown";
}

Status cublasLtMatmulDescCreate(Desc** d, int compute, int scale) {
  if (compute != 68 && compute != 77) return INVALID_VALUE;  // CUBLAS_COMPUTE_32F, _32F_FAST_TF32
  if (scale != R_32F) return INVALID_VALUE;
  *d = new Desc{compute, scale};
  return OK;
}
Status cublasLtMatmulDescDestroy(Desc* d) { delete d; return OK; }
Status cublasLtMatmulDescSetAttribute(Desc* d, int attr, const void* buf, size_t size) {
  if (size != 4) return INVALID_VALUE;
  int v;
  memcpy(&v, buf, 4);
  if (attr == 3) d->transa = v;
  else if (attr == 4) d->transb = v;
  else return NOT_SUPPORTED;
  return v == 0 || v == 1 ? OK : INVALID_VALUE;
}

Status cublasLtMatrixLayoutCreate(Layout** l, int type, uint64_t rows, uint64_t cols, int64_t ld) {
  if (!validType(type) || ld < (int64_t)rows) return INVALID_VALUE;
  *l = new Layout{type, rows, cols, ld};
  return OK;
}
Status cublasLtMatrixLayoutDestroy(Layout* l) { delete l; return OK; }
Status cublasLtMatrixLayoutSetAttribute(Layout* l, int attr, const void* buf, size_t size) {
  if (attr == 1 && size == 4) memcpy(&l->order, buf, 4);
  else if (attr == 5 && size == 4) memcpy(&l->batch, buf, 4);
  else if (attr == 6 && size == 8) memcpy(&l->stride, buf, 8);
  else return INVALID_VALUE;
  return l->order == 0 ? OK : NOT_SUPPORTED;
}

Status cublasLtMatmulPreferenceCreate(Pref** p) { *p = new Pref(); return OK; }
Status cublasLtMatmulPreferenceDestroy(Pref* p) { delete p; return OK; }
Status cublasLtMatmulPreferenceSetAttribute(Pref* p, int attr, const void* buf, size_t size) {
  if (attr == 1 && size == 8) {  // MAX_WORKSPACE_BYTES, uint64
    memcpy(&p->workspace, buf, 8);
    return OK;
  }
  if (attr >= 5 && attr <= 8 && size == 4) return OK;  // MIN_ALIGNMENT_{A,B,C,D}_BYTES, uint32
  return INVALID_VALUE;
}

static Status checkShapes(const Desc* d, const Layout* a, const Layout* b, const Layout* c, const Layout* dd) {
  const uint64_t m = d->transa ? a->cols : a->rows, k = d->transa ? a->rows : a->cols;
  const uint64_t kb = d->transb ? b->cols : b->rows, n = d->transb ? b->rows : b->cols;
  if (k != kb || c->rows != m || c->cols != n || dd->rows != m || dd->cols != n) {
    fprintf(stderr, "emu cublasLt: op(A) %llux%llu, op(B) %llux%llu, C %llux%llu do not chain\n", (unsigned long long)m,
            (unsigned long long)k, (unsigned long long)kb, (unsigned long long)n, (unsigned long long)c->rows,
            (unsigned long long)c->cols);
    return INVALID_VALUE;
  }
  if (a->type != b->type || c->type != dd->type) return INVALID_VALUE;
  if (a->batch != b->batch || a->batch != c->batch || a->batch != dd->batch) return INVALID_VALUE;
  return OK;
}

Status cublasLtMatmulAlgoGetHeuristic(void*, Desc* d, Layout* a, Layout* b, Layout* c, Layout* dd, Pref*, int requested,
                                      Result* results, int* returned) {
  if (requested < 1) return INVALID_VALUE;
  const Status s = checkShapes(d, a, b, c, dd);
  if (s != OK) return s;
  memset(results, 0, sizeof(Result));
  results[0].algo.data[0] = kAlgoMark;
  results[0].wavesCount = 1.0f;
  *returned = 1;
  return OK;
}

Status cublasLtMatmul(void*, Desc* d, const void* alpha, const void* A, Layout* a, const void* B, Layout* b,
                      const void* beta, const void* C, Layout* c, void* D, Layout* dd, const Algo* algo, void*, size_t,
                      void* stream) {
  if (algo && algo->data[0] != kAlgoMark) return INVALID_VALUE;
  if (getenv("STILL_EMU_CUBLASLT_FAIL")) return NOT_SUPPORTED;  // tests: a cuBLASLt that refuses every GEMM
  const Status s = checkShapes(d, a, b, c, dd);
  if (s != OK) return s;
  float al, be;
  memcpy(&al, alpha, 4);
  memcpy(&be, beta, 4);
  // Everything by value: descriptors may be destroyed before a captured graph replays.
  const Desc dv = *d;
  const Layout av = *a, bv = *b, cv = *c, ddv = *dd;
  auto gemm = [=]() -> int {
    const uint64_t m = ddv.rows, n = ddv.cols, k = dv.transa ? av.rows : av.cols;
    for (int bi = 0; bi < av.batch; bi++) {
      for (uint64_t i = 0; i < m; i++) {
        for (uint64_t j = 0; j < n; j++) {
          float acc = 0.0f;
          for (uint64_t p = 0; p < k; p++) {
            const int64_t ia = dv.transa ? (int64_t)(p + i * av.ld) : (int64_t)(i + p * av.ld);
            const int64_t ib = dv.transb ? (int64_t)(j + p * bv.ld) : (int64_t)(p + j * bv.ld);
            acc += read(A, av.type, bi * av.stride + ia) * read(B, bv.type, bi * bv.stride + ib);
          }
          const float prev = be != 0.0f ? read(C, cv.type, bi * cv.stride + (int64_t)(i + j * cv.ld)) : 0.0f;
          write(D, ddv.type, bi * ddv.stride + (int64_t)(i + j * ddv.ld), al * acc + be * prev);
        }
      }
    }
    return 0;
  };
  if (const Submit submit = submitter()) return submit(stream, new std::function<int()>(gemm)) == 0 ? OK : INVALID_VALUE;
  return gemm();
}
}  // extern "C"
