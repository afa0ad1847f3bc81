// The coordinator's status page (coordinator/status_page.h) on a running cluster: the page and
// /api/status show the agents and bolts; /api/events pushes a killed bolt's recovery until it is
// recovered, and in headless Chromium the same happens on the page without a reload; a token,
// when set, is asked for.
#include <boost/test/unit_test.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <signal.h>
#include <unistd.h>

#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "common/fd.h"
#include "tests/support/cluster.h"
#include "tests/support/net.h"
#include "tests/support/prometheus_check.h"
#include "tests/support/stand_in_bolt.h"
#include "tests/support/webdriver.h"

using namespace tailsafe;
using namespace tailsafe::testing;

namespace {

// A client of /api/events that keeps what it reads.
struct EventClient {
  Fd fd;
  std::string got;
  explicit EventClient(uint16_t port, const std::string& query = "") : fd(ConnectTo(port, "127.0.0.1")) {
    BOOST_REQUIRE(fd);
    std::string req = "GET /api/events" + query + " HTTP/1.1\r\nHost: t\r\nAccept: text/event-stream\r\n\r\n";
    BOOST_REQUIRE(::write(fd.get(), req.data(), req.size()) == static_cast<ssize_t>(req.size()));
  }
  // Reads until `done(got)` or `seconds` pass; whether it came true.
  bool WaitFor(const std::function<bool(const std::string&)>& done, double seconds) {
    uint64_t deadline = NowNs() + static_cast<uint64_t>(seconds * 1e9);
    while (!done(got)) {
      uint64_t now = NowNs();
      if (now >= deadline) return false;
      pollfd p{fd.get(), POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>((deadline - now) / 1000000 + 1)) <= 0) continue;
      char buf[65536];
      ssize_t n = ::read(fd.get(), buf, sizeof buf);
      if (n <= 0) return done(got);
      got.append(buf, static_cast<size_t>(n));
    }
    return true;
  }
};

std::string Lines(int from, int to) {
  std::string out;
  for (int i = from; i < to; ++i) out += "GET /page/" + std::to_string(i) + " HTTP/1.1 200\n";
  return out;
}

// A connection to 127.0.0.1:`port` from `source` (another loopback address).
Fd ConnectFrom(const std::string& source, uint16_t port) {
  Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  inet_pton(AF_INET, source.c_str(), &a.sin_addr);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return Fd();
  a.sin_port = htons(port);
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return Fd();
  return fd;
}

ClusterOptions PageCluster() {
  ClusterOptions o = RecoveryCluster(2);
  o.status_page = true;
  return o;
}

// Starts the coordinator and the agents, and a stand-in bolt on h1 once the coordinator has it
// running: the process a test kills.
Child StartWithBolt(TestCluster& c) {
  BOOST_REQUIRE(c.StartCoordinator().ok());
  BOOST_REQUIRE(c.StartAll().ok());
  auto bolt = Child::Spawn({"/bin/sleep", "600"}, c.root() + "/bolt.log");
  BOOST_REQUIRE(bolt.ok());
  BOOST_REQUIRE(WriteAtomically(c.PidFile(0, 0), std::to_string(bolt->pid()) + "\n").ok());
  nlohmann::json last;
  BOOST_REQUIRE_MESSAGE(c.WaitDoc("/bolts/h1/bolt-1", [](const nlohmann::json& d) {
    return d.contains("process") && d["process"].value("state", "") == "running";
  }, 10, &last), last.dump());
  return std::move(bolt.value());
}

// 100 processed lines, then 200 the bolt has not processed, held by its peer: the tail a
// recovery will deliver.
void WriteTail(TestCluster& c) {
  std::string file = c.BoltFile(0, 0);
  AppendText(file, Lines(0, 100));
  BOOST_REQUIRE(WriteAtomically(c.CheckpointFile(0, 0), std::to_string(Lines(0, 100).size()) + "\n").ok());
  AppendText(file, Lines(100, 300));
  BOOST_REQUIRE(c.WaitAcked(0, 0, 20));
}

}  // namespace

BOOST_AUTO_TEST_SUITE(status_page)

