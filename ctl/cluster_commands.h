// tailsafectl's cluster-wide commands, answered from the coordinator's namespace:
//
//   status --cluster   agents, bolts (process, checkpoint, lag), recoveries
//   check              a monitoring-plugins check (Nagios, Icinga, Sensu, systemd timers)
//   watch PATH         prints the documents at or below PATH as they change
#pragma once

#include <cstdint>
#include <string>

#include "common/coord_client.h"
#include "ctl/health_check.h"

namespace tailsafe {

// `check`: the coordinator's documents judged by ctl/health_check.h, one line printed; UNKNOWN
// (3) when the coordinator cannot be reached or answers nonsense.
int RunCheck(const CoordinatorEndpoint& coordinator, const CheckThresholds& t, int timeout_ms);

int RunClusterStatus(const CoordinatorEndpoint& coordinator, bool as_json, int timeout_ms);

// Prints the documents at or below `path`, then each one that appears, changes or goes away,
// with the time, as the leading coordinator pushes them; follows the leader across failovers.
// Stops after `count` changes (0: never), or when no coordinator can be reached.
int RunWatch(const CoordinatorEndpoint& coordinator, const std::string& path, bool as_json, int count, int timeout_ms);

}  // namespace tailsafe
