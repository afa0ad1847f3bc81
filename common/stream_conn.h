// StreamConn: one connected byte stream on a libuv loop (a TCP connection or a Unix socket), the
// transport under every connection the daemons hold. FramedConn (common/framed_conn.h) puts the
// secure channel and frames on top of it for the agent and coordinator protocols; the metrics
// page and the agent's control socket read and write plain bytes through it.
//
// It owns the handle, reads into `on_data`, and queues writes. What a client can make it hold is
// bounded: the bytes queued for a reader that does not read (max_queued; over it the connection
// is closed, kOverflow) and, with SetDeadline, the time it may take to say what it must.
//
// Lifetime: the owner keeps a shared_ptr. `on_close` runs once with the reason, whatever closed
// the stream (the other side, an error, the deadline, the queue limit, or Close()), unless the
// owner dropped the connection first. Every callback runs with the connection kept alive, so the
// owner may drop it from inside any of them; a late libuv callback finds nothing to act on.
#pragma once

#include <uv.h>

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <variant>

#include "common/status.h"
#include "common/uv_handle.h"

namespace tailsafe {

// Why a connection closed, for the owner's log and counters.
struct CloseReason {
  enum Kind {
    kEnded,      // the other side closed it, or the owner did (no error)
    kIo,         // a socket error
    kTruncated,  // the other side stopped inside a handshake, a record or a frame
    kAuth,       // the secure handshake failed: the other side does not hold the cluster key
    kProtocol,   // a bad record or frame, or a frame the protocol refused
    kTimeout,    // the deadline passed (no handshake or first request in time)
    kOverflow,   // more than max_queued bytes waited for a reader that does not read
    kFailed,     // the owner closed it for an error of its own
  };
  Kind kind = kEnded;
  std::string why;
  bool error() const { return kind != kEnded && kind != kIo; }
};

class StreamConn : public std::enable_shared_from_this<StreamConn> {
 public:
  using OnData = std::function<void(std::string_view bytes)>;
  // At end of stream: an error if the stream ended where it must not (closed as kTruncated).
  using OnEof = std::function<Status()>;
  using OnClose = std::function<void(const CloseReason&)>;
  // A write completed: `bytes` left for the other side (the queue shrank).
  using OnWritten = std::function<void(size_t bytes)>;

  // A peer's replication window (PeerLink stops producing at 4 MiB queued) plus a frame and
  // slack; nothing the daemons send legitimately waits longer in one queue.
  static constexpr size_t kMaxQueuedBytes = 8u << 20;

  struct Handlers {
    OnData on_data;
    OnClose on_close;
    OnEof on_eof;          // optional
    OnWritten on_written;  // optional
    // False: at end of stream only reading stops (a half-closed client still gets its reply);
    // the owner closes.
    bool close_at_eof = true;
  };

  // Takes a connected (accepted) handle. `max_queued` 0: unbounded (a single reply of known size).
  StreamConn(UvPtr<uv_tcp_t> tcp, size_t max_queued = kMaxQueuedBytes);
  StreamConn(UvPtr<uv_pipe_t> pipe, size_t max_queued = kMaxQueuedBytes);
  ~StreamConn();
  StreamConn(const StreamConn&) = delete;
  StreamConn& operator=(const StreamConn&) = delete;

  // Starts reading. An error if libuv refuses (the stream is then closed, on_close not called).
  Status Start(Handlers handlers);
  void Write(std::string bytes);
  // Writes what the socket takes now and forgets the rest, whatever happens: a last word just
  // before Close().
  void WriteLast(std::string_view bytes);
  void StopReading();
  // Closes the stream with `why` (kTimeout) unless ClearDeadline() comes first; replaces any
  // earlier deadline.
  void SetDeadline(uint64_t ms, std::string why);
  void ClearDeadline();
  void Close(CloseReason reason);
  // Closes without calling on_close (the owner is going away).
  void Abandon();

  bool open() const { return !closed_; }
  uv_loop_t* loop() const { return loop_; }
  // The other end ("10.0.0.2:51234", or "local client" on a Unix socket), for messages.
  const std::string& remote() const { return remote_; }
  // Bytes queued and not yet written to the socket (a slow reader shows here).
  size_t queued() const;

 private:
  uv_stream_t* stream() const;
  void OnRead(ssize_t n, const uv_buf_t* buf);
  void ReleaseHandles();

  std::variant<UvPtr<uv_tcp_t>, UvPtr<uv_pipe_t>> handle_;
  uv_loop_t* loop_;
  size_t max_queued_;
  std::string remote_;
  UvPtr<uv_timer_t> deadline_;
  std::string deadline_why_;
  Handlers handlers_;
  bool closed_ = false;
};

}  // namespace tailsafe
