// tailsafectl's operator commands, carried out by the leading coordinator:
//
//   retry /recoveries/N   a failed recovery is assigned again, under a new epoch
//   forget-agent ID       a dead agent (a decommissioned host) leaves the namespace
//
// Each prints what the coordinator did, or why it refused; exit 0 when done, 1 when refused or
// the coordinator cannot be reached.
#pragma once

#include <string>

#include "common/coord_client.h"

namespace tailsafe {

int RunRetry(const CoordinatorEndpoint& coordinator, const std::string& path, int timeout_ms);
int RunForgetAgent(const CoordinatorEndpoint& coordinator, const std::string& id, int timeout_ms);

}  // namespace tailsafe
