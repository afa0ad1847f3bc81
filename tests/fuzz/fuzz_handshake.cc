// libFuzzer target: the secure channel's handshake and record layer (common/secure_channel.h),
// on both sides, fed arbitrary bytes split at arbitrary points, as anyone on the network could
// send them. Without the key no input may yield application bytes; nothing may crash or hang.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "common/cluster_key.h"
#include "common/secure_channel.h"

using namespace tailsafe;

namespace {

const ClusterKeys& Keys() {
  static ClusterKeys* keys = [] {
    auto* k = new ClusterKeys;
    uint8_t bytes[kClusterKeyBytes];
    for (size_t i = 0; i < sizeof bytes; ++i) bytes[i] = static_cast<uint8_t>(i * 29 + 3);
    k->keys.push_back(MakeClusterKey(bytes, "fuzz"));
    for (size_t i = 0; i < sizeof bytes; ++i) bytes[i] = static_cast<uint8_t>(i * 7 + 100);
    k->keys.push_back(MakeClusterKey(bytes, "fuzz-previous"));
    return k;
  }();
  return *keys;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  bool server = (data[0] & 1) != 0;
  size_t step = static_cast<size_t>(data[1]) + 1;
  SecureChannel ch(server ? SecureChannel::Role::kServer : SecureChannel::Role::kClient, &Keys());
  (void)ch.Start();
  std::string sealed;
  ch.Seal("held until the handshake completes", &sealed);
  const char* p = reinterpret_cast<const char*>(data + 2);
  size_t n = size - 2;
  std::string to_send, plain;
  for (size_t at = 0; at < n; at += step) {
    if (!ch.Receive(std::string_view(p + at, std::min(step, n - at)), &to_send, &plain).ok()) break;
  }
  (void)ch.AtEof();
  // A server cannot be talked into a completed handshake without the key: the input would have
  // to contain a proof computed over the server's fresh ephemeral key.
  if (server && (ch.established() || !plain.empty())) abort();
  return 0;
}
