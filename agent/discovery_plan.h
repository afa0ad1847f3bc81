// PlanDiscovery: which bolts the [[bolt_pattern]] rules give this agent after a scan, decided
// from plain data (no I/O), so every rule below is unit-tested apart from the agent.
//
// Inputs: the rules, what one walk of each rule found (common/bolt_pattern.h: ScanPattern), the
// configuration's own [[bolt]] tables, and the bolts found before. Out: the bolts found from now
// on, with what was added, removed, skipped and held back.
//
// - A bolt keeps the name it was found under for as long as it is found. A new match is skipped
//   (and said why, for one warning) when its name or file is a [[bolt]] table's, or its name is
//   already another found file's, or its file is already found by an earlier rule: a name must
//   never stand for two streams. The [[bolt]] table wins, also over a bolt found before it was
//   added to the configuration.
// - A match whose name belongs to a removed bolt still draining (`may_add` false) waits, silently,
//   for a later scan: the agent can only start a name again once its last bytes reached the peers.
// - The removal rule. A found bolt whose file is missing stays: a rotation by rename and create
//   leaves the path empty for a moment, and the file's old generation is read to its end anyway.
//   Only timer rescans count: a bolt whose file two timer rescans in a row did not find (a
//   present sighting in between, by any scan, starts the count again) is removed, unless
//   `may_remove` says no (its process still runs, or a death of it awaits the coordinator's
//   record): it then stays, "waiting", until it may. A rule that is gone (a reload) removes its
//   bolts at once, as a removed [[bolt]] table would be.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "common/bolt_pattern.h"
#include "common/config.h"

namespace tailsafe {

// Timer rescans in a row without a bolt's file after which it may be removed.
constexpr uint32_t kAbsentRescansToRemove = 2;

struct FoundBolt {
  BoltConfig bolt;              // name, file, pid_file, checkpoint_file, hook; pattern = its rule's files
  uint32_t absent_rescans = 0;  // timer rescans in a row that did not find its file
};

struct DiscoveryChecks {
  // Whether a bolt whose file is gone for good may be removed now.
  std::function<bool(const std::string& name)> may_remove;
  // Whether a bolt of this name may start now.
  std::function<bool(const std::string& name)> may_add;
};

struct DiscoveryPlan {
  std::vector<FoundBolt> found;      // the bolts found from now on: those kept, in their order, then new ones
  std::vector<std::string> added;    // names in `found` that were not found before
  std::vector<std::string> removed;  // names found before that are not any more
  std::vector<std::string> removed_why;  // for each of `removed`, why, for the log
  std::vector<std::pair<std::string, std::string>> skipped;  // (path, why): matched, but not a bolt
  std::vector<std::string> waiting;   // gone for good, kept because `may_remove` said no
  std::vector<std::string> deferred;  // matched, not added because `may_add` said no
};

// `scans[i]` is what rules[i] found; `rescan`: this scan is a timer rescan (absences count).
DiscoveryPlan PlanDiscovery(const std::vector<BoltPatternConfig>& rules, const std::vector<PatternScan>& scans,
                            const std::vector<BoltConfig>& configured, const std::vector<FoundBolt>& before,
                            bool rescan, const DiscoveryChecks& checks);

}  // namespace tailsafe
