// ZkClient (coordinator/zk_client.h) against a real 3-member ZooKeeper ensemble on loopback
// (tests/support/zookeeper_ensemble.h): the requests the coordinator's store and election are
// built on, a multi whose check fails leaving nothing behind, one-shot watches, a session that
// moves to another member when its server dies, one that expires, and a close that does not
// wait on the loop for an ensemble that does not answer; and, with no ensemble at all, a client
// that keeps losing its socket leaves every other handle's fd on the loop alone.
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "coordinator/zk_client.h"
#include "tests/support/cluster.h"
#include "tests/support/zookeeper_ensemble.h"

using namespace tailsafe;
using namespace tailsafe::testing;
using Clock = std::chrono::steady_clock;

namespace tailsafe {
std::ostream& operator<<(std::ostream& os, ZkClient::State s) { return os << ZkClient::StateName(s); }
}  // namespace tailsafe

namespace {

boost::test_tools::assertion_result HaveZookeeper(boost::unit_test::test_unit_id) {
  std::string missing = ZookeeperMissing();
  boost::test_tools::assertion_result r(missing.empty());
  if (!r) r.message() << "skipped: " << missing;
  return r;
}

// One ensemble for the whole suite (a JVM per member takes seconds to start); a test that
// kills or pauses members brings them back before it ends.
ZookeeperEnsemble& Ensemble() {
  static std::unique_ptr<ZookeeperEnsemble> e;
  if (!e) {
    auto started = ZookeeperEnsemble::Start("client");
    BOOST_REQUIRE_MESSAGE(started, started.status().message());
    e = std::move(started.value());
  }
  BOOST_REQUIRE_MESSAGE(e->WaitServing(60), "the ensemble does not serve: " << e->LogTail(0));
  return *e;
}

struct Loop {
  uv_loop_t loop;
  Loop() { uv_loop_init(&loop); }
  ~Loop() {
    // Runs what is left (handle closes, the thread pool's close of a session) to the end.
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
  }
  // Turns the loop until `pred` holds or `seconds` pass.
  template <typename Pred>
  bool RunUntil(Pred pred, double seconds) {
    auto deadline = Clock::now() + std::chrono::duration<double>(seconds);
    uv_timer_t tick;  // never lets UV_RUN_ONCE block past 20 ms
    uv_timer_init(&loop, &tick);
    uv_timer_start(&tick, [](uv_timer_t*) {}, 20, 20);
    bool held = false;
    while (!(held = pred()) && Clock::now() < deadline) uv_run(&loop, UV_RUN_ONCE);
    uv_close(reinterpret_cast<uv_handle_t*>(&tick), nullptr);
    uv_run(&loop, UV_RUN_NOWAIT);
    return held;
  }
  // Keeps the loop turning for `seconds`: how long a fault lasts, not a wait for an outcome.
  void RunFor(double seconds) { (void)RunUntil([] { return false; }, seconds); }
};

std::unique_ptr<ZkClient> Connected(Loop& l, ZookeeperEnsemble& e, uint32_t session_ms = 4000) {
  auto c = std::make_unique<ZkClient>(&l.loop, ZkClient::Options{e.members(), session_ms});
  BOOST_REQUIRE(c->Start().ok());
  BOOST_REQUIRE_MESSAGE(l.RunUntil([&] { return c->state() == ZkClient::State::kConnected; }, 30),
                        "no session: " << ZkClient::StateName(c->state()));
  return c;
}

// Runs one request to its completion; returns its code.
template <typename Issue>
int Await(Loop& l, Issue issue) {
  std::optional<int> rc;
  BOOST_REQUIRE(issue([&](int r) { rc = r; }));
  BOOST_REQUIRE_MESSAGE(l.RunUntil([&] { return rc.has_value(); }, 30), "no reply");
  return *rc;
}

int CreatePath(Loop& l, ZkClient& c, const std::string& path, const std::string& data = "", int flags = 0) {
  return Await(l, [&](auto done) { return c.Create(path, data, flags, [done](int rc, const std::string&) { done(rc); }); });
}

}  // namespace

