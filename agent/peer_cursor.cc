#include "agent/peer_cursor.h"

#include <algorithm>

namespace tailsafe {

uint64_t PeerCursor::Fail(const std::string& why, bool give_up, uint64_t now_ns) {
  failed = true;
  positioned = verifying = seal_sent = checkpoint_sent = false;
  sent = acked;
  error = why;
  uint64_t delay_ms = std::min(kStreamRetryMaxMs, kStreamRetryFirstMs << std::min<uint32_t>(failures, 6));
  ++failures;
  retry_at_ns = give_up ? UINT64_MAX : now_ns + delay_ms * 1000000;
  return give_up ? 0 : delay_ms;
}

bool PeerCursor::Resume(uint64_t durable) {
  bool had_failed = !error.empty();
  positioned = true;
  sent = acked = durable;
  error.clear();
  failures = 0;
  return had_failed;
}

std::vector<PeerStreamFailure> FailedStreams(const std::map<uint32_t, PeerCursor>& cursors) {
  std::vector<PeerStreamFailure> out;
  for (const auto& [stream, c] : cursors) {
    if (!c.error.empty()) out.push_back({c.gen->bolt, c.gen->gen, c.error, c.failures, !c.failed});
  }
  return out;
}

}  // namespace tailsafe
