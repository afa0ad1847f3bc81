// Coordinator: one tailsafe-coordinator process on a single-threaded libuv loop.
//
// Agents connect, register (id, address, hook names, bolts) and heartbeat with their bolts'
// states; tailsafectl connects to read the namespace (ls, get). An agent silent for
// `host_timeout_ms` is dead, and so are its bolts: /agents/ID and /bolts/ID/* say so. A
// connection that closes is not a death by itself (an agent restarting reconnects within the
// timeout); silence is. Every change of an agent's membership is pushed to every connected agent.
//
// State lives in the NamespaceStore (coordinator/namespace_store.h); the leading instance holds
// it typed in a TermState (coordinator/term_state.h), loaded when it starts leading, where each
// change becomes the write of a document. Nothing leaves the coordinator before every commit
// made before it is durable (a frame sent after a commit waits in an outbox until then).
// Heartbeats are kept in memory only: after a coordinator restart, or when an instance starts
// leading, every agent gets two `host_timeout_ms` (one to find the new leader, one as always)
// before it is declared dead.
//
// Only the leading instance (coordinator/leadership.h) holds state and decides; the others
// answer every agent and tailsafectl with "not_leader" and the leader's address, and close.
//
// Recovery (coordinator/recovery.cc, the other half of this class): whenever a bolt is dead (its
// process, as its agent reports, or its whole host), the coordinator plans the ranges of its tail
// still to recover (coordinator/recovery_plan.h), creates /recoveries/N for each, elects an
// agent and assigns the range under a fencing epoch: the epoch is committed to SQLite before the
// assignment is sent, every assignment gets a new one, and a result is accepted only from the
// assignee under the current epoch of a range not yet recorded. An assignee that dies is
// replaced under a higher epoch; after a coordinator restart, assignees that reconnect get their
// assignment again under the same epoch.
#pragma once

#include <uv.h>

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <tuple>

#include <nlohmann/json.hpp>

#include "common/config.h"
#include "common/framed_conn.h"
#include "common/http_server.h"
#include "common/status.h"
#include "common/uv_handle.h"
#include "coordinator/leadership.h"
#include "coordinator/namespace_store.h"
#include "coordinator/recovery_plan.h"
#include "coordinator/recovery_record.h"
#include "coordinator/term_state.h"

namespace tailsafe {

class Coordinator {
 public:
  // `keys`: the cluster key(s) every connection is authenticated and encrypted with.
  Coordinator(uv_loop_t* loop, Config config, ClusterKeys keys, std::unique_ptr<NamespaceStore> store,
              std::unique_ptr<Leadership> leadership);
  ~Coordinator();
  Status Start();
  // Closes the listener, every connection and the timers; runs `on_stopped` once.
  void Stop();
  std::function<void()> on_stopped;
  const std::string& cluster() const { return config_.cluster.name; }
  const std::string& listen() const { return config_.coordinator.listen; }
  // SIGHUP: a coordinator has no setting that changes while it runs. A new configuration is
  // checked and each difference in [cluster] or [coordinator] named (it takes a restart); the
  // other tables, which a file shared with an agent may change, are not the coordinator's.
  Status CheckReload(const Config& next) const;
  // Set when the store could not commit: the coordinator stops, since it cannot keep promises.
  const Status& fatal() const { return fatal_; }
  // The Prometheus text served at GET /metrics (coordinator/metrics.cc).
  std::string PrometheusText() const;
  bool leading() const { return leading_; }
  uint64_t term() const { return term_; }

 private:
  using BoltKey = TermState::BoltKey;
  using GenKey = TermState::GenKey;
  using Agent = TermState::Agent;
  using History = TermState::History;
  using Recovery = RecoveryRecord;

