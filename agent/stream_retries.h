// StreamRetries: when a peer link OPENs its failed streams again (PeerCursor::Fail's backoff).
// It keeps the soonest retry and a timer armed for it, so a pump with none due costs one
// comparison rather than a walk over every cursor (an agent may run thousands of bolts).
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <map>
#include <vector>

#include "agent/peer_cursor.h"
#include "common/status.h"
#include "common/uv_handle.h"

namespace tailsafe {

class StreamRetries {
 public:
  // `wake` runs on the loop when the soonest retry is due (the link pumps, which takes them).
  StreamRetries(uv_loop_t* loop, std::function<void()> wake) : loop_(loop), wake_(std::move(wake)) {}
  Status Start();  // makes the timer
  void Stop();     // closes it; nothing wakes after
  // A stream failed and is to be OPENed again at `at_ns` (NowNs; UINT64_MAX: not on this connection).
  void Failed(uint64_t at_ns);
  // The failed streams of `cursors` due now, no longer marked failed (the caller OPENs them);
  // the timer is armed for the next one.
  std::vector<uint32_t> TakeDue(std::map<uint32_t, PeerCursor>* cursors);
  // The cursors are gone (the connection dropped): nothing is due.
  void Clear() { due_ns_ = UINT64_MAX; }
  uint64_t due_ns() const { return due_ns_; }

 private:
  void Arm(uint64_t in_ns);

  uv_loop_t* loop_;
  std::function<void()> wake_;
  UvPtr<uv_timer_t> timer_;
  uint64_t due_ns_ = UINT64_MAX;  // the soonest retry; UINT64_MAX: none waits
};

}  // namespace tailsafe
