#include "agent/holder_fill.h"

#include <algorithm>

#include "agent/bolt_source.h"
#include "agent/peer_link.h"

namespace tailsafe {

void HolderFill::Placed(const std::string& bolt, const std::vector<std::string>& before,
                        const std::vector<std::string>& after, Target target) {
  auto held = [](const std::vector<std::string>& v, const std::string& p) {
    return std::find(v.begin(), v.end(), p) != v.end();
  };
  for (const std::string& p : before) {
    if (!held(after, p)) targets_.erase({bolt, p});
  }
  for (const std::string& p : after) {
    if (!held(before, p)) targets_[{bolt, p}] = target;
  }
}

void HolderFill::Forget(const std::string& bolt) {
  std::erase_if(targets_, [&](const auto& e) { return e.first.first == bolt; });
}

const HolderFill::Target* HolderFill::Find(const std::string& bolt, const std::string& peer) const {
  auto it = targets_.find({bolt, peer});
  return it == targets_.end() ? nullptr : &it->second;
}

uint64_t HolderFill::Remaining(const BoltSource& src, const PeerLink& link, const Target& target) {
  uint64_t left = 0;
  for (const auto& g : src.generations()) {
    if (g->gone() || g->gen > target.gen) continue;
    uint64_t end = g->gen == target.gen ? std::min(target.size, g->known_size()) : g->known_size();
    left += end - std::min(link.Acked(*g), end);
  }
  return left;
}

}  // namespace tailsafe
