// Client side of the coordinator protocol for tailsafectl: one request, one reply, blocking,
// with a deadline, inside the cluster's secure channel. The reply is a parsed CONTROL message.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "common/cluster_key.h"
#include "common/status.h"

namespace tailsafe {

// Where the coordinator is and the key(s) to prove membership of its cluster with.
struct CoordinatorEndpoint {
  std::string address;  // "HOST:PORT" ([cluster] coordinator)
  ClusterKeys keys;
};

Result<nlohmann::json> CoordinatorRequest(const CoordinatorEndpoint& coordinator, const nlohmann::json& request,
                                          int timeout_ms);

}  // namespace tailsafe
