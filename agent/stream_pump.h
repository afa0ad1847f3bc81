// PumpStream: what one stream of a peer link sends now. DATA frames from its bolt's shared frame
// cache while the stream's window and the connection's write queue allow, then its CHECKPOINT
// if the bolt's checkpoint moved, then its SEAL once every byte of a sealed generation is sent.
// PeerLink (agent/peer_link.h) calls it for each stream due (agent/due_streams.h).
//
// Coalescing while a commit is in flight: while some of an open generation's bytes are sent and
// not yet acknowledged, the peer is making them durable, and bytes sent now would only wait in
// its page cache for the next commit. So fewer than `coalesce_below` new bytes wait here for
// that ACK (which marks the stream due) and then leave as one frame: at low rates one frame and
// one wake-up per commit instead of one per write, for about one network hop more of lag. More
// bytes than that, or a sealed generation's last ones, go at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "agent/peer_cursor.h"
#include "agent/peer_holdings.h"
#include "common/framed_conn.h"

namespace tailsafe {

struct StreamPumpEnv {
  FramedConn* conn = nullptr;  // the link's live connection
  uint32_t window_bytes = 0;   // unacknowledged bytes a stream may have
  size_t max_queue = 0;        // bytes queued on the connection before nothing more is read
  const std::string* peer = nullptr;  // the peer's id, for logs
  PeerHoldings* holdings = nullptr;   // told what was sent
  uint32_t coalesce_below = 0;  // new bytes that wait for the ACK of those in flight (0: none wait)
};

// PeerLink's coalesce_below: at 100 MB/s, 0.65 ms of writes, less than one commit takes, so a
// fast stream still sends as it grows.
constexpr uint32_t kCoalesceBelowBytes = 64 * 1024;

enum class StreamPumpOutcome {
  kDone,     // nothing more until the file grows, the checkpoint moves or the peer acknowledges
  kAgain,    // stopped on a full queue, a frame being encoded or a failed read: look again next pump
  kDropped,  // the connection dropped while sending: `c` may be gone, touch nothing
};

struct StreamPumpCounts {
  uint64_t frames = 0;
  uint64_t bytes = 0;  // before compression
};

StreamPumpOutcome PumpStream(uint32_t stream, PeerCursor& c, const StreamPumpEnv& env, StreamPumpCounts* counts);

}  // namespace tailsafe
