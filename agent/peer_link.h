// PeerLink: ships this host's bolt generations to one peer agent.
//
// It connects (with backoff), says HELLO, then OPENs each shippable generation the peer does not
// hold whole, the backlog a few at a time (peer_cursor.h, kMaxBacklogStreams). The peer answers
// each OPEN with the POSITION it holds durably and the hash of the bytes just before it; the link
// checks that hash against the file on the thread pool and resumes from that position. A mismatch
// in the peer's unverified tail is answered with CUT. Any other mismatch is divergence, decided
// by the file's own head hash: if the head changed (the file was rewritten in place), or the
// generation is the bolt's current file, BoltSource::Diverged ends the generation for every peer
// (the file goes on as a new one); if the head is intact, only this peer's replica is bad: the
// generation is lost for this peer alone, its replica kept as it is, and the other peers go on.
// A read error decides nothing: the stream is tried again. It then sends DATA while the stream's unacknowledged bytes stay
// under window_bytes and the socket's write queue stays short, so a slow or dead peer costs no
// memory: the file is the buffer. ACKs advance what the peer holds durably; SEALED says it holds
// a generation's seal, and a sealed generation is released only once every peer has said so. A STREAM_ERROR fails
// that stream alone (logged, counted, shown in status): the session and the other streams go
// on, and the stream is OPENed again after a backoff (1 s doubling to a minute).
//
// The connection is a FramedConn (common/framed_conn.h): this class is the protocol's state
// machine over its frames. A dropped connection is closed first, so its late callbacks find
// nothing to act on; the handshake and WELCOME share the transport's one deadline.
#pragma once

#include <uv.h>

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "agent/bolt_source.h"
#include "agent/due_streams.h"
#include "agent/peer_cursor.h"
#include "agent/peer_holdings.h"
#include "agent/state_store.h"
#include "agent/stream_pump.h"
#include "agent/stream_retries.h"
#include "common/compress.h"
#include "common/config.h"
#include "common/framed_conn.h"
#include "common/uv_handle.h"
#include "common/wire.h"

namespace tailsafe {

struct PeerLinkStats {
  uint64_t connects = 0;
  uint64_t disconnects = 0;
  uint64_t connect_failures = 0;  // attempts that never became a ready connection
  uint64_t frames_sent = 0;
  uint64_t bytes_sent = 0;       // origin bytes shipped (before compression)
  uint64_t wire_bytes = 0;       // bytes written to the socket
  uint64_t bytes_acked = 0;      // origin bytes acknowledged durable
  uint64_t resent_bytes = 0;     // bytes shipped again after a resume (the unacked window)
  uint64_t lost_bytes = 0;       // bytes of lost generations this peer never received
  uint64_t divergences = 0;
  uint64_t tail_cuts = 0;  // CUTs sent: a peer's unverified tail differed after its restart
  uint64_t stream_errors = 0;  // streams the peer failed alone (STREAM_ERROR)
  uint64_t opens = 0;          // OPENs sent (none for a generation the peer holds whole)
  uint64_t backlog_peak = 0;   // the most backlog streams open at once (kMaxBacklogStreams)
};

// What every peer link shares: the loop, the key, the window, the callbacks into the agent.
struct PeerLinkEnv {
  uv_loop_t* loop = nullptr;
  std::string cluster;
  std::string self_id;
  const ClusterKeys* keys = nullptr;  // the cluster key(s); outlive the link
  uint32_t window_bytes = 0;
  // New bytes of a stream that wait for the ACK of its bytes in flight (agent/stream_pump.h).
  uint32_t coalesce_below = kCoalesceBelowBytes;
  uint32_t reconnect_max_ms = 0;
  const std::vector<std::unique_ptr<BoltSource>>* sources = nullptr;
  // What a peer holds of bolt `bolt` changed (an ACK, a POSITION, a SEALED, a divergence): its
  // acknowledged generations may be released.
  std::function<void(const std::string& bolt)> acks_changed;
  // Whether peer `peer` holds the stream of bolt `bolt` (agent/stream_placement.h); null: every
  // peer holds every stream. A link opens streams only for the bolts its peer holds.
  std::function<bool(const std::string& peer, const std::string& bolt)> holds;
  // Asks for one Pump of every link once this loop iteration's callbacks have run, so a write's
  // completion, a batch of ACKs and a file's growth cost one walk over the streams, not one
  // each; null: the link pumps at once.
  std::function<void()> pump_soon;
};

class PeerLink {
 public:
  using Env = PeerLinkEnv;
  using Cursor = PeerCursor;
  using StreamFailure = PeerStreamFailure;
  using Stats = PeerLinkStats;

