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

std::vector<uint32_t> TakeDueRetries(std::map<uint32_t, PeerCursor>* cursors, uint64_t now_ns, uint64_t* soonest_ns) {
  std::vector<uint32_t> due;
  *soonest_ns = UINT64_MAX;
  for (auto& [stream, c] : *cursors) {
    if (!c.failed) continue;
    if (c.retry_at_ns > now_ns) {
      if (c.retry_at_ns != UINT64_MAX) *soonest_ns = std::min(*soonest_ns, c.retry_at_ns - now_ns);
      continue;
    }
    c.failed = false;
    due.push_back(stream);
  }
  return due;
}

size_t BacklogStreams(const std::map<uint32_t, PeerCursor>& cursors) {
  return static_cast<size_t>(std::count_if(cursors.begin(), cursors.end(), [](const auto& e) {
    return !e.second.failed && !e.second.gen->active();
  }));
}

}  // namespace tailsafe
