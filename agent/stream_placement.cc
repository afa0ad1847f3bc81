#include "agent/stream_placement.h"

#include <algorithm>
#include <utility>

#include "common/placement.h"

namespace tailsafe {

StreamPlacement::StreamPlacement(std::string self, uint32_t replicas) : self_(std::move(self)), replicas_(replicas) {}

bool StreamPlacement::SetMembers(std::vector<std::string> members) {
  std::sort(members.begin(), members.end());
  members.erase(std::unique(members.begin(), members.end()), members.end());
  if (members == members_) return false;
  members_ = std::move(members);
  holders_.clear();
  ++version_;
  return true;
}

const std::vector<std::string>& StreamPlacement::Holders(const std::string& bolt) {
  auto it = holders_.find(bolt);
  if (it == holders_.end()) {
    std::vector<std::string> placed = every_peer() ? std::vector<std::string>{} : PlaceStream(self_, bolt, members_, replicas_);
    it = holders_.emplace(bolt, std::move(placed)).first;
  }
  return it->second;
}

bool StreamPlacement::Holds(const std::string& peer, const std::string& bolt) {
  if (every_peer()) return true;
  const std::vector<std::string>& h = Holders(bolt);
  return std::find(h.begin(), h.end(), peer) != h.end();
}

}  // namespace tailsafe
