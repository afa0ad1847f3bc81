// PeerCursor: one stream (a generation) on the live connection to a peer, and the rules of its
// state: where it stands with the peer (positioned once a POSITION was judged, sent and acked
// offsets, seal and checkpoint sent), and its failures. A stream the peer failed (STREAM_ERROR)
// or whose POSITION could not be judged (a read error) sends nothing until it is OPENed again,
// after kStreamRetryFirstMs doubling per failure in a row up to kStreamRetryMaxMs, or never on
// this connection when the link gives up on it; a POSITION that takes it up clears the failures.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "agent/generation.h"

namespace tailsafe {

class BoltSource;

constexpr uint64_t kStreamRetryFirstMs = 1000;
constexpr uint64_t kStreamRetryMaxMs = 60000;

struct PeerCursor {
  BoltSource* source = nullptr;
  std::shared_ptr<Generation> gen;
  bool positioned = false;
  bool verifying = false;  // its POSITION's window is being hashed (on the thread pool)
  bool seal_sent = false;
  bool checkpoint_sent = false;  // checkpoint_offset went out on this connection
  uint64_t checkpoint_offset = 0;
  uint64_t sent = 0;
  uint64_t acked = 0;
  bool failed = false;       // the peer failed the stream: nothing is sent until it is OPENed again
  std::string error;         // the peer's reason, until a POSITION takes the stream up again
  uint32_t failures = 0;     // in a row, for the retry's backoff
  uint64_t retry_at_ns = 0;  // when a failed stream is OPENed again (UINT64_MAX: not on this connection)

  // The stream failed for `why` at `now_ns`: it sends nothing, and resumes from what was acked
  // once OPENed again. Returns the backoff in ms (0 with `give_up`).
  uint64_t Fail(const std::string& why, bool give_up, uint64_t now_ns);
  // A POSITION took the stream up at `durable`. Returns whether it had failed before.
  bool Resume(uint64_t durable);
};

// A stream the peer failed, for status.
struct PeerStreamFailure {
  std::string bolt;
  uint64_t gen = 0;
  std::string error;
  uint32_t failures = 0;
  bool retrying = false;  // OPENed again, no POSITION yet
};

// The streams of `cursors` that failed and have not resumed since.
std::vector<PeerStreamFailure> FailedStreams(const std::map<uint32_t, PeerCursor>& cursors);

// The failed streams of `cursors` whose backoff has passed at `now_ns`, no longer marked failed
// (the caller OPENs them again); `soonest_ns` gets the wait for the next one (UINT64_MAX: none).
std::vector<uint32_t> TakeDueRetries(std::map<uint32_t, PeerCursor>* cursors, uint64_t now_ns, uint64_t* soonest_ns);

// A link opens a stream for every current generation (one per bolt) and, of the others (rotated
// or sealed: the backlog a peer that was away catches up on, oldest bolt first), for at most
// kMaxBacklogStreams at once; never for one the peer holds whole (SEALED came) or diverged on.
// So a peer away for long costs bounded streams, replica fds on its side and work on ours.
constexpr size_t kMaxBacklogStreams = 4;
// The streams of `cursors` that count against kMaxBacklogStreams: not the current generation's,
// not failed (a failed one waits for its retry, and must not hold the others back).
size_t BacklogStreams(const std::map<uint32_t, PeerCursor>& cursors);

}  // namespace tailsafe
