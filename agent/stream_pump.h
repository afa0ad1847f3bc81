// PumpStream: what one stream of a peer link sends now. DATA frames from its bolt's shared frame
// cache while the stream's window and the connection's write queue allow, then its CHECKPOINT
// if the bolt's checkpoint moved, then its SEAL once every byte of a sealed generation is sent.
// PeerLink (agent/peer_link.h) calls it for each stream due (agent/due_streams.h).
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
};

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
