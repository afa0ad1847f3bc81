// Running under systemd: both daemons speak sd_notify (READY=1 once serving, WATCHDOG=1 from
// their loops at half of WatchdogSec, STOPPING=1 on SIGTERM). The test plays systemd: it binds
// the NOTIFY_SOCKET datagram socket itself and reads what each daemon says, by sender pid.
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/fd.h"
#include "tests/support/cluster.h"
#include "tests/support/net.h"
#include "tests/support/prometheus_check.h"
#include "tests/support/process.h"
#include "tests/support/writer.h"

using namespace tailsafe;
using namespace tailsafe::testing;

namespace {

// A NOTIFY_SOCKET for the daemons started while it is in the environment.
class FakeSystemd {
 public:
  explicit FakeSystemd(const std::string& path) : path_(path) {
    fd_.Reset(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    BOOST_REQUIRE(fd_);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    BOOST_REQUIRE(path.size() < sizeof(addr.sun_path));
    std::memcpy(addr.sun_path, path.c_str(), path.size());
    BOOST_REQUIRE(::bind(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
    int on = 1;
    BOOST_REQUIRE(::setsockopt(fd_.get(), SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)) == 0);
  }
  // Daemons started from now on notify here, with a watchdog of `watchdog_usec`.
  void Export(uint64_t watchdog_usec) {
    ::setenv("NOTIFY_SOCKET", path_.c_str(), 1);
    ::setenv("WATCHDOG_USEC", std::to_string(watchdog_usec).c_str(), 1);
  }
  static void Unexport() {
    ::unsetenv("NOTIFY_SOCKET");
    ::unsetenv("WATCHDOG_USEC");
  }
  // Reads datagrams until `pid` has sent `times` containing `what`, or `seconds` pass.
  bool WaitFor(pid_t pid, const std::string& what, double seconds, size_t times = 1) {
    uint64_t deadline = NowNs() + static_cast<uint64_t>(seconds * 1e9);
    for (;;) {
      if (Count(pid, what) >= times) return true;
      uint64_t now = NowNs();
      if (now >= deadline) return false;
      pollfd p{fd_.get(), POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>((deadline - now) / 1000000 + 1)) <= 0) continue;
      char buf[4096];
      alignas(cmsghdr) char control[CMSG_SPACE(sizeof(ucred))];
      iovec iov{buf, sizeof(buf)};
      msghdr msg{};
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      msg.msg_control = control;
      msg.msg_controllen = sizeof(control);
      ssize_t n = ::recvmsg(fd_.get(), &msg, MSG_DONTWAIT);
      if (n < 0) continue;
      pid_t from = 0;
      for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
          ucred cred;
          std::memcpy(&cred, CMSG_DATA(c), sizeof(cred));
          from = cred.pid;
        }
      }
      said_[from].emplace_back(buf, static_cast<size_t>(n));
    }
  }
  size_t Count(pid_t pid, const std::string& what) {
    size_t n = 0;
    for (const std::string& m : said_[pid]) n += m.find(what) != std::string::npos;
    return n;
  }
  std::string Said(pid_t pid) {
    std::string out;
    for (const std::string& m : said_[pid]) out += "[" + m + "] ";
    return out.substr(0, 2000);
  }

 private:
  std::string path_;
  Fd fd_;
  std::map<pid_t, std::vector<std::string>> said_;
};

}  // namespace

BOOST_AUTO_TEST_SUITE(operations)

