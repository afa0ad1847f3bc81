// libFuzzer target: the request-head parser of the /metrics server (common/http_server.h), which
// reads bytes from anyone who can reach metrics_listen. It must never crash, and whatever it
// accepts as complete must be a GET-able path: starting with '/', no control bytes or spaces.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/http_server.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view head(reinterpret_cast<const char*>(data), size);
  tailsafe::HttpParse p = tailsafe::ParseHttpRequestHead(head);
  if (p.status != 0) {
    if (p.status < 400 || p.status > 599 || p.error.empty()) __builtin_trap();
    return 0;
  }
  if (!p.complete) return 0;
  if (p.request.path.empty() || p.request.path[0] != '/' || p.request.method.empty()) __builtin_trap();
  for (char c : p.request.path) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f || c == '?') __builtin_trap();
  }
  return 0;
}
