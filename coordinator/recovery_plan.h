// Recovery planning and election: the coordinator's two decisions, as pure functions so that
// unit tests pin them without processes or sockets.
//
// PlanTail decides which byte ranges of a dead bolt still need a hook. A bolt's tail is, in
// each generation from its checkpoint's onward, the bytes after the checkpoint (or from 0 in a
// later generation) up to the end of what can be recovered: the origin's file while its host
// lives, the survivors' durable replicas once it is dead. A bolt that never reported a
// checkpoint has its newest generation from offset 0 as its tail.
//
// Ranges are serialised per (bolt, generation): while one is unfinished (assigned, running) or
// failed, no other is planned for that generation. Once one is recovered, a follow-up range is
// planned only for bytes past every range asked so far (a host that comes back ships bytes
// that never left it), starting where the hook's input really ended: the recovered range's
// whole records (`delivered_to`), so a record cut at the old end is delivered whole, once.
// Bytes between the tail's start and a recorded range that begins later (a death reported after
// the fact, whose checkpoint is older than a range planned from its successor's) are a gap,
// planned as a range of their own; recorded ranges are never handed out again.
//
// Elect picks the agent that runs a range: among live agents that define the bolt's hook
// (the caller filters), prefer agents other than the bolt's own host (the patent's method) and
// fall back to it; then the most durable coverage of the range's generation; then the fewest
// unfinished recoveries; then the smallest id.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace tailsafe {

struct TailCheckpoint {
  uint64_t gen = 0;
  uint64_t offset = 0;
  bool operator==(const TailCheckpoint&) const = default;
};

struct RangeRecord {
  enum class State { kUnfinished, kRecovered, kFailed };
  uint64_t gen = 0;
  uint64_t from = 0;
  uint64_t to = 0;            // the end asked for
  uint64_t delivered_to = 0;  // recovered: the end of the whole records the hook got
  State state = State::kUnfinished;
};

struct PlannedRange {
  uint64_t gen = 0;
  uint64_t from = 0;
  uint64_t to = 0;
  bool operator==(const PlannedRange&) const = default;
};

// `ends`: generation -> end of what can be recovered. `records`: every range of this bolt.
std::vector<PlannedRange> PlanTail(const std::optional<TailCheckpoint>& checkpoint,
                                   const std::map<uint64_t, uint64_t>& ends,
                                   const std::vector<RangeRecord>& records);

// Folding keeps what planning needs of recovered ranges once their records are pruned from
// /recoveries: per generation, spans of recovered ranges merged where one starts at or before
// another's end (`to`), keeping the furthest `to` and `delivered_to`. Planning over the spans
// plus the records still kept plans exactly what it plans over every record: a range that
// starts within the bytes asked so far never opens a gap, and PlanTail only carries the
// furthest `to` and `delivered_to` past it. `spans` stays sorted by (gen, from); `r` must be
// recovered.
void FoldRecovered(std::vector<RangeRecord>* spans, const RangeRecord& r);

struct ElectionCandidate {
  std::string id;
  uint64_t coverage = 0;  // durable bytes of the range's generation it holds
  uint32_t unfinished = 0;
};

std::optional<std::string> Elect(const std::vector<ElectionCandidate>& candidates, const std::string& origin);

}  // namespace tailsafe
