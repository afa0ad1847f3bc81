// PullRelay: carries a pull's bytes between two agents. A range shrunk because its origin's host
// died may have bytes past its end that only a survivor without the hook holds
// (coordinator/recovery_plan.h, ShrinkRange's `pull`); the desk assigns it with pull_from and
// pull_to, and the assignee fetches [from, pull_to) chunk by chunk through the coordinator, which
// both agents are already connected to and authenticated with: "pull" from the assignee goes to
// the holder as "ship", the holder's "shipped" goes back to the assignee as "pulled". The
// assignee asks for the next chunk only once it has written the last, so a pull holds at most
// one chunk in any queue. Nothing here is stored: a pull cut by a restart or a death is the
// assignee's to give up (agent/range_pull.h); it then runs on what it holds and says why.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "common/framed_conn.h"
#include "common/status.h"
#include "coordinator/recovery_record.h"
#include "coordinator/term_state.h"

namespace tailsafe {

class PullRelay {
 public:
  // More than a chunk an assignee asks for (agent/range_pull.h); under a CONTROL frame in hex.
  static constexpr uint64_t kMaxShipBytes = 256 << 10;

  // `state` outlives the relay; `deliver` sends a frame as the coordinator's Deliver does;
  // `term` is the term this instance leads in.
  PullRelay(const TermState* state, std::function<void(FramedConn*, std::string)> deliver,
            std::function<uint64_t()> term)
      : state_(state), deliver_(std::move(deliver)), term_(std::move(term)) {}

  // The assignee `a` asks for a chunk ({recovery, epoch, offset, length}): relayed to the holder
  // as "ship", or answered "pulled" with an error (not held by `a` under that epoch, nothing to
  // pull, outside [from, pull_to), the holder not connected).
  Status OnPull(FramedConn* conn, const TermState::Agent& a, const nlohmann::json& msg);
  // The holder's chunk ({recovery, epoch, offset, data | error}), relayed to the assignee as
  // "pulled" while it holds the range under that epoch; dropped otherwise.
  Status OnShipped(const TermState::Agent& a, const nlohmann::json& msg);

 private:
  const TermState* state_;
  std::function<void(FramedConn*, std::string)> deliver_;
  std::function<uint64_t()> term_;
};

// A result's word on its pull ("pulled_from" or "pull_error") into `r->pulled`. Returns the
// bytes a failed pull did not bring (given up), 0 otherwise.
uint64_t TakePullResult(RecoveryRecord& r, const nlohmann::json& msg);

}  // namespace tailsafe
