// The verdict of `tailsafectl check` on the coordinator's documents (/agents, /bolts,
// /recoveries), as a monitoring-plugins check (Nagios, Icinga, Sensu, systemd timers): exit
// code 0 OK, 1 WARNING, 2 CRITICAL, and one line, "TAILSAFE STATE - summary |
// 'label'=value[UOM];warn;crit;min;max ...".
//   CRITICAL  an agent is dead or cannot write its data_dir, a recovery failed, or a bolt's lag
//             is at least lag_crit_bytes
//   WARNING   a bolt's lag is at least lag_warn_bytes, or a bolt's stream is under-replicated
//             (a new holder is still being filled, agent/holder_fill.h)
// A pure function of the documents, so each rule is pinned by a unit test.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace tailsafe {

struct CheckThresholds {
  uint64_t lag_warn_bytes = 16 << 20;
  uint64_t lag_crit_bytes = 256 << 20;
};

struct CheckResult {
  int code = 0;
  std::string line;  // without a newline
};

// The "/PREFIX/A/B" documents of `docs` ({path: document}) under PREFIX, by the rest of
// their path ("A/B").
std::vector<std::pair<std::string, const nlohmann::json*>> DocumentsUnder(const nlohmann::json& docs,
                                                                         const std::string& prefix);

// `docs`: {path: document} as the coordinator's dump of "/" gives them.
CheckResult CheckDocuments(const nlohmann::json& docs, const CheckThresholds& t);

}  // namespace tailsafe
