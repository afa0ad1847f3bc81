// MetricsServer: the daemons' Prometheus endpoint (GET /metrics on metrics_listen), and GET / with
// a pointer to it. An HttpDaemon (common/http_daemon.h) with two routes: every limit a client
// controls is that server's. The text is built on the loop when the request arrives, so a
// scrape sees one instant.
#pragma once

#include <uv.h>

#include <functional>
#include <string>

#include "common/config.h"
#include "common/http_daemon.h"
#include "common/status.h"

namespace tailsafe {

class MetricsServer {
 public:
  // `render` produces the Prometheus text of one scrape; `who` names the daemon ("agent h1").
  MetricsServer(uv_loop_t* loop, std::string who, std::function<std::string()> render);
  Status Listen(const HostPort& where) { return http_.Listen(where, "metrics_listen"); }
  void Stop() { http_.Stop(); }
  uint64_t scrapes() const { return scrapes_; }
  HttpDaemon& http() { return http_; }  // for the HTTP fuzzer (HttpDaemon::Adopt)

 private:
  HttpDaemon http_;
  uint64_t scrapes_ = 0;
};

}  // namespace tailsafe
