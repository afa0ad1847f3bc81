// libFuzzer target: the HTTP server the daemons expose (common/http_daemon.h, libmicrohttpd on a
// libuv loop) with the routes of the coordinator's status page (coordinator/status_page.h: the
// page, /api/status, /api/role, the /api/events stream, /metrics, the assets) and a token, fed as a client:
// the input's bytes over a socketpair, then the end of the client's output. The first input byte
// picks the server: odd ('1'), the status page; even ('0'), the agents' /metrics. Whatever comes in, the server
// must not crash, must answer with nothing or with responses that each begin with a status line,
// and must close the connection once the client is done (a hang past 5 s is a finding).
#include <linux/sockios.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "common/metrics_server.h"
#include "coordinator/status_page.h"

namespace {

uv_loop_t* Loop() {
  static uv_loop_t* loop = [] {
    auto* l = new uv_loop_t;
    uv_loop_init(l);
    return l;
  }();
  return loop;
}

tailsafe::MetricsServer* Server() {
  static tailsafe::MetricsServer* server = [] {
    auto* s = new tailsafe::MetricsServer(Loop(), "fuzz", [] { return std::string("# TYPE up gauge\nup 1\n"); });
    if (!s->Listen(tailsafe::HostPort{"127.0.0.1", 0}).ok()) abort();
    return s;
  }();
  return server;
}

tailsafe::StatusPage* Page() {
  static tailsafe::StatusPage* page = [] {
    auto* config = new tailsafe::CoordinatorConfig;
    config->listen = "127.0.0.1:7400";
    config->http_listen = tailsafe::HostPort{"127.0.0.1", 0};
    config->http_token_file = "/tmp/tailsafe-fuzz-http.token";
    if (FILE* f = fopen(config->http_token_file.c_str(), "w")) {
      fputs("fuzz-token-0123456789\n", f);
      fclose(f);
    }
    tailsafe::StatusPage::Sources sources{
        [] {
          return nlohmann::json{{"cluster", "fuzz"},
                                {"coordinator", {{"listen", "127.0.0.1:7400"}, {"leading", true}, {"term", 1}}},
                                {"agents", {{"/agents/h1", {{"alive", true}, {"address", "127.0.0.1:7401"}}}}},
                                {"bolts", {{"/bolts/h1/b", {{"origin", "h1"}, {"bolt", "b"}, {"peer_lag", {{"h2", 5}}}}}}},
                                {"recoveries", nlohmann::json::object()}};
        },
        [] { return std::string("# TYPE up gauge\nup 1\n"); }, [] { return true; },
        [] { return nlohmann::json{{"listen", "127.0.0.1:7400"}, {"leading", true}, {"term", 1}}; }};
    auto* p = new tailsafe::StatusPage(Loop(), *config, std::move(sources));
    if (!p->Start().ok()) abort();
    return p;
  }();
  return page;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tailsafe::HttpDaemon& http = size > 0 && (data[0] & 1) ? Page()->http() : Server()->http();
  if (size > 0) {
    ++data;
    --size;
  }
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) != 0) abort();
  int client = sv[0];
  if (!http.Adopt(sv[1]).ok()) abort();
  size_t sent = 0;
  bool shut = false;
  std::string got;
  bool eof = false;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!eof) {
    if (std::chrono::steady_clock::now() > deadline) __builtin_trap();  // the server never closed
    if (sent < size) {
      ssize_t n = ::send(client, data + sent, size - sent, MSG_NOSIGNAL);
      if (n > 0) sent += static_cast<size_t>(n);
      if (n < 0 && errno != EAGAIN) sent = size;  // the server closed early (EPIPE, ECONNRESET): fine
    }
    // The end of the input once the server has read all of it: MHD's epoll is edge-triggered, so
    // an end that arrives with the last bytes is noticed only at its 5 s timeout (bounded, but
    // too slow for a fuzzer).
    int unread = 0;
    if (!shut && sent == size && (::ioctl(client, SIOCOUTQ, &unread) != 0 || unread == 0)) {
      ::shutdown(client, SHUT_WR);
      shut = true;
    }
    // An event stream the input opened stays open (a suspended stream does not see its client
    // leave): end it once the client is done, as a coordinator's Stop would.
    if (shut) http.EndStreams("/api/events");
    uv_run(Loop(), UV_RUN_NOWAIT);
    char buf[4096];
    ssize_t n = ::recv(client, buf, sizeof buf, 0);
    if (n > 0) got.append(buf, static_cast<size_t>(n));
    if (n == 0 || (n < 0 && errno != EAGAIN)) eof = true;
    pollfd p[2] = {{client, POLLIN, 0}, {uv_backend_fd(Loop()), POLLIN, 0}};
    if (!eof) ::poll(p, 2, 1);
  }
  ::close(client);
  if (!got.empty() && got.compare(0, 9, "HTTP/1.1 ") != 0) __builtin_trap();
  return 0;
}
