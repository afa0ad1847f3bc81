// libFuzzer target: the configuration parser (common/config.h). Any text gets a Config or an
// error naming the line and key; nothing may crash or hang.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  tailsafe::Result<tailsafe::Config> c = tailsafe::ParseConfig(text, "fuzz.conf");
  if (!c.ok() && c.status().message().empty()) __builtin_trap();
  return 0;
}
