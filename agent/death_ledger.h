// DeathLedger: the deaths of bolts' processes this agent must tell the coordinator about, so that
// every dead process's tail is recovered, also when the death was not seen live.
//
// A bolt's state in heartbeats ("dead", then "running" again once its supervisor restarts it) is
// not enough: a death is overwritten by the successor's "running" whenever the coordinator is
// down or unreachable, or this agent is paused or down, at the moment of the death, and the
// successor's checkpoints then claim the dead process's unprocessed tail as done. So each death
// becomes a record {pid, start, the dead process's last checkpoint}, kept in state.db and sent
// in every heartbeat until the coordinator says it has it (deaths_recorded). The process each
// bolt runs is recorded in state.db as well: one that is gone when the agent starts died while
// it was down, and is reported the same way (NoteDeathsWhileDown).
//
// The dead process's checkpoint (DeadProcessCheckpoint): without a successor (the pid file still
// names it, or the bolt has no pid file), the newest checkpoint read, even after the death, is
// its last word. Once the pid file names another process, the checkpoint file may hold any
// successor's: only a reading taken while the dead process was alive is surely its own (each
// reading is tagged with the process alive when it was read). After a restart of the agent no
// such reading exists for a process that died meanwhile; the death goes without a checkpoint and
// the coordinator takes the one it last held for that process. Either way the chosen checkpoint
// is the dead process's or an older one: a longer tail, never a shorter one.
//
// The ledger is plain state, no I/O: the agent feeds it what the tracker sees, puts Json() in
// heartbeats, and moves its rows into each group commit (Collect).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/bolt_tracker.h"
#include "agent/state_store.h"

namespace tailsafe {

class DeathLedger {
 public:
  // A process: its pid and start time on the boot-time clock (pid 0: none).
  struct ProcessId {
    uint64_t pid = 0;
    uint64_t start_ns = 0;
    bool operator==(const ProcessId&) const = default;
  };
  // A checkpoint as read, the generation it applied to, and who was alive when it was read.
  struct CheckpointReading {
    uint64_t gen = 0, offset = 0;
    ProcessId writer;
  };
  static constexpr size_t kCheckpointHistory = 16;  // readings kept per bolt
  static constexpr size_t kMaxDeathsPerBolt = 32;   // unrecorded deaths kept per bolt

  // `reporting`: whether there is a coordinator to tell (without one deaths are not kept: no
  // recovery happens anyway). `loaded`: the deaths state.db holds from the last run.
  DeathLedger(bool reporting, std::vector<DeathRow> loaded);

  // A checkpoint of `bolt` read from its file and applied to generation `gen`.
  void NoteCheckpoint(const std::string& bolt, uint64_t gen, uint64_t offset, ProcessId writer);
  // `bolt` now runs process `p`: recorded so that a death while this agent is down is found.
  void NoteTracked(const std::string& bolt, ProcessId p);
  // `bolt`'s process `p` died, seen live; `successor`: its pid file names another process now.
  void NoteDeath(const std::string& bolt, ProcessId p, bool successor, uint64_t unix_ms);
  // After the tracker's first look at start: each bolt process state.db recorded that is not
  // the one running now died while this agent was down. `configured` says whether a bolt is
  // still run; `now` is the tracker's view of it (null if untracked). Returns how many deaths
  // it noted.
  size_t NoteDeathsWhileDown(const std::vector<BoltProcessRow>& recorded,
                             const std::function<bool(const std::string&)>& configured,
                             const std::function<const BoltProcess*(const std::string&)>& now, uint64_t unix_ms);
  // The coordinator has these deaths of `bolt` on record: they are forgotten.
  void Recorded(const std::string& bolt, const std::vector<ProcessId>& processes);
  // The coordinator's `deaths_recorded` message ({"bolt", "deaths": [{"pid", "start_ns"}]}):
  // Recorded() with what it names, or an error naming the bad field (nothing is forgotten).
  Status RecordedMessage(const nlohmann::json& msg);

  // The dead process's checkpoint, by the rule above; none if no reading qualifies.
  std::optional<CheckpointReading> DeadProcessCheckpoint(const std::string& bolt, ProcessId p,
                                                         bool successor) const;
  // Whether a death of `bolt` still awaits the coordinator's record.
  bool HasDeaths(const std::string& bolt) const;
  const std::vector<DeathRow>& deaths() const { return deaths_; }
  // `bolt`'s unrecorded deaths as the heartbeat sends them: [{pid, start_ns, unix_ms[, gen,
  // offset]}].
  nlohmann::json Json(const std::string& bolt) const;
  // Whether rows wait for the next commit.
  bool dirty() const { return !pending_deaths_.empty() || !pending_processes_.empty(); }
  // Moves the rows that wait for a commit into `batch`.
  void Collect(StateBatch* batch);

 private:
  void Add(DeathRow d);

  bool reporting_;
  std::vector<DeathRow> deaths_;  // not yet on the coordinator's record
  std::vector<DeathRow> pending_deaths_;
  std::vector<BoltProcessRow> pending_processes_;
  std::map<std::string, std::vector<CheckpointReading>> readings_;  // the last few, per bolt
};

}  // namespace tailsafe