  PeerLink(Env env, PeerSpec peer, const std::vector<PeerAckRow>& acks);
  ~PeerLink();
  void Start();
  void Stop();
  // Sends what the streams due have to send (every stream after a change of state).
  void Pump();
  // `g` grew or got a checkpoint: its stream is due; null: every stream is.
  void Touched(const Generation* g) { g ? due_.Mark(g->stream) : due_.MarkAll(); }
  // The placement moved: the next Pump looks at every bolt again.
  void Rescan() { rescan_ = true; }
  // What the peer acknowledged of `g` (remembered across reconnects and restarts).
  uint64_t Acked(const Generation& g) const;
  // `g` is lost (BoltSource::MarkLost): counts and logs the bytes this peer had not acknowledged.
  void CountLost(const Generation& g);
  // Whether this peer's replica of `g` differs from the file while the file's head is intact:
  // the generation is this peer's divergence alone, not shipped to it and not waited for.
  bool Diverged(const Generation& g) const { return holdings_.Diverged(g.bolt, g.gen); }
  // Whether this peer holds the stream of `bolt` (PeerLinkEnv::holds).
  bool Holds(const std::string& bolt) const { return !env_.holds || env_.holds(peer_.id, bolt); }
  // Whether the peer answered the SEAL of `g` with SEALED (in this process: a restart seals again).
  bool SealHeld(const Generation& g) const { return holdings_.SealHeld(g.bolt, g.gen); }
  void Collect(Committer::Batch* batch) { holdings_.Collect(batch); }
  // `g` closed on this host (gone): everything known of it goes.
  void Forget(const Generation& g);
  size_t generations_tracked() const { return holdings_.generations(); }
  bool has_dirty_acks() const { return holdings_.has_dirty(); }

  const PeerSpec& peer() const { return peer_; }
  bool connected() const;
  const std::string& last_error() const { return last_error_; }
  const Stats& stats() const { return stats_; }
  // Cursor of `g` on the live connection, or null.
  const Cursor* CursorOf(const Generation& g) const;
  // The streams of the live connection the peer failed and that have not resumed since.
  std::vector<StreamFailure> FailedStreams() const { return tailsafe::FailedStreams(cursors_); }

  // The newest ACKs with their arrival time (PeerHoldings), drained.
  using AckEvent = PeerHoldings::AckEvent;
  std::vector<AckEvent> DrainAckLog() { return holdings_.DrainAckLog(); }

 private:
  void Connect();
  void OnConnected(Result<UvPtr<uv_tcp_t>> tcp);
  Status OnFrame(const Frame& f);
  Status OnWelcome(const Frame& f);
  Status OnPosition(const PositionMsg& m);
  void OnWindowHashed(const std::shared_ptr<FramedConn>& conn, const std::shared_ptr<Generation>& gen,
                      const std::shared_ptr<Fd>& fd, const PositionMsg& m, const Result<uint64_t>& hash);
  // Acts on a POSITION once its window is judged: resume, or (`why` says how the bytes differ)
  // ask for a CUT of the peer's unverified tail, or declare divergence.
  Status Settle(const PositionMsg& m, const std::string& why);
  Status OnAck(const AckMsg& m);
  Status OnStreamError(const StreamErrorMsg& m);
  Status OnSealed(const SealedMsg& m);
  // The peer's bytes of the cursor at `it` differ from the file (`why`): the file's own head
  // decides whose bytes changed (see the top of this file).
  Status Diverge(std::map<uint32_t, Cursor>::iterator it, const std::string& why);
  // Reading the file failed while judging a POSITION: nothing is decided; the stream is tried
  // again after a backoff, kMaxReadRetries times in a row, then at the next connection.
  void ReadFailed(Cursor& c, const std::string& why);
  // Stops sending on `c`; OPENs it again after a growing backoff (not on this connection if `give_up`).
  void FailCursor(Cursor& c, const std::string& why, bool give_up);
  // OPENs again the failed streams whose backoff has passed; arms the timer for the next.
  void RetryFailedStreams();
  // Forgets cursors that ended and OPENs the streams due (every bolt looked at); false if the
  // connection dropped meanwhile.
  bool OpenStreams();
  // Each cursor that goes may let another stream open: the next pump looks at every bolt.
  void EraseCursor(std::map<uint32_t, Cursor>::iterator it) { cursors_.erase(it); rescan_ = true; }
  void ClearCursors() { cursors_.clear(); rescan_ = true; retries_.Clear(); }
  void Send(std::string_view frame);
  void PumpStreams();  // Pump's work, with the connection corked
  bool PumpCursor(uint32_t stream, Cursor& c);  // false if the connection dropped
  void SendOpen(const Generation& g);
  void Drop(const std::string& why, bool quiet = false);
  void ScheduleReconnect();

  Env env_;
  PeerSpec peer_;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);  // thread-pool jobs report only while we live
  std::unique_ptr<PendingConnect> connecting_;
  std::shared_ptr<FramedConn> conn_;
  bool ready_ = false;  // WELCOME received on conn_
  UvPtr<uv_timer_t> reconnect_timer_;
  StreamRetries retries_;
  uint32_t backoff_ms_ = 0;
  bool stopped_ = false;
  bool failing_ = false;  // the last attempt failed: log further failures at debug level
  std::map<uint32_t, Cursor> cursors_;
  bool rescan_ = true;          // OpenStreams is due whatever the epoch
  DueStreams due_;
  std::vector<uint32_t> due_now_;  // the streams one pump looks at
  uint64_t scanned_epoch_ = 0;  // Generation::ShapeEpoch() at the last OpenStreams
  PeerHoldings holdings_;
  std::string last_error_;
  Stats stats_;
};

}  // namespace tailsafe
