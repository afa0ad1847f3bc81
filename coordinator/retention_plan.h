// Replica retention: which of a bolt's generations the peers may delete. A peer's replica of a
// generation is needed while a hook may still run on it; once the bolt has processed past it
// and its origin has let it go, it is only disk. PlanRetention says, per bolt, the generation
// below which every replica may go (`from`); the leading coordinator sends it to the agents
// ("retain", coordinator/agent_roster.h) and each deletes its sealed, idle replicas below it
// (agent/replica_store.h). With no coordinator, nothing is deleted.
//
// RetainFrom is the rule, pure. A bolt gets a `from` only when all of this is known, else it
// gets none (nothing of it is deleted):
// - its origin's host is alive and has reported on its current connection, and its report names
//   the bolt (a dead or silent origin: its replicas are what a recovery would run on);
// - the bolt's checkpoint (generation and offset): generations before it are processed;
// - every pending death's checkpoint (a death without one: nothing is decided);
// - the history of its recovered ranges is readable.
// `from` is then the least of: the checkpoint's generation, the origin's oldest open generation
// (one it may still ship: a replica deleted under it would be shipped again whole), each pending
// death's checkpoint generation, the generation of each range not recovered (waiting, assigned,
// running or failed: an operator may retry it), and of each range whose given-up bytes no
// recovered range has delivered since (a later report may still plan them; recovery_plan.h).
// Generations at or below the history's floor are no longer planned and constrain nothing.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <vector>

#include "coordinator/recovery_plan.h"
#include "coordinator/term_state.h"

namespace tailsafe {

struct RetentionFacts {
  bool origin_reported = false;  // the origin's host is alive and reported, naming the bolt
  std::optional<uint64_t> oldest_open;  // the origin's oldest open generation of the bolt, if any
  std::optional<TailCheckpoint> checkpoint;
  std::vector<std::optional<TailCheckpoint>> pending_deaths;
  std::vector<RangeRecord> ranges;  // every range on record (history spans and records)
  uint64_t floor = 0;               // the history's
  bool history_readable = true;
};

// The generation below which the bolt's replicas may be deleted, or nothing.
std::optional<uint64_t> RetainFrom(const RetentionFacts& f);

// Every bolt of `state` that gets a `from` (bolts whose `from` would be 0 or 1 included: a
// message saying so is as cheap as leaving them out, and a test can see them).
std::map<TermState::BoltKey, uint64_t> PlanRetention(const TermState& state);

}  // namespace tailsafe
