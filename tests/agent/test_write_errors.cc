// WriteErrors (agent/write_errors.h): which failing replicas the agent's storage error names.
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include "agent/write_errors.h"

using namespace tailsafe;

namespace {
constexpr uint64_t kS = 1000000000;
}  // namespace

BOOST_AUTO_TEST_SUITE(write_errors)

// Before, one shared error was cleared by any stream's successful write: a replica that kept
// failing beside healthy streams never showed in status or `tailsafectl check`.
BOOST_AUTO_TEST_CASE(a_replica_that_keeps_failing_stays_shown_while_others_write) {
  WriteErrors e;
  BOOST_TEST(e.Summary(0).empty());
  e.Failed("h1/bad/1", "cannot open the replica h1/bad/1: Not a directory", 10 * kS);
  BOOST_TEST(!e.Succeeded("h1/good/1"), "another replica's success says nothing of this one");
  BOOST_TEST(e.Summary(11 * kS) == "cannot open the replica h1/bad/1: Not a directory");
  e.Failed("h1/other/2", "cannot write x: No space left on device", 12 * kS);
  BOOST_TEST(e.Summary(13 * kS) == "cannot write x: No space left on device (and 1 other replica failing)");
  BOOST_TEST(e.Succeeded("h1/other/2"));
  BOOST_TEST(e.Summary(13 * kS) == "cannot open the replica h1/bad/1: Not a directory");
  BOOST_TEST(e.Succeeded("h1/bad/1"));
  BOOST_TEST(e.Summary(13 * kS).empty());
}

// The origin retries a failed stream at least once a minute; one it gave up on (its
// generation closed) must not keep health CRITICAL for ever.
BOOST_AUTO_TEST_CASE(an_error_not_renewed_within_two_minutes_is_no_longer_shown) {
  WriteErrors e;
  e.Failed("a/b/1", "first", 0);
  e.Failed("a/b/1", "again", 60 * kS);  // renewed by the retry
  BOOST_TEST(e.Summary(60 * kS + WriteErrors::kHoldNs - 1) == "again");
  BOOST_TEST(e.Summary(60 * kS + WriteErrors::kHoldNs).empty());
  e.Failed("a/b/2", "x", 500 * kS);  // expired entries are dropped as new ones come
  e.Failed("a/b/3", "y", 501 * kS);
  BOOST_TEST(e.Summary(502 * kS) == "y (and 1 other replica failing)");
}

BOOST_AUTO_TEST_SUITE_END()
