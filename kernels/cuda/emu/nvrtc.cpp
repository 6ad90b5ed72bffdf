// A fake libnvrtc.so.13 for the emulator: it checks what the real one would reject from us (an #include
// with no header supplied, no target architecture option) and returns a "PTX" the fake driver accepts
// (the marker line plus the source), so the NVRTC fallback path can be tested without a GPU toolkit.
#include <cstdio>
#include <cstring>
#include <map>
#include <string>

namespace {
typedef int Result;
constexpr Result OK = 0, INVALID_INPUT = 3, INVALID_PROGRAM = 4, COMPILATION = 6;
struct Program {
  std::string src, name, ptx, log;
  std::map<std::string, std::string> headers;
};
}  // namespace

extern "C" {
const char* nvrtcGetErrorString(Result r) {
  switch (r) {
    case OK: return "NVRTC_SUCCESS";
    case INVALID_INPUT: return "NVRTC_ERROR_INVALID_INPUT";
    case INVALID_PROGRAM: return "NVRTC_ERROR_INVALID_PROGRAM";
    case COMPILATION: return "NVRTC_ERROR_COMPILATION";
    default: return "NVRTC_ERROR_UNKNOWN";
  }
}
Result nvrtcVersion(int* major, int* minor) { *major = 13; *minor = 0; return OK; }
Result nvrtcCreateProgram(Program** p, const char* src, const char* name, int numHeaders, const char* const* headers,
                          const char* const* includeNames) {
  if (!src) return INVALID_INPUT;
  auto* prog = new Program{src, name ? name : "default_program", "", "", {}};
  for (int i = 0; i < numHeaders; i++) prog->headers[includeNames[i]] = headers[i];
  *p = prog;
  return OK;
}
Result nvrtcCompileProgram(Program* p, int numOptions, const char* const* options) {
  bool arch = false;
  for (int i = 0; i < numOptions; i++) arch |= strncmp(options[i], "--gpu-architecture=", 19) == 0 || strncmp(options[i], "-arch=", 6) == 0;
  if (!arch) {
    p->log = "emu nvrtc: no --gpu-architecture option";
    return COMPILATION;
  }
  std::string all = p->src;
  for (auto& [n, h] : p->headers) all += h;
  size_t at = 0;
  while ((at = all.find("#include \"", at)) != std::string::npos) {
    const size_t start = at + 10, end = all.find('"', start);
    const std::string inc = all.substr(start, end - start);
    // Emulator-only includes sit behind #ifdef STILL_EMU and are never seen by the real compiler.
    if (!p->headers.count(inc) && inc.rfind("emu/", 0) != 0) {
      p->log = p->name + ": catastrophic error: cannot open source file \"" + inc + "\"";
      return COMPILATION;
    }
    at = end;
  }
  p->ptx = "// emu-nvrtc\n" + p->src;
  return OK;
}
Result nvrtcGetPTXSize(Program* p, size_t* n) { *n = p->ptx.size() + 1; return OK; }
Result nvrtcGetPTX(Program* p, char* out) { memcpy(out, p->ptx.c_str(), p->ptx.size() + 1); return OK; }
Result nvrtcGetProgramLogSize(Program* p, size_t* n) { *n = p->log.size() + 1; return OK; }
Result nvrtcGetProgramLog(Program* p, char* out) { memcpy(out, p->log.c_str(), p->log.size() + 1); return OK; }
Result nvrtcDestroyProgram(Program** p) { delete *p; *p = nullptr; return OK; }
}  // extern "C"
