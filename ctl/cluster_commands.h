// tailsafectl's cluster-wide commands, answered from the coordinator's namespace:
//
//   status --cluster   agents, bolts (process, checkpoint, lag), recoveries
//   check              a monitoring-plugins check (Nagios, Icinga, Sensu, systemd timers)
//   watch PATH         prints the documents at or below PATH as they change
#pragma once

#include <cstdint>
#include <string>

#include "common/coord_client.h"

namespace tailsafe {

struct CheckThresholds {
  uint64_t lag_warn_bytes = 16 << 20;
  uint64_t lag_crit_bytes = 256 << 20;
};

// Exit codes follow the monitoring-plugins convention: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
// Output: one line, "TAILSAFE STATE - summary | 'label'=value[UOM];warn;crit;min;max ...".
//   CRITICAL  an agent is dead, a recovery failed, or a bolt's lag is at least lag_crit_bytes
//   WARNING   a bolt's lag is at least lag_warn_bytes
//   UNKNOWN   the coordinator cannot be reached or answers nonsense
int RunCheck(const CoordinatorEndpoint& coordinator, const CheckThresholds& t, int timeout_ms);

int RunClusterStatus(const CoordinatorEndpoint& coordinator, bool as_json, int timeout_ms);

// Prints the documents at or below `path`, then each one that appears, changes or goes away,
// with the time, as the leading coordinator pushes them; follows the leader across failovers.
// Stops after `count` changes (0: never), or when no coordinator can be reached.
int RunWatch(const CoordinatorEndpoint& coordinator, const std::string& path, bool as_json, int count, int timeout_ms);

}  // namespace tailsafe
