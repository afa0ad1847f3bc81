// StreamRetries (agent/stream_retries.h): a failed stream is taken again once its backoff has
// passed, not before; the link is woken for it without polling; nothing is due when nothing
// failed, or after the cursors are gone.
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <map>
#include <memory>
#include <vector>

#include "agent/stream_retries.h"
#include "common/clock.h"
#include "tests/support/test_loop.h"

using namespace tailsafe;
using tailsafe::testing::TestLoop;

namespace {

constexpr uint64_t kMs = 1000000;

PeerCursor FailedAt(uint64_t retry_at_ns) {
  PeerCursor c;
  c.gen = std::make_shared<Generation>("b", 1, 7);
  c.failed = true;
  c.retry_at_ns = retry_at_ns;
  return c;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(stream_retries)

BOOST_AUTO_TEST_CASE(a_failed_stream_is_due_once_its_backoff_passed_and_the_link_is_woken_for_it) {
  TestLoop loop;
  int wakes = 0;
  StreamRetries retries(loop.get(), [&] { ++wakes; });
  BOOST_REQUIRE(retries.Start().ok());
  std::map<uint32_t, PeerCursor> cursors;
  BOOST_TEST(retries.TakeDue(&cursors).empty());  // nothing failed
  uint64_t at = NowNs() + 30 * kMs;
  cursors[3] = FailedAt(at);
  retries.Failed(at);
  BOOST_TEST(retries.due_ns() == at);
  BOOST_TEST(retries.TakeDue(&cursors).empty());  // not yet: the stream stays failed
  BOOST_TEST(cursors[3].failed);
  BOOST_REQUIRE(loop.RunUntil([&] { return wakes > 0; }));
  BOOST_TEST(NowNs() >= at);
  BOOST_TEST((retries.TakeDue(&cursors) == std::vector<uint32_t>{3}));
  BOOST_TEST(!cursors[3].failed);
  BOOST_TEST(retries.due_ns() == UINT64_MAX);  // none left
  retries.Stop();
}

BOOST_AUTO_TEST_CASE(the_soonest_of_several_wakes_first_and_the_next_is_armed_after_it) {
  TestLoop loop;
  int wakes = 0;
  StreamRetries retries(loop.get(), [&] { ++wakes; });
  BOOST_REQUIRE(retries.Start().ok());
  std::map<uint32_t, PeerCursor> cursors;
  uint64_t now = NowNs();
  cursors[1] = FailedAt(now + 60 * kMs);
  retries.Failed(now + 60 * kMs);
  cursors[2] = FailedAt(now + 20 * kMs);
  retries.Failed(now + 20 * kMs);
  cursors[4] = FailedAt(UINT64_MAX);  // given up on this connection: never due
  retries.Failed(UINT64_MAX);
  BOOST_TEST(retries.due_ns() == now + 20 * kMs);
  BOOST_REQUIRE(loop.RunUntil([&] { return wakes == 1; }));
  BOOST_TEST((retries.TakeDue(&cursors) == std::vector<uint32_t>{2}));
  BOOST_TEST(retries.due_ns() >= now + 60 * kMs);
  BOOST_REQUIRE(loop.RunUntil([&] { return wakes == 2; }));
  BOOST_TEST((retries.TakeDue(&cursors) == std::vector<uint32_t>{1}));
  BOOST_TEST(retries.due_ns() == UINT64_MAX);
  BOOST_TEST(cursors[4].failed);
  retries.Stop();
}

BOOST_AUTO_TEST_CASE(after_the_cursors_are_cleared_nothing_is_due) {
  TestLoop loop;
  StreamRetries retries(loop.get(), [] {});
  BOOST_REQUIRE(retries.Start().ok());
  std::map<uint32_t, PeerCursor> cursors;
  cursors[5] = FailedAt(NowNs());
  retries.Failed(NowNs());
  retries.Clear();
  BOOST_TEST(retries.TakeDue(&cursors).empty());
  retries.Stop();
}

BOOST_AUTO_TEST_SUITE_END()
