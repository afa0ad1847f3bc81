// RangePull and RangeShipper: the two ends of a pull. A range shrunk because its origin's host
// died may be assigned with bytes that only a survivor without the hook holds (coordinator/
// recovery_plan.h, ShrinkRange's `pull`): the assignee pulls [from, to) of the generation from
// that holder's replica, through the coordinator both are connected to (coordinator/
// pull_relay.h), then runs its hook on the whole range.
//
// RangePull (the assignee) asks for one chunk at a time ("pull" {recovery, epoch, offset,
// length}) and writes each ("pulled" {offset, data}) at its offset into a file it created and
// unlinked at once under DATA_DIR/pulls, on the thread pool; the next chunk is asked once that
// write is done, so one chunk at most waits in any queue. It ends once with the file (holding
// [from, to) at their offsets) or with why not: the holder's error, no answer within
// Env::chunk_timeout_ms (the holder or the coordinator died), or a local write error. The runner
// then falls back to what it holds itself.
//
// RangeShipper (the holder) answers "ship" with "shipped" {data} read from its durable replica
// on the thread pool, or {error} if it holds less than asked.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "agent/recovery_runner.h"
#include "common/fd.h"
#include "common/status.h"
#include "common/uv_handle.h"

namespace tailsafe {

class RangePull {
 public:
  static constexpr uint64_t kChunkBytes = 256 << 10;  // the coordinator relays at most this much
  static constexpr uint64_t kChunkTimeoutMs = 10000;

  struct Env {
    uv_loop_t* loop = nullptr;
    std::string dir;                                  // DATA_DIR/pulls, created if missing
    std::function<bool(const nlohmann::json&)> send;  // to the coordinator; false if not connected
    uint64_t chunk_timeout_ms = kChunkTimeoutMs;      // for each ask's answer
  };
  // The file with [from, to) at their offsets, or why the pull failed. The owner may destroy the
  // pull inside it.
  using Done = std::function<void(Result<std::shared_ptr<Fd>>)>;

  RangePull(Env env, uint64_t recovery, uint64_t epoch, uint64_t from, uint64_t to, Done done);
  ~RangePull();
  RangePull(const RangePull&) = delete;
  RangePull& operator=(const RangePull&) = delete;

  // Creates the file and asks for the first chunk; a failure ends the pull (through Done).
  void Start();
  // A "pulled" message for this pull (its recovery and epoch, checked by the caller).
  Status OnPulled(const nlohmann::json& msg);
  uint64_t pulled() const { return next_ - from_; }

 private:
  void Ask();
  void Fail(const std::string& why);

  Env env_;
  uint64_t recovery_, epoch_, from_, to_;
  uint64_t next_;             // the offset asked for (and all before it written)
  bool writing_ = false;      // a chunk is being written
  bool asked_ = false;        // a chunk is asked and not yet answered
  std::shared_ptr<Fd> file_;
  UvPtr<uv_timer_t> timer_;
  Done done_;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

class RangeShipper {
 public:
  struct Env {
    uv_loop_t* loop = nullptr;
    // What this agent holds of a generation (Agent::Held).
    std::function<HeldRange(const std::string& origin, const std::string& bolt, uint64_t gen, uint64_t need)> held;
    std::function<bool(const nlohmann::json&)> send;
  };
  explicit RangeShipper(Env env) : env_(std::move(env)) {}
  // A "ship" request from the coordinator; an error for a malformed one.
  Status OnShip(const nlohmann::json& msg);

 private:
  Env env_;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

}  // namespace tailsafe
