// Client side of the coordinator protocol for tailsafectl: one request, one reply, blocking,
// with a deadline, inside the cluster's secure channel. The reply is a parsed CONTROL message.
// With several coordinator instances listed, each is tried in turn until one answers.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/cluster_key.h"
#include "common/status.h"

namespace tailsafe {

// Where the coordinator is and the key(s) to prove membership of its cluster with.
struct CoordinatorEndpoint {
  std::vector<std::string> addresses;  // "HOST:PORT" each ([cluster] coordinator), in order
  ClusterKeys keys;
};

// `answered`, if given, gets the address of the instance that replied.
Result<nlohmann::json> CoordinatorRequest(const CoordinatorEndpoint& coordinator, const nlohmann::json& request,
                                          int timeout_ms, std::string* answered = nullptr);

}  // namespace tailsafe