BOOST_AUTO_TEST_CASE(the_page_shows_the_cluster_and_its_events_follow_a_recovery_to_the_end) {
  TestCluster c("page-live", PageCluster());
  Child bolt = StartWithBolt(c);
  uint16_t port = c.CoordinatorHttpPort();

  auto page = HttpGet(port, "/");
  BOOST_REQUIRE_MESSAGE(page.ok(), page.status().message());
  BOOST_TEST(page->find("data-agent=\"h1\" data-state=\"alive\"") != std::string::npos, *page);
  BOOST_TEST(page->find("data-agent=\"h2\" data-state=\"alive\"") != std::string::npos);
  BOOST_TEST(page->find("data-bolt=\"h1/bolt-1\" data-state=\"running\"") != std::string::npos);
  BOOST_TEST(page->find("<script src=\"app.js\"") != std::string::npos);
  auto status = HttpGet(port, "/api/status");
  BOOST_REQUIRE(status.ok());
  auto doc = nlohmann::json::parse(*status, nullptr, false);
  BOOST_REQUIRE(doc.is_object());
  BOOST_TEST(doc["coordinator"].value("leading", false));
  BOOST_TEST(doc["agents"]["/agents/h1"].value("version", "") == "0.1.0");
  BOOST_TEST(doc["bolts"].contains("/bolts/h2/bolt-1"));
  auto js = HttpGet(port, "/app.js");
  BOOST_REQUIRE(js.ok());
  BOOST_TEST(js->find("EventSource") != std::string::npos);
  BOOST_TEST(HttpGet(port, "/style.css").ok());
  auto metrics = HttpGet(port, "/metrics");
  BOOST_REQUIRE(metrics.ok());
  BOOST_TEST(metrics->find("tailsafe_coordinator_") != std::string::npos);

  // The events: every section soon after connecting, then the recovery as it happens.
  EventClient events(port);
  BOOST_REQUIRE_MESSAGE(events.WaitFor([](const std::string& g) { return g.find("\"id\":\"recoveries\"") != std::string::npos; }, 10),
                        events.got);
  BOOST_TEST(events.got.find("text/event-stream") != std::string::npos);
  WriteTail(c);
  bolt.Signal(SIGKILL);
  bolt.Wait();
  BOOST_REQUIRE_MESSAGE(events.WaitFor([](const std::string& g) {
    return g.find("data-recovery=\\\"1\\\" data-state=\\\"recovered\\\"") != std::string::npos;
  }, 30), events.got.substr(events.got.size() > 4000 ? events.got.size() - 4000 : 0) << c.CoordinatorLogTail());
  BOOST_TEST(events.got.find("data-bolt=\\\"h1/bolt-1\\\" data-state=\\\"dead\\\"") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(in_chromium_the_page_shows_the_cluster_and_a_recovery_ends_recovered_without_a_reload) {
  if (std::string missing = WebDriver::Missing(); !missing.empty()) {
    BOOST_TEST_MESSAGE("skipped: " << missing);
    return;
  }
  TestCluster c("page-browser", PageCluster());
  Child bolt = StartWithBolt(c);
  WriteTail(c);
  nlohmann::json last;

  WebDriver web;
  Status started = web.Start(c.root() + "/chromedriver.log", 1280, 900);
  BOOST_REQUIRE_MESSAGE(started.ok(), started.message());
  BOOST_REQUIRE(web.Navigate("http://127.0.0.1:" + std::to_string(c.CoordinatorHttpPort()) + "/").ok());
  BOOST_TEST(web.WaitTrue("return document.querySelectorAll('#agents tr[data-state=alive]').length === 2", 10, &last), last);
  BOOST_TEST(web.WaitTrue("return !!document.querySelector('#bolts tr[data-bolt=\"h1/bolt-1\"][data-state=running]')", 10));
  BOOST_TEST(web.WaitTrue("return document.getElementById('live').dataset.live === 'live'", 10, &last), last);
  BOOST_REQUIRE(web.Execute("window.notReloaded = true; return true;").ok());  // gone if the page reloads
  std::string dir = ArtifactsDir();
  BOOST_TEST(web.Screenshot(dir + "/status-page-desktop.png").ok());

  bolt.Signal(SIGKILL);
  bolt.Wait();
  BOOST_TEST(web.WaitTrue("var r = document.querySelector('#recoveries li[data-recovery=\"1\"]');"
                          "return !!r && r.dataset.state === 'recovered' && window.notReloaded === true;", 30, &last),
             last << c.CoordinatorLogTail());
  auto text = web.Execute("return document.getElementById('recoveries').innerText");
  BOOST_REQUIRE(text.ok());
  std::string shown = text->is_string() ? text->get<std::string>() : "";
  BOOST_TEST(shown.find("recovered") != std::string::npos, shown);
  BOOST_TEST(shown.find("h1/bolt-1, generation 1") != std::string::npos, shown);
  BOOST_TEST(shown.find("elected h2") != std::string::npos, shown);
  BOOST_TEST(web.WaitTrue("var b = document.querySelector('#bolts tr[data-bolt=\"h1/bolt-1\"]');"
                          "return !!b && b.dataset.state === 'dead'", 10));
  BOOST_TEST(web.Screenshot(dir + "/status-page-recovered-desktop.png").ok());
  // A phone's width: the page reflows rather than scrolling sideways.
  BOOST_REQUIRE(web.Resize(390, 844).ok());
  BOOST_TEST(web.WaitTrue("return document.documentElement.scrollWidth <= window.innerWidth + 1", 5, &last), last);
  BOOST_TEST(web.Screenshot(dir + "/status-page-phone.png").ok());
  BOOST_TEST_MESSAGE("screenshots in " << dir);
}

BOOST_AUTO_TEST_CASE(in_chromium_the_page_reconnects_after_the_coordinator_restarts) {
  if (std::string missing = WebDriver::Missing(); !missing.empty()) {
    BOOST_TEST_MESSAGE("skipped: " << missing);
    return;
  }
  TestCluster c("page-restart", PageCluster());
  Child bolt = StartWithBolt(c);
  WebDriver web;
  Status started = web.Start(c.root() + "/chromedriver.log", 1280, 900);
  BOOST_REQUIRE_MESSAGE(started.ok(), started.message());
  BOOST_REQUIRE(web.Navigate("http://127.0.0.1:" + std::to_string(c.CoordinatorHttpPort()) + "/").ok());
  nlohmann::json last;
  const std::string live = "return document.getElementById('live').dataset.live === 'live' && window.notReloaded === true";
  BOOST_REQUIRE(web.Execute("window.notReloaded = true; return true;").ok());
  BOOST_TEST(web.WaitTrue(live, 10, &last), last);

  c.KillCoordinator(SIGKILL);
  BOOST_TEST(web.WaitTrue("return document.getElementById('live').dataset.live === 'reconnecting'", 10, &last), last);
  BOOST_REQUIRE(c.StartCoordinator().ok());
  BOOST_TEST(web.WaitTrue(live, 20, &last), last);
  // What the restarted coordinator decides reaches the same page.
  WriteTail(c);
  bolt.Signal(SIGKILL);
  bolt.Wait();
  BOOST_TEST(web.WaitTrue("var r = document.querySelector('#recoveries li[data-recovery=\"1\"]');"
                          "return !!r && r.dataset.state === 'recovered' && window.notReloaded === true;", 30, &last),
             last << c.CoordinatorLogTail());
}

BOOST_AUTO_TEST_CASE(sixty_four_hostile_clients_hold_the_page_while_a_takeover_completes) {
  TestCluster c("page-slow", PageCluster());
  Child bolt = StartWithBolt(c);
  WriteTail(c);
  uint16_t port = c.CoordinatorHttpPort();
  // 64 clients (the server's limit) from four addresses (16 each, the per-address limit): a
  // quarter send half a request head and stop, a quarter open the event stream and never read,
  // a quarter send a 7 KiB URL a byte at a time, a quarter only connect.
  std::vector<Fd> clients;
  for (int i = 0; i < 64; ++i) {
    Fd fd = ConnectFrom("127.0.0." + std::to_string(2 + i / 16), port);
    BOOST_REQUIRE(fd);
    std::string first;
    switch (i % 4) {
      case 0: first = "GET /api/status HTTP/1.1\r\nHost: t\r\nX-Slow:"; break;
      case 1: first = "GET /api/events HTTP/1.1\r\nHost: t\r\n\r\n"; break;
      case 2: first = "GET /" ; break;
      default: break;
    }
    if (!first.empty()) BOOST_REQUIRE(::write(fd.get(), first.data(), first.size()) == static_cast<ssize_t>(first.size()));
    clients.push_back(std::move(fd));
  }
  uint64_t killed = NowNs();
  bolt.Signal(SIGKILL);
  bolt.Wait();
  nlohmann::json rec;
  for (int step = 0; step < 400; ++step) {  // the byte-at-a-time clients trickle on meanwhile
    for (size_t i = 2; i < clients.size(); i += 4) (void)::write(clients[i].get(), "a", 1);
    if (c.WaitDoc("/recoveries/1", [](const nlohmann::json& d) { return d.value("state", "") == "recovered"; }, 0.05, &rec)) break;
  }
  BOOST_TEST(rec.value("state", "") == "recovered", rec.dump() << c.CoordinatorLogTail());
  BOOST_TEST_MESSAGE("recovered " << (NowNs() - killed) / 1000000 << " ms after the kill, with 64 hostile HTTP clients open");
  // The coordinator still serves: a 65th client from a fifth address gets the page once the
  // idle ones are timed out, and the cluster's own port never noticed.
  bool served = false;
  for (int attempt = 0; attempt < 100 && !served; ++attempt) {
    Fd fd = ConnectFrom("127.0.0.9", port);
    std::string req = "GET /api/status HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    if (fd && ::write(fd.get(), req.data(), req.size()) == static_cast<ssize_t>(req.size())) {
      pollfd p{fd.get(), POLLIN, 0};
      char buf[16];
      served = ::poll(&p, 1, 200) == 1 && ::read(fd.get(), buf, sizeof buf) > 0 && std::string(buf, 9) == "HTTP/1.1 ";
    }
  }
  BOOST_TEST(served, "the page was not served again within 20 s");
  auto docs = c.CoordinatorDocs("/recoveries/");
  BOOST_REQUIRE(docs.ok());
  BOOST_TEST(docs->size() == 1u, "recovered once");
}

BOOST_AUTO_TEST_CASE(with_a_token_every_route_but_the_assets_asks_for_it) {
  ClusterOptions o = PageCluster();
  o.agents = 1;
  o.status_token = "0123456789abcdef-page-token";
  TestCluster c("page-token", o);
  BOOST_REQUIRE(c.StartCoordinator().ok());
  uint16_t port = c.CoordinatorHttpPort();
  auto status_line = [&](const std::string& request) {
    auto r = HttpExchange(port, request);
    return r ? r->substr(0, r->find("\r\n")) : "error: " + r.status().message();
  };
  const std::string close = " HTTP/1.1\r\nHost: t\r\nConnection: close\r\n";
  BOOST_TEST(status_line("GET /" + close + "\r\n") == "HTTP/1.1 401 Unauthorized");
  BOOST_TEST(status_line("GET /api/status?token=wrong-wrong-wrong-wrong" + close + "\r\n") == "HTTP/1.1 401 Unauthorized");
  BOOST_TEST(status_line("GET /api/events" + close + "\r\n") == "HTTP/1.1 401 Unauthorized");
  BOOST_TEST(status_line("GET /metrics" + close + "\r\n") == "HTTP/1.1 401 Unauthorized");
  BOOST_TEST(status_line("GET /style.css" + close + "\r\n") == "HTTP/1.1 200 OK");
  BOOST_TEST(status_line("GET /api/status" + close + "Authorization: Bearer " + o.status_token + "\r\n\r\n") ==
             "HTTP/1.1 200 OK");
  auto page = HttpExchange(port, "GET /?token=" + o.status_token + close + "\r\n");
  BOOST_REQUIRE(page.ok());
  BOOST_TEST(page->rfind("HTTP/1.1 200 OK", 0) == 0u);
  BOOST_TEST(page->find("Set-Cookie: tailsafe_token=" + o.status_token + "; Path=/; HttpOnly; SameSite=Strict") !=
             std::string::npos);
  BOOST_TEST(status_line("GET /api/status" + close + "Cookie: tailsafe_token=" + o.status_token + "\r\n\r\n") ==
             "HTTP/1.1 200 OK");
}

BOOST_AUTO_TEST_SUITE_END()
