// PrometheusText: the agent's Prometheus metrics (GET /metrics on [agent] metrics_listen),
// rendered from the same AgentReport `tailsafectl status` reads (agent/agent_report.h). The
// names and labels are listed in tailsafe-agent(8); counters count since this agent process
// started.
#include "agent/agent_report.h"
#include "common/prometheus.h"

namespace tailsafe {

namespace {

double d(uint64_t v) { return static_cast<double>(v); }

// Which agent this is.
void AgentFamilies(const AgentReport& r, MetricsText* m) {
  m->Family("tailsafe_agent_info", "gauge", "Always 1; the labels say which agent and cluster this is.");
  m->Sample(1, {{"agent", r.agent}, {"cluster", r.cluster}, {"version", "0.1"}});
  m->Family("tailsafe_agent_uptime_seconds", "gauge", "Seconds since this agent process started.");
  m->Sample(r.uptime_seconds);
}

// Per bolt: the origin side.
void BoltFamilies(const AgentReport& r, MetricsText* m) {
  m->Family("tailsafe_bolt_origin_bytes", "gauge", "Size of the bolt's current file (its active generation), as last seen.");
  for (const auto& b : r.bolts) {
    uint64_t size = 0;
    for (const auto& g : b.gens) {
      if (g.state == GenState::kActive) size = g.size;
    }
    m->Sample(d(size), {{"bolt", b.name}});
  }
  m->Family("tailsafe_bolt_generation", "gauge", "Number of the bolt's current generation (0 while its file does not exist).");
  for (const auto& b : r.bolts) {
    uint64_t gen = 0;
    for (const auto& g : b.gens) {
      if (g.state == GenState::kActive) gen = g.gen;
    }
    m->Sample(d(gen), {{"bolt", b.name}});
  }
  m->Family("tailsafe_bolt_process_up", "gauge",
           "1 while the bolt's process is alive, 0 once it died; absent for bolts without pid_file or match.");
  for (const auto& b : r.bolts) {
    if (!b.process || b.process->state == ProcState::kUntracked || b.process->state == ProcState::kWaiting) continue;
    m->Sample(b.process->state == ProcState::kRunning ? 1 : 0, {{"bolt", b.name}});
  }
  m->Family("tailsafe_bolt_rescans_total", "counter",
           "Full rescans of the bolt's file: by the safety-net timer, or after an inotify queue overflow.");
  for (const auto& b : r.bolts) {
    m->Sample(d(b.stats.rescans_timer), {{"bolt", b.name}, {"reason", "timer"}});
    m->Sample(d(b.stats.rescans_overflow), {{"bolt", b.name}, {"reason", "overflow"}});
  }
  m->Family("tailsafe_bolt_generations_started_total", "counter",
           "New generations of the bolt's file, by cause: rotation (a new file at the path) or truncation.");
  for (const auto& b : r.bolts) {
    m->Sample(d(b.stats.rotations), {{"bolt", b.name}, {"cause", "rotation"}});
    m->Sample(d(b.stats.truncations), {{"bolt", b.name}, {"cause", "truncation"}});
  }
  m->Family("tailsafe_bolt_divergences_total", "counter",
           "Generations whose bytes a peer proved rewritten in place on this host: kept apart, never merged.");
  for (const auto& b : r.bolts) m->Sample(d(b.stats.divergences), {{"bolt", b.name}});
  m->Family("tailsafe_bolt_lost_generations_total", "counter",
           "Generations that vanished before every peer had all of their bytes.");
  for (const auto& b : r.bolts) m->Sample(d(b.stats.generations_lost), {{"bolt", b.name}});
}

// Per bolt and peer: how far behind each peer is.
void LagFamilies(const AgentReport& r, MetricsText* m) {
  m->Family("tailsafe_bolt_lag_bytes", "gauge", "Bytes of the bolt's current generation the peer has not acknowledged as durable.");
  std::vector<std::pair<MetricLabels, Lag>> lags;
  for (const auto& b : r.bolts) {
    for (const auto& p : b.peers) lags.push_back({{{"bolt", b.name}, {"peer", p.peer}}, p.lag});
  }
  for (const auto& [labels, lag] : lags) m->Sample(d(lag.bytes), labels);
  m->Family("tailsafe_bolt_lag_seconds", "gauge",
           "Age of the oldest byte of the bolt the peer has not acknowledged as durable (0 when caught up).");
  for (const auto& [labels, lag] : lags) m->Sample(lag.seconds, labels);
  m->Family("tailsafe_bolt_holders_filling", "gauge",
           "New holders of the bolt's stream not yet filled with what the file held when they became holders "
           "(the stream is under-replicated while above 0).");
  for (const auto& b : r.bolts) m->Sample(static_cast<double>(b.HoldersFilling()), {{"bolt", b.name}});
}

// Per peer: the links this agent ships on.
void PeerFamilies(const AgentReport& r, MetricsText* m) {
  struct PeerCounter {
    const char* name;
    const char* help;
    uint64_t PeerLink::Stats::*field;
  };
  static const PeerCounter kPeer[] = {
      {"tailsafe_peer_shipped_bytes_total", "Bolt bytes shipped to the peer (before compression).",
       &PeerLink::Stats::bytes_sent},
      {"tailsafe_peer_acknowledged_bytes_total", "Bolt bytes the peer acknowledged as durable (fdatasync'd).",
       &PeerLink::Stats::bytes_acked},
      {"tailsafe_peer_wire_bytes_total", "Bytes written to the peer's connection (compressed, encrypted, framed).",
       &PeerLink::Stats::wire_bytes},
      {"tailsafe_peer_resent_bytes_total", "Bytes shipped again after a reconnect (the unacknowledged window).",
       &PeerLink::Stats::resent_bytes},
      {"tailsafe_peer_stream_errors_total", "Streams the peer failed alone (STREAM_ERROR); the session went on.",
       &PeerLink::Stats::stream_errors},
      {"tailsafe_peer_opens_total", "Streams opened to the peer (OPEN); none for a generation it holds whole.",
       &PeerLink::Stats::opens},
      {"tailsafe_peer_connects_total", "Connections to the peer that completed the handshake.", &PeerLink::Stats::connects},
      {"tailsafe_peer_disconnects_total", "Ready connections to the peer that were lost.", &PeerLink::Stats::disconnects},
      {"tailsafe_peer_connection_failures_total",
       "Attempts to connect to the peer that failed before the connection was ready (resolve, connect, handshake).",
       &PeerLink::Stats::connect_failures},
  };
  for (const PeerCounter& c : kPeer) {
    m->Family(c.name, "counter", c.help);
    for (const auto& p : r.peers) m->Sample(d(p.stats.*c.field), {{"peer", p.id}});
  }
  m->Family("tailsafe_peer_up", "gauge", "1 while the connection to the peer is ready, else 0.");
  for (const auto& p : r.peers) m->Sample(p.connected ? 1 : 0, {{"peer", p.id}});
}

// Receiving peers' streams, and this agent's storage.
void ReceiverFamilies(const AgentReport& r, MetricsText* m) {
  const auto& rs = r.receiver;
  m->Family("tailsafe_receiver_bytes_total", "counter", "Bytes of peers' bolts written to replicas on this host.");
  m->Sample(d(rs.bytes_received));
  m->Family("tailsafe_receiver_sessions_total", "counter", "Peer connections accepted by this agent.");
  m->Sample(d(rs.sessions));
  m->Family("tailsafe_receiver_refused_total", "counter",
           "Incoming connections refused, by reason: auth (no or wrong cluster key), protocol (a bad frame), rejected (a stream refused), slow_reader (it read nothing sent to it).");
  m->Sample(d(rs.auth_failures), {{"reason", "auth"}});
  m->Sample(d(rs.protocol_errors), {{"reason", "protocol"}});
  m->Sample(d(rs.rejected), {{"reason", "rejected"}});
  m->Sample(d(rs.slow_readers), {{"reason", "slow_reader"}});
  uint64_t held = 0, durable = 0;
  for (const auto& rep : r.replicas) {
    held += 1;
    durable += rep.durable;
  }
  m->Family("tailsafe_replica_generations", "gauge", "Replica files (one per generation of a peer's bolt) this agent holds.");
  m->Sample(d(held));
  m->Family("tailsafe_replica_durable_bytes", "gauge", "Durable bytes over every replica this agent holds.");
  m->Sample(d(durable));
  m->Family("tailsafe_replicas_deleted_total", "counter",
           "Replicas deleted under the coordinator's retention plan: their bolt has processed past them.");
  m->Sample(d(r.retention.deleted));
  m->Family("tailsafe_replica_deleted_bytes_total", "counter", "Durable bytes of the replicas deleted under the retention plan.");
  m->Sample(d(r.retention.bytes_deleted));
  m->Family("tailsafe_commits_total", "counter", "Group commits: one sync of the replica files written plus one state.db transaction.");
  m->Sample(d(r.commits));
  m->Family("tailsafe_commit_filesystem_syncs_total", "counter",
            "syncfs(2) calls that made a commit's replica files on one filesystem durable at once (commit_syncfs_files).");
  m->Sample(d(r.filesystem_syncs));
  m->Family("tailsafe_commit_syncfs_fallbacks_total", "counter",
            "syncfs(2) calls that failed, their files then each fdatasync'd.");
  m->Sample(d(r.syncfs_fallbacks));
  m->Family("tailsafe_storage_error", "gauge",
           "1 while this agent cannot write its data_dir (a replica write or a state commit failed, e.g. on a full disk).");
  m->Sample(d(r.storage_error.empty() ? 0 : 1));
}

// Recoveries this agent ran, and its coordinator.
void RecoveryFamilies(const AgentReport& r, MetricsText* m) {
  if (r.recovery_stats) {
    const auto& st = *r.recovery_stats;
    m->Family("tailsafe_recoveries_total", "counter", "Recoveries this agent was assigned that ended, by outcome.");
    m->Sample(d(st.recovered), {{"outcome", "recovered"}});
    m->Sample(d(st.failed), {{"outcome", "failed"}});
    m->Family("tailsafe_hook_runs_total", "counter", "Hook processes run for recoveries, by result.");
    m->Sample(d(st.attempts_ok), {{"result", "ok"}});
    m->Sample(d(st.attempts_failed), {{"result", "failed"}});
    m->Family("tailsafe_hook_duration_seconds", "histogram", "Wall time of each recovery hook process, from start to exit.");
    m->Samples(st.hook_seconds);
  }
  if (r.coordinator) {
    m->Family("tailsafe_coordinator_up", "gauge", "1 while this agent is registered with the coordinator, else 0.");
    m->Sample(r.coordinator->registered ? 1 : 0);
  }
}

}  // namespace

std::string PrometheusText(const AgentReport& r) {
  MetricsText m;
  AgentFamilies(r, &m);
  BoltFamilies(r, &m);
  LagFamilies(r, &m);
  PeerFamilies(r, &m);
  ReceiverFamilies(r, &m);
  RecoveryFamilies(r, &m);
  return m.Take();
}

}  // namespace tailsafe
