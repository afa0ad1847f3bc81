// FramedConn: one TCP connection that carries wire frames (common/wire.h) both ways, on a libuv
// loop, inside a SecureChannel (common/secure_channel.h). Used for the coordinator protocol on
// both ends.
//
// The secure handshake runs first; frames sent before it completes are held and go out right
// after it. A connection whose handshake has not completed within kHandshakeTimeoutMs is closed,
// so a client that connects and says nothing holds nothing for long.
//
// The owner keeps a shared_ptr; frames arrive through `on_frame` (an error Status closes the
// connection with that reason), and `on_close` runs once, whatever closed it (EOF, a socket
// error, a bad frame, or Close()). A connection keeps itself alive while its own callbacks run,
// so the owner may drop it from inside either callback.
#pragma once

#include <uv.h>

#include <functional>
#include <memory>
#include <string>

#include "common/secure_channel.h"
#include "common/status.h"
#include "common/uv_handle.h"
#include "common/wire.h"

namespace tailsafe {

class FramedConn : public std::enable_shared_from_this<FramedConn> {
 public:
  using OnFrame = std::function<Status(const Frame&)>;
  using OnClose = std::function<void(const std::string& why)>;

  static constexpr uint32_t kHandshakeTimeoutMs = 5000;

  // Takes an initialized (accepted or connected) TCP handle. `keys` outlives the connection.
  FramedConn(UvPtr<uv_tcp_t> tcp, SecureChannel::Role role, const ClusterKeys* keys,
             uint32_t max_payload = kMaxFramePayload);
  ~FramedConn();
  FramedConn(const FramedConn&) = delete;
  FramedConn& operator=(const FramedConn&) = delete;

  // Starts reading. An error if libuv refuses (the connection is then closed).
  Status Start(OnFrame on_frame, OnClose on_close);
  void Send(std::string frame);
  void Close(const std::string& why);
  bool open() const { return !closed_; }
  bool authenticated() const { return channel_.established(); }
  // The other end's address ("10.0.0.2:51234"), for messages.
  const std::string& remote() const { return remote_; }
  // Bytes queued in the kernel-side write queue not yet written (a slow reader shows here).
  size_t queued() const;

 private:
  void OnRead(ssize_t n, const uv_buf_t* buf);
  void Write(std::string bytes);

  UvPtr<uv_tcp_t> tcp_;
  UvPtr<uv_timer_t> handshake_timer_;
  SecureChannel channel_;
  std::string remote_;
  FrameReader reader_;
  OnFrame on_frame_;
  OnClose on_close_;
  bool closed_ = false;
};

// "HOST:PORT" of a connected TCP handle's other end ("?" if unknown).
std::string RemoteAddress(uv_tcp_t* tcp);

// A listening TCP socket; each accepted connection is handed to `on_accept` as a TCP handle.
class TcpListener {
 public:
  using OnAccept = std::function<void(UvPtr<uv_tcp_t>)>;
  // `host` must be an IP literal. The error names the address.
  Status Listen(uv_loop_t* loop, const std::string& host, uint16_t port, OnAccept on_accept);
  void Stop() { tcp_.Reset(); }

 private:
  UvPtr<uv_tcp_t> tcp_;
  OnAccept on_accept_;
};

// Resolves `host` and connects to `port`; `done` gets the connected handle or the error (naming
// the address). `done` is not called if `alive` has expired by then (its owner is gone).
void ConnectTcp(uv_loop_t* loop, const std::string& host, uint16_t port, std::weak_ptr<void> alive,
                std::function<void(Result<UvPtr<uv_tcp_t>>)> done);

}  // namespace tailsafe
