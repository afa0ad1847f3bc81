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
    uint64_t start = (checkpoint && checkpoint->gen == gen) ? checkpoint->offset : 0;
    std::vector<const RangeRecord*> recs;
    bool blocked = false;
    for (const RangeRecord& r : records) {
      if (r.gen != gen) continue;
      blocked |= r.state != RangeRecord::State::kRecovered;
      recs.push_back(&r);
    }
    if (blocked) continue;
    std::sort(recs.begin(), recs.end(), [](const RangeRecord* a, const RangeRecord* b) { return a->from < b->from; });
    // Walk the recorded ranges in order: a gap between the tail's start (or one range's whole
    // records) and the next range is planned too. It happens when a death is reported after
    // the fact with a checkpoint older than ranges planned since (from its successor's).
    uint64_t cursor = start;  // everything before it is covered, or not this tail's
    uint64_t asked = start;
    for (const RangeRecord* r : recs) {
      // Only a gap holding bytes no range asked for: bytes asked for and not delivered (a
      // record cut at a range's end) are the follow-up's, and planning them again before a
      // range that starts right there would deliver nothing, forever.
      uint64_t gap_end = std::min(r->from, end);
      if (r->from > asked && gap_end > cursor) out.push_back({gen, cursor, gap_end});
      cursor = std::max(cursor, r->delivered_to);
      asked = std::max(asked, r->to);
    }
    if (end > asked && end > cursor) out.push_back({gen, cursor, end});
  }
  return out;
}

std::optional<TailCheckpoint> DeathAfterPlanning(const std::optional<TailCheckpoint>& death,
                                                 const std::optional<TailCheckpoint>& newest,
                                                 const std::map<uint64_t, uint64_t>& ends, bool origin_alive) {
  if (origin_alive || !death) return std::nullopt;
  auto held = ends.find(death->gen);
  uint64_t reached = held == ends.end() ? 0 : held->second;
  if (newest && newest->gen == death->gen) {
    // A newest checkpoint no later than the death's is the dead process's own (or older): the
    // bolt's planning starts there anyway.
    if (reached >= newest->offset || newest->offset <= death->offset) return std::nullopt;
    return TailCheckpoint{death->gen, std::max(death->offset, reached)};
  }
  bool later = ends.upper_bound(death->gen) != ends.end();
  if (reached > death->offset || later) return std::nullopt;
  return death;
}

std::vector<PlannedRange> PlanGivenUp(const std::map<uint64_t, uint64_t>& ends, const std::vector<RangeRecord>& records) {
  std::map<uint64_t, std::vector<const RangeRecord*>> by_gen;
  for (const RangeRecord& r : records) by_gen[r.gen].push_back(&r);
  std::vector<PlannedRange> out;
  for (auto& [gen, recs] : by_gen) {
    auto end_it = ends.find(gen);
    bool blocked = std::any_of(recs.begin(), recs.end(),
                               [](const RangeRecord* r) { return r->state != RangeRecord::State::kRecovered; });
    if (end_it == ends.end() || blocked) continue;
    std::sort(recs.begin(), recs.end(), [](const RangeRecord* a, const RangeRecord* b) { return a->from < b->from; });
    // The walk of PlanTail, owing what the records walked so far gave up: bytes owed and not
    // delivered are due before the next record, or at the end, once they reach past every end
    // asked so far (a record that starts within what was asked opens nothing, so planning over
    // folded spans plans the same).
    uint64_t cursor = 0, asked = 0, owed = 0;
    auto due = [&](uint64_t limit) {
      uint64_t hi = std::min({limit, owed, end_it->second});
      if (owed > cursor && hi > std::max(cursor, asked)) out.push_back({gen, cursor, hi});
    };
    for (const RangeRecord* r : recs) {
      if (r->from > cursor) due(r->from);
      cursor = std::max(cursor, r->delivered_to);
      asked = std::max(asked, r->to);
      owed = std::max(owed, r->given_up_to);
    }
    due(owed);
  }
  return out;
}

void FoldRecovered(std::vector<RangeRecord>* spans, const RangeRecord& r) {
  auto by_start = [](const RangeRecord& a, const RangeRecord& b) { return std::tie(a.gen, a.from) < std::tie(b.gen, b.from); };
  spans->insert(std::upper_bound(spans->begin(), spans->end(), r, by_start), r);
  std::vector<RangeRecord> merged;
  for (const RangeRecord& s : *spans) {
    if (!merged.empty() && merged.back().gen == s.gen && s.from <= merged.back().to) {
      merged.back().to = std::max(merged.back().to, s.to);
      merged.back().delivered_to = std::max(merged.back().delivered_to, s.delivered_to);
      merged.back().given_up_to = std::max(merged.back().given_up_to, s.given_up_to);
      if (merged.back().given_up_to <= merged.back().to) merged.back().given_up_to = 0;
    } else {
      merged.push_back(s);
      merged.back().state = RangeRecord::State::kRecovered;
    }
  }
  *spans = std::move(merged);
}

std::optional<RangeShrink> ShrinkRange(uint64_t from, uint64_t to, const ShrinkFacts& facts) {
  if (facts.origin_alive || !facts.all_reported || facts.running) return std::nullopt;
  if (facts.origin_dead_ms < facts.grace_ms) return std::nullopt;
  const SurvivorCoverage* best = nullptr;
  const SurvivorCoverage* other = nullptr;  // the most held by a survivor without the hook
  auto more = [](const SurvivorCoverage* b, const SurvivorCoverage& c) {
    return b == nullptr || c.durable > b->durable || (c.durable == b->durable && c.id < b->id);
  };
  for (const SurvivorCoverage& c : facts.survivors) {
    const SurvivorCoverage*& slot = c.runs_hook ? best : other;
    // A holder to pull from must be connected: among those without the hook, one that is beats
    // one that holds more and is not.
    bool better = slot == nullptr || c.runs_hook || c.connected == slot->connected ? more(slot, c) : c.connected;
    if (better) slot = &c;
  }
  if (best == nullptr || best->durable >= to) return std::nullopt;
  RangeShrink out;
  out.to = std::max(from, best->durable);
  out.holder = best->id;
  out.reassign = true;
  for (const SurvivorCoverage& c : facts.survivors) {
    if (c.id == facts.assignee && c.runs_hook && c.durable >= out.to) out.reassign = false;
  }
  if (other != nullptr && other->durable > out.to) {
    out.beyond = std::min(other->durable, to);
    out.beyond_holder = other->id;
    out.pull = other->connected;
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
