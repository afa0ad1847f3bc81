// libFuzzer target: the coordinator's namespace path parser (coordinator/namespace_store.h),
// which checks every path tailsafectl or an agent names. A path it accepts must be made of
// valid names, so it can never climb out of the namespace.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/names.h"
#include "coordinator/namespace_store.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view path(reinterpret_cast<const char*>(data), size);
  if (!tailsafe::CheckNamespacePath(path).ok()) return 0;
  if (path.empty() || path[0] != '/') __builtin_trap();
  if (path == "/") return 0;
  std::string_view rest = path.substr(1);
  while (!rest.empty()) {
    size_t slash = rest.find('/');
    std::string_view name = rest.substr(0, slash);
    if (!tailsafe::IsValidName(name)) __builtin_trap();
    if (slash == std::string_view::npos) break;
    rest = rest.substr(slash + 1);
  }
  return 0;
}
