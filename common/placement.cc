#include "common/placement.h"

#include <algorithm>
#include <utility>

#include "common/hash.h"

namespace tailsafe {

uint64_t PlacementWeight(std::string_view origin, std::string_view bolt, std::string_view member) {
  std::string key;
  key.reserve(origin.size() + bolt.size() + member.size() + 2);
  key.append(origin).push_back('\0');
  key.append(bolt).push_back('\0');
  key.append(member);
  return Hash64(key);
}

std::vector<std::string> PlaceStream(std::string_view origin, std::string_view bolt,
                                     const std::vector<std::string>& members, uint32_t replicas) {
  std::vector<std::pair<uint64_t, std::string_view>> ranked;
  ranked.reserve(members.size());
  for (const std::string& m : members) {
    if (m != origin) ranked.emplace_back(PlacementWeight(origin, bolt, m), m);
  }
  std::sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  ranked.erase(std::unique(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) { return a.second == b.second; }),
               ranked.end());
  if (replicas != kEveryPeer && ranked.size() > replicas) ranked.resize(replicas);
  std::vector<std::string> holders;
  holders.reserve(ranked.size());
  for (const auto& [weight, name] : ranked) holders.emplace_back(name);
  return holders;
}

bool HoldsStream(std::string_view member, std::string_view origin, std::string_view bolt,
                 const std::vector<std::string>& members, uint32_t replicas) {
  for (const std::string& h : PlaceStream(origin, bolt, members, replicas)) {
    if (h == member) return true;
  }
  return false;
}

}  // namespace tailsafe
