// Client side of the coordinator protocol for tailsafectl: blocking, with deadlines, inside the
// cluster's secure channel. A request gets one reply (CoordinatorRequest), or opens a stream of
// messages (CoordinatorOpen: paged replies, `watch`). Replies are parsed CONTROL messages. With
// several coordinator instances listed, each is tried in turn until one answers; one that does
// not lead names the leader, which is tried next.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/cluster_key.h"
#include "common/status.h"
#include "common/wire.h"

namespace tailsafe {

// Where the coordinator is and the key(s) to prove membership of its cluster with.
struct CoordinatorEndpoint {
  std::vector<std::string> addresses;  // "HOST:PORT" each ([cluster] coordinator), in order
  ClusterKeys keys;
};

class SecureClient;

// One open connection to the instance that answered.
class CoordinatorStream {
 public:
  ~CoordinatorStream();
  // The next message; an error when none arrives within `timeout_ms` or the connection ends.
  Result<nlohmann::json> Next(int timeout_ms);
  Status Send(const nlohmann::json& request);
  const std::string& address() const { return address_; }

 private:
  friend class StreamOpener;
  CoordinatorStream(std::unique_ptr<SecureClient> conn, std::string address);
  std::unique_ptr<SecureClient> conn_;
  std::string address_;
};

struct CoordinatorReply {
  nlohmann::json first;  // the first reply (never "not_leader")
  std::unique_ptr<CoordinatorStream> stream;
};

// Sends `request` to the leading instance; returns its first reply and the open connection.
Result<CoordinatorReply> CoordinatorOpen(const CoordinatorEndpoint& coordinator, const nlohmann::json& request,
                                         int timeout_ms);

// `answered`, if given, gets the address of the instance that replied.
Result<nlohmann::json> CoordinatorRequest(const CoordinatorEndpoint& coordinator, const nlohmann::json& request,
                                          int timeout_ms, std::string* answered = nullptr);

}  // namespace tailsafe
