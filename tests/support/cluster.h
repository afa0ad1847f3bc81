// TestCluster: N tailsafe agents on loopback, each with its own directory, config, data_dir,
// log file and bolt files, all under one temporary directory. Each agent lists every other as a
// static peer. Used by the integration tests and nothing else.
#pragma once

#include <signal.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "tests/support/process.h"
#include "tests/support/virtual_network.h"

namespace tailsafe::testing {

struct ClusterOptions {
  int agents = 3;
  int bolts_per_agent = 2;
  uint32_t window_bytes = 0;        // 0: the agent's default
  uint32_t rescan_interval_ms = 0;  // 0: the agent's default
  uint32_t seal_after_ms = 0;       // 0: the agent's default
  uint32_t linger_ms = 0;           // every agent's; 0: the default (none)
  uint32_t commit_interval_ms = 0;  // every agent's; 0: the default (none)
  bool pid_files = false;           // each bolt gets pid_file = PidFile(agent, bolt)
  bool checkpoint_files = false;    // each bolt gets checkpoint_file = CheckpointFile(agent, bolt)
  // Each bolt gets match = { exe = "/usr/bin/sleep", arg = MatchArg(agent, bolt) } instead of a
  // pid file: `sleep MatchArg(...)` is the bolt's process.
  bool match_sleep = false;
  bool coordinator = false;         // a tailsafe-coordinator; agents get [cluster] coordinator
  // With `zookeeper` (an ensemble's connect string): that many coordinator instances with
  // store = "zookeeper", each with its own port, config, log and metrics port.
  int coordinators = 1;
  std::string zookeeper;
  uint32_t zookeeper_session_ms = 2000;
  bool static_peers = true;         // false: no [agent] peers (membership comes from the coordinator)
  uint32_t host_timeout_ms = 1000;  // the coordinator's
  uint32_t recoveries_kept = 0;     // the coordinator's [coordinator] recoveries_kept; 0: its default
  uint32_t replicas = 0;            // every agent's [cluster] replicas; 0: absent (every peer)
  int64_t replica_grace_ms = -1;    // the coordinator's [coordinator] replica_grace_ms; -1: its default
  int64_t shrink_grace_ms = -1;     // the coordinator's [coordinator] shrink_grace_ms; -1: its default
  // Recovery hooks: every agent gets [hooks] test = [ts-hook, HookDir(i), hook_args...] and every
  // bolt hook = "test".
  bool hooks = false;
  std::vector<std::string> hook_args;
  // If set, the hook is this command instead of ts-hook (hook_args are then not used).
  std::vector<std::string> hook_argv;
  uint32_t hook_timeout_ms = 0;  // 0: the agent's default
  uint32_t hook_retry_ms = 0;
  uint32_t hook_attempts = 0;
  std::string log_level = "info";
  // Every agent and the coordinator serve GET /metrics on a port of their own (MetricsPort).
  bool metrics = false;
  // Each coordinator instance serves its status page (http_listen) on a port of its own
  // (CoordinatorHttpPort); with a token, it asks for it (http_token_file).
  bool status_page = false;
  std::string status_token;
  // Bolts after the first bolts_per_agent with a file only: no pid file, checkpoint or hook
  // (files a test appends to itself). Their indexes follow the others'.
  int plain_bolts = 0;
  // If set, agent i runs in network->NamespacePath(AgentId(i)) at network->Address(AgentId(i)),
  // and coordinator instance k in the host CoordinatorHost(k) ("co", "co2", ...). The network
  // must outlive the cluster.
  const VirtualNetwork* network = nullptr;
  // If not 0, each agent's data_dir is a tmpfs of this many bytes (mounted here, unmounted by
  // the destructor; root), so a test can fill it.
  uint64_t data_dir_tmpfs_bytes = 0;
  // If not 0, each agent's data_dir is an ext4 file system of this many bytes on a loop device
  // (root), so a test can freeze it (fsfreeze(8)) and make every write to it wait.
  uint64_t data_dir_ext4_bytes = 0;
};

// The shape most tests need: an origin and one peer, one bolt file.
inline ClusterOptions TwoAgentsOneBolt() {
  ClusterOptions o;
  o.agents = 2;
  o.bolts_per_agent = 1;
  return o;
}

// The shape the recovery tests need: a coordinator, one bolt per agent with a pid file and a
// checkpoint file, and hooks.
inline ClusterOptions RecoveryCluster(int agents) {
  ClusterOptions o;
  o.agents = agents;
  o.bolts_per_agent = 1;
  o.coordinator = true;
  o.pid_files = true;
  o.checkpoint_files = true;
  o.hooks = true;
  o.host_timeout_ms = 1000;
  return o;
}

class TestCluster {
 public:
  TestCluster(const std::string& name, ClusterOptions options);
  ~TestCluster();

