// HttpDaemon: a read-only HTTP/1.1 server on a daemon's libuv loop, built on libmicrohttpd
// (Debian's libmicrohttpd12) in its external-epoll mode: no thread of its own. MHD keeps its
// sockets in one epoll set; the loop polls that set's fd and runs MHD when it is readable or
// when MHD's own timeout (idle connections) is due. Every callback runs on the loop.
//
// Routes are exact paths, answered with one reply built on the loop when the request arrives
// (so a scrape sees one instant). A stream route answers with a reply that stays open
// (server-sent events): its first bytes come from the route, later ones from Broadcast, and a
// stream with nothing to send is suspended (off MHD's epoll set) until there is. A stream whose
// client reads slower than kMaxStreamQueue of broadcasts arrive is closed (an EventSource then
// reconnects and starts from a fresh snapshot). Since an idle stream never times out, at most half
// the connections may be streams. Only GET and HEAD: anything else is 405. MHD parses the
// request (keep-alive, pipelining, chunked bodies) and enforces the limits a client controls:
// the request head fits in kHeadBytes (a longer URL or header gets 414 or 431), a connection
// idle for `timeout_s` is closed, at most `max_clients` are open at once and at most
// `max_per_ip` from one address (more are refused at accept). Nothing a client sends reaches
// the daemon's state except through a route's handler.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/config.h"
#include "common/status.h"
#include "common/uv_handle.h"

struct MHD_Daemon;
struct MHD_Connection;

namespace tailsafe {

struct HttpRequest {
  std::string method;  // "GET" or "HEAD"
  std::string path;    // "/metrics", without the query
  // The credential presented, if any: "Authorization: Bearer TOKEN", else the query's token=,
  // else the cookie kTokenCookie (which a page may set once a token came in its query).
  std::string token;
  bool token_in_query = false;
};
inline constexpr const char* kTokenCookie = "tailsafe_token";

struct HttpReply {
  int status = 200;
  std::string type = "text/plain; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra ones
};

class HttpDaemon {
 public:
  struct Limits {
    size_t max_clients = 64;
    size_t max_per_ip = 16;
    unsigned timeout_s = 5;
  };
  // The request line and headers must fit in this much of a connection's memory.
  static constexpr size_t kHeadBytes = 8192;
  using Handler = std::function<HttpReply(const HttpRequest&)>;

  // `who` names the server in messages ("coordinator metrics").
  HttpDaemon(uv_loop_t* loop, std::string who, Limits limits);
  HttpDaemon(uv_loop_t* loop, std::string who) : HttpDaemon(loop, std::move(who), Limits{}) {}
  ~HttpDaemon();
  HttpDaemon(const HttpDaemon&) = delete;
  HttpDaemon& operator=(const HttpDaemon&) = delete;

  static constexpr size_t kMaxStreamQueue = 1 << 20;

  void Route(std::string path, Handler handler) { routes_[std::move(path)] = std::move(handler); }
  // A streaming route: `first` gives the reply's head and first bytes (a non-200 status ends it
  // there, as a plain reply); Broadcast(path, ...) appends to every stream open on it.
  void StreamRoute(std::string path, Handler first) { stream_routes_[std::move(path)] = std::move(first); }
  void Broadcast(const std::string& path, const std::string& bytes);
  // Ends every stream open on `path` (their clients see the reply end).
  void EndStreams(const std::string& path);
  size_t streams() const { return streams_.size(); }
  // Streams open at once: half of max_clients; more get 503.
  size_t MaxStreams() const { return limits_.max_clients / 2; }
  // Checked before any route: a request it refuses gets the reply it returns (401, say).
  void Guard(std::function<std::optional<HttpReply>(const HttpRequest&)> guard) { guard_ = std::move(guard); }
  // Paths with no route (default: 404 with a short text).
  void Fallback(Handler handler) { fallback_ = std::move(handler); }
  // Binds `where` (an IP literal) and starts serving. `setting` names the config key in errors.
  Status Listen(const HostPort& where, const std::string& setting);
  // Serves an already connected socket as if it had been accepted from 127.0.0.1 (the HTTP
  // fuzzer's socketpairs). The socket is the daemon's from here on, even on failure.
  Status Adopt(int fd);
  // Closes every connection and the listening socket.
  void Stop();
  // The port bound (useful with port 0 in tests), 0 before Listen.
  uint16_t port() const { return port_; }
  uint64_t requests() const { return requests_; }

 private:
  struct MhdStop {
    void operator()(MHD_Daemon* d) const;
  };
  struct Callbacks;  // MHD's C callbacks (common/http_daemon.cc)
  struct Stream {
    HttpDaemon* http;
    MHD_Connection* conn;
    std::string path;
    std::string queued;  // broadcast, not yet handed to MHD
    bool suspended = false;
    bool ended = false;  // EndStreams or a full queue: the reply ends once `queued` is out
  };
  HttpRequest Parse(MHD_Connection* c, const char* method, const char* url) const;
  HttpReply Dispatch(const HttpRequest& req, bool* stream);
  void Wake(Stream* s);
  // Runs MHD over whatever is ready, then re-arms the timer for MHD's next timeout.
  void Pump();

  uv_loop_t* loop_;
  std::string who_;
  Limits limits_;
  std::map<std::string, Handler> routes_;
  std::map<std::string, Handler> stream_routes_;
  Handler fallback_;
  std::function<std::optional<HttpReply>(const HttpRequest&)> guard_;
  std::map<Stream*, std::unique_ptr<Stream>> streams_;
  std::unique_ptr<MHD_Daemon, MhdStop> mhd_;
  UvPtr<uv_poll_t> poll_;
  UvPtr<uv_timer_t> timer_;
  uint16_t port_ = 0;
  uint64_t requests_ = 0;
};

}  // namespace tailsafe
