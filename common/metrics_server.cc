#include "common/metrics_server.h"

namespace tailsafe {

MetricsServer::MetricsServer(uv_loop_t* loop, std::string who, std::function<std::string()> render)
    : http_(loop, who) {
  http_.Route("/metrics", [this, render = std::move(render)](const HttpRequest&) {
    ++scrapes_;
    HttpReply r;
    r.type = "text/plain; version=0.0.4; charset=utf-8";
    r.body = render();
    return r;
  });
  http_.Route("/", [who](const HttpRequest&) {
    HttpReply r;
    r.body = "tailsafe " + who + ": metrics at /metrics\n";
    return r;
  });
  http_.Fallback([](const HttpRequest&) {
    HttpReply r;
    r.status = 404;
    r.body = "not found; metrics are at /metrics\n";
    return r;
  });
}

}  // namespace tailsafe
