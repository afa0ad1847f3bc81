#include "agent/stream_pump.h"

#include <memory>

#include "agent/bolt_source.h"
#include "common/log.h"
#include "common/wire.h"

namespace tailsafe {

StreamPumpOutcome PumpStream(uint32_t stream, PeerCursor& c, const StreamPumpEnv& env, StreamPumpCounts* counts) {
  if (!c.positioned || c.gen->gone()) return StreamPumpOutcome::kDone;
  Generation& g = *c.gen;
  uint64_t end = g.known_size();
  // Decided once: the bytes that go, go whole, even where the frame cache cuts them in several
  // frames (another peer's ACK came at another size), so none waits a second commit.
  bool hold = c.sent > c.acked && !g.sealed() && end - c.sent < env.coalesce_below;  // the ACK brings them
  while (!hold && c.sent < end && c.sent - c.acked < env.window_bytes) {
    if (env.conn->queued() >= env.max_queue) return StreamPumpOutcome::kAgain;  // the queue drains first
    uint32_t raw = 0;
    std::shared_ptr<const std::string> frame;
    Status err;
    auto st = c.source->frames().Get(g, c.sent, end - c.sent, &raw, &frame, &err);
    if (st == FrameCache::FrameStatus::kPending) return StreamPumpOutcome::kAgain;
    if (st == FrameCache::FrameStatus::kError) {
      LOG_WARN("peer %s: %s", env.peer->c_str(), err.message().c_str());
      c.source->Check();  // a short read means the file changed under us
      return StreamPumpOutcome::kAgain;
    }
    // Each connection has its own keys: a frame shared by every peer is encrypted once per peer.
    env.conn->Send(*frame);
    if (!env.conn->open()) return StreamPumpOutcome::kDropped;  // the cursors went with it
    c.sent += raw;
    counts->bytes += raw;
    ++counts->frames;
    env.holdings->Sent(g.bolt, g.gen, c.sent);
  }
  if (g.has_checkpoint() && (!c.checkpoint_sent || c.checkpoint_offset != g.checkpoint())) {
    c.checkpoint_sent = true;
    c.checkpoint_offset = g.checkpoint();
    env.conn->Send(EncodeCheckpoint({stream, g.checkpoint()}));
    if (!env.conn->open()) return StreamPumpOutcome::kDropped;
  }
  if (g.sealed() && c.sent == g.final_size() && !c.seal_sent) {
    c.seal_sent = true;
    env.conn->Send(EncodeSeal({stream, g.final_size()}));
    if (!env.conn->open()) return StreamPumpOutcome::kDropped;
  }
  return StreamPumpOutcome::kDone;
}

}  // namespace tailsafe
