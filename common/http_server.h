// MetricsServer: a small HTTP/1.1 server on the daemon's loop that answers GET /metrics with
// Prometheus text (and GET / with a pointer to it). Nothing else: no keep-alive, no bodies.
//
// Every limit a client controls is bounded: the request head (8 KiB), the time to send it
// (5 s), and the connections open at once (64; more are closed at once). A bad request gets
// its 4xx status and the connection is closed; nothing a client sends can reach the daemon's
// state. The text is built on the loop when the request arrives, so a scrape sees one instant.
#pragma once

#include <uv.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "common/config.h"
#include "common/stream_conn.h"
#include "common/stream_endpoints.h"
#include "common/status.h"
#include "common/uv_handle.h"

namespace tailsafe {

struct HttpRequest {
  std::string method;  // "GET"
  std::string path;    // "/metrics", without the query
};

// Parses a request head (request line and headers, through the blank line). On error, `status`
// is the HTTP status to answer (400, 405, 414, 505) and the message says why.
struct HttpParse {
  bool complete = false;  // the blank line was seen
  int status = 0;         // 0: fine so far
  std::string error;
  HttpRequest request;
};
HttpParse ParseHttpRequestHead(std::string_view head);

class MetricsServer {
 public:
  static constexpr size_t kMaxHead = 8192;
  static constexpr size_t kMaxClients = 64;
  static constexpr uint64_t kTimeoutMs = 5000;

  // `render` produces the Prometheus text of one scrape.
  MetricsServer(uv_loop_t* loop, std::string who, std::function<std::string()> render);
  ~MetricsServer();
  Status Listen(const HostPort& where);
  void Stop();
  uint64_t scrapes() const { return scrapes_; }

 private:
  struct Client;
  void OnAccept(UvPtr<uv_tcp_t> tcp);
  void OnData(Client* c);
  void Answer(Client* c, int status, std::string_view reason, std::string_view type, std::string body,
              bool head_only);

  uv_loop_t* loop_;
  std::string who_;  // "agent h1", for messages
  std::function<std::string()> render_;
  TcpListener listener_;
  std::map<Client*, std::unique_ptr<Client>> clients_;
  uint64_t scrapes_ = 0;
};

}  // namespace tailsafe
