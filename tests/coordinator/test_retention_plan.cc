// Replica retention (coordinator/retention_plan.h): which generations of a bolt its peers may
// delete, given what the coordinator knows of the bolt, its origin and its recoveries.
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <string>

#include "coordinator/retention_plan.h"

using namespace tailsafe;

namespace {

// A live bolt processed up to generation 5, its origin reporting generations 5 and 6 open.
RetentionFacts Live() {
  RetentionFacts f;
  f.origin_reported = true;
  f.oldest_open = 5;
  f.checkpoint = TailCheckpoint{5, 100};
  return f;
}

RangeRecord Range(uint64_t gen, RangeRecord::State state, uint64_t to = 100, uint64_t delivered_to = 0,
                  uint64_t given_up_to = 0) {
  RangeRecord r;
  r.gen = gen;
  r.from = 0;
  r.to = to;
  r.delivered_to = delivered_to;
  r.state = state;
  r.given_up_to = given_up_to;
  return r;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(retention_plan)

BOOST_AUTO_TEST_CASE(a_live_bolt_keeps_from_its_checkpoint_and_its_origins_oldest_open_generation) {
  BOOST_TEST(RetainFrom(Live()).value() == 5u);
  RetentionFacts f = Live();
  f.oldest_open = 3;  // the origin still ships generation 3: deleting it would bring it back whole
  BOOST_TEST(RetainFrom(f).value() == 3u);
  f.oldest_open.reset();  // nothing open: the checkpoint alone
  BOOST_TEST(RetainFrom(f).value() == 5u);
}

BOOST_AUTO_TEST_CASE(nothing_is_decided_without_a_reported_origin_a_checkpoint_or_a_readable_history) {
  RetentionFacts silent = Live();
  silent.origin_reported = false;  // dead or silent: a recovery may need every replica
  BOOST_TEST(!RetainFrom(silent));
  RetentionFacts unprocessed = Live();
  unprocessed.checkpoint.reset();
  BOOST_TEST(!RetainFrom(unprocessed));
  RetentionFacts held = Live();
  held.history_readable = false;
  BOOST_TEST(!RetainFrom(held));
  RetentionFacts unknown_death = Live();
  unknown_death.pending_deaths.push_back(std::nullopt);  // a death whose tail start is unknown
  BOOST_TEST(!RetainFrom(unknown_death));
}

BOOST_AUTO_TEST_CASE(a_pending_death_keeps_its_tail_from_its_checkpoint) {
  RetentionFacts f = Live();
  f.pending_deaths.push_back(TailCheckpoint{2, 40});
  f.pending_deaths.push_back(TailCheckpoint{4, 0});
  BOOST_TEST(RetainFrom(f).value() == 2u);
}

BOOST_AUTO_TEST_CASE(ranges_not_recovered_keep_their_generation_recovered_ones_do_not) {
  RetentionFacts f = Live();
  f.ranges = {Range(1, RangeRecord::State::kRecovered, 100, 100), Range(3, RangeRecord::State::kFailed)};
  BOOST_TEST(RetainFrom(f).value() == 3u, "an operator may retry a failed range");
  f.ranges = {Range(1, RangeRecord::State::kRecovered, 100, 100), Range(2, RangeRecord::State::kUnfinished)};
  BOOST_TEST(RetainFrom(f).value() == 2u);
  f.ranges = {Range(1, RangeRecord::State::kRecovered, 100, 100), Range(2, RangeRecord::State::kRecovered, 50, 50)};
  BOOST_TEST(RetainFrom(f).value() == 5u);
}

BOOST_AUTO_TEST_CASE(given_up_bytes_keep_their_generation_until_a_recovered_range_delivers_them) {
  RetentionFacts f = Live();
  f.ranges = {Range(2, RangeRecord::State::kRecovered, 60, 60, 100)};  // [60, 100) given up
  BOOST_TEST(RetainFrom(f).value() == 2u, "a later report may still plan them");
  f.ranges.push_back(Range(2, RangeRecord::State::kRecovered, 100, 100));  // the follow-up
  BOOST_TEST(RetainFrom(f).value() == 5u);
}

BOOST_AUTO_TEST_CASE(generations_at_or_below_the_history_floor_constrain_nothing) {
  RetentionFacts f = Live();
  f.ranges = {Range(2, RangeRecord::State::kFailed)};
  f.floor = 2;
  BOOST_TEST(RetainFrom(f).value() == 5u);
}

BOOST_AUTO_TEST_CASE(the_plan_covers_each_bolt_whose_origin_reported_it) {
  TermState s;
  TermState::Agent& h1 = s.agents["h1"];
  h1.id = "h1";
  h1.record.alive = true;
  h1.reported = true;
  h1.bolt_ends["web"] = {{4, 100}, {5, 30}};
  h1.bolt_ends["api"] = {{2, 10}};
  TermState::Agent& h2 = s.agents["h2"];
  h2.id = "h2";
  h2.record.alive = false;  // dead: its bolt is left alone
  h2.bolt_ends["web"] = {{9, 1}};
  auto bolt = [&](const std::string& origin, const std::string& name, std::optional<uint64_t> gen) {
    BoltRecord b;
    b.origin = origin;
    b.bolt = name;
    if (gen) b.checkpoint = BoltCheckpointReport{gen, 10, 1, ""};
    s.bolts[{origin, name}] = b;
  };
  bolt("h1", "web", 5);
  bolt("h1", "api", std::nullopt);  // never reported a checkpoint
  bolt("h1", "gone", 3);            // not in its origin's report
  bolt("h2", "web", 9);
  RecoveryRecord r;
  r.id = 1;
  r.origin = "h1";
  r.bolt = "web";
  r.gen = 3;
  r.state = RecoveryState::kRunning;
  s.recoveries[1] = r;
  auto plan = PlanRetention(s);
  BOOST_TEST(plan.size() == 1u);
  BOOST_TEST(plan.at({"h1", "web"}) == 3u, "the running recovery's generation");
  s.recoveries[1].state = RecoveryState::kRecovered;
  BOOST_TEST(PlanRetention(s).at({"h1", "web"}) == 4u, "the origin's oldest open generation");
  h1.reported = false;  // its connection closed
  BOOST_TEST(PlanRetention(s).empty());
}

BOOST_AUTO_TEST_SUITE_END()