BOOST_AUTO_TEST_CASE(daemons_tell_systemd_ready_watchdog_and_stopping) {
  ClusterOptions o = TwoAgentsOneBolt();
  o.coordinator = true;
  TestCluster c("ops-notify", o);
  FakeSystemd systemd(c.root() + "/notify.sock");
  systemd.Export(200000);  // WatchdogSec=200ms: a ping every 100 ms
  Status started = c.StartCoordinator();
  Status agent = started ? c.Start(0) : started;
  FakeSystemd::Unexport();
  BOOST_REQUIRE_MESSAGE(started, started.message() + "\n" + c.CoordinatorLogTail());
  BOOST_REQUIRE_MESSAGE(agent, agent.message() + "\n" + c.LogTail(0));
  BOOST_REQUIRE(c.Start(1));  // not under the fake systemd: says nothing there

  pid_t a = c.Pid(0);
  BOOST_TEST(systemd.WaitFor(a, "READY=1", 10), systemd.Said(a));
  BOOST_TEST(systemd.WaitFor(a, "STATUS=agent h1 on 127.0.0.1:", 1), systemd.Said(a));
  // The watchdog pings come from each daemon's loop: several of them while it serves.
  BOOST_TEST(systemd.WaitFor(a, "WATCHDOG=1", 10, 3), systemd.Said(a));
  pid_t k = c.CoordinatorPid();
  BOOST_TEST(systemd.WaitFor(k, "READY=1", 10), systemd.Said(k));
  BOOST_TEST(systemd.WaitFor(k, "STATUS=coordinator of cluster", 1), systemd.Said(k));
  BOOST_TEST(systemd.WaitFor(k, "WATCHDOG=1", 10, 3), systemd.Said(k));
  BOOST_TEST(systemd.Count(c.Pid(1), "READY=1") == 0u);

  BOOST_REQUIRE(c.Stop(0));
  BOOST_TEST(systemd.WaitFor(a, "STOPPING=1", 5), systemd.Said(a));
  BOOST_REQUIRE(c.StopCoordinator());
  BOOST_TEST(systemd.WaitFor(k, "STOPPING=1", 5), systemd.Said(k));
}

namespace {

// The text must pass our strict reader and, where Debian's promtool is at hand, `promtool check
// metrics` (which also lints names, units and HELP texts).
MetricSamples CheckMetrics(const std::string& what, const std::string& text, const std::string& dir) {
  auto samples = ParsePrometheusText(text);
  BOOST_REQUIRE_MESSAGE(samples, what + ": " + samples.status().message() + "\n" + text.substr(0, 3000));
  std::string promtool = FindPromtool();
  if (promtool.empty()) {
    BOOST_TEST_MESSAGE("promtool not found (scripts/promtool.sh puts it in BIN/tools): checked by the parser only");
  } else {
    std::string file = dir + "/metrics.txt";
    std::ofstream(file) << text;
    CommandResult r = RunCommand(promtool + " check metrics < " + file);
    BOOST_TEST(r.code == 0, what + ": promtool check metrics exit " + std::to_string(r.code) + ": " + r.out);
    BOOST_TEST(r.out.empty(), what + ": promtool check metrics says: " + r.out);
  }
  return *samples;
}

double Value(const MetricSamples& s, const std::string& series) {
  auto it = s.find(series);
  return it == s.end() ? -1 : it->second;
}

}  // namespace

BOOST_AUTO_TEST_CASE(metrics_are_served_in_prometheus_text_with_the_numbers_status_shows) {
  ClusterOptions o = TwoAgentsOneBolt();
  o.coordinator = true;
  o.metrics = true;
  TestCluster c("ops-metrics", o);
  BOOST_REQUIRE(c.StartCoordinator());
  BOOST_REQUIRE(c.StartAll());
  AppendWriter w(c.BoltFile(0, 0), 200000, 7);
  w.Start();
  w.Join();
  BOOST_REQUIRE_MESSAGE(w.error().empty(), w.error());
  BOOST_REQUIRE(c.WaitAcked(0, 0, 20));

  auto text = HttpGet(c.MetricsPort(0), "/metrics");
  BOOST_REQUIRE_MESSAGE(text, text.status().message());
  MetricSamples m = CheckMetrics("agent h1", *text, c.root());
  const double size = static_cast<double>(w.written());
  BOOST_TEST(Value(m, "tailsafe_bolt_origin_bytes{bolt=\"bolt-1\"}") == size);
  BOOST_TEST(Value(m, "tailsafe_peer_acknowledged_bytes_total{peer=\"h2\"}") == size);
  BOOST_TEST(Value(m, "tailsafe_peer_shipped_bytes_total{peer=\"h2\"}") >= size);
  BOOST_TEST(Value(m, "tailsafe_bolt_lag_bytes{bolt=\"bolt-1\",peer=\"h2\"}") == 0);
  BOOST_TEST(Value(m, "tailsafe_peer_up{peer=\"h2\"}") == 1);
  BOOST_TEST(Value(m, "tailsafe_coordinator_up") >= 0);
  BOOST_TEST(Value(m, "tailsafe_hook_duration_seconds_count") == 0);
  for (const char* family : {"tailsafe_bolt_rescans_total", "tailsafe_bolt_divergences_total", "tailsafe_recoveries_total",
                             "tailsafe_peer_connection_failures_total", "tailsafe_bolt_lag_seconds",
                             "tailsafe_peer_stream_errors_total", "tailsafe_peer_opens_total"}) {
    BOOST_TEST(text->find(std::string("# TYPE ") + family + " ") != std::string::npos, family);
  }
  // The receiving side counts what it wrote.
  auto peer = HttpGet(c.MetricsPort(1), "/metrics");
  BOOST_REQUIRE_MESSAGE(peer, peer.status().message());
  MetricSamples pm = CheckMetrics("agent h2", *peer, c.root());
  BOOST_TEST(Value(pm, "tailsafe_receiver_bytes_total") == size);

  auto coord = HttpGet(c.MetricsPort(-1), "/metrics");
  BOOST_REQUIRE_MESSAGE(coord, coord.status().message());
  MetricSamples cm = CheckMetrics("coordinator", *coord, c.root());
  BOOST_TEST(WaitUntil([&] {
    auto t = HttpGet(c.MetricsPort(-1), "/metrics");
    auto s = t ? ParsePrometheusText(*t) : Result<MetricSamples>(t.status());
    return s && Value(*s, "tailsafe_coordinator_agents{state=\"alive\"}") == 2;
  }, 10));
  BOOST_TEST(Value(cm, "tailsafe_coordinator_recoveries{state=\"failed\"}") == 0);
}

