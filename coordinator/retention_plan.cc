#include "coordinator/retention_plan.h"

#include <algorithm>

namespace tailsafe {

std::optional<uint64_t> RetainFrom(const RetentionFacts& f) {
  if (!f.origin_reported || !f.checkpoint || !f.history_readable) return std::nullopt;
  uint64_t from = f.checkpoint->gen;
  if (f.oldest_open) from = std::min(from, *f.oldest_open);
  for (const auto& death : f.pending_deaths) {
    if (!death) return std::nullopt;
    from = std::min(from, death->gen);
  }
  std::map<uint64_t, uint64_t> given_up, delivered;  // per generation, the furthest
  for (const RangeRecord& r : f.ranges) {
    if (r.gen <= f.floor) continue;
    if (r.state != RangeRecord::State::kRecovered) from = std::min(from, r.gen);
    if (r.state == RangeRecord::State::kRecovered) delivered[r.gen] = std::max(delivered[r.gen], r.delivered_to);
    if (r.given_up_to > 0) given_up[r.gen] = std::max(given_up[r.gen], r.given_up_to);
  }
  for (const auto& [gen, end] : given_up) {
    if (end > delivered[gen]) from = std::min(from, gen);
  }
  return from;
}

std::map<TermState::BoltKey, uint64_t> PlanRetention(const TermState& state) {
  std::map<TermState::BoltKey, uint64_t> out;
  for (const auto& [key, bolt] : state.bolts) {
    RetentionFacts f;
    auto origin = state.agents.find(key.first);
    if (origin != state.agents.end()) {
      const TermState::Agent& a = origin->second;
      auto ends = a.bolt_ends.find(key.second);
      // `reported` is cleared when its connection closes.
      f.origin_reported = a.alive() && a.reported && ends != a.bolt_ends.end();
      if (f.origin_reported && !ends->second.empty()) f.oldest_open = ends->second.begin()->first;
    }
    if (bolt.checkpoint) f.checkpoint = bolt.checkpoint->Tail();
    for (const BoltDeath& d : bolt.deaths_pending) f.pending_deaths.push_back(d.checkpoint);
    f.ranges = state.RangesOf(key);
    if (auto h = state.history.find(key); h != state.history.end()) {
      f.floor = h->second.floor;
      f.history_readable = h->second.unreadable.empty();
    }
    if (std::optional<uint64_t> from = RetainFrom(f)) out[key] = *from;
  }
  return out;
}

}  // namespace tailsafe
