// RecoveryDesk: the leading coordinator's recoveries. Whenever a bolt is dead (its process, as
// its agent reports, or its whole host), the desk plans the ranges of its tail still to recover
// (coordinator/recovery_plan.h), creates /recoveries/N for each, elects an agent and assigns the
// range under a fencing epoch: the epoch is committed to the store before the assignment is
// sent, every assignment gets a new one, and a result is accepted only from the assignee under
// the current epoch of a range not yet recorded. An assignee that dies is replaced under a
// higher epoch; after a coordinator restart, assignees that reconnect get their assignment
// again under the same epoch, and the list of all they hold. A range whose origin's host died
// before shipping it is shrunk to what the survivors hold and assigned again
// (coordinator/recovery_shrink.cc); bytes past that which only a survivor without the hook
// holds are pulled from it by the assignee (coordinator/pull_relay.h carries the bytes). An
// agent that loses a range it waits for is told so. Once a bolt has more than `recoveries_kept`
// recovered ranges, the oldest are folded into its history (coordinator/recovery_history.cc).
//
// The desk decides on the coordinator's TermState (what the agents reported, in memory; every
// record, as stored) and reaches the coordinator only through its Wiring: a frame leaves once
// every commit made before it is durable (`deliver`), a change is committed or the coordinator
// gives up leading (`commit`), and a commit that deposes or stops the coordinator ends every
// loop over recoveries at once (`leading`, `stopped`). The agents' roster
// (coordinator/agent_roster.h) tells it when agents come, report and die.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/framed_conn.h"
#include "common/status.h"
#include "coordinator/bolt_record.h"
#include "coordinator/namespace_store.h"
#include "coordinator/recovery_plan.h"
#include "coordinator/recovery_record.h"
#include "coordinator/term_state.h"

namespace tailsafe {

class RecoveryDesk {
 public:
  // What the desk needs of the coordinator that owns it.
  struct Wiring {
    // Sends a frame once every commit made so far is durable (the coordinator's Deliver).
    std::function<void(FramedConn* conn, std::string frame)> deliver;
    // Commits writes; on failure the coordinator gives up leading or stops (its CommitOrFail).
    std::function<Status(const std::vector<NamespaceStore::Write>& writes)> commit;
    std::function<bool()> leading;  // this instance still leads
    std::function<bool()> stopped;  // the coordinator has stopped
    // The membership last sent to the agents (streams are placed over it, common/placement.h).
    std::function<std::vector<std::string>()> placed;
  };
  struct Stats {  // since this process started, for metrics
    uint64_t assignments = 0;     // recoveries assigned (each under a new epoch)
    uint64_t stale_reports = 0;   // results refused: finished already, or a stale epoch
    uint64_t bytes_given_up = 0;  // cut from ranges shrunk to what the survivors of a dead host hold
    uint64_t bytes_found = 0;     // of those, recovered after all (a later report or result)
  };

  // `state` outlives the desk; `recoveries_kept`: per bolt, recovered records kept in /recoveries;
  // `shrink_grace_ms`: how long a dead host is given to return before its ranges are shrunk.
  RecoveryDesk(TermState* state, size_t recoveries_kept, uint64_t shrink_grace_ms, Wiring wiring);

  // This instance leads in `term`, its state just loaded: a history kept with a larger
  // recoveries_kept, or written before it existed, is folded now.
  void Lead(uint64_t term);
  // Plans and assigns what every dead bolt still needs; retries waiting assignments.
  void EvaluateRecoveries();
  // `a` registered: its assignments again under their epochs, then the list of all it holds.
  void ResendAssignments(const TermState::Agent& a);
  // `dead_agent` was declared dead: what it held goes to another agent under a new epoch.
  void ReassignFrom(const std::string& dead_agent);
  // A recovery report ({recovery, epoch, state, attempt[, error, delivered_to]}) from `a`, the
  // agent registered on `conn`; a result is answered with "recorded" once it is durable.
  Status OnRecoveryReport(FramedConn* conn, const TermState::Agent& a, const nlohmann::json& msg);
  // An operator's retry of the failed recovery `r`: it waits again and is assigned anew.
  Status Retry(RecoveryRecord& r);
  const Stats& stats() const { return stats_; }

 private:
  using BoltKey = TermState::BoltKey;
  using GenKey = TermState::GenKey;
  using Agent = TermState::Agent;
  using History = TermState::History;
  using Recovery = RecoveryRecord;

  // recovery_desk.cc
  void EvaluateBolt(const std::string& origin, const std::string& bolt);
  bool StartRanges(const std::string& origin, const std::string& bolt, const std::string& hook,
                   const std::vector<PlannedRange>& ranges, const std::string& cause);
  void PlanReportedDeaths(BoltRecord b, const std::map<uint64_t, uint64_t>& ends, std::vector<RangeRecord> records,
                          const std::optional<TailCheckpoint>& newest, bool origin_alive);
  // Elects an agent for `r` (`keep` if it is a candidate) and commits the assignment under a
  // new epoch (or "waiting"); a connected agent that held it before gets a revoke.
  Status Assign(Recovery& r, const std::string& why, const std::string& keep = "");
  void SendAssignment(const Recovery& r);
  // A "recovered" report's delivered_to, checked against the range, into `r`.
  Status TakeDelivered(Recovery& r, const nlohmann::json& msg);
  Status PutRecovery(const Recovery& r);
  void Deliver(FramedConn* conn, std::string frame) { wiring_.deliver(conn, std::move(frame)); }
  Status CommitOrFail(const std::vector<NamespaceStore::Write>& writes) { return wiring_.commit(writes); }
  bool deciding() const { return !wiring_.stopped() && wiring_.leading(); }

  // recovery_shrink.cc
  // Shrinks, records and reassigns the unfinished ranges of a bolt whose host is dead that end
  // past what the survivors hold (recovery_plan.h, ShrinkRange).
  void ShrinkUnfinished(const std::string& origin, const std::string& bolt);
  // Follow-ups of given-up bytes the origin (`ends`, while it lives) or a survivor with the hook
  // holds again (recovery_plan.h, PlanGivenUp), whatever the bolt does now; `records` is read
  // again if any started. False if the term ended.
  bool FollowUpGivenUp(const std::string& origin, const std::string& bolt, const std::string& hook,
                       const std::map<uint64_t, uint64_t>& ends, std::vector<RangeRecord>* records);
  // Counts and logs the bytes of [from, to) that a shrunk range of r's generation gave up.
  void NoteFound(const Recovery& r, uint64_t from, uint64_t to);
  // Tells `agent` (if connected) it no longer holds r under `epoch`.
  void SendRevoke(const std::string& agent, const Recovery& r, uint64_t epoch, const std::string& why);

  // recovery_history.cc
  // Folds the recovered records of each bolt beyond the newest `recoveries_kept` into its
  // history and removes them, a batch per commit.
  void PruneRecoveries();

  static constexpr size_t kPruneBatch = 256;             // records removed per commit
  static constexpr size_t kMaxHistoryGenerations = 256;  // per bolt, in /recovered/ORIGIN/BOLT

  TermState* state_;
  size_t recoveries_kept_;
  uint64_t shrink_grace_ms_;
  Wiring wiring_;
  uint64_t term_ = 0;
  Stats stats_;
};

}  // namespace tailsafe