BOOST_AUTO_TEST_CASE(the_metrics_server_answers_bad_requests_and_slow_clients_without_harm) {
  ClusterOptions o = TwoAgentsOneBolt();
  o.agents = 1;
  o.metrics = true;
  TestCluster c("ops-http", o);
  BOOST_REQUIRE(c.Start(0));
  uint16_t port = c.MetricsPort(0);
  auto status_of = [&](const std::string& request) {
    auto r = HttpExchange(port, request);
    return r ? r->substr(0, r->find("\r\n")) : "error: " + r.status().message();
  };
  BOOST_TEST(status_of("GET /nope HTTP/1.1\r\nConnection: close\r\n\r\n") == "HTTP/1.1 404 Not Found");
  BOOST_TEST(status_of("POST /metrics HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc") == "HTTP/1.1 405 Method Not Allowed");
  BOOST_TEST(status_of("GET /metrics HTTP/2.0\r\n\r\n") == "HTTP/1.1 505 HTTP Version Not Supported");
  BOOST_TEST(status_of("GET metrics\r\n\r\n") == "HTTP/1.1 400 Bad Request");
  BOOST_TEST(status_of(std::string("GET /met\0rics HTTP/1.1\r\n\r\n", 26)).substr(0, 10) == "HTTP/1.1 4");
  BOOST_TEST(status_of("GET /metrics HTTP/1.1\r\nX: " + std::string(9000, 'a')) ==
             "HTTP/1.1 431 Request Header Fields Too Large");
  auto head = HttpExchange(port, "HEAD /metrics HTTP/1.0\r\n\r\n");
  BOOST_REQUIRE(head);
  BOOST_TEST(head->rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
  BOOST_TEST(head->size() == head->find("\r\n\r\n") + 4, "HEAD has no body");
  // A client that never finishes its request is closed at the deadline; meanwhile others are served.
  Fd slow = ConnectTo(port);
  BOOST_REQUIRE(slow);
  BOOST_REQUIRE(::write(slow.get(), "GET /metr", 9) == 9);
  BOOST_TEST(HttpGet(port, "/metrics").ok());
  auto closed = HttpExchange(port, "", 0.1);  // an idle one for good measure, gone at once
  (void)closed;
  char byte;
  pollfd p{slow.get(), POLLIN, 0};
  BOOST_TEST(::poll(&p, 1, 15000) == 1, "the slow client was not closed within 15 s");
  BOOST_TEST(::read(slow.get(), &byte, 1) == 0);
  BOOST_TEST(c.Running(0));
}

BOOST_AUTO_TEST_SUITE_END()
