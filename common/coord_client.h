// Client side of the coordinator protocol for tailsafectl: one request, one reply, blocking,
// with a deadline. The reply is a parsed CONTROL message.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace tailsafe {

// `address` is "HOST:PORT" ([cluster] coordinator).
Result<nlohmann::json> CoordinatorRequest(const std::string& address, const nlohmann::json& request, int timeout_ms);

}  // namespace tailsafe
