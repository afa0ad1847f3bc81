// TermState: everything the leading coordinator decides on, typed, for one term. Every agent
// (its /agents/ID record and what its connection told this instance), every bolt's record,
// every /recoveries/N, what is kept of each bolt's recovered ranges, and the counters. Load
// reads it from the store when the term starts; the coordinator drops it when the term ends.
// Each change is made here and becomes the write of a document, which the coordinator commits:
// JSON meets the store here (and in the records' ToJson/FromJson) and nowhere else, so the
// SQLite and ZooKeeper stores hold one schema.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/framed_conn.h"
#include "coordinator/agent_record.h"
#include "coordinator/bolt_record.h"
#include "coordinator/namespace_store.h"
#include "coordinator/recovery_plan.h"
#include "coordinator/recovery_record.h"

namespace tailsafe {

struct TermState {
  using BoltKey = std::pair<std::string, std::string>;            // (origin, bolt)
  using GenKey = std::tuple<std::string, std::string, uint64_t>;  // (origin, bolt, generation)
  using Writes = std::vector<NamespaceStore::Write>;

  struct Agent {
    std::string id;
    AgentRecord record;  // what /agents/ID holds (PutAgent keeps the two the same)
    std::shared_ptr<FramedConn> conn;  // null while not connected
    uint64_t last_heard_ns = 0;
    uint64_t grace_until_ns = 0;  // set when this instance starts leading: silence counts from then
    bool alive() const { return record.alive; }
    bool Runs(const std::string& hook) const;
    // From the registration and the heartbeats of the current connection (memory only):
    std::map<std::string, std::string> bolt_hooks;  // its bolts -> hook name
    bool reported = false;                        // a heartbeat arrived on this connection
    bool acks = false;                            // it asked for every heartbeat to be answered
    bool revokes = false;                         // it understands "revoke" and "held"
    bool ships = false;                           // it understands "ship", "pulled" and pull_from
    bool retains = false;                         // it understands "retain" (deletes old replicas)
    std::string version;                          // what it said it runs (the status page)
    std::map<std::string, std::map<uint64_t, uint64_t>> bolt_ends;  // its bolts: gen -> size
    std::map<GenKey, uint64_t> coverage;          // peers' generations: durable bytes held
    std::map<BoltKey, TailCheckpoint> checkpoints;  // peers' bolts: newest checkpoint seen
    std::map<std::string, nlohmann::json> bolt_lag;  // its bolts: {lag_bytes, lag_seconds}
  };

  // What planning keeps of a bolt's recovered ranges once their records are pruned
  // (/recovered/ORIGIN/BOLT; coordinator/recovery_history.cc).
  struct History {
    std::vector<RangeRecord> spans;  // FoldRecovered
    uint64_t floor = 0;              // generations up to this one are no longer planned
    uint64_t folded = 0;             // records folded in so far
    std::string unreadable;          // why the stored document could not be read: the bolt is held
  };

  std::map<std::string, Agent> agents;
  std::map<BoltKey, BoltRecord> bolts;        // every /bolts/ORIGIN/BOLT
  std::map<BoltKey, std::string> held_bolts;  // stored bolt documents that cannot be read: why
  std::map<uint64_t, RecoveryRecord> recoveries;  // every /recoveries/N
  std::map<BoltKey, History> history;             // every /recovered/ORIGIN/BOLT
  uint64_t next_recovery = 1;  // never repeats: /coordinator/counters keeps it past pruning
  uint64_t next_epoch = 1;

  // Reads every record from the store. A document that cannot be read is logged with the field
  // that is wrong: an agent's is written afresh when the agent registers; a bolt's is held as it
  // is (it may hold deaths not yet planned); a recovery's is left out; a history's holds its bolt.
  void Load(const NamespaceStore& store);

  // Each record becomes the one held here and, if it differs from it, a write of its document.
  void PutAgent(Writes* writes, Agent& a, AgentRecord next);
  void PutBolt(Writes* writes, BoltRecord next);
  static NamespaceStore::Write RecoveryWrite(const RecoveryRecord& r);
  static NamespaceStore::Write HistoryWrite(const BoltKey& key, const History& h);
  NamespaceStore::Write CountersWrite() const;
  static std::string HistoryPath(const BoltKey& key) { return "/recovered/" + key.first + "/" + key.second; }

  // Every range on record for a bolt: its history's spans, then its records.
  std::vector<RangeRecord> RangesOf(const BoltKey& key) const;
  // The durable bytes of a generation `agent` holds, as it last reported: its own bolt's file,
  // or its replica of a peer's; 0 if it reported none.
  uint64_t Coverage(const std::string& agent, const GenKey& key) const;
  // Generation -> the most of a peer's bolt that a live agent, connected and reported (and
  // defining `hook`, unless empty), durably holds in its replicas; none at or below the floor of
  // the bolt's history.
  std::map<uint64_t, uint64_t> Replicated(const BoltKey& key, const std::string& hook) const;
  // What can be recovered of a bolt whose origin's host lives: the origin's file for the
  // generations it holds open, and for those it has closed (rotated away, every peer holding them
  // whole) what Replicated() says; nothing until the origin has reported the bolt on its current
  // connection.
  std::optional<std::map<uint64_t, uint64_t>> LiveEnds(const BoltKey& key, const std::string& hook) const;
  // Whether `agent` may hold the bolt's stream: the origin itself (its file), any agent when the
  // origin places its streams on every peer, else one of the holders PlaceStream picks from
  // `placed` (the membership last sent to the agents, which they place by). Only such an agent
  // can be given the bolt's bytes, so only such an agent is elected for its ranges.
  bool MayHold(const std::string& agent, const BoltKey& key, const std::vector<std::string>& placed) const;
  // The agents that may run a range of generation `key` with `hook`: live, connected, reported,
  // defining the hook, and either MayHold the stream or hold some of the generation (a holder
  // displaced since keeps its replica); `not_holders` says whether one was left out only for
  // holding none of it.
  std::vector<ElectionCandidate> Candidates(const GenKey& key, const std::string& hook,
                                            const std::vector<std::string>& placed, bool* not_holders) const;
  // A bolt's newest checkpoint: its document's, or a newer one a live peer saw since.
  std::optional<TailCheckpoint> NewestCheckpoint(const BoltRecord& doc) const;
  // How many recoveries not yet finished are assigned to `agent`.
  uint32_t Unfinished(const std::string& agent) const;
};

}  // namespace tailsafe
