// CoordinatorLink: the agent's connection to tailsafe-coordinator ([cluster] coordinator).
//
// Connects (to each listed instance in turn, backing off after each round up to
// reconnect_max_ms, jittered), registers (id, listen address, hook names,
// bolts), then heartbeats at the interval the coordinator asks for, each heartbeat carrying
// every bolt's process state and checkpoint. Membership pushed by the coordinator goes to the
// agent, which makes every member a peer. The agent replicates the same whether or not the
// coordinator is reachable.
#pragma once

#include <uv.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/config.h"
#include "common/framed_conn.h"
#include "common/status.h"
#include "common/uv_handle.h"

namespace tailsafe {

class CoordinatorLink {
 public:
  struct Handlers {
    // The heartbeat's body: {bolts: [{name, process, checkpoint, gens}], replicas, peer_checkpoints}.
    std::function<nlohmann::json()> report;
    // Every membership push's agents array: [{id, address, alive}].
    std::function<void(const nlohmann::json&)> on_membership;
    // Recovery messages ("assign", "recorded", "revoke", "held", "pulled"); an error closes the
    // connection.
    std::function<Status(const nlohmann::json&)> on_recovery;
    // Each time the coordinator welcomes this agent.
    std::function<void()> on_registered;
    // "deaths_recorded": the coordinator has these bolt deaths on record.
    std::function<Status(const nlohmann::json&)> on_deaths_recorded;
    // "ship": a chunk of a replica this agent holds, for another agent's pull (agent/range_pull.h).
    std::function<Status(const nlohmann::json&)> on_ship;
    // "retain": the coordinator's replica retention plan, whole (agent/replica_store.h).
    std::function<Status(const nlohmann::json&)> on_retain;
  };
  CoordinatorLink(uv_loop_t* loop, const Config& config, const ClusterKeys* keys, Handlers handlers);
  ~CoordinatorLink();
  Status Start();
  void Stop();
  // Sends a message now; false if not registered.
  bool Send(const nlohmann::json& msg);
  // Sends a heartbeat now (a bolt died: the coordinator should not wait for the next one).
  void HeartbeatNow() { Heartbeat(); }
  // The configuration was reloaded: tell the coordinator this agent's bolts and hooks now.
  void ConfigChanged();
  // For status: connected and registered; the last error; the membership last pushed.
  bool registered() const { return registered_; }
  const std::string& last_error() const { return last_error_; }
  const nlohmann::json& membership() const { return membership_; }
  // The newest coordinator term heard from: messages of older terms are refused.
  uint64_t term() const { return max_term_; }
  // The coordinator instance this link talks to, or tries next.
  std::string address() const { return address_.ToString(); }

 private:
  void Connect();
  void OnConnected(Result<UvPtr<uv_tcp_t>> tcp);
  Status OnFrame(const Frame& f);
  void OnClosed(const std::string& why);
  void Retry();
  // The pause before the next round of instances, jittered; grows the backoff.
  uint64_t Backoff();
  void Heartbeat();
  nlohmann::json BoltsAndHooks(const char* type) const;  // {"type", "hooks", "bolts"}

  uv_loop_t* loop_;
  const Config& config_;
  const ClusterKeys* keys_;
  std::string last_logged_;  // the last connection failure logged, to log each reason once
  std::vector<HostPort> addresses_;  // [cluster] coordinator, in order
  size_t next_ = 0;                  // the one address_ is
  HostPort address_;
  std::optional<HostPort> redirect_;  // "not_leader" named the leader: try it next
  size_t redirects_ = 0;              // redirects followed since the last registration
  // An instance answered "not_leader" since the last backoff: the instances are up and an
  // election is on, so the next round comes within a heartbeat period, not a backoff (a new
  // leader must hear from every agent within its host timeout).
  bool answered_ = false;
  uint64_t max_term_ = 0;             // the newest leadership term heard from
  uint64_t heartbeat_ms_ = 250;       // as the coordinator asked
  uint64_t last_heard_ns_ = 0;        // the last frame from the coordinator
  bool acks_ = false;                 // it answers every heartbeat (silence means it is gone)
  Handlers handlers_;
  std::unique_ptr<PendingConnect> connecting_;
  std::shared_ptr<FramedConn> conn_;
  UvPtr<uv_timer_t> retry_timer_;
  UvPtr<uv_timer_t> heartbeat_timer_;
  uint64_t backoff_ms_ = 50;
  bool registered_ = false;
  bool stopped_ = false;
  std::string last_error_;
  nlohmann::json membership_ = nlohmann::json::array();
};

}  // namespace tailsafe
