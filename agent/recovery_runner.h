// RecoveryRunner: runs the recoveries the coordinator assigns to this agent.
//
// An assignment names a range [from, to) of a dead bolt's generation, the hook name and a
// fencing epoch. The runner waits until this agent holds the range durably (its replica, or the
// file itself when the bolt was its own), cuts the range back to whole records (up to its last
// newline; a record cut at `to` waits for a follow-up range), and runs its own [hooks] entry on it
// (agent/hook_process.h) with TAILSAFE_BOLT, _ORIGIN, _GENERATION, _FROM, _TO, _EPOCH and
// _RECOVERY set. A failed run is tried again after hook_retry_ms, doubling, hook_attempts times
// in all. Each attempt is reported ("running"), and so is the end ("recovered" with the end of
// the whole records, or "failed" with the last error); the end is sent again after every
// reconnection until the coordinator says it is recorded (or refused: a stale epoch).
//
// A range assigned with a pull (pull_from, pull_to: bytes past `to` that only a survivor without
// the hook holds) is pulled from that survivor (agent/range_pull.h) once this agent holds
// [from, to); the hook then runs on [from, pull_to) read from the pulled file, and the result
// says so ("pulled_from"). If the pull fails, the hook runs on [from, to) as held here and the
// result says why ("pull_error").
//
// A range with no whole record in it is reported recovered at once, with nothing delivered, and
// no hook runs.
//
// What a job waits for is bounded by what the coordinator says, never by what was once asked:
// once a range's origin host is dead the coordinator shrinks the range to what the survivors
// hold and assigns it again under a new epoch, and a job still waiting takes the new end. A
// "revoke" (the range went to another agent) and a "held" list that leaves a job out (sent at
// each registration: everything this agent is held to) end a job that still waits; one that
// runs finishes, and its result is refused as stale.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "agent/hook_process.h"
#include "common/config.h"
#include "common/fd.h"
#include "common/prometheus.h"
#include "common/status.h"
#include "common/uv_handle.h"

namespace tailsafe {

// What this agent holds of a generation: a descriptor to read it and how much of it is durable.
struct HeldRange {
  std::shared_ptr<Fd> fd;
  uint64_t durable = 0;
};

class RecoveryRunner {
 public:
  struct Env {
    uv_loop_t* loop = nullptr;
    const Config* config = nullptr;
    const std::map<std::string, HookUser>* hook_users = nullptr;  // from ResolveHookUsers
    // The descriptor is opened only if at least `need` bytes are durable.
    std::function<HeldRange(const std::string& origin, const std::string& bolt, uint64_t gen, uint64_t need)> held;
    // Sends a message to the coordinator; false if not connected now.
    std::function<bool(const nlohmann::json&)> send;
    std::string pull_dir;  // where pulled ranges are written (DATA_DIR/pulls)
  };
  explicit RecoveryRunner(Env env);
  ~RecoveryRunner();

  // Coordinator messages: "assign", "recorded", "revoke", "held", "pulled". An error for a
  // malformed one.
  Status OnMessage(const nlohmann::json& msg);
  Status OnAssign(const nlohmann::json& msg);
  Status OnRecorded(const nlohmann::json& msg);
  Status OnRevoke(const nlohmann::json& msg);
  Status OnHeld(const nlohmann::json& msg);
  Status OnPulled(const nlohmann::json& msg);
  // (Re)registered with the coordinator: send every unacknowledged end again.
  void OnRegistered();
  // This agent's replicas may have grown: start the ranges now covered.
  void Poke();
  // For status: every job this agent holds.
  nlohmann::json StatusJson() const;

  // Since this agent started, for metrics.
  struct Stats {
    uint64_t recovered = 0;      // ranges that ended recovered here
    uint64_t failed = 0;         // ranges that ended failed here (attempts used up, or unreadable)
    uint64_t attempts_ok = 0;    // hook runs that exited 0
    uint64_t attempts_failed = 0;  // hook runs that failed (exit status, signal, timeout, spawn error)
    // Wall time of each hook process, start to exit.
    Histogram hook_seconds{{0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 600}};
  };
  const Stats& stats() const { return stats_; }

 private:
  struct Job;
  void TryStart(Job& j);
  // What the hook reads: the pulled file once a pull succeeded, else this agent's own copy.
  HeldRange Input(const Job& j, uint64_t need) const;
  void StartPull(Job& j);
  void RunAttempt(Job& j);
  void OnAttemptDone(uint64_t id, const HookOutcome& out);
  void Report(Job& j, const std::string& state);

  void End(Job& j, const char* state);
  // Ends a job that still waits for bytes the coordinator no longer asks of this agent.
  void DropWaiting(uint64_t id, const std::string& why);

  Env env_;
  std::map<uint64_t, std::unique_ptr<Job>> jobs_;  // by recovery id
  Stats stats_;
};

}  // namespace tailsafe
