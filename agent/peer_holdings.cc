#include "agent/peer_holdings.h"

namespace tailsafe {

PeerHoldings::PeerHoldings(std::string peer, const std::vector<PeerAckRow>& acks) : peer_(std::move(peer)) {
  for (const auto& a : acks) {
    if (a.peer == peer_) acked_[{a.bolt, a.gen}] = a.acked;
  }
}

uint64_t PeerHoldings::Acked(const std::string& bolt, uint64_t gen) const {
  auto it = acked_.find({bolt, gen});
  return it == acked_.end() ? 0 : it->second;
}

void PeerHoldings::Resumed(const std::string& bolt, uint64_t gen, uint64_t durable) {
  Key key{bolt, gen};
  if (acked_[key] == durable) return;
  acked_[key] = durable;
  dirty_[key] = durable;
}

void PeerHoldings::Acknowledged(const std::string& bolt, uint64_t gen, uint64_t durable, uint64_t t_ns) {
  Key key{bolt, gen};
  acked_[key] = durable;
  dirty_[key] = durable;
  if (ack_log_.size() >= kMaxAckLog) ack_log_.pop_front();
  ack_log_.push_back({t_ns, bolt, gen, durable});
}

void PeerHoldings::Collect(Committer::Batch* batch) {
  for (const auto& [key, acked] : dirty_) batch->rows.peer_acks.push_back({peer_, key.first, key.second, acked});
  dirty_.clear();
}

std::vector<PeerHoldings::AckEvent> PeerHoldings::DrainAckLog() {
  std::vector<AckEvent> out(ack_log_.begin(), ack_log_.end());
  ack_log_.clear();
  return out;
}

}  // namespace tailsafe
