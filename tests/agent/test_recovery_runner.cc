// RecoveryRunner (agent/recovery_runner.h): what a job waits for is what the coordinator says.
// The paths that run no hook, with a fake replica and a fake coordinator link.
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <uv.h>

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "agent/recovery_runner.h"
#include "tests/support/cluster.h"

using namespace tailsafe;
using nlohmann::json;

namespace {

struct Runner {
  testing::ScopedTempDir dir{"runner"};
  uv_loop_t loop;
  Config config;
  uint64_t durable = 0;  // what the fake replica holds
  std::shared_ptr<Fd> fd;
  std::vector<json> sent;
  std::unique_ptr<RecoveryRunner> runner;

  Runner() {
    uv_loop_init(&loop);
    std::string file = dir.path + "/replica";
    std::ofstream(file) << "0123456789abcdef";  // no newline: no whole record, no hook runs
    fd = std::make_shared<Fd>(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
    RecoveryRunner::Env env;
    env.loop = &loop;
    env.config = &config;
    env.held = [this](const std::string&, const std::string&, uint64_t, uint64_t need) {
      HeldRange h;
      h.durable = durable;
      if (durable >= need) h.fd = fd;
      return h;
    };
    env.send = [this](const json& m) {
      sent.push_back(m);
      return true;
    };
    runner = std::make_unique<RecoveryRunner>(std::move(env));
  }
  ~Runner() {
    runner.reset();
    uv_run(&loop, UV_RUN_NOWAIT);
    uv_loop_close(&loop);
  }
  Status Assign(uint64_t id, uint64_t epoch, uint64_t from, uint64_t to) {
    return runner->OnMessage({{"type", "assign"}, {"recovery", id}, {"epoch", epoch}, {"origin", "h1"}, {"bolt", "b"},
                              {"hook", "test"}, {"generation", uint64_t{1}}, {"from", from}, {"to", to}});
  }
  std::vector<uint64_t> Jobs() const {
    std::vector<uint64_t> ids;
    for (const json& j : runner->StatusJson()) ids.push_back(j["recovery"].get<uint64_t>());
    return ids;
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(recovery_runner)

// Issue 23: a job waits for the end of its newest assignment; a shrunk range is taken at once.
BOOST_AUTO_TEST_CASE(a_job_waits_for_what_the_coordinator_says_and_takes_a_shrunk_end) {
  Runner r;
  r.durable = 10;
  BOOST_REQUIRE(r.Assign(1, 1, 0, 100).ok());
  r.runner->Poke();
  BOOST_TEST(r.sent.empty(), "nothing to report while the bytes are on their way");
  json st = r.runner->StatusJson();
  BOOST_TEST(st[0]["phase"] == "waiting for bytes");
  BOOST_TEST(st[0]["to"] == 100);
  // The same epoch again changes nothing (a resend after a reconnection).
  BOOST_REQUIRE(r.Assign(1, 1, 0, 10).ok());
  BOOST_TEST(r.sent.empty());
  // Shrunk to what this agent holds, under a new epoch: it ends, reported under that epoch.
  BOOST_REQUIRE(r.Assign(1, 2, 0, 10).ok());
  BOOST_REQUIRE_EQUAL(r.sent.size(), 1u);
  BOOST_TEST(r.sent[0]["state"] == "recovered");
  BOOST_TEST(r.sent[0]["epoch"] == 2);
  BOOST_TEST(r.sent[0]["delivered_to"] == 0, "no whole record in [0, 10)");
  BOOST_REQUIRE(r.runner->OnMessage({{"type", "recorded"}, {"recovery", 1u}, {"epoch", 2u}, {"accepted", true}}).ok());
  BOOST_TEST(r.Jobs().empty());
}

BOOST_AUTO_TEST_CASE(a_range_shrunk_to_nothing_ends_at_once_without_a_replica) {
  Runner r;  // holds nothing at all
  BOOST_REQUIRE(r.Assign(2, 1, 50, 50).ok());
  BOOST_REQUIRE_EQUAL(r.sent.size(), 1u);
  BOOST_TEST(r.sent[0]["state"] == "recovered");
  BOOST_TEST(r.sent[0]["delivered_to"] == 50);
}

BOOST_AUTO_TEST_CASE(a_revoke_ends_a_waiting_job_unless_it_was_assigned_again_since) {
  Runner r;
  BOOST_REQUIRE(r.Assign(3, 4, 0, 100).ok());
  BOOST_REQUIRE(r.runner->OnMessage({{"type", "revoke"}, {"recovery", 3u}, {"epoch", 3u}, {"reason", "x"}}).ok());
  BOOST_TEST(r.Jobs() == std::vector<uint64_t>{3}, "an older epoch's revoke");
  BOOST_REQUIRE(r.runner->OnMessage({{"type", "revoke"}, {"recovery", 3u}, {"epoch", 4u}, {"reason", "x"}}).ok());
  BOOST_TEST(r.Jobs().empty());
  BOOST_TEST(r.sent.empty(), "a revoked job reports nothing");
  // Unknown recoveries are fine; a malformed message is not.
  BOOST_TEST(r.runner->OnMessage({{"type", "revoke"}, {"recovery", 9u}, {"epoch", 1u}}).ok());
  BOOST_TEST(r.runner->OnMessage({{"type", "revoke"}, {"recovery", 9u}}).message().find("epoch") != std::string::npos);
  BOOST_TEST(!r.runner->OnMessage({{"type", "bogus"}}).ok());
}

BOOST_AUTO_TEST_CASE(the_held_list_at_registration_ends_the_waiting_jobs_it_leaves_out) {
  Runner r;
  r.durable = 10;
  BOOST_REQUIRE(r.Assign(4, 1, 0, 100).ok());
  BOOST_REQUIRE(r.Assign(5, 2, 0, 100).ok());
  BOOST_REQUIRE(r.Assign(6, 3, 0, 10).ok());  // ended: its result is sent until recorded
  BOOST_REQUIRE_EQUAL(r.sent.size(), 1u);
  json held = {{"type", "held"}, {"recoveries", json::array({{{"recovery", 4u}, {"epoch", 1u}}})}};
  BOOST_REQUIRE(r.runner->OnMessage(held).ok());
  BOOST_TEST((r.Jobs() == std::vector<uint64_t>{4, 6}));
  held["recoveries"] = json::array({{{"recovery", 4u}}});
  BOOST_TEST(!r.runner->OnMessage(held).ok());
}

BOOST_AUTO_TEST_SUITE_END()