BOOST_AUTO_TEST_SUITE(zk_client, *boost::unit_test::precondition(HaveZookeeper))

BOOST_AUTO_TEST_CASE(creates_reads_lists_and_deletes_nodes) {
  ZookeeperEnsemble& e = Ensemble();
  Loop l;
  auto c = Connected(l, e);
  BOOST_TEST(c->session_id() != 0);
  BOOST_TEST(CreatePath(l, *c, "/crud") == ZOK);
  BOOST_TEST(CreatePath(l, *c, "/crud") == ZNODEEXISTS);
  BOOST_TEST(CreatePath(l, *c, "/crud/a", "alpha") == ZOK);
  BOOST_TEST(CreatePath(l, *c, "/crud/b", std::string("b\0eta", 5)) == ZOK);
  BOOST_TEST(CreatePath(l, *c, "/missing/x") == ZNONODE);

  std::string data;
  ZkClient::NodeStat stat;
  BOOST_TEST(Await(l, [&](auto done) {
               return c->Get("/crud/b", nullptr, [&, done](int rc, const std::string& d, const ZkClient::NodeStat& s) {
                 data = d;
                 stat = s;
                 done(rc);
               });
             }) == ZOK);
  BOOST_TEST(data == std::string("b\0eta", 5));  // binary-safe
  BOOST_TEST(stat.version == 0);
  BOOST_TEST(Await(l, [&](auto done) {
               return c->Set("/crud/b", "beta2", 0, [&, done](int rc, const ZkClient::NodeStat& s) {
                 stat = s;
                 done(rc);
               });
             }) == ZOK);
  BOOST_TEST(stat.version == 1);
  BOOST_TEST(Await(l, [&](auto done) { return c->Set("/crud/b", "stale", 0, [done](int rc, const auto&) { done(rc); }); }) ==
             ZBADVERSION);

  std::vector<std::string> names;
  BOOST_TEST(Await(l, [&](auto done) {
               return c->Children("/crud", nullptr, [&, done](int rc, std::vector<std::string> n) {
                 names = std::move(n);
                 done(rc);
               });
             }) == ZOK);
  std::sort(names.begin(), names.end());
  BOOST_TEST((names == std::vector<std::string>{"a", "b"}));
  BOOST_TEST(Await(l, [&](auto done) { return c->Delete("/crud", -1, done); }) == ZNOTEMPTY);
  for (const char* p : {"/crud/a", "/crud/b", "/crud"}) {
    BOOST_TEST(Await(l, [&](auto done) { return c->Delete(p, -1, done); }) == ZOK);
  }
  BOOST_TEST(Await(l, [&](auto done) { return c->Exists("/crud", nullptr, [done](int rc, const auto&) { done(rc); }); }) ==
             ZNONODE);
  BOOST_TEST(Await(l, [&](auto done) { return c->Sync("/", [done](int rc, const std::string&) { done(rc); }); }) == ZOK);
}

