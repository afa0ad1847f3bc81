// ReplicaServer: accepts peers' connections and writes their streams into the ReplicaStore.
//
// Each connection is a ReplicaSession, the receiving side's protocol state machine over one
// FramedConn (common/framed_conn.h): HELLO (cluster and origin checked, version chosen), then
// OPEN/DATA/SEAL from the origin. DATA is written only at exactly the replica's expected offset,
// after its checksum and content hash verify; anything else ends the session with a logged
// reason (the origin reconnects and resumes from what is durable). A failure of one replica
// (it cannot be created or written, its window cannot be read) fails that stream alone: the
// origin is told with STREAM_ERROR, frames still arriving for it are ignored, and the other
// streams of the session go on (see common/wire.h). ACKs go out only from the
// committer's durable callback. One session per origin: a new HELLO from the same origin
// replaces the old session (the origin restarted or reconnected). A session is destroyed on a
// later turn of the loop (the graveyard), never inside its own callback.
//
// The transport bounds what an origin can make this side hold: a session whose origin reads
// none of its POSITIONs and ACKs is closed once StreamConn::kMaxQueuedBytes wait (counted as
// slow_readers). A POSITION's window hash and a CUT's copy run on the thread pool
// (agent/replica_tail.h).
#pragma once

#include <uv.h>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "agent/replica_store.h"
#include "agent/replica_tail.h"
#include "agent/write_errors.h"
#include "common/clock.h"
#include "common/compress.h"
#include "common/config.h"
#include "common/event_log.h"
#include "common/framed_conn.h"
#include "common/uv_handle.h"
#include "common/wire.h"

namespace tailsafe {

class ReplicaServer;

class ReplicaSession {
 public:
  ReplicaSession(ReplicaServer* server, UvPtr<uv_tcp_t> tcp, uint64_t id);
  ~ReplicaSession();
  void Start();
  void SendAck(uint32_t stream, uint64_t durable);
  void SendSealed(uint32_t stream, uint64_t final_size);
  // Frames sent meanwhile leave as one write (FramedConn::Cork): the ACKs of one commit.
  void Cork() { conn_->Cork(); }
  void Uncork() { conn_->Uncork(); }
  void SendPosition(const PositionMsg& pos);
  // Fails one stream of this session (see the top of this file): logged, counted, told to the
  // origin; the session and its other streams go on.
  void FailStream(uint32_t stream, const std::string& why);
  // The replica of `stream` is sealed and its seal recorded: the origin sends no more bytes on
  // the stream (a CHECKPOINT at most), so the session lets the replica go (closed; deletable
  // under a retention plan) and keeps only the stream's name, so the session's map of streams
  // holds the generations still being written, not every one since it connected.
  void Release(uint32_t stream);
  const std::string& origin() const { return origin_; }
  const std::string& remote() const { return conn_->remote(); }
  bool authenticated() const { return conn_->authenticated(); }
  uint64_t id() const { return id_; }
  // Ends the session (an error `kind` tells the origin why); the object is destroyed later,
  // never inside its own callback.
  void Close(const std::string& why, CloseReason::Kind kind);

 private:
  Status OnFrame(const Frame& f);
  Status OnHello(const Frame& f);
  Status OnOpen(const Frame& f);
  Status OnData(const Frame& f);
  Status OnSeal(const Frame& f);
  Status OnCut(const Frame& f);
  Status OnCheckpoint(const Frame& f);
  // The replica of an opened stream whose POSITION has gone out, for `what` (DATA, SEAL, CUT);
  // null for a failed stream, whose frames still on the way are ignored.
  Result<Replica*> Positioned(uint32_t stream, const char* what);
  void OnClosed(const CloseReason& reason);
  void Unbind();

