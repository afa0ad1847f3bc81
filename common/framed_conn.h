// FramedConn: one connection that carries wire frames (common/wire.h) both ways inside the secure
// channel, on a libuv loop. It is the one transport of every TCP connection between tailsafe
// daemons: agent to agent (PeerLink and ReplicaSession are protocol state machines on it), agent
// to coordinator, and tailsafectl to coordinator. Under it, a StreamConn (common/stream_conn.h)
// owns the socket and bounds the write queue; the handshake, records and framing are a
// FramedChannel (common/framed_channel.h), shared with the blocking client.
//
// The secure handshake runs first; frames sent before it completes are held and go out right
// after it. A connection is closed (kTimeout) unless, within kHandshakeTimeoutMs of its start,
// the handshake has completed and, when the protocol names one (Options::first_frame), the other
// side's first frame has arrived: a client that connects and says nothing, or says too little,
// holds nothing for long.
//
// The owner keeps a shared_ptr; frames arrive through `on_frame` (an error Status closes the
// connection as kProtocol with that reason), and `on_close` runs once with the reason, whatever
// closed it, unless the owner dropped the connection first. A connection keeps itself alive
// while its own callbacks run, so the owner may drop it from inside on_close, or after Close().
#pragma once

#include <uv.h>

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/framed_channel.h"
#include "common/status.h"
#include "common/stream_conn.h"
#include "common/stream_endpoints.h"
#include "common/uv_handle.h"
#include "common/wire.h"

namespace tailsafe {

class FramedConn : public std::enable_shared_from_this<FramedConn> {
 public:
  using OnFrame = std::function<Status(const Frame&)>;
  using OnClose = std::function<void(const CloseReason&)>;
  using OnWritten = StreamConn::OnWritten;

  // One deadline for every protocol: the handshake, and the first frame where one is expected.
  static constexpr uint64_t kHandshakeTimeoutMs = 10000;

  struct Options {
    uint32_t max_payload = kMaxFramePayload;
    size_t max_queued = StreamConn::kMaxQueuedBytes;
    // The frame the other side must send first ("HELLO", "a request"), named in the timeout's
    // message; empty: only the secure handshake is timed.
    std::string first_frame;
    // The last frame to send, when the connection closes for an error after the handshake (a
    // REJECT saying why), or null.
    std::function<std::string(const std::string& why)> farewell;
  };

  // Takes a connected TCP handle. `keys` outlives the connection.
  FramedConn(UvPtr<uv_tcp_t> tcp, SecureChannel::Role role, const ClusterKeys* keys, Options options);
  FramedConn(UvPtr<uv_tcp_t> tcp, SecureChannel::Role role, const ClusterKeys* keys)
      : FramedConn(std::move(tcp), role, keys, Options()) {}
  ~FramedConn();
  FramedConn(const FramedConn&) = delete;
  FramedConn& operator=(const FramedConn&) = delete;

  struct Handlers {
    OnFrame on_frame;
    OnClose on_close;
    OnWritten on_written;            // optional: a write completed (room in the queue)
    std::function<void()> on_batch;  // optional: the frames of one read were all delivered
  };
  // Starts the handshake and reading. An error if libuv refuses (the connection is then closed
  // and on_close is not called).
  Status Start(Handlers handlers);
  Status Start(OnFrame on_frame, OnClose on_close) { return Start(Handlers{std::move(on_frame), std::move(on_close), nullptr, nullptr}); }
  // Sends one or more encoded frames; while corked they gather, and leave as one write (one
  // encrypted record, one syscall, one completion) at Uncork() or once kCorkBytes gathered.
  void Send(std::string_view frames);
  static constexpr size_t kCorkBytes = 256u << 10;
  void Cork() { corked_ = true; }
  void Uncork();
  // Closes with `why` (an error `kind` sends the farewell first) and calls on_close. To end a
  // connection from inside on_frame, Close() it: dropping it there leaves the frames of the
  // current read still to be delivered.
  void Close(const std::string& why, CloseReason::Kind kind = CloseReason::kEnded);
  bool open() const { return !closed_; }
  bool authenticated() const { return channel_.established(); }
  uint64_t key_id() const { return channel_.key_id(); }
  const std::string& remote() const { return stream_->remote(); }
  // Bytes queued for the socket and not yet written (a slow reader shows here), corked ones too.
  size_t queued() const { return stream_->queued() + cork_.size(); }

 private:
  void OnData(std::string_view bytes);
  void OnStreamClosed(const CloseReason& reason);

  std::shared_ptr<StreamConn> stream_;
  FramedChannel channel_;
  Options options_;
  uint64_t started_ms_ = 0;
  bool awaiting_first_ = false;  // the first frame is expected and has not come
  Handlers handlers_;
  bool closed_ = false;
  bool corked_ = false;
  std::string cork_;  // frames sent while corked
};

}  // namespace tailsafe
