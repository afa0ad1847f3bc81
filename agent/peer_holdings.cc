#include "agent/peer_holdings.h"

#include <algorithm>
#include <utility>

namespace tailsafe {

PeerHoldings::PeerHoldings(std::string peer, const std::vector<PeerAckRow>& acks) : peer_(std::move(peer)) {
  for (const auto& a : acks) {
    if (a.peer == peer_) gens_[{a.bolt, a.gen}].acked = a.acked;
  }
}

const PeerHoldings::Entry& PeerHoldings::Find(const std::string& bolt, uint64_t gen) const {
  static const Entry kNone;
  auto it = gens_.find({bolt, gen});
  return it == gens_.end() ? kNone : it->second;
}

uint64_t PeerHoldings::Acked(const std::string& bolt, uint64_t gen) const { return Find(bolt, gen).acked; }

void PeerHoldings::Resumed(const std::string& bolt, uint64_t gen, uint64_t durable) {
  Key key{bolt, gen};
  uint64_t& acked = gens_[key].acked;
  if (acked == durable) return;
  acked = durable;
  dirty_[key] = durable;
}

void PeerHoldings::Acknowledged(const std::string& bolt, uint64_t gen, uint64_t durable, uint64_t t_ns) {
  Key key{bolt, gen};
  gens_[key].acked = durable;
  dirty_[key] = durable;
  if (ack_log_.on()) ack_log_.Add({t_ns, bolt, gen, durable});
}

bool PeerHoldings::HoldSeal(const std::string& bolt, uint64_t gen) {
  bool& held = gens_[{bolt, gen}].seal_held;
  return !std::exchange(held, true);
}

void PeerHoldings::Sent(const std::string& bolt, uint64_t gen, uint64_t upto) {
  uint64_t& hw = gens_[{bolt, gen}].high_water;
  hw = std::max(hw, upto);
}

uint64_t PeerHoldings::Resent(const std::string& bolt, uint64_t gen, uint64_t from) const {
  uint64_t hw = Find(bolt, gen).high_water;
  return hw > from ? hw - from : 0;
}

void PeerHoldings::ReadOk(const std::string& bolt, uint64_t gen) {
  auto it = gens_.find({bolt, gen});
  if (it != gens_.end()) it->second.read_errors = 0;
}

void PeerHoldings::Forget(const std::string& bolt, uint64_t gen) {
  gens_.erase({bolt, gen});
  dirty_.erase({bolt, gen});
}

void PeerHoldings::Collect(Committer::Batch* batch) {
  std::vector<std::pair<Key, uint64_t>> rows(dirty_.begin(), dirty_.end());
  std::sort(rows.begin(), rows.end());  // in (bolt, generation) order, whatever the hash's
  for (const auto& [key, acked] : rows) batch->rows.peer_acks.push_back({peer_, key.first, key.second, acked});
  dirty_.clear();
}

}  // namespace tailsafe