  void Lead(uint64_t term);
  void Follow(const std::string& why);
  // Drops the state of a term and closes every connection (Follow's second half).
  void Forget();
  // Sends `frame` once every commit made so far is durable (at once if they are).
  void Deliver(FramedConn* conn, std::string frame);
  void FlushOutbox();
  void OnAccept(UvPtr<uv_tcp_t> tcp);
  Status OnFrame(FramedConn* conn, const Frame& f);
  Status OnRegister(FramedConn* conn, const nlohmann::json& msg);
  Status OnHeartbeat(FramedConn* conn, const nlohmann::json& msg);
  Status OnReconfigure(FramedConn* conn, const nlohmann::json& msg);
  // operator_commands.cc: retry, forget_agent.
  Status OnOperatorCommand(FramedConn* conn, const nlohmann::json& msg);
  // bolts[] ({name, hook}) and hooks[] (names) of a register or reconfigure message.
  static Status ReadBoltsAndHooks(const char* what, const nlohmann::json& bolts, const nlohmann::json& hooks,
                                  std::vector<std::string>* bolt_names, std::map<std::string, std::string>* bolt_hooks,
                                  std::vector<std::string>* hook_names);
  Status OnRead(FramedConn* conn, const nlohmann::json& msg);
  // A stored document plus the live facts kept in memory (last heard, lag).
  nlohmann::json LiveDoc(const std::string& path, const std::string& stored) const;
  // namespace_reads.cc: paged dumps, and watches pushed from each commit.
  void CollectPaths(const std::string& path, std::vector<std::string>* out) const;
  // One page of the documents at or below `path` after `after` (every page, for a watch).
  void DeliverDocuments(FramedConn* conn, const std::string& path, const std::string& after, bool all_pages);
  void NotifyWatchers(const std::vector<NamespaceStore::Write>& writes);
  void KeepWatchersAlive();
  void OnClose(FramedConn* conn, const CloseReason& reason);
  void CheckSilence();
  Status DeclareDead(Agent& a, uint64_t silent_ms);
  void PushMembership();
  Agent* AgentOf(FramedConn* conn);
  bool StartRanges(const std::string& origin, const std::string& bolt, const std::string& hook,
                   const std::vector<PlannedRange>& ranges, const std::string& cause);
  void PlanReportedDeaths(BoltRecord b, const std::map<uint64_t, uint64_t>& ends, std::vector<RangeRecord> records);
  Status CommitOrFail(const std::vector<NamespaceStore::Write>& writes);

  // recovery.cc
  void ReadReports(Agent& a, const nlohmann::json& msg);
  // Plans and assigns what every dead bolt still needs; retries waiting assignments.
  void EvaluateRecoveries();
  void EvaluateBolt(const std::string& origin, const std::string& bolt);
  // Elects an agent for `r` and commits the assignment under a new epoch (or "waiting").
  Status Assign(Recovery& r, const std::string& why);
  void SendAssignment(const Recovery& r);
  void ResendAssignments(Agent& a);
  void ReassignFrom(const std::string& dead_agent);
  Status OnRecoveryReport(FramedConn* conn, const nlohmann::json& msg);
  Status PutRecovery(const Recovery& r);
  uint32_t Unfinished(const std::string& agent) const;
  uint64_t Coverage(const std::string& agent, const GenKey& key) const;

  // recovery_history.cc
  // Folds the recovered records of each bolt beyond the newest `recoveries_kept` into its
  // history and removes them, a batch per commit.
  void PruneRecoveries();

  static constexpr size_t kMaxConnections = 1024;
  static constexpr size_t kPageBytes = 256 * 1024;  // per ls, dump or changes reply
  static constexpr size_t kPageNames = 4096;         // per ls reply
  static constexpr size_t kPruneBatch = 256;             // records removed per commit
  static constexpr size_t kMaxHistoryGenerations = 256;  // per bolt, in /recovered/ORIGIN/BOLT
  static constexpr size_t kMaxUnauthenticated = 64;

  uv_loop_t* loop_;
  Config config_;
  ClusterKeys keys_;
  std::unique_ptr<NamespaceStore> store_;
  std::unique_ptr<Leadership> leadership_;
  bool leading_ = false;
  uint64_t term_ = 0;
  struct Outgoing {
    std::weak_ptr<FramedConn> conn;
    std::string frame;
    uint64_t after = 0;  // the commit it waits for
  };
  std::deque<Outgoing> outbox_;
  TcpListener listener_;
  UvPtr<uv_timer_t> silence_timer_;
  UvPtr<uv_timer_t> forget_timer_;
  std::string forget_reason_;
  std::map<FramedConn*, std::shared_ptr<FramedConn>> conns_;  // every open connection
  std::map<FramedConn*, std::string> watchers_;                // tailsafectl watch: the path watched
  uint64_t watch_alive_ns_ = 0;
  TermState state_;  // this term's agents, bolts, recoveries and histories (empty unless leading)
  uint64_t heartbeat_ms_ = 250;
  uint64_t silence_check_ms_ = 50;
  Status fatal_;
  bool stopped_ = false;
  uint64_t started_ns_ = 0;
  struct Stats {  // since this process started, for metrics
    uint64_t refused_limit = 0;      // connections over the caps
    uint64_t refused_auth = 0;       // connections that failed the secure handshake
    uint64_t host_deaths = 0;        // agents declared dead after host_timeout_ms of silence
    uint64_t assignments = 0;        // recoveries assigned (each under a new epoch)
    uint64_t stale_reports = 0;      // results refused: finished already, or a stale epoch
  } stats_;
  std::unique_ptr<MetricsServer> metrics_;  // with [coordinator] metrics_listen
};

}  // namespace tailsafe