  ReplicaServer* server_;
  std::shared_ptr<FramedConn> conn_;
  uint64_t id_;
  bool hello_done_ = false;
  bool closed_ = false;
  std::string origin_;
  std::map<uint32_t, std::shared_ptr<Replica>> streams_;
  std::set<uint32_t> failed_;  // streams failed until the origin OPENs them again
  // Streams let go once their seal was recorded (Release): the origin may still send CHECKPOINT
  // on one (its bolt still processing that generation) until it closes the generation. The
  // newest kMaxReleased are kept; frames for older ones are dropped.
  std::map<uint32_t, std::pair<std::string, uint64_t>> released_;  // stream -> (bolt, generation)
  std::string inflate_buf_;
};

class ReplicaServer {
 public:
  struct Stats {
    uint64_t sessions = 0;
    uint64_t rejected = 0;
    uint64_t auth_failures = 0;  // connections that failed the secure handshake
    uint64_t protocol_errors = 0;
    uint64_t stream_errors = 0;   // streams failed alone (STREAM_ERROR), their sessions kept
    uint64_t slow_readers = 0;    // sessions closed because the origin read nothing we sent
    uint64_t bytes_received = 0;  // origin bytes written to replicas
    uint64_t frames_received = 0;
    uint64_t tail_cuts = 0;  // unverified tails cut at an origin's CUT
    uint64_t bytes_cut = 0;
  };

  // `loop`, `keys` and `store` outlive this server.
  ReplicaServer(uv_loop_t* loop, const Config& config, const ClusterKeys* keys, ReplicaStore* store);
  ~ReplicaServer();
  Status Listen();
  void Stop();

  // Internal to sessions.
  ReplicaStore* store() { return store_; }
  Decompressor* decompressor() { return &decompressor_; }
  const Config& config() const { return config_; }
  const ClusterKeys* keys() const { return keys_; }
  Stats& stats() { return stats_; }
  const Stats& stats() const { return stats_; }
  // The replicas whose writes (or creation) failed, each until it is written again or two
  // minutes pass (agent/write_errors.h); empty when writes succeed. A full disk shows here
  // first: health checks turn it CRITICAL.
  std::string write_error() const { return write_errors_.Summary(NowNs()); }
  WriteErrors& write_errors() { return write_errors_; }
  void Claim(ReplicaSession* s);  // s is now the session of its origin
  void Retire(ReplicaSession* s);
  const std::map<uint64_t, std::unique_ptr<ReplicaSession>>& sessions() const { return sessions_; }
  // Sends the POSITION `r` owes its session once it is due: nothing is in flight for it and
  // everything written is durable. Its window is hashed on the thread pool.
  void Position(Replica& r);
  // Sets the unverified tail of `r` past `offset` aside and cuts it, on the thread pool; the
  // POSITION that follows goes to the session then bound to `r`.
  void Cut(Replica& r, uint64_t offset);
  // The `durablelog` control request, for benchmarks: every ACK sent since the last request
  // (when it left, the origin, bolt, generation and durable size), as JSON keyed by origin.
  // Kept only from the first request on, at most kMaxDurableLog (common/event_log.h).
  std::string DrainDurableLogJson();
  static constexpr size_t kMaxDurableLog = 1 << 18;

 private:
  // Corks `s` until the loop has run this iteration's callbacks: a commit that covers many
  // streams answers each origin with one write, not one per ACK (each a syscall, a TCP
  // segment and an encrypted record).
  void CorkUntilCheck(ReplicaSession* s);
  void OnAccept(UvPtr<uv_tcp_t> tcp);
  void StartTailJob(Replica& r, TailJob job);
  void FinishTailJob(Replica& r, TailJob& job);
  std::shared_ptr<Replica> Find(const Replica& r) const;

  uv_loop_t* loop_;
  const Config& config_;
  const ClusterKeys* keys_;
  ReplicaStore* store_;
  Decompressor decompressor_;
  TcpListener listener_;
  UvPtr<uv_idle_t> reaper_;
  UvPtr<uv_check_t> uncorker_;         // active while sessions are corked
  std::vector<uint64_t> corked_;       // their ids (a session may be gone by the check)
  uint64_t next_id_ = 1;
  std::map<uint64_t, std::unique_ptr<ReplicaSession>> sessions_;
  std::vector<std::unique_ptr<ReplicaSession>> graveyard_;
  Stats stats_;
  WriteErrors write_errors_;
  struct DurableEvent {
    uint64_t t_ns;
    std::string origin, bolt;
    uint64_t gen, durable;
  };
  EventLog<DurableEvent> durable_log_{kMaxDurableLog};
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);  // thread-pool jobs finish only while we live
};

}  // namespace tailsafe
