// Recovery planning and election: the coordinator's two decisions, as pure functions so that
// unit tests pin them without processes or sockets.
//
// PlanTail decides which byte ranges of a dead bolt still need a hook. A bolt's tail is, in
// each generation from its checkpoint's onward, the bytes after the checkpoint (or from 0 in a
// later generation) up to the end of what can be recovered: the origin's file while its host
// lives (for a generation it has closed, rotated away with every peer holding it whole, its
// peers' replicas), the survivors' durable replicas once it is dead. A bolt that never reported a
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
// ShrinkRange bounds what an unfinished range waits for. While the origin's host lives, a range
// waits for it to ship what the range asks. Once the host is dead nothing more reaches a
// survivor, so a range that ends past what the survivors durably hold would wait forever: it is
// shrunk to the most that a candidate (a live agent that runs the bolt's hook) holds of its
// generation, never below its start, and the bytes past that are given up. It is not decided
// while a live agent has not reported on its connection (after a coordinator restart a
// survivor may hold more than those heard so far), before the host has been dead for the grace
// (ShrinkFacts::grace_ms), for a running range (its assignee held all
// of it to start the hook), or without a candidate (the range waits for one, as any does). The
// new end is reassigned under a new epoch, to another candidate if the assignee holds less.
// Nothing a survivor holds is skipped for good: the record asks up to the new end now and keeps
// the end first asked, so PlanGivenUp (below) plans a follow-up past it once a later report (or
// the host's return) shows more.
// A survivor without the hook that holds more is named (`beyond`, `beyond_holder`). If it is
// connected to the coordinator, the assignee is told to pull [from, beyond) from it before it
// runs (`pull`): the bytes reach a hook rather than being given up. If the pull fails (the
// holder dies, or its replica is gone), the assignee runs on what it holds, as if no pull was
// asked, and says why; the bytes past `to` are then given up as above.
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
  uint64_t given_up_to = 0;   // shrunk: the end first asked, past `to` (0: nothing given up)
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

// A death reported after the fact is planned from its own checkpoint (PlanTail). While the
// origin's host lives, `ends` are its file's sizes and that one plan reaches the end of the dead
// process's tail. Once the host is dead, `ends` are what the survivors hold so far, which may
// stop short of that end, or of the tail's start (survivors still catching up when the host
// died). The tail reaches at least to the bolt's newest checkpoint in the same generation (the
// successor analyses from where the file ended when it started), and the bolt's own planning
// starts from that newest checkpoint: so the death stays pending until planning got there,
// with its checkpoint moved to where this plan got (`ends` of its generation). A newest
// checkpoint in a later generation gives no such mark: the death is done once anything past its
// checkpoint was held to plan. Returns the death's checkpoint for its next plan, or nothing
// once it is done.
std::optional<TailCheckpoint> DeathAfterPlanning(const std::optional<TailCheckpoint>& death,
                                                 const std::optional<TailCheckpoint>& newest,
                                                 const std::map<uint64_t, uint64_t>& ends, bool origin_alive);

// PlanGivenUp follows up the bytes a shrink gave up, whatever the bolt does now: a host that
// returns after the grace may run its bolt again, so no death of it is left to plan from, and
// the dead process's given-up tail would otherwise stay unprocessed. In each generation whose
// records are all recovered, walking them as PlanTail does, the bytes a shrunk record gave up
// (up to its `given_up_to`) that no record delivered are planned up to `ends`, once they reach
// past every end asked so far: asking again for a record cut at such an end would deliver
// nothing, forever. Like PlanTail, it plans the same over folded spans.
std::vector<PlannedRange> PlanGivenUp(const std::map<uint64_t, uint64_t>& ends, const std::vector<RangeRecord>& records);

// Folding keeps what planning needs of recovered ranges once their records are pruned from
// /recoveries: per generation, spans of recovered ranges merged where one starts at or before
// another's end (`to`), keeping the furthest `to`, `delivered_to` and `given_up_to`. Planning over the spans
// plus the records still kept plans exactly what it plans over every record: a range that
// starts within the bytes asked so far never opens a gap, and PlanTail only carries the
// furthest `to` and `delivered_to` past it. `spans` stays sorted by (gen, from); `r` must be
// recovered.
void FoldRecovered(std::vector<RangeRecord>* spans, const RangeRecord& r);

struct SurvivorCoverage {
  std::string id;
  uint64_t durable = 0;  // bytes of the range's generation it holds durably; 0 if none reported
  bool runs_hook = false;
  bool connected = true;  // registered on a connection now: bytes can be pulled from it
};

struct ShrinkFacts {
  bool origin_alive = false;
  // How long the origin's host has been dead, and how long it is given to return first: a host
  // that comes back with its file brings the bytes, and a range shrunk before that would have
  // given them up for good once the bolt runs again.
  uint64_t origin_dead_ms = 0;
  uint64_t grace_ms = 0;
  bool all_reported = false;  // every live agent has reported on its current connection
  bool running = false;       // the assignee said it runs the hook under the current epoch
  std::string assignee;       // "" while waiting
  std::vector<SurvivorCoverage> survivors;  // every live agent but the origin
};

struct RangeShrink {
  uint64_t to = 0;         // the new end, in [from, the old end)
  std::string holder;      // the candidate holding the most (the smallest id among equals)
  bool reassign = false;   // the assignee is no candidate or holds less than `to`
  uint64_t beyond = 0;     // the most a survivor without the hook holds past `to` (0: none)
  std::string beyond_holder;
  bool pull = false;       // the assignee pulls [from, beyond) from beyond_holder, then runs
};

// A new end for the unfinished range [from, to), or nothing to change.
std::optional<RangeShrink> ShrinkRange(uint64_t from, uint64_t to, const ShrinkFacts& facts);

struct ElectionCandidate {
  std::string id;
  uint64_t coverage = 0;  // durable bytes of the range's generation it holds
  uint32_t unfinished = 0;
};

std::optional<std::string> Elect(const std::vector<ElectionCandidate>& candidates, const std::string& origin);

}  // namespace tailsafe