BOOST_AUTO_TEST_CASE(a_multi_whose_check_fails_applies_nothing) {
  ZookeeperEnsemble& e = Ensemble();
  Loop l;
  auto c = Connected(l, e);
  BOOST_REQUIRE(CreatePath(l, *c, "/multi") == ZOK);
  BOOST_REQUIRE(CreatePath(l, *c, "/multi/guard") == ZOK);
  std::vector<ZkClient::OpResult> results;
  auto multi = [&](std::vector<ZkClient::Op> ops) {
    return Await(l, [&](auto done) {
      return c->Multi(std::move(ops), [&, done](int rc, const std::vector<ZkClient::OpResult>& r) {
        results = r;
        done(rc);
      });
    });
  };
  // The guard is at version 0: a check for version 1 fails, and the create with it.
  BOOST_TEST(multi({ZkClient::Op::Check("/multi/guard", 1), ZkClient::Op::Create("/multi/x", "x")}) == ZBADVERSION);
  BOOST_REQUIRE(results.size() == 2u);
  BOOST_TEST(results[0].rc == ZBADVERSION);
  BOOST_TEST(results[1].rc == ZRUNTIMEINCONSISTENCY);
  BOOST_TEST(Await(l, [&](auto done) { return c->Exists("/multi/x", nullptr, [done](int rc, const auto&) { done(rc); }); }) ==
             ZNONODE);
  // With the right version, everything at once, sequence numbers reported.
  BOOST_TEST(multi({ZkClient::Op::Check("/multi/guard", 0), ZkClient::Op::Create("/multi/x", "x"),
                    ZkClient::Op::Create("/multi/seq-", "", ZOO_SEQUENCE), ZkClient::Op::Set("/multi/guard", "g", 0)}) ==
             ZOK);
  BOOST_REQUIRE(results.size() == 4u);
  BOOST_TEST(results[1].created == "/multi/x");
  BOOST_TEST(results[2].created.rfind("/multi/seq-", 0) == 0);
  BOOST_TEST(results[2].created.size() == std::string("/multi/seq-").size() + 10);  // a 10-digit counter
  BOOST_TEST(multi({ZkClient::Op::Delete("/multi/x"), ZkClient::Op::Delete(results[2].created),
                    ZkClient::Op::Delete("/multi/guard", 1), ZkClient::Op::Delete("/multi")}) == ZOK);
}

BOOST_AUTO_TEST_CASE(watches_fire_once_and_ephemeral_nodes_go_with_their_session) {
  ZookeeperEnsemble& e = Ensemble();
  Loop l;
  auto watcher = Connected(l, e);
  auto owner = Connected(l, e);
  BOOST_REQUIRE(CreatePath(l, *watcher, "/eph") == ZOK);
  std::string created;
  BOOST_REQUIRE(Await(l, [&](auto done) {
                  return owner->Create("/eph/n-", "", ZOO_EPHEMERAL | ZOO_SEQUENCE, [&, done](int rc, const std::string& p) {
                    created = p;
                    done(rc);
                  });
                }) == ZOK);
  std::vector<int> events;
  BOOST_REQUIRE(Await(l, [&](auto done) {
                  return watcher->Exists(created, [&](int type, const std::string&) { events.push_back(type); },
                                         [done](int rc, const auto&) { done(rc); });
                }) == ZOK);
  std::vector<int> child_events;
  BOOST_REQUIRE(Await(l, [&](auto done) {
                  return watcher->Children("/eph", [&](int type, const std::string&) { child_events.push_back(type); },
                                           [done](int rc, std::vector<std::string>) { done(rc); });
                }) == ZOK);
  owner->Close();  // the session ends: its ephemeral node goes, both watches fire
  BOOST_TEST(l.RunUntil([&] { return !events.empty() && !child_events.empty(); }, 30));
  BOOST_TEST((events == std::vector<int>{ZOO_DELETED_EVENT}));
  BOOST_TEST((child_events == std::vector<int>{ZOO_CHILD_EVENT}));
  // One-shot: a second change is not reported to the same watch.
  BOOST_REQUIRE(CreatePath(l, *watcher, "/eph/again") == ZOK);
  BOOST_REQUIRE(Await(l, [&](auto done) { return watcher->Delete("/eph/again", -1, done); }) == ZOK);
  BOOST_REQUIRE(Await(l, [&](auto done) { return watcher->Sync("/eph", [done](int rc, const std::string&) { done(rc); }); }) ==
                ZOK);
  BOOST_TEST(child_events.size() == 1u);
  BOOST_REQUIRE(Await(l, [&](auto done) { return watcher->Delete("/eph", -1, done); }) == ZOK);
}

