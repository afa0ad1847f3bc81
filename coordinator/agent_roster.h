// AgentRoster: the agents as the leading coordinator knows them. Agents connect, register (id,
// address, hook names, bolts), reload their configuration (reconfigure) and heartbeat with their
// bolts' states (coordinator/heartbeat_merge.h says what a heartbeat changes in the records)
// and what they hold: their files' sizes, their replicas' durable bytes and the checkpoints
// they saw, kept in memory for planning and election. An agent silent for `host_timeout_ms` is
// dead, and so are its bolts: /agents/ID and /bolts/ID/* say so. A connection that closes is
// not a death by itself (an agent restarting reconnects within the timeout); silence is. Every
// change of an agent's membership is pushed to every connected agent.
//
// Heartbeats are kept in memory only: after a coordinator restart, or when an instance starts
// leading, every agent gets two `host_timeout_ms` (one to find the new leader, one as always)
// before it is declared dead.
//
// The roster tells the recovery desk (coordinator/recovery_desk.h) when an agent registers
// (its assignments are sent again), reports (what is due is planned and assigned) and dies
// (what it held is reassigned). Like the desk it works on the coordinator's TermState and
// reaches the coordinator only through its Wiring.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/config.h"
#include "common/framed_conn.h"
#include "common/status.h"
#include "coordinator/namespace_store.h"
#include "coordinator/recovery_desk.h"
#include "coordinator/term_state.h"

namespace tailsafe {

class AgentRoster {
 public:
  // What the roster needs of the coordinator that owns it.
  struct Wiring {
    // Sends a frame once every commit made so far is durable (the coordinator's Deliver).
    std::function<void(FramedConn* conn, std::string frame)> deliver;
    // Commits writes; on failure the coordinator gives up leading or stops (its CommitOrFail).
    std::function<Status(const std::vector<NamespaceStore::Write>& writes)> commit;
    std::function<bool()> leading;  // this instance still leads
  };
  struct Stats {                // since this process started, for metrics
    uint64_t host_deaths = 0;  // agents declared dead after host_timeout_ms of silence
  };

  // `state`, `config` and `desk` outlive the roster.
  AgentRoster(TermState* state, const Config* config, RecoveryDesk* desk, Wiring wiring);

  // This instance leads in `term` from `now_ns` (monotonic), its state just loaded: agents
  // known from before are not connected to it yet, and each gets two timeouts to find it.
  void Lead(uint64_t term, uint64_t now_ns);
  // A register message on `conn`; a bad one is answered with "reject".
  Status OnRegister(std::shared_ptr<FramedConn> conn, const nlohmann::json& msg);
  Status OnReconfigure(FramedConn* conn, const nlohmann::json& msg);
  Status OnHeartbeat(FramedConn* conn, const nlohmann::json& msg);
  // An authenticated connection closed: an agent on it is no longer connected (not dead).
  // Returns whether it was an agent's.
  bool OnClose(FramedConn* conn, const std::string& why);
  // Declares dead every agent silent past the timeout (called often).
  void CheckSilence();
  // Sends every connected agent the list of agents, each with its address, whether alive and
  // whether placed (AgentRecord::Placed: the members its streams are placed over); CheckSilence
  // sends it again when a dead agent's replica_grace_ms ends.
  void PushMembership();
  // The members streams are placed over: as last sent to the agents (they place by it), or as
  // now before anything was sent.
  std::vector<std::string> Placed() const;
  // At most every kRetentionEveryMs: plans replica retention (coordinator/retention_plan.h) and,
  // if the plan changed, sends it whole ("retain") to every connected agent that understands it.
  // A registering agent gets the last plan sent. Called by CheckSilence.
  void PushRetention(uint64_t now_ns);
  static constexpr uint64_t kRetentionEveryMs = 1000;
  static constexpr size_t kMaxPeerLags = 64;  // per bolt, from a heartbeat (the page draws a bar each)
  const std::map<TermState::BoltKey, uint64_t>& retention() const { return retention_; }
  // The agent registered on `conn`, if any.
  TermState::Agent* AgentOf(FramedConn* conn);
  const Stats& stats() const { return stats_; }

 private:
  using Agent = TermState::Agent;

  void Deliver(FramedConn* conn, std::string frame) { wiring_.deliver(conn, std::move(frame)); }
  Status CommitOrFail(const std::vector<NamespaceStore::Write>& writes) { return wiring_.commit(writes); }
  Status DeclareDead(Agent& a, uint64_t silent_ms);
  // What a heartbeat says the agent holds (sizes for planning and election), into `a`.
  void ReadReports(Agent& a, const nlohmann::json& msg);
  std::string RetainFrame() const;  // the last plan, as a "retain" message
  std::set<std::string> PlacedMembers() const;  // the agents placed now

  TermState* state_;
  const Config* config_;
  RecoveryDesk* desk_;
  Wiring wiring_;
  uint64_t term_ = 0;
  uint64_t heartbeat_ms_ = 250;
  std::map<TermState::BoltKey, uint64_t> retention_;  // the plan last sent
  std::set<std::string> placed_;                       // the placed agents last sent
  uint64_t next_retention_ns_ = 0;
  Stats stats_;
};

}  // namespace tailsafe
