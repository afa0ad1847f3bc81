// AgentReport: one snapshot of what an agent knows, taken on the loop, rendered three ways:
// the status document `tailsafectl status` reads (StatusJson), the heartbeat the coordinator
// plans recoveries from (HeartbeatJson), and the Prometheus text at GET /metrics
// (PrometheusText). The agent walks its state once, in Agent::Report(); the renderers are pure
// functions of the snapshot, so what each shows is pinned by unit tests
// (tests/agent/test_agent_report.cc) and the three never disagree about a figure.
//
// Names and labels of the metrics are listed in tailsafe-agent(8); counters count since the
// agent process started.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/bolt_source.h"
#include "agent/bolt_tracker.h"
#include "agent/holder_fill.h"
#include "agent/peer_link.h"
#include "agent/recovery_runner.h"
#include "agent/replica_server.h"
#include "agent/state_store.h"

namespace tailsafe {

// How far one peer is behind on one bolt.
struct Lag {
  uint64_t bytes = 0;   // not yet acknowledged
  double seconds = 0;   // since the oldest of them was seen
};

struct BoltReport {
  struct Gen {
    uint64_t gen = 0;
    GenState state = GenState::kActive;
    uint64_t size = 0;  // as last seen
    uint64_t end = 0;   // what can ever be shipped: the final size once sealed
    bool persisted = false;  // recorded in state.db (only those are told to the coordinator)
  };
  struct Peer {
    std::string peer;
    bool connected = false;
    uint64_t shipped = 0, acked = 0;  // of the active generation
    Lag lag;                          // over every generation still shipped
    // A new holder not yet filled (agent/holder_fill.h): what it still lacks of the target.
    bool filling = false;
    uint64_t fill_remaining = 0;
  };
  std::string name, file, pattern;  // pattern: the [[bolt_pattern]] that found it, if any
  bool removed = false;             // draining: sealed, still reaching the peers
  std::optional<BoltProcess> process;
  std::optional<BoltCheckpoint> checkpoint;  // as the tracker read it
  bool checkpoint_applied = false;           // a generation carries it:
  uint64_t checkpoint_gen = 0, checkpoint_offset = 0;
  nlohmann::json deaths = nlohmann::json::array();  // not yet on the coordinator's record
  BoltSource::Stats stats;
  std::vector<Gen> gens;
  std::vector<Peer> peers;
  // Holders still being filled: the stream has fewer whole copies than asked for.
  size_t HoldersFilling() const;
};

struct PeerReport {
  std::string id, address, last_error;
  bool connected = false;
  PeerLink::Stats stats;
  std::vector<PeerLink::StreamFailure> failed_streams;
  uint64_t generations_tracked = 0;  // of this host's generations, the link keeps state about
};

struct ReplicaReport {
  std::string origin, bolt, path;
  uint64_t gen = 0, durable = 0, written = 0, verified = 0, recorded = 0;
  bool sealed = false, streaming = false;
};

struct CheckpointReport {
  std::string origin, bolt;
  uint64_t gen = 0, offset = 0;
};

struct AgentReport {
  std::string agent, cluster;
  int pid = 0;
  double uptime_seconds = 0;
  std::vector<BoltReport> bolts;
  std::vector<PeerReport> peers;
  std::vector<ReplicaReport> replicas;  // ordered by (origin, bolt, generation)
  std::vector<CheckpointReport> peer_checkpoints;
  ReplicaServer::Stats receiver;
  ReplicaStore::RetentionStats retention;
  uint64_t commits = 0, files_synced = 0, filesystem_syncs = 0, syncfs_fallbacks = 0, full_disk_retries = 0;
  std::string storage_error;  // why this agent cannot write its data_dir, or empty
  std::optional<nlohmann::json> discovery;   // with [[bolt_pattern]] rules
  std::optional<nlohmann::json> recoveries;  // with a coordinator: the runner's jobs
  std::optional<RecoveryRunner::Stats> recovery_stats;
  struct Coordinator {
    std::string address, last_error;
    uint64_t term = 0;
    bool registered = false;
    nlohmann::json membership;
  };
  std::optional<Coordinator> coordinator;
};

// The status document (`tailsafectl status`), as JSON text.
std::string StatusJson(const AgentReport& r);
// What a heartbeat reports: bolts (process, checkpoint, deaths, generations, worst lag), the
// replicas a tail can lie in (per origin and bolt, from its newest checkpoint's generation on,
// the newest 8), peers' checkpoints, and a storage error.
nlohmann::json HeartbeatJson(const AgentReport& r);
// The Prometheus text exposition.
std::string PrometheusText(const AgentReport& r);

}  // namespace tailsafe
