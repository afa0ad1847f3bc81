// BoltRecord: one /bolts/ORIGIN/BOLT, typed. The bolt's process and checkpoint as its agent
// last reported them, whether its host is alive, and the deaths reported after the fact that
// are not yet planned (deaths_pending) or were planned lately (deaths_done, so a report
// repeated after a lost acknowledgement is not planned twice). JSON is only how a store holds
// it (ToJson, FromJson) and how a heartbeat reports it (ReadReport).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "coordinator/recovery_plan.h"

namespace tailsafe {

// The bolt's process as its agent tracks it (agent/bolt_tracker.h).
struct BoltProcessReport {
  std::string state;  // the agent's words: untracked, waiting, running, dead
  std::optional<uint64_t> pid;
  uint64_t deaths = 0;  // exits the agent saw while tracking
  std::string detail;   // why waiting, or how it ended
  bool operator==(const BoltProcessReport&) const = default;
};

// The bolt's own checkpoint (how far it has processed), as its agent last read it.
struct BoltCheckpointReport {
  std::optional<uint64_t> gen;  // the generation it applies to, when known
  std::optional<uint64_t> offset;
  uint64_t read_unix_ns = 0;
  std::string problem;  // why it could not be read
  bool operator==(const BoltCheckpointReport&) const = default;
  // A checkpoint planning can start from: both its generation and its offset are known.
  std::optional<TailCheckpoint> Tail() const;
};

struct BoltDeath {
  uint64_t pid = 0, start_ns = 0;  // which process
  uint64_t recorded_unix_ms = 0;
  std::optional<TailCheckpoint> checkpoint;  // where its unprocessed tail starts, when known
  bool operator==(const BoltDeath&) const = default;
  bool Same(uint64_t p, uint64_t s) const { return pid == p && start_ns == s; }
};

struct BoltRecord {
  static constexpr size_t kMaxDeathsReported = 64;  // per heartbeat
  static constexpr size_t kMaxDeathsDone = 16;

  std::string origin, bolt;
  std::string hook;  // empty: the bolt is replicated, never recovered
  bool host_alive = true;
  std::optional<BoltProcessReport> process;
  std::optional<BoltCheckpointReport> checkpoint;
  std::vector<BoltDeath> deaths_pending;                // oldest first
  std::vector<std::pair<uint64_t, uint64_t>> deaths_done;  // {pid, start_ns}, newest last

  bool operator==(const BoltRecord&) const = default;
  bool process_dead() const { return process && process->state == "dead"; }
  // Moves the oldest pending death to deaths_done (which keeps the newest kMaxDeathsDone).
  void MarkOldestPlanned();

  nlohmann::json ToJson() const;
  // The error names the field that is missing or wrong.
  static Result<BoltRecord> FromJson(const nlohmann::json& doc);
  // The process and checkpoint of a heartbeat's bolts[] item, replacing those of `into` (the
  // agent reports them whole each time); an error names the field.
  static Status ReadReport(const nlohmann::json& item, BoltRecord* into);
  // A heartbeat's deaths[] ({pid, start_ns[, gen, offset]}): each one neither pending nor done
  // becomes pending (a bolt without a hook has nothing to plan: none is kept). A death reported
  // without a checkpoint (its agent was down when it happened, and the file now holds a
  // successor's) takes the checkpoint `before` held for that very process, if it did: any
  // checkpoint of the dead process is a safe start. `ack` gets {pid, start_ns} of every death
  // reported, `added` the deaths that became pending (recorded at `now_unix_ms`).
  Status AddDeaths(const nlohmann::json& deaths, const BoltRecord& before, uint64_t now_unix_ms,
                   std::vector<std::pair<uint64_t, uint64_t>>* ack, std::vector<BoltDeath>* added);
};

}  // namespace tailsafe