BOOST_AUTO_TEST_CASE(a_session_moves_to_another_member_when_its_server_dies) {
  ZookeeperEnsemble& e = Ensemble();
  Loop l;
  auto c = Connected(l, e, 6000);
  std::string created;
  BOOST_REQUIRE(Await(l, [&](auto done) {
                  return c->Create("/moving", "", ZOO_EPHEMERAL, [&, done](int rc, const std::string& p) {
                    created = p;
                    done(rc);
                  });
                }) == ZOK);
  int64_t session = c->session_id();
  std::vector<ZkClient::State> states;
  c->on_state = [&](ZkClient::State s) { states.push_back(s); };
  // Which member serves this session: the one whose death disconnects it.
  int victim = -1;
  for (int i = 0; i < e.size() && victim < 0; ++i) {
    e.Kill(i);
    if (l.RunUntil([&] { return !states.empty(); }, 3)) {
      victim = i;
    } else {
      BOOST_REQUIRE(e.Restart(i).ok());
      BOOST_REQUIRE(e.WaitServing(60));
    }
  }
  BOOST_REQUIRE_MESSAGE(victim >= 0, "no member's death disconnected the session");
  BOOST_TEST(l.RunUntil([&] { return c->state() == ZkClient::State::kConnected; }, 30));
  BOOST_TEST(c->session_id() == session);  // the same session: its ephemeral node is still there
  BOOST_TEST(Await(l, [&](auto done) { return c->Exists(created, nullptr, [done](int rc, const auto&) { done(rc); }); }) ==
             ZOK);
  BOOST_TEST(states.front() == ZkClient::State::kConnecting);
  BOOST_TEST(states.back() == ZkClient::State::kConnected);
  BOOST_REQUIRE(e.Restart(victim).ok());
  BOOST_REQUIRE(e.WaitServing(60));
}

BOOST_AUTO_TEST_CASE(a_session_the_ensemble_forgot_expires_and_says_so) {
  ZookeeperEnsemble& e = Ensemble();
  // The owner's loop stands still, so its client sends no pings; the ensemble keeps running and
  // expires the session on its own clock. (Stopping the whole ensemble instead is not a test of
  // expiry: a leader elected after the pause gives every session a fresh timeout.)
  Loop owner_loop;
  auto owner = Connected(owner_loop, e, 1000);
  BOOST_TEST(owner->negotiated_ms() == 1000);
  BOOST_REQUIRE(CreatePath(owner_loop, *owner, "/expiry-probe", "", ZOO_EPHEMERAL) == ZOK);
  Loop watch_loop;
  auto watcher = Connected(watch_loop, e);
  bool gone = false;
  BOOST_REQUIRE(Await(watch_loop, [&](auto done) {
                  return watcher->Exists("/expiry-probe", [&](int type, const std::string&) { gone = type == ZOO_DELETED_EVENT; },
                                         [done](int rc, const auto&) { done(rc); });
                }) == ZOK);
  BOOST_REQUIRE_MESSAGE(watch_loop.RunUntil([&] { return gone; }, 60), "the ensemble never expired the session");
  // Once its loop turns again the owner learns that its session is gone.
  BOOST_TEST(owner_loop.RunUntil([&] { return owner->state() == ZkClient::State::kExpired; }, 60));
  // An expired client takes no more requests.
  BOOST_TEST(!owner->Create("/after-expiry", "", 0, [](int, const std::string&) {}));
}

