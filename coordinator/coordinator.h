// Coordinator: one tailsafe-coordinator process on a single-threaded libuv loop, wiring its
// parts together. Agents connect and speak to the agents' roster (coordinator/agent_roster.h:
// register, heartbeats, death by silence, membership pushes) and the recovery desk
// (coordinator/recovery_desk.h: planning dead bolts' tails, election under fencing epochs,
// results); tailsafectl connects to read the namespace (coordinator/namespace_reader.h: ls,
// get, dump, watch) and for the operator's commands (coordinator/operator_commands.cc).
//
// State lives in the NamespaceStore (coordinator/namespace_store.h); the leading instance holds
// it typed in a TermState (coordinator/term_state.h), loaded when it starts leading, where each
// change becomes the write of a document. Nothing leaves the coordinator before every commit
// made before it is durable (a frame sent after a commit waits in an outbox until then). A
// commit that fails ends this instance's leadership, or stops it if it cannot be given up.
//
// Only the leading instance (coordinator/leadership.h) holds state and decides; the others
// answer every agent and tailsafectl with "not_leader" and the leader's address, and close.
#pragma once

#include <uv.h>

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "common/config.h"
#include "common/framed_conn.h"
#include "common/metrics_server.h"
#include "common/status.h"
#include "common/uv_handle.h"
#include "coordinator/agent_roster.h"
#include "coordinator/leadership.h"
#include "coordinator/namespace_reader.h"
#include "coordinator/namespace_store.h"
#include "coordinator/pull_relay.h"
#include "coordinator/recovery_desk.h"
#include "coordinator/status_page.h"
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
  // The status page's document (coordinator/status_page.h): this instance, and the agents,
  // bolts and recoveries read live, while it leads.
  nlohmann::json StatusDocument() const;
  // Its "coordinator" part: this instance, whether it leads, and where the leader and the pages are.
  nlohmann::json CoordinatorPart() const;
  bool leading() const { return leading_; }
  uint64_t term() const { return term_; }

 private:
  using Agent = TermState::Agent;

  void Lead(uint64_t term);
  void Follow(const std::string& why);
  // Drops the state of a term and closes every connection (Follow's second half).
  void Forget();
  // Sends `frame` once every commit made so far is durable (at once if they are).
  void Deliver(FramedConn* conn, std::string frame);
  void FlushOutbox();
  void OnAccept(UvPtr<uv_tcp_t> tcp);
  Status OnFrame(FramedConn* conn, const Frame& f);
  // operator_commands.cc: retry, forget_agent.
  Status OnOperatorCommand(FramedConn* conn, const nlohmann::json& msg);
  void OnClose(FramedConn* conn, const CloseReason& reason);
  void CheckSilence();
  Status CommitOrFail(const std::vector<NamespaceStore::Write>& writes);

  static constexpr size_t kMaxConnections = 1024;
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
  TermState state_;  // this term's agents, bolts, recoveries and histories (empty unless leading)
  NamespaceReader reader_;  // ls, get, dump, watch
  RecoveryDesk desk_;       // recoveries: planning, election, results
  PullRelay pulls_;         // a shrunk range's bytes, from a holder without the hook to the assignee
  AgentRoster roster_;      // agents: register, heartbeats, death by silence, membership
  uint64_t silence_check_ms_ = 50;
  Status fatal_;
  bool stopped_ = false;
  uint64_t started_ns_ = 0;
  struct Stats {  // since this process started, for metrics (the desk and the roster keep theirs)
    uint64_t refused_limit = 0;  // connections over the caps
    uint64_t refused_auth = 0;   // connections that failed the secure handshake
  } stats_;
  std::unique_ptr<MetricsServer> metrics_;  // with [coordinator] metrics_listen
  std::unique_ptr<StatusPage> page_;        // with [coordinator] http_listen
  std::string page_url_;                    // where it is (StatusPage::PageUrl)
};

}  // namespace tailsafe
