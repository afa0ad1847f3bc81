// RecoveryRecord: one /recoveries/N, typed. The coordinator decides on these records; JSON is
// only how a store holds them (ToJson, FromJson), the same schema in SQLite and in ZooKeeper.
//
// A record's life: waiting (no live agent defines its hook) -> assigned (to an agent, under a
// fencing epoch) -> running (the assignee said so) -> recovered | failed. Any unfinished state
// may go back to waiting or to assigned under a new epoch (its assignee died); an operator's
// `tailsafectl retry` sends a failed record back to waiting.
//
// A range whose origin's host died before shipping all of it is shrunk (recovery_plan.h,
// ShrinkRange): `to` becomes what the survivors hold, `asked_to` keeps the end first asked and
// `shrunk` says why. A result under the current epoch may still deliver past `to`, up to
// `asked_to` (an assignee that held more than it had reported): `to` grows back to it. Bytes
// past `to` held only by a survivor without the hook are pulled from it (`pull_from`, up to
// `pull_to`) by the assignee before it runs; its result says how that went (`pulled`).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "coordinator/recovery_plan.h"

namespace tailsafe {

enum class RecoveryState { kWaiting, kAssigned, kRunning, kRecovered, kFailed };

const char* RecoveryStateName(RecoveryState s);
std::optional<RecoveryState> ParseRecoveryState(std::string_view name);

struct RecoveryAssignment {
  uint64_t epoch = 0;
  std::string agent;
  uint64_t unix_ms = 0;
};

struct RecoveryRecord {
  // A record keeps the history of its newest assignments only, so that a range reassigned
  // again and again (a flapping host) still fits one document.
  static constexpr size_t kMaxAssignments = 16;

  uint64_t id = 0;
  std::string origin, bolt, hook;
  uint64_t gen = 0, from = 0, to = 0;
  uint64_t delivered_to = 0;  // recovered: the end of the whole records the hook got
  uint64_t asked_to = 0;      // shrunk: the end first asked (0: never shrunk)
  std::string shrunk;         // shrunk: why, and what was given up
  std::string pull_from;      // shrunk: a survivor without the hook the assignee pulls from
  uint64_t pull_to = 0;       // ... the end of what it pulls (from `from`)
  std::string pulled;         // the assignee's word on the pull: what it got from whom, or why not
  RecoveryState state = RecoveryState::kWaiting;
  std::string agent;  // the assignee
  uint64_t epoch = 0;
  uint64_t attempts = 0;
  std::string cause;  // why the range exists: "process died", "host died"
  std::string error;  // the last failure
  uint64_t created_unix_ms = 0, assigned_unix_ms = 0, finished_unix_ms = 0;
  std::vector<RecoveryAssignment> assignments;  // oldest first, at most kMaxAssignments

  bool finished() const { return state == RecoveryState::kRecovered || state == RecoveryState::kFailed; }
  // Assigned or running: an agent holds it under `epoch`.
  bool held() const { return state == RecoveryState::kAssigned || state == RecoveryState::kRunning; }
  void AddAssignment(RecoveryAssignment a);
  // What planning needs of it (coordinator/recovery_plan.h).
  RangeRecord Range() const;

  nlohmann::json ToJson() const;
  // The error names the field that is missing or wrong.
  static Result<RecoveryRecord> FromJson(uint64_t id, const nlohmann::json& doc);
};

}  // namespace tailsafe