  int size() const { return options_.agents; }
  int bolts() const { return options_.bolts_per_agent + options_.plain_bolts; }
  // The address agent i (or, for -1, the first coordinator instance) listens on: 127.0.0.1, or
  // its host's.
  std::string HostAddress(int agent) const;
  // With options.network: the host coordinator instance k runs in ("co" for the first, then
  // "co2", "co3", ...), and its address.
  static std::string CoordinatorHost(int k) { return k == 0 ? "co" : "co" + std::to_string(k + 1); }
  std::string CoordinatorHostAddress(int k) const;
  const std::string& root() const { return root_; }
  std::string AgentId(int i) const { return "h" + std::to_string(i + 1); }
  std::string BoltName(int b) const { return "bolt-" + std::to_string(b + 1); }
  std::string BoltFile(int agent, int bolt) const;
  std::string PidFile(int agent, int bolt) const;
  // A number of seconds for sleep(1) unique to this cluster, agent and bolt (about a day).
  std::string MatchArg(int agent, int bolt) const {
    return "86400." + std::to_string(ports_[static_cast<size_t>(agent)]) + std::to_string(bolt);
  }
  std::string CheckpointFile(int agent, int bolt) const;
  std::string DataDir(int agent) const;
  std::string ReplicaFile(int holder, int origin, int bolt, uint64_t gen) const;
  std::string ConfigPath(int agent) const;
  // Replaces the first `from` in agent i's config (before it starts) with `to`; false if absent.
  bool EditConfig(int agent, const std::string& from, const std::string& to);
  // Lets agent i heartbeat `beats` more times (10 s at most), so that anything the coordinator
  // would still plan or assign has been.
  void LetHeartbeatsPass(int agent, int beats = 4);
  // Writes `config` as running agent i's configuration, sends SIGHUP, and waits (10 s at most)
  // for the log line that answers it ("configuration reloaded: ..." or "... was not loaded,
  // ..."); that line, or an error with the log's tail.
  Result<std::string> Reload(int agent, const std::string& config);
  std::string LogPath(int agent) const;
  std::string ControlSocket(int agent) const { return DataDir(agent) + "/agent.sock"; }
  // With options.metrics: where agent i (or, for -1, the coordinator) serves /metrics.
  uint16_t MetricsPort(int agent) const { return metrics_ports_[static_cast<size_t>(agent + 1)]; }
  // Where agent i's ts-hook runs leave their records (tests/tools/ts-hook.cc).
  std::string HookDir(int agent) const { return root_ + "/hooks/" + AgentId(agent); }

  // Starts agent i and waits until its control socket answers.
  Status Start(int i, double ready_seconds = 10);
  // Sends `sig` and reaps the agent (SIGSTOP and SIGCONT: only sends it).
  void Kill(int i, int sig = SIGKILL);
  // SIGTERM, then waits; an error unless it exits 0 within `seconds`.
  Status Stop(int i, double seconds = 10);
  // Every agent, in order; the first error.
  Status StartAll();
  Status StopAll();
  bool Running(int i);
  pid_t Pid(int i) const { return agents_[i].pid(); }
  // `tailsafectl status` of agent i. Start() waits up to 30 s per try: a starting agent with
  // many bolts may be busy catching up when asked.
  Result<nlohmann::json> AgentStatus(int i, int timeout_ms = 5000);
  // Waits until origin agent `origin` counts all of its bolt `bolt`'s file acknowledged by every
  // peer it lists in status.
  bool WaitAcked(int origin, int bolt, double seconds);

