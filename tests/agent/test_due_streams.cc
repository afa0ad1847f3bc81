// DueStreams (agent/due_streams.h): the streams a pump looks at, each once; everything after a
// MarkAll or once the list is full; nothing twice.
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <vector>

#include "agent/due_streams.h"

using namespace tailsafe;

BOOST_AUTO_TEST_SUITE(due_streams)

BOOST_AUTO_TEST_CASE(a_new_set_is_everything_then_only_what_was_marked_once_each) {
  DueStreams due;
  std::vector<uint32_t> some{99};
  BOOST_TEST(due.Take(&some), "a new link looks at every stream");
  BOOST_TEST(some.empty());
  BOOST_TEST(!due.Take(&some));
  BOOST_TEST(some.empty(), "nothing marked, nothing due");
  due.Mark(7);
  due.Mark(3);
  due.Mark(7);
  BOOST_TEST(!due.Take(&some));
  BOOST_TEST(some == std::vector<uint32_t>({3, 7}));
  BOOST_TEST(!due.Take(&some));
  BOOST_TEST(some.empty(), "taken means not due any more");
}

BOOST_AUTO_TEST_CASE(mark_all_covers_every_mark_until_taken) {
  DueStreams due;
  std::vector<uint32_t> some;
  (void)due.Take(&some);
  due.Mark(1);
  due.MarkAll();
  due.Mark(2);
  BOOST_TEST(due.Take(&some));
  BOOST_TEST(some.empty());
  due.Mark(2);
  BOOST_TEST(!due.Take(&some));
  BOOST_TEST(some == std::vector<uint32_t>({2}));
}

BOOST_AUTO_TEST_CASE(a_full_list_turns_into_everything) {
  DueStreams due;
  std::vector<uint32_t> some;
  (void)due.Take(&some);
  for (uint32_t i = 0; i <= DueStreams::kMaxListed; ++i) due.Mark(i);
  BOOST_TEST(due.Take(&some), "past kMaxListed marks, every stream");
  BOOST_TEST(some.empty());
}

BOOST_AUTO_TEST_SUITE_END()
