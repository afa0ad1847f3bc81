#include "coordinator/recovery_plan.h"

#include <algorithm>
#include <tuple>

namespace tailsafe {

std::vector<PlannedRange> PlanTail(const std::optional<TailCheckpoint>& checkpoint,
                                   const std::map<uint64_t, uint64_t>& ends,
                                   const std::vector<RangeRecord>& records) {
  std::vector<PlannedRange> out;
  if (ends.empty()) return out;
  uint64_t first_gen = checkpoint ? checkpoint->gen : ends.rbegin()->first;
  for (auto it = ends.lower_bound(first_gen); it != ends.end(); ++it) {
    uint64_t gen = it->first;
    uint64_t end = it->second;
    uint64_t from = (checkpoint && checkpoint->gen == gen) ? checkpoint->offset : 0;
    uint64_t asked = from;
    bool blocked = false;
    for (const RangeRecord& r : records) {
      if (r.gen != gen) continue;
      if (r.state != RangeRecord::State::kRecovered) {
        blocked = true;
        break;
      }
      asked = std::max(asked, r.to);
      from = std::max(from, r.delivered_to);
    }
    if (blocked || end <= asked || end <= from) continue;
    out.push_back({gen, from, end});
  }
  return out;
}

std::optional<std::string> Elect(const std::vector<ElectionCandidate>& candidates, const std::string& origin) {
  const ElectionCandidate* best = nullptr;
  auto key = [&](const ElectionCandidate& c) {
    // Smaller is better: other hosts first, then more coverage, fewer unfinished, smaller id.
    return std::make_tuple(c.id == origin, ~c.coverage, c.unfinished, c.id);
  };
  for (const ElectionCandidate& c : candidates) {
    if (best == nullptr || key(c) < key(*best)) best = &c;
  }
  if (best == nullptr) return std::nullopt;
  return best->id;
}

}  // namespace tailsafe
