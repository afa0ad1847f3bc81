// EncodeSlots: the agent-wide cap on encode jobs, its line of waiters, and what prefetching may
// take (agent/encode_slots.h).
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <functional>
#include <memory>
#include <vector>

#include "agent/encode_slots.h"

using namespace tailsafe;

namespace {

using Wake = std::shared_ptr<std::function<void()>>;
Wake MakeWake(std::function<void()> f) { return std::make_shared<std::function<void()>>(std::move(f)); }

}  // namespace

BOOST_AUTO_TEST_SUITE(encode_slots)

BOOST_AUTO_TEST_CASE(slots_are_taken_up_to_the_limit_and_given_back_when_dropped) {
  auto slots = std::make_shared<EncodeSlots>(2);
  EncodeSlots::Slot a = slots->Take(), b = slots->Take();
  BOOST_TEST(bool(a));
  BOOST_TEST(bool(b));
  BOOST_TEST(!slots->Take());
  BOOST_TEST(slots->refusals() == 1u);
  {
    EncodeSlots::Slot moved = std::move(a);
    BOOST_TEST(!a);
    BOOST_TEST(slots->in_use() == 2u, "a move keeps the one slot");
  }
  BOOST_TEST(slots->in_use() == 1u);
  b.Drop();
  BOOST_TEST(slots->in_use() == 0u);
  BOOST_TEST(slots->peak() == 2u);
  BOOST_TEST(EncodeSlots(0).limit() == 1u, "never a cap that admits nothing");
}

BOOST_AUTO_TEST_CASE(prefetch_takes_only_a_spare_slot) {
  auto slots = std::make_shared<EncodeSlots>(3);
  EncodeSlots::Slot a = slots->Take(true);
  EncodeSlots::Slot b = slots->Take(true);
  BOOST_TEST(bool(a));
  BOOST_TEST(bool(b));
  BOOST_TEST(!slots->Take(true), "the last slot is left to what a cursor asks for");
  EncodeSlots::Slot c = slots->Take();
  BOOST_TEST(bool(c));
}

BOOST_AUTO_TEST_CASE(waiters_go_first_and_are_woken_one_per_free_slot) {
  auto slots = std::make_shared<EncodeSlots>(1);
  EncodeSlots::Slot running = slots->Take();
  EncodeSlots::Slot got[3];
  std::vector<int> order;
  auto taker = [&](int id) { return MakeWake([&, id] { order.push_back(id); got[id] = slots->Take(); }); };
  Wake first = taker(1), second = taker(2);
  slots->Wait(first);
  slots->Wait(second);
  BOOST_TEST(!slots->Take(), "nobody jumps the line");
  running = EncodeSlots::Slot();  // given back: the first waiter takes it
  BOOST_TEST((order == std::vector<int>{1}));
  BOOST_TEST(bool(got[1]));
  BOOST_TEST(slots->waiting() == 1u);
  got[1].Drop();  // no wake from a Drop
  BOOST_TEST((order == std::vector<int>{1}));
  BOOST_TEST(!slots->Take(), "the second waiter is still first in line");
}

BOOST_AUTO_TEST_CASE(a_gone_waiter_is_skipped_and_one_that_needs_nothing_passes_its_turn) {
  auto slots = std::make_shared<EncodeSlots>(1);
  EncodeSlots::Slot s = slots->Take();
  int calls = 0;
  EncodeSlots::Slot taken;
  Wake gone = MakeWake([&] { ++calls; });
  Wake idle = MakeWake([&] { ++calls; });  // takes nothing
  Wake taker = MakeWake([&] { ++calls; taken = slots->Take(); });
  slots->Wait(gone);
  slots->Wait(idle);
  slots->Wait(taker);
  gone.reset();
  s = EncodeSlots::Slot();
  BOOST_TEST(calls == 2, "the gone waiter is not called");
  BOOST_TEST(bool(taken));
  BOOST_TEST(slots->waiting() == 0u);
}

BOOST_AUTO_TEST_SUITE_END()