BOOST_AUTO_TEST_CASE(close_does_not_wait_on_the_loop_for_an_ensemble_that_does_not_answer) {
  ZookeeperEnsemble& e = Ensemble();
  bool called = false;
  {
    Loop l;
    auto c = Connected(l, e, 6000);
    for (int i = 0; i < e.size(); ++i) e.Pause(i);
    // A request the ensemble does not answer before the close is dropped by it, never called.
    BOOST_REQUIRE(c->Create("/never", "", 0, [&](int, const std::string&) { called = true; }));
    auto before = Clock::now();
    c->Close();
    double took = std::chrono::duration<double>(Clock::now() - before).count();
    // zookeeper_close itself waits up to 4.5 s for a server that does not answer; not here.
    BOOST_TEST(took < 1.0);
    c.reset();
    for (int i = 0; i < e.size(); ++i) e.Resume(i);
  }  // the loop runs the close on the thread pool to its end
  BOOST_TEST(!called);
  Loop l;
  auto c = Connected(l, e);
  BOOST_TEST(Await(l, [&](auto done) { return c->Exists("/never", nullptr, [done](int rc, const auto&) { done(rc); }); }) ==
             ZOK);  // the request had reached the ensemble; only its callback was dropped
  BOOST_TEST(Await(l, [&](auto done) { return c->Delete("/never", -1, done); }) == ZOK);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(zk_client_socket)

// No ensemble needed: members whose ports refuse. The library opens, loses and closes its socket
// over and over, and between tries holds none; meanwhile other handles on the loop keep taking
// the lowest free fd numbers, the ones it just closed. Each probe is a socketpair with a poll on
// one end, registered for a while before a byte is written to the other end: its poll must
// fire. (A client that kept its poll across a call in which the library closed the socket
// removed a probe's fd from epoll the next time it stopped that poll: the probe never fired, or
// libuv aborted the process.)
BOOST_AUTO_TEST_CASE(a_client_that_keeps_losing_its_socket_leaves_other_handles_fds_alone) {
  Loop l;
  std::vector<HostPort> members;
  for (int i = 0; i < 3; ++i) members.push_back({"127.0.0.1", FreePort()});
  auto c = std::make_unique<ZkClient>(&l.loop, ZkClient::Options{members, 2000});
  BOOST_REQUIRE(c->Start().ok());
  struct Probe {
    uv_poll_t poll;
    int fds[2] = {-1, -1};
    Clock::time_point started;
    bool written = false, fired = false;
  };
  auto close_probe = [](Probe* p) {
    uv_close(reinterpret_cast<uv_handle_t*>(&p->poll), [](uv_handle_t* h) {
      auto* done = static_cast<Probe*>(h->data);
      ::close(done->fds[0]);
      ::close(done->fds[1]);
      delete done;
    });
  };
  std::vector<Probe*> live;
  int fired = 0, stuck_fd = -1;
  const std::chrono::milliseconds kWriteAfter(150), kFireWithin(1000);
  auto end = Clock::now() + std::chrono::seconds(4);
  bool stuck = l.RunUntil([&] {
    auto now = Clock::now();
    for (auto it = live.begin(); it != live.end();) {
      Probe* p = *it;
      if (p->fired) {
        ++fired;
        close_probe(p);
        it = live.erase(it);
        continue;
      }
      if (!p->written && now - p->started >= kWriteAfter) {
        BOOST_REQUIRE(::write(p->fds[1], "x", 1) == 1);
        p->written = true;
      } else if (p->written && now - p->started >= kWriteAfter + kFireWithin) {
        stuck_fd = p->fds[0];
        return true;
      }
      ++it;
    }
    if (live.size() < 8) {
      auto* p = new Probe;
      BOOST_REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, p->fds) == 0);
      BOOST_REQUIRE(uv_poll_init(&l.loop, &p->poll, p->fds[0]) == 0);
      p->poll.data = p;
      p->started = now;
      uv_poll_start(&p->poll, UV_READABLE, [](uv_poll_t* h, int, int) {
        static_cast<Probe*>(h->data)->fired = true;
        uv_poll_stop(h);
      });
      live.push_back(p);
    }
    return false;
  }, std::chrono::duration<double>(end - Clock::now()).count());
  BOOST_TEST(!stuck, "the poll on fd " << stuck_fd << " never fired");
  BOOST_TEST(c->state() != ZkClient::State::kConnected);
  BOOST_TEST(fired > 50);
  c->Close();
  c.reset();
  for (Probe* p : live) close_probe(p);
}

BOOST_AUTO_TEST_SUITE_END()
