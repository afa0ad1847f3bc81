// CollectReport: the walk that takes an AgentReport (agent/agent_report.h) from the agent's
// owners, on the loop. It reads, never changes: each owner is passed as a const pointer, and the
// optional ones (no coordinator, no [[bolt_pattern]] rules, before the tracker starts) may be
// null. Per bolt and peer it works out what the renderers show: the active generation's shipped
// and acknowledged bytes, and the lag over every generation still being shipped.
#pragma once

#include <cstdint>
#include <string>

#include "agent/agent_report.h"
#include "agent/bolt_roster.h"
#include "agent/bolt_sources.h"
#include "agent/bolt_tracker.h"
#include "agent/committer.h"
#include "agent/coordinator_link.h"
#include "agent/death_ledger.h"
#include "agent/peer_set.h"
#include "agent/recovery_runner.h"
#include "agent/replica_server.h"
#include "agent/replica_store.h"
#include "common/config.h"

namespace tailsafe {

struct ReportInputs {
  const Config* config = nullptr;
  uint64_t started_ns = 0;  // NowNs() when the agent started
  const BoltSources* sources = nullptr;
  const PeerSet* peers = nullptr;
  const ReplicaStore* replicas = nullptr;
  const ReplicaServer* server = nullptr;
  const Committer* committer = nullptr;
  const BoltTracker* tracker = nullptr;          // optional
  const BoltRoster* roster = nullptr;            // optional
  const DeathLedger* deaths = nullptr;           // optional
  const RecoveryRunner* runner = nullptr;        // optional: with a coordinator
  const CoordinatorLink* coord = nullptr;        // optional
  const HolderFill* fills = nullptr;             // optional: new holders being filled
};

AgentReport CollectReport(const ReportInputs& in);

// Why this agent cannot write its data_dir (a replica write or a state commit failed, e.g. on a
// full disk), or empty. Reported in status and heartbeats: `tailsafectl check` is CRITICAL.
std::string StorageError(const Committer& committer, const ReplicaServer& server);

}  // namespace tailsafe
