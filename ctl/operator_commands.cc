#include "ctl/operator_commands.h"

#include <cstdio>

#include <nlohmann/json.hpp>

#include "common/format.h"

namespace tailsafe {

using nlohmann::json;

namespace {

int Command(const CoordinatorEndpoint& coordinator, const json& request, int timeout_ms) {
  Result<json> reply = CoordinatorRequest(coordinator, request, timeout_ms);
  if (!reply) {
    fprintf(stderr, "tailsafectl: %s\n", reply.status().message().c_str());
    return 1;
  }
  std::string type = Get<std::string>(*reply, "type", "");
  std::string message = Get<std::string>(*reply, "message", "");
  if (type == "done") {
    printf("%s\n", message.c_str());
    return 0;
  }
  if (type == "error") {
    fprintf(stderr, "tailsafectl: %s\n", message.c_str());
    return 1;
  }
  fprintf(stderr, "tailsafectl: unexpected reply '%s' from the coordinator\n", type.c_str());
  return 1;
}

}  // namespace

int RunRetry(const CoordinatorEndpoint& coordinator, const std::string& path, int timeout_ms) {
  return Command(coordinator, {{"type", "retry"}, {"path", path}}, timeout_ms);
}

int RunForgetAgent(const CoordinatorEndpoint& coordinator, const std::string& id, int timeout_ms) {
  return Command(coordinator, {{"type", "forget_agent"}, {"agent", id}}, timeout_ms);
}

}  // namespace tailsafe
