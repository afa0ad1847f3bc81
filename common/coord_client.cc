#include "common/coord_client.h"

#include <algorithm>

#include "common/coord_protocol.h"
#include "common/secure_client.h"
#include "common/wire.h"

namespace tailsafe {

namespace {

Result<nlohmann::json> RequestOne(const std::string& address, const ClusterKeys& keys, const nlohmann::json& request,
                                  int timeout_ms) {
  auto conn = SecureClient::Connect(address, &keys, timeout_ms, "the coordinator");
  if (!conn) return conn.status();
  if (Status s = (*conn)->Send(ControlFrame(request)); !s) return s;
  FrameReader reader;
  std::string plain;
  for (;;) {
    Frame f;
    Status err;
    FrameReader::Result r = reader.Next(&f, &err);
    if (r == FrameReader::Result::kError) return err.Context("reply from the coordinator at " + address);
    if (r == FrameReader::Result::kFrame) {
      std::string_view text;
      if (Status s = DecodeControl(f, &text); !s) return s.Context("reply from the coordinator");
      return ParseControl(text);
    }
    plain.clear();
    Result<size_t> n = (*conn)->Receive(&plain, timeout_ms);
    if (!n) return n.status();
    if (*n == 0) return Status::Error("the coordinator at " + address + " closed the connection without a reply");
    reader.Feed(plain.data(), plain.size());
  }
}

}  // namespace

Result<nlohmann::json> CoordinatorRequest(const CoordinatorEndpoint& coordinator, const nlohmann::json& request,
                                          int timeout_ms, std::string* answered) {
  if (coordinator.addresses.empty()) return Status::Error("no coordinator address");
  std::string errors;
  bool unreachable = true;
  // The listed instances in order; one that does not lead names the leader, which is tried
  // next (once).
  std::vector<std::string> order = coordinator.addresses;
  for (size_t i = 0; i < order.size(); ++i) {
    const std::string address = order[i];
    Result<nlohmann::json> reply = RequestOne(address, coordinator.keys, request, timeout_ms);
    if (reply && reply->value("type", "") == "not_leader") {
      std::string leader = reply->value("leader", "");
      errors += (errors.empty() ? "" : "; ") + address + " does not lead";
      unreachable = false;
      bool seen = std::find(order.begin(), order.begin() + static_cast<long>(i) + 1, leader) != order.begin() + static_cast<long>(i) + 1;
      if (!leader.empty() && !seen && order.size() < coordinator.addresses.size() * 2 + 2) {
        order.insert(order.begin() + static_cast<long>(i) + 1, leader);
      }
      continue;
    }
    if (reply) {
      if (answered != nullptr) *answered = address;
      return reply;
    }
    const std::string& m = reply.status().message();
    if (coordinator.addresses.size() == 1 && m.find("cannot reach") == std::string::npos) return reply.status();
    unreachable = unreachable && m.find("cannot reach") != std::string::npos;
    errors += (errors.empty() ? "" : "; ") + m;
  }
  return Status::Error(errors + (unreachable ? " (is tailsafe-coordinator running?)" : ""));
}

}  // namespace tailsafe
