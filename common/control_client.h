// Client side of the agent's control socket (see agent/control_server.h): connect, send one
// request line, read the reply until the agent closes. Blocking, with a deadline.
#pragma once

#include <string>

#include "common/status.h"

namespace tailsafe {

Result<std::string> ControlRequest(const std::string& socket_path, const std::string& request, int timeout_ms);

}  // namespace tailsafe
