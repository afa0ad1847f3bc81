// Where StreamConns (common/stream_conn.h) come from: a TCP or Unix-socket listener hands each
// accepted connection to its owner, and ConnectTcp resolves and connects. Every TCP connection of
// the daemons is made here, with the same socket options (no Nagle delay, keepalive probes after
// 30 s idle), and then carried by a StreamConn.
#pragma once

#include <uv.h>

#include <functional>
#include <memory>
#include <string>

#include "common/status.h"
#include "common/uv_handle.h"

namespace tailsafe {

// "HOST:PORT" of a connected TCP handle's other end ("?" if unknown).
std::string RemoteAddress(uv_tcp_t* tcp);

// A listening TCP socket; each accepted connection is handed to `on_accept` as a TCP handle.
class TcpListener {
 public:
  using OnAccept = std::function<void(UvPtr<uv_tcp_t>)>;
  // `host` must be an IP literal. The error names the address.
  Status Listen(uv_loop_t* loop, const std::string& host, uint16_t port, OnAccept on_accept);
  void Stop() { tcp_.Reset(); }
  // The port listened on (what port 0 became), or 0.
  uint16_t port() const;

 private:
  UvPtr<uv_tcp_t> tcp_;
  OnAccept on_accept_;
};

// A listening Unix stream socket at `path` (a stale socket there is replaced), with `mode`.
class UnixListener {
 public:
  using OnAccept = std::function<void(UvPtr<uv_pipe_t>)>;
  Status Listen(uv_loop_t* loop, const std::string& path, int mode, OnAccept on_accept);
  // Stops listening and removes the socket file.
  void Stop();

 private:
  UvPtr<uv_pipe_t> pipe_;
  std::string path_;
  OnAccept on_accept_;
};

// A connection attempt under way (ConnectTcp). Destroying it cancels the attempt, closing its
// socket at once (so a stopping daemon does not wait for a connect timeout): `done` is then
// never called.
class PendingConnect {
 public:
  using Done = std::function<void(Result<UvPtr<uv_tcp_t>>)>;
  ~PendingConnect();
  PendingConnect(const PendingConnect&) = delete;
  PendingConnect& operator=(const PendingConnect&) = delete;

 private:
  struct Op;
  friend Result<std::unique_ptr<PendingConnect>> ConnectTcp(uv_loop_t*, const std::string&, uint16_t, Done, uint64_t);
  explicit PendingConnect(Op* op) : op_(op) {}
  Op* op_;
};

// How long a connection attempt (resolve and connect) may take before it fails. The kernel's
// own bound on a connect is its SYN retries, about two minutes: a peer behind a partition that
// drops packets, or a lost ARP reply, would otherwise hold a link "connecting" that long, and
// after the partition heals it would wait for the next retry (up to a minute) before
// reconnecting. Failing here hands the link back to its retry backoff instead.
constexpr uint64_t kConnectTimeoutMs = 5000;

// Resolves `host` and connects to `port`; `done` gets the connected handle or the error (naming
// the address; "no answer" after `timeout_ms`), later on the loop. An error here (the resolve
// could not even start) means `done` is never called.
Result<std::unique_ptr<PendingConnect>> ConnectTcp(uv_loop_t* loop, const std::string& host, uint16_t port,
                                                   PendingConnect::Done done, uint64_t timeout_ms = kConnectTimeoutMs);

}  // namespace tailsafe
