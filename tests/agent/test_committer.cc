// Committer (agent/committer.h) on a real libuv loop and state.db: a batch's callbacks run once,
// after its rows are committed; writes during a commit wait for the next batch; the interval
// spaces commits; a failed sync is reported and nothing in its batch is ever acknowledged.
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "agent/committer.h"
#include "agent/state_store.h"
#include "tests/support/cluster.h"
#include "tests/support/test_loop.h"

using namespace tailsafe;
using tailsafe::testing::ScopedTempDir;
using tailsafe::testing::TestLoop;

namespace {

struct Fixture {
  ScopedTempDir dir{"committer"};
  TestLoop loop;
  std::optional<StateStore> store;
  std::vector<std::string> events;  // "collect N" and "durable N", in order
  std::vector<Status> errors;
  int batches = 0;

  Fixture() {
    auto s = StateStore::Open(dir.path + "/state.db");
    BOOST_REQUIRE_MESSAGE(s.ok(), s.status().message());
    store.emplace(std::move(s.value()));
  }
  // A committer whose one collector records a member row per batch and a callback for it.
  std::unique_ptr<Committer> Make(uint32_t interval_ms, std::shared_ptr<Fd> file = nullptr) {
    auto c = std::make_unique<Committer>(loop.get(), &*store, interval_ms,
                                         [this](const Status& st) { errors.push_back(st); });
    c->AddCollector([this, file](Committer::Batch* b) {
      int n = ++batches;
      events.push_back("collect " + std::to_string(n));
      b->rows.members.push_back({"h" + std::to_string(n), "10.0.0.1:7401"});
      if (file) b->files.push_back({file, 0});
      b->on_durable.push_back([this, n] { events.push_back("durable " + std::to_string(n)); });
    });
    return c;
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(committer)

BOOST_AUTO_TEST_CASE(callbacks_run_once_after_the_rows_are_committed_in_batch_order) {
  Fixture f;
  std::string path = f.dir.path + "/replica";
  auto file = std::make_shared<Fd>(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  BOOST_REQUIRE(file->valid());
  auto c = f.Make(0, file);
  BOOST_TEST(c->idle());
  c->Request();
  BOOST_TEST(!c->idle());
  BOOST_TEST(f.events == std::vector<std::string>({"collect 1"}));
  c->Request();  // while batch 1 is in flight: collected only after batch 1 is durable
  c->Request();  // the same next batch
  BOOST_REQUIRE(f.loop.RunUntil([&] { return c->idle(); }));
  BOOST_TEST(f.events == std::vector<std::string>({"collect 1", "durable 1", "collect 2", "durable 2"}),
             "the second Request waited for the first commit");
  BOOST_TEST(c->commits() == 2u);
  BOOST_TEST(c->files_synced() == 2u);
  BOOST_TEST(f.errors.empty());
  auto members = f.store->LoadMembers();
  BOOST_REQUIRE(members.ok());
  BOOST_TEST(members->size() == 2u);
}

BOOST_AUTO_TEST_CASE(an_empty_batch_commits_nothing) {
  Fixture f;
  Committer c(f.loop.get(), &*f.store, 0, [&](const Status& st) { f.errors.push_back(st); });
  c.AddCollector([](Committer::Batch*) {});
  c.Request();
  BOOST_TEST(c.idle());
  BOOST_TEST(c.commits() == 0u);
}

BOOST_AUTO_TEST_CASE(the_interval_spaces_commits_and_a_flush_skips_it) {
  Fixture f;
  auto c = f.Make(300);
  uint64_t start = uv_hrtime();
  c->Request();
  BOOST_REQUIRE(f.loop.RunUntil([&] { return c->idle(); }));
  c->Request();  // within the interval: waits for it
  BOOST_TEST(f.batches == 1);
  BOOST_REQUIRE(f.loop.RunUntil([&] { return c->idle(); }));
  BOOST_TEST(f.batches == 2);
  BOOST_TEST((uv_hrtime() - start) / 1000000 >= 299u, "the second commit started after the interval");
  c->Request();
  BOOST_TEST(f.batches == 2);
  c->Flush();  // a clean stop does not wait
  BOOST_TEST(f.batches == 3);
  BOOST_REQUIRE(f.loop.RunUntil([&] { return c->idle(); }));
  BOOST_TEST(c->commits() == 3u);
}

BOOST_AUTO_TEST_CASE(a_failed_sync_is_reported_and_nothing_in_its_batch_is_acknowledged) {
  Fixture f;
  int fds[2];
  BOOST_REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
  auto pipe_end = std::make_shared<Fd>(fds[0]);  // fdatasync of a pipe fails (EINVAL)
  Fd other(fds[1]);
  auto c = f.Make(0, pipe_end);
  c->Request();
  BOOST_REQUIRE(f.loop.RunUntil([&] { return !f.errors.empty(); }));
  BOOST_TEST(f.errors[0].message().find("fdatasync of a replica file") != std::string::npos,
             f.errors[0].message());
  BOOST_TEST(f.events == std::vector<std::string>({"collect 1"}));
  c->Request();  // failed for good: later requests commit nothing (Submit would collect now)
  BOOST_TEST(f.batches == 1);
  BOOST_TEST(f.errors.size() == 1u);
  auto members = f.store->LoadMembers();
  BOOST_REQUIRE(members.ok());
  BOOST_TEST(members->empty());
}

BOOST_AUTO_TEST_SUITE_END()
