// Agent: wires one tailsafe-agent together on a single-threaded libuv loop.
//
//   BoltSource (one per [[bolt]])  --changed-->  PeerLink (one per peer)  --TCP-->  peer's ReplicaServer
//   ReplicaServer/ReplicaStore     --dirty-->    Committer (its thread: fdatasync + state.db)  --> ACKs
//   BoltTracker                    pid file + pidfd per bolt: is the bolt's process alive?
//   CoordinatorLink                --> tailsafe-coordinator: register, heartbeat with bolt states
//                                      and replica sizes; a bolt's death is reported at once
//   RecoveryRunner                 <-- assignments: runs [hooks] on dead bolts' tails
//   ControlServer                  <-- tailsafectl status
//   BoltRoster                     which bolts run: [[bolt]] tables and what [[bolt_pattern]]
//                                      rules find; SIGHUP reloads and scans change it (one path)
//
// Changes are coalesced: sources and sessions call Kick(), and one idle callback per loop
// iteration pumps every peer link and submits a commit. SIGTERM/SIGINT stop the agent: sources
// and connections close, the last commit completes, the loop drains; nothing acknowledged is
// lost and the next start resumes from state.db.
#pragma once

#include <uv.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/agent_report.h"
#include "agent/bolt_roster.h"
#include "agent/bolt_source.h"
#include "agent/bolt_sources.h"
#include "agent/bolt_tracker.h"
#include "agent/committer.h"
#include "agent/coordinator_link.h"
#include "agent/death_ledger.h"
#include "agent/holder_fill.h"
#include "agent/control_server.h"
#include "agent/peer_link.h"
#include "agent/peer_set.h"
#include "agent/range_pull.h"
#include "agent/recovery_runner.h"
#include "agent/reload_plan.h"
#include "agent/replica_server.h"
#include "agent/replica_store.h"
#include "agent/state_store.h"
#include "common/compress.h"
#include "common/config.h"
#include "common/fd.h"
#include "common/metrics_server.h"
#include "common/inotify_watcher.h"
#include "common/service_notify.h"
#include "common/cluster_key.h"
#include "common/uv_handle.h"

namespace tailsafe {

class Agent {
 public:
  // `keys`: the cluster key(s) every connection is authenticated and encrypted with.
  // `config_path`: the file SIGHUP re-reads ("": SIGHUP only logs that it cannot reload).
  Agent(Config config, ClusterKeys keys, std::string config_path = "");
  ~Agent();
  // Runs until SIGTERM or SIGINT (ok) or a fatal error (its status).
  Status Run();
  // The status document served to `tailsafectl status` (JSON text).
  std::string StatusJson() const;
  // The Prometheus text served at GET /metrics (agent/agent_metrics.cc).
  std::string PrometheusText() const;

 private:
  // The rows state.db holds at start.
  struct Loaded {
    std::vector<OriginGenRow> gens;
    std::vector<PeerAckRow> acks;
    std::vector<ReplicaRow> replicas;
    std::vector<CheckpointRow> checkpoints;
    std::vector<MemberRow> members;
    std::vector<DeathRow> deaths;
    std::vector<BoltProcessRow> processes;
  };
  // Init runs each Start* step in turn; the first error ends the start.
  Status Init();
  Status LoadState(Loaded* loaded);
  Status StartReceiving(const Loaded& loaded);
  Status StartPeers(Loaded* loaded);
  void MakeSources(Loaded* loaded);
  Status StartBolts();
  Status StartTracking(const Loaded& loaded);
  Status StartCoordinatorLink();
  Status StartServing();
  Status StartSignals();
  // A request on the control socket: "status" (tailsafectl), "acklog" or "durablelog" (benchmarks).
  std::string ControlReply(const std::string& req);
  void Kick(bool pump, bool commit);
  void OnIdle();
  void Shutdown(const char* why);
  // SIGHUP: re-read config_path_ and apply what changed, or refuse it all.
  void Reload();
  std::string ReadyLine() const;  // systemd's STATUS= once running
  void Fatal(const Status& s);
  // What every peer link shares: the loop, the key, the window, the callbacks into the agent.
  PeerLink::Env LinkEnv();
  // The coordinator's membership: every member not configured statically becomes a peer, and is
  // remembered in state.db for restarts while the coordinator is away.
  void OnMembership(const nlohmann::json& agents);

  Config config_;  // as loaded, with the bolts the rules found appended (BoltRoster::WithFound)
  ClusterKeys keys_;
  std::string config_path_;
  std::map<std::string, HookUser> hook_users_;  // [hooks] user = ..., resolved at start-up
  Fd lock_;  // flock on DATA_DIR/agent.lock while this agent runs
  uv_loop_t loop_{};
  std::optional<StateStore> store_;
  std::unique_ptr<Committer> committer_;
  std::unique_ptr<ReplicaStore> replicas_;
  std::unique_ptr<ReplicaServer> server_;
  std::unique_ptr<InotifyWatcher> watcher_;  // the agent's one inotify instance, for everything watching files
  std::unique_ptr<BoltSources> sources_;  // every bolt's source, and removed ones draining
  std::unique_ptr<PeerSet> peers_;
  HolderFill fills_;  // new holders of this agent's streams, until filled
  std::unique_ptr<BoltTracker> tracker_;
  std::unique_ptr<BoltRoster> roster_;  // which bolts run: [[bolt]] tables and what the rules find
  std::unique_ptr<CoordinatorLink> coord_;  // with [cluster] coordinator
  // Bolt deaths (agent/death_ledger.h): fed from the tracker, reported in every heartbeat until
  // the coordinator has them on record.
  void OnBoltDeath(const std::string& bolt, const BoltProcess& p, bool successor);
  void OnBoltCheckpoint(const std::string& bolt, uint64_t offset, BoltTracker::Writer writer);
  Status OnDeathsRecorded(const nlohmann::json& msg);
  std::optional<DeathLedger> deaths_;
  // One snapshot of everything status, heartbeats and metrics show (agent/agent_report.h).
  AgentReport Report() const;
  std::unique_ptr<RecoveryRunner> runner_;
  std::unique_ptr<RangeShipper> shipper_;  // answers other agents' pulls of this agent's replicas
  std::unique_ptr<ControlServer> control_;
  std::unique_ptr<MetricsServer> metrics_;  // with [agent] metrics_listen
  UvPtr<uv_idle_t> kick_;
  UvPtr<uv_timer_t> ack_flush_;
  UvPtr<uv_signal_t> sigterm_;
  UvPtr<uv_signal_t> sigint_;
  UvPtr<uv_signal_t> sighup_;
  std::unique_ptr<ServiceNotifier> notify_;  // systemd Type=notify and watchdog
  bool pump_pending_ = false;
  bool commit_pending_ = false;
  bool stopping_ = false;
  uint64_t started_ns_ = 0;
  Status fatal_;
};

}  // namespace tailsafe