  // The coordinator (options.coordinator): its config, log, address; start, stop, kill. With
  // several instances, `k` says which (0 is the first); CoordinatorAddress() lists them all.
  std::string CoordinatorConfigPath(int k = 0) const {
    return root_ + (k == 0 ? std::string("/coordinator.toml") : "/coordinator-" + std::to_string(k + 1) + ".toml");
  }
  int coordinators() const { return static_cast<int>(coordinator_ports_.size()); }
  // The cluster key every node of this test cluster shares (mode 0600).
  std::string KeyPath() const { return root_ + "/cluster.key"; }
  // "BIN/tailsafectl --key-file KEY": tailsafectl holding this cluster's key, for commands
  // given --coordinator without a configuration.
  std::string Ctl() const;
  std::string CoordinatorLogPath(int k = 0) const {
    return root_ + (k == 0 ? std::string("/coordinator.log") : "/coordinator-" + std::to_string(k + 1) + ".log");
  }
  std::string CoordinatorAddress() const;
  std::string CoordinatorInstance(int k) const {
    return CoordinatorHostAddress(k) + ":" + std::to_string(coordinator_ports_[static_cast<size_t>(k)]);
  }
  // Starts instance k; ready once it answers (as the leader, or saying it does not lead).
  Status StartCoordinator(double ready_seconds = 10, int k = 0);
  pid_t CoordinatorPid(int k = 0) const { return coordinators_[static_cast<size_t>(k)].pid(); }
  // Sends `sig`; reaps the instance unless the signal leaves it alive (SIGSTOP, SIGCONT).
  void KillCoordinator(int sig = SIGKILL, int k = 0);
  Status StopCoordinator(double seconds = 10, int k = 0);
  bool CoordinatorRunning(int k = 0) { return coordinators_[static_cast<size_t>(k)].running(); }
  // How instance k / agent i ended ("killed by SIGSEGV", "exited with 1"), once it has.
  std::string CoordinatorExit(int k = 0) const { return coordinators_[static_cast<size_t>(k)].Ended(); }
  std::string AgentExit(int i) const { return agents_[static_cast<size_t>(i)].Ended(); }
  // Where instance k serves its status page (with options.status_page).
  uint16_t CoordinatorHttpPort(int k = 0) const { return coordinator_http_ports_[static_cast<size_t>(k)]; }
  // Where instance k serves /metrics (with options.metrics, or several instances).
  uint16_t CoordinatorMetricsPort(int k) const { return coordinator_metrics_ports_[static_cast<size_t>(k)]; }
  // The instance whose metrics say it leads now, and its term; -1 if none does.
  int LeadingCoordinator(uint64_t* term = nullptr) const;
  // Whether instance k's metrics say it leads (false if it does not answer), and its term.
  bool CoordinatorLeads(int k, uint64_t* term = nullptr) const;
  // `tailsafectl get PATH --json` against the coordinator; an error if it fails.
  Result<nlohmann::json> CoordinatorGet(const std::string& path);
  // Every document whose path starts with `prefix` ("/recoveries/"), in one request.
  Result<std::map<std::string, nlohmann::json>> CoordinatorDocs(const std::string& prefix);
  // Waits until the document at `path` satisfies `pred`; `last` holds the last one read.
  template <typename Pred>
  bool WaitDoc(const std::string& path, Pred pred, double seconds, nlohmann::json* last) {
    return WaitUntil([&] {
      auto d = CoordinatorGet(path);
      if (!d.ok()) return false;
      *last = *d;
      return pred(*last);
    }, seconds);
  }
  std::string CoordinatorLogTail(size_t bytes = 3000) const;

  // Every peer's replica of every (origin, bolt) generation `gen` equals the origin's file
  // byte for byte. `why` says what differs first.
  bool AllReplicasMatch(std::string* why, uint64_t gen = 1);
  // The last `bytes` bytes of agent i's log, for failure messages.
  std::string LogTail(int i, size_t bytes = 3000) const;
  // Keep the directory after the run (set when a test fails, or TAILSAFE_KEEP_TMP=1).
  void Keep() { keep_ = true; }

 private:
  ClusterOptions options_;
  std::string root_;
  std::vector<uint16_t> ports_;
  std::vector<uint16_t> metrics_ports_;  // [0]: the coordinator's, then agent i's at [i + 1]
  std::vector<Child> agents_;
  std::vector<Child> coordinators_;
  std::vector<std::string> mounts_;  // tmpfs data_dirs to unmount
  std::vector<uint16_t> coordinator_ports_;
  std::vector<uint16_t> coordinator_metrics_ports_;  // 0: none
  std::vector<uint16_t> coordinator_http_ports_;     // 0: none
  bool keep_ = false;
};

// Byte-for-byte comparison of two files; `why` names the first difference.
bool FilesEqual(const std::string& a, const std::string& b, std::string* why);
uint64_t FileSize(const std::string& path);  // 0 if missing
// Creates `file` and grows it until its filesystem has not one byte left (what is free, then
// whatever racing writers free up, byte by byte). Removing the file gives the space back.
Status FillFilesystem(const std::string& file);
std::string ReadAll(const std::string& path);  // the whole file; "" if missing
// Hex SHA-256 of a file (via sha256sum), for messages.
std::string Sha256(const std::string& path);
// A TCP port on 127.0.0.1 that was free a moment ago: below the ephemeral range (which outgoing
// connections take from), and never the same twice in one process.
uint16_t FreePort();
// A fresh directory under $TMPDIR (or /var/tmp), named after `name`.
std::string MakeTempDir(const std::string& name);
void RemoveTree(const std::string& path);
// A MakeTempDir directory, removed with everything in it when this goes out of scope.
struct ScopedTempDir {
  explicit ScopedTempDir(const std::string& name = "scratch") : path(MakeTempDir(name)) {}
  ~ScopedTempDir() { RemoveTree(path); }
  ScopedTempDir(const ScopedTempDir&) = delete;
  ScopedTempDir& operator=(const ScopedTempDir&) = delete;
  std::string path;
};

}  // namespace tailsafe::testing
