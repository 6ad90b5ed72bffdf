// Kernel registry of the emulator: the build script appends one `emu::Reg` per PTX entry point to each
// kernel file, so the fake driver can find a kernel by name and call it with cuLaunchKernel's void** params.
#pragma once
#include <functional>
#include <map>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace emu {
using Call = std::function<void(void**)>;
struct Kernel {
  Call call;
  std::vector<size_t> argBytes;  // sizeof each parameter, so graph capture can copy the argument bytes
};
std::map<std::string, Kernel>& registry();

template <typename... A, size_t... I>
void call_with(void (*f)(A...), void** params, std::index_sequence<I...>) {
  // Each params[i] points at the bytes of argument i, exactly as the driver API specifies.
  f(*static_cast<std::remove_cv_t<std::remove_reference_t<A>>*>(params[I])...);
}

struct Reg {
  template <typename... A> Reg(const char* name, void (*f)(A...)) {
    registry()[name] = Kernel{[f](void** p) { call_with(f, p, std::index_sequence_for<A...>{}); },
                              {sizeof(std::remove_cv_t<std::remove_reference_t<A>>)...}};
  }
};

/** Run one launch: every block in order, each block's threads as fibers. Returns false on a deadlock. */
bool run_grid(const Call& kernel, void** params, dim3 grid, dim3 block, size_t dynamicSmem, std::string& error);
}  // namespace emu
