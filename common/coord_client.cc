#include "common/coord_client.h"

#include <algorithm>

#include "common/coord_protocol.h"
#include "common/secure_client.h"

namespace tailsafe {

CoordinatorStream::CoordinatorStream(std::unique_ptr<SecureClient> conn, std::string address)
    : conn_(std::move(conn)), address_(std::move(address)) {}

CoordinatorStream::~CoordinatorStream() = default;

Status CoordinatorStream::Send(const nlohmann::json& request) { return conn_->Send(ControlFrame(request)); }

Result<nlohmann::json> CoordinatorStream::Next(int timeout_ms) {
  Frame f;
  if (Status s = conn_->ReadFrame(&f, timeout_ms); !s) return s;
  std::string_view text;
  if (Status s = DecodeControl(f, &text); !s) return s.Context("reply from the coordinator");
  return ParseControl(text);
}

class StreamOpener {
 public:
  static Result<CoordinatorReply> One(const std::string& address, const ClusterKeys& keys,
                                      const nlohmann::json& request, int timeout_ms) {
    auto conn = SecureClient::Connect(address, &keys, timeout_ms, "the coordinator");
    if (!conn) return conn.status();
    CoordinatorReply out;
    out.stream.reset(new CoordinatorStream(std::move(conn.value()), address));
    if (Status s = out.stream->Send(request); !s) return s;
    Result<nlohmann::json> first = out.stream->Next(timeout_ms);
    if (!first) {
      if (first.status().message().find("closed the connection") != std::string::npos) {
        return Status::Error("the coordinator at " + address + " closed the connection without a reply");
      }
      return first.status();
    }
    out.first = std::move(first.value());
    return out;
  }
};

Result<CoordinatorReply> CoordinatorOpen(const CoordinatorEndpoint& coordinator, const nlohmann::json& request,
                                         int timeout_ms) {
  if (coordinator.addresses.empty()) return Status::Error("no coordinator address");
  std::string errors;
  bool unreachable = true;
  // The listed instances in order; one that does not lead names the leader, which is tried
  // next (once).
  std::vector<std::string> order = coordinator.addresses;
  for (size_t i = 0; i < order.size(); ++i) {
    const std::string address = order[i];
    Result<CoordinatorReply> reply = StreamOpener::One(address, coordinator.keys, request, timeout_ms);
    if (reply && reply->first.value("type", "") == "not_leader") {
      std::string leader = reply->first.value("leader", "");
      errors += (errors.empty() ? "" : "; ") + address + " does not lead";
      unreachable = false;
      auto tried_end = order.begin() + static_cast<long>(i) + 1;
      bool seen = std::find(order.begin(), tried_end, leader) != tried_end;
      if (!leader.empty() && !seen && order.size() < coordinator.addresses.size() * 2 + 2) {
        order.insert(tried_end, leader);
      }
      continue;
    }
    if (reply) return reply;
    const std::string& m = reply.status().message();
    if (coordinator.addresses.size() == 1 && m.find("cannot reach") == std::string::npos) return reply.status();
    unreachable = unreachable && m.find("cannot reach") != std::string::npos;
    errors += (errors.empty() ? "" : "; ") + m;
  }
  return Status::Error(errors + (unreachable ? " (is tailsafe-coordinator running?)" : ""));
}

Result<nlohmann::json> CoordinatorRequest(const CoordinatorEndpoint& coordinator, const nlohmann::json& request,
                                          int timeout_ms, std::string* answered) {
  Result<CoordinatorReply> reply = CoordinatorOpen(coordinator, request, timeout_ms);
  if (!reply) return reply.status();
  if (answered != nullptr) *answered = reply->stream->address();
  return std::move(reply->first);
}

}  // namespace tailsafe
