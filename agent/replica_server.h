// ReplicaServer: accepts peers' connections and writes their streams into the ReplicaStore.
//
// Each connection is a ReplicaSession: HELLO (cluster and origin checked, version chosen), then
// OPEN/DATA/SEAL from the origin. DATA is written only at exactly the replica's expected offset,
// after its checksum and content hash verify; anything else ends the session with a logged
// reason (the origin reconnects and resumes from what is durable). ACKs go out only from the
// committer's durable callback. One session per origin: a new HELLO from the same origin
// replaces the old session (the origin restarted or reconnected).
#pragma once

#include <uv.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "agent/replica_store.h"
#include "common/compress.h"
#include "common/config.h"
#include "common/secure_channel.h"
#include "common/uv_handle.h"
#include "common/wire.h"

namespace tailsafe {

class ReplicaServer;

class ReplicaSession {
 public:
  ReplicaSession(ReplicaServer* server, UvPtr<uv_tcp_t> tcp, std::string remote, uint64_t id);
  ~ReplicaSession();
  void Start();
  void SendAck(uint32_t stream, uint64_t durable);
  // POSITION for `stream`: the replica's durable size and the hash of the window before it.
  Status SendPosition(uint32_t stream, Replica& rep);
  const std::string& origin() const { return origin_; }
  const std::string& remote() const { return remote_; }
  bool authenticated() const { return channel_.established(); }
  uint64_t id() const { return id_; }
  // Ends the session; the object is destroyed later, never inside its own callback.
  void Close(const std::string& why, bool error);

 private:
  void OnRead(ssize_t nread, const uv_buf_t* buf);
  Status OnFrame(const Frame& f);
  Status OnHello(const Frame& f);
  Status OnOpen(const Frame& f);
  Status OnData(const Frame& f);
  Status OnSeal(const Frame& f);
  Status OnCut(const Frame& f);
  Status OnCheckpoint(const Frame& f);
  void Send(std::string frame);
  void WriteRaw(std::string bytes);
  void Unbind();

  ReplicaServer* server_;
  UvPtr<uv_tcp_t> tcp_;
  UvPtr<uv_timer_t> hello_timer_;
  SecureChannel channel_;
  std::string remote_;
  uint64_t id_;
  FrameReader reader_;
  bool hello_done_ = false;
  bool closed_ = false;
  std::string origin_;
  std::map<uint32_t, std::shared_ptr<Replica>> streams_;
  std::string inflate_buf_;
};

class ReplicaServer {
 public:
  struct Stats {
    uint64_t sessions = 0;
    uint64_t rejected = 0;
    uint64_t auth_failures = 0;  // connections that failed the secure handshake
    uint64_t protocol_errors = 0;
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
  // Why the last replica write (or file creation) failed, until one succeeds again; empty when
  // writes succeed. A full disk shows here first: health checks turn it CRITICAL.
  const std::string& write_error() const { return write_error_; }
  void SetWriteError(std::string e) { write_error_ = std::move(e); }
  void Claim(ReplicaSession* s);  // s is now the session of its origin
  void Retire(ReplicaSession* s);
  const std::map<uint64_t, std::unique_ptr<ReplicaSession>>& sessions() const { return sessions_; }

 private:
  void OnConnection(int status);

  uv_loop_t* loop_;
  const Config& config_;
  const ClusterKeys* keys_;
  ReplicaStore* store_;
  Decompressor decompressor_;
  UvPtr<uv_tcp_t> listener_;
  UvPtr<uv_idle_t> reaper_;
  uint64_t next_id_ = 1;
  std::map<uint64_t, std::unique_ptr<ReplicaSession>> sessions_;
  std::vector<std::unique_ptr<ReplicaSession>> graveyard_;
  Stats stats_;
  std::string write_error_;
};

}  // namespace tailsafe
