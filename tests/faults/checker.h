// The fault suite's checker: after a FaultRun has healed and settled, is everything there?
//   - every peer's replica of every bolt generation equals what was written into that
//     generation byte for byte (the origin's file, or what the rotating appender remembers), and
//     no peer holds a generation that was never written (so every acknowledged byte is on every
//     live peer; the run samples acked <= on disk too);
//   - every recovery the coordinator planned is recovered, and no two recorded ranges of one
//     bolt generation overlap (no range recorded twice, under two epochs or one);
//   - the weblog results equal the analysis of the input exactly (nothing lost, nothing twice);
//   - no process reported a sanitizer error, and nothing exited on its own (the run checks).
// It also counts the figures docs/reliability.md publishes.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/faults/fault_run.h"

namespace tailsafe::testing {

struct FaultReport {
  std::vector<std::string> findings;  // empty: nothing lost, nothing twice
  std::map<std::string, int> faults;  // injected, by kind
  int faults_total = 0;
  uint64_t bytes_written = 0;  // into the bolts' files (weblog backups and raw appenders)
  uint64_t bytes_replicated = 0;  // bytes_written times the peers that must hold them
  uint64_t bytes_lost = 0;     // replica bytes missing or different at the end
  uint64_t recoveries = 0;     // ranges the coordinator planned
  uint64_t recovered_bytes = 0;
  uint64_t duplicates = 0;     // overlapping recorded ranges
  uint64_t stale_results_refused = 0;  // results the coordinator refused (stale epoch, recorded)
  uint64_t requests = 0;       // weblog requests in the input
  bool results_equal = false;  // weblog-analyze compare
  uint64_t invariant_samples = 0;
  std::map<std::string, int> rotations;  // by kind
  uint64_t overflow_rescans = 0;         // rescans after an inotify queue overflow, all agents

  nlohmann::json ToJson(const FaultOptions& o, double seconds) const;
};

FaultReport CheckFaultRun(FaultRun& run);

}  // namespace tailsafe::testing
