// EventLog (common/event_log.h): nothing is kept before the first Drain; then events come out
// once, oldest first, and past the bound the oldest are dropped.
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <vector>

#include "common/event_log.h"

using namespace tailsafe;

BOOST_AUTO_TEST_SUITE(event_log)

BOOST_AUTO_TEST_CASE(keeps_nothing_until_drained_then_the_newest_up_to_its_bound_once) {
  EventLog<int> log(3);
  BOOST_TEST(!log.on());
  log.Add(1);
  BOOST_TEST(log.Drain().empty());
  BOOST_TEST(log.on());
  for (int i = 2; i <= 6; ++i) log.Add(i);
  BOOST_TEST(log.Drain() == (std::vector<int>{4, 5, 6}), boost::test_tools::per_element());
  BOOST_TEST(log.Drain().empty());
}

BOOST_AUTO_TEST_SUITE_END()
