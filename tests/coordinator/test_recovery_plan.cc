// Which ranges of a dead bolt need a hook, and which agent runs each (coordinator/recovery_plan.h).
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <random>
#include <sstream>
#include <tuple>

#include "coordinator/recovery_plan.h"

using namespace tailsafe;
using State = RangeRecord::State;

namespace tailsafe {
std::ostream& operator<<(std::ostream& os, const PlannedRange& r) {
  return os << "{gen " << r.gen << ", [" << r.from << ", " << r.to << ")}";
}
}  // namespace tailsafe

BOOST_AUTO_TEST_SUITE(recovery_plan)

using Ranges = std::vector<PlannedRange>;

BOOST_AUTO_TEST_CASE(tail_starts_at_the_checkpoint_and_spans_later_generations) {
  TailCheckpoint ck{2, 100};
  // Generation 1 is older than the checkpoint's: the bolt had finished it.
  BOOST_TEST((PlanTail(ck, {{1, 500}, {2, 300}, {3, 40}}, {}) == Ranges{{2, 100, 300}, {3, 0, 40}}));
  // Nothing past the checkpoint: nothing to do.
  BOOST_TEST(PlanTail(ck, {{2, 100}}, {}).empty());
  // A checkpoint past what can be recovered (the survivors hold less): nothing either.
  BOOST_TEST(PlanTail(ck, {{2, 60}}, {}).empty());
}

BOOST_AUTO_TEST_CASE(without_a_checkpoint_the_newest_generation_from_zero) {
  BOOST_TEST((PlanTail(std::nullopt, {{1, 500}, {2, 300}}, {}) == Ranges{{2, 0, 300}}));
  BOOST_TEST(PlanTail(std::nullopt, {}, {}).empty());
}

BOOST_AUTO_TEST_CASE(one_unfinished_or_failed_range_per_generation_blocks_more) {
  TailCheckpoint ck{1, 10};
  BOOST_TEST(PlanTail(ck, {{1, 900}}, {{1, 10, 500, 0, State::kUnfinished}}).empty());
  BOOST_TEST(PlanTail(ck, {{1, 900}}, {{1, 10, 500, 0, State::kFailed}}).empty());
  // Another generation is not blocked.
  BOOST_TEST((PlanTail(ck, {{1, 900}, {2, 5}}, {{1, 10, 500, 0, State::kUnfinished}}) == Ranges{{2, 0, 5}}));
}

BOOST_AUTO_TEST_CASE(follow_up_starts_where_the_whole_records_ended) {
  TailCheckpoint ck{1, 10};
  // Asked [10, 500), the hook got whole records up to 480: nothing new, nothing planned.
  std::vector<RangeRecord> done = {{1, 10, 500, 480, State::kRecovered}};
  BOOST_TEST(PlanTail(ck, {{1, 500}}, done).empty());
  // The host came back with bytes that never left it: [480, 700), the cut record whole.
  BOOST_TEST((PlanTail(ck, {{1, 700}}, done) == Ranges{{1, 480, 700}}));
  // The bolt ran again and checkpointed past the old range: the tail starts there.
  BOOST_TEST((PlanTail(TailCheckpoint{1, 600}, {{1, 700}}, done) == Ranges{{1, 600, 700}}));
  // A recorded range is never handed out again.
  std::vector<RangeRecord> two = {{1, 10, 500, 500, State::kRecovered}, {1, 500, 700, 700, State::kRecovered}};
  BOOST_TEST(PlanTail(ck, {{1, 700}}, two).empty());
}

// Found by the fault suite (seed 87671248): a bolt died while its death could not reach the
// coordinator; its successor checkpointed, then its host was declared dead and [18042492,
// 18044137) was recovered from the successor's checkpoint. The death, reported after the fact
// with its own checkpoint 17799563, was planned from 18044137: the dead process's unprocessed
// request in [17799563, 17799873) was never recovered.
BOOST_AUTO_TEST_CASE(an_older_checkpoint_plans_the_gap_before_a_later_recorded_range) {
  std::vector<RangeRecord> later = {{1, 18042492, 18044137, 18044137, State::kRecovered}};
  BOOST_TEST((PlanTail(TailCheckpoint{1, 17799563}, {{1, 18045518}}, later) ==
              Ranges{{1, 17799563, 18042492}, {1, 18044137, 18045518}}));
  // Gaps between several recorded ranges, and none past what can be recovered.
  std::vector<RangeRecord> two = {{1, 200, 300, 290, State::kRecovered}, {1, 400, 500, 500, State::kRecovered}};
  BOOST_TEST((PlanTail(TailCheckpoint{1, 100}, {{1, 500}}, two) == Ranges{{1, 100, 200}, {1, 290, 400}}));
  BOOST_TEST((PlanTail(TailCheckpoint{1, 100}, {{1, 150}}, two) == Ranges{{1, 100, 150}}));
  // Bytes asked for but cut at a range's end, right before the next range, are no gap: the
  // fault suite's seed 183338166 planned [384895, 385024) 3,000 times, each delivering nothing.
  std::vector<RangeRecord> cut = {{1, 100, 385024, 384895, State::kRecovered},
                                  {1, 385024, 390000, 390000, State::kRecovered}};
  BOOST_TEST(PlanTail(TailCheckpoint{1, 100}, {{1, 390000}}, cut).empty());
  // A range that starts before the checkpoint is no gap.
  std::vector<RangeRecord> before = {{1, 50, 300, 300, State::kRecovered}};
  BOOST_TEST((PlanTail(TailCheckpoint{1, 100}, {{1, 400}}, before) == Ranges{{1, 300, 400}}));
}

// Found by the fault suite under ASan in CI (seed 986922277): h1's bolt process died while h1's
// agent was down; the death reached the coordinator after the fact with checkpoint 6059662 (its
// successor started at 6062034), h1 was declared dead again before the death could be planned,
// and the only survivor held 6033103 bytes of the file: PlanTail planned nothing, the death was
// marked planned, and the bolt's own planning went on from the successor's checkpoint 6108738.
// The 8 requests in [6059662, 6062034) were never counted.
BOOST_AUTO_TEST_CASE(a_death_stays_pending_until_planning_reaches_the_newest_checkpoint) {
  TailCheckpoint death{1, 6059662}, newest{1, 6108738};
  // Survivors hold less than the death's checkpoint: nothing planned, the death waits.
  BOOST_TEST(PlanTail(death, {{1, 6033103}}, {}).empty());
  auto next = DeathAfterPlanning(death, newest, {{1, 6033103}}, /*origin_alive=*/false);
  BOOST_TEST((next == TailCheckpoint{1, 6059662}));
  // They hold part of the tail: it is planned, and the death waits at where the plan got.
  next = DeathAfterPlanning(death, newest, {{1, 6060000}}, false);
  BOOST_TEST((next == TailCheckpoint{1, 6060000}));
  // Planning from there reached the newest checkpoint: the death is done.
  BOOST_TEST(!DeathAfterPlanning(TailCheckpoint{1, 6060000}, newest, {{1, 6116189}}, false));
  BOOST_TEST((PlanTail(TailCheckpoint{1, 6060000}, {{1, 6116189}}, {{1, 6059662, 6060000, 6060000, State::kRecovered}}) ==
              Ranges{{1, 6060000, 6116189}}));
  // While the host lives, `ends` are the file's own sizes: one plan reaches the tail's end.
  BOOST_TEST(!DeathAfterPlanning(death, newest, {{1, 6033103}}, true));
  // The newest checkpoint is the dead process's own: the bolt's planning starts there anyway.
  BOOST_TEST(!DeathAfterPlanning(death, death, {{1, 6033103}}, false));
  // No death checkpoint: planned like the bolt's tail, done.
  BOOST_TEST(!DeathAfterPlanning(std::nullopt, newest, {}, false));
  // A newest checkpoint in a later generation: done once anything past the death's was held.
  TailCheckpoint later{2, 50};
  BOOST_TEST((DeathAfterPlanning(death, later, {{1, 6000000}}, false) == death));
  BOOST_TEST(!DeathAfterPlanning(death, later, {{1, 6060000}}, false));
  BOOST_TEST(!DeathAfterPlanning(death, later, {{1, 6000000}, {2, 10}}, false));
}

BOOST_AUTO_TEST_CASE(folding_merges_ranges_that_start_within_what_was_asked) {
  std::vector<RangeRecord> spans;
  FoldRecovered(&spans, {1, 100, 200, 150, State::kRecovered});
  FoldRecovered(&spans, {1, 150, 300, 290, State::kRecovered});  // the follow-up of a cut record
  FoldRecovered(&spans, {1, 400, 500, 500, State::kRecovered});  // a hole before it stays one
  FoldRecovered(&spans, {2, 0, 50, 50, State::kRecovered});
  std::vector<RangeRecord> want = {{1, 100, 300, 290, State::kRecovered},
                                   {1, 400, 500, 500, State::kRecovered},
                                   {2, 0, 50, 50, State::kRecovered}};
  BOOST_REQUIRE(spans.size() == want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    BOOST_TEST((std::tie(spans[i].gen, spans[i].from, spans[i].to, spans[i].delivered_to) ==
                std::tie(want[i].gen, want[i].from, want[i].to, want[i].delivered_to)),
               "span " << i);
  }
  FoldRecovered(&spans, {1, 300, 400, 400, State::kRecovered});  // the hole filled: one span
  BOOST_TEST(spans.size() == 2u);
  BOOST_TEST(spans[0].to == 500u);
  BOOST_TEST(spans[0].delivered_to == 500u);
}

// The claim that lets /recoveries be pruned: over any records, folding any subset of the
// recovered ones plans the same ranges.
BOOST_AUTO_TEST_CASE(planning_over_folded_spans_plans_what_it_plans_over_every_record) {
  std::mt19937_64 rng(20261203);
  auto below = [&](uint64_t n) { return n == 0 ? 0 : rng() % n; };
  int cases = 0, with_gaps = 0, with_owed = 0;
  for (int round = 0; round < 20000; ++round) {
    std::vector<RangeRecord> records;
    int n = 1 + static_cast<int>(below(12));
    for (int i = 0; i < n; ++i) {
      uint64_t gen = 1 + below(3);
      uint64_t from = below(1000), to = from + below(300);
      uint64_t delivered = from + below(to - from + 1);
      State st = below(10) == 0 ? (below(2) ? State::kUnfinished : State::kFailed) : State::kRecovered;
      uint64_t given_up = below(3) == 0 ? to + 1 + below(400) : 0;  // a shrunk range
      records.push_back({gen, from, to, st == State::kRecovered ? delivered : 0, st, given_up});
    }
    std::vector<RangeRecord> kept, spans;
    for (const RangeRecord& r : records) {
      if (r.state == State::kRecovered && below(3) != 0) {
        FoldRecovered(&spans, r);
      } else {
        kept.push_back(r);
      }
    }
    std::vector<RangeRecord> folded = spans;
    folded.insert(folded.end(), kept.begin(), kept.end());
    std::optional<TailCheckpoint> ck;
    if (below(4) != 0) ck = TailCheckpoint{1 + below(3), below(600)};
    std::map<uint64_t, uint64_t> ends;
    for (uint64_t g = 1; g <= 3; ++g) {
      if (below(4) != 0) ends[g] = below(1400);
    }
    Ranges all = PlanTail(ck, ends, records);
    Ranges from_spans = PlanTail(ck, ends, folded);
    BOOST_TEST_REQUIRE((all == from_spans), "round " << round);
    Ranges owed = PlanGivenUp(ends, records);
    BOOST_TEST_REQUIRE((owed == PlanGivenUp(ends, folded)), "round " << round << ": given up");
    ++cases;
    with_gaps += all.size() > 1 ? 1 : 0;
    with_owed += owed.empty() ? 0 : 1;
  }
  BOOST_TEST(with_gaps > 1000);  // the random histories do exercise gaps
  BOOST_TEST(with_owed > 1000);  // and given-up bytes
  BOOST_TEST(cases == 20000);
}

namespace {

// The origin "a" is dead; b and c run the hook, d does not.
ShrinkFacts DeadOrigin(uint64_t b, uint64_t c, uint64_t d = 0, const std::string& assignee = "b") {
  ShrinkFacts f;
  f.all_reported = true;
  f.assignee = assignee;
  f.survivors = {{"b", b, true}, {"c", c, true}, {"d", d, false}};
  return f;
}

}  // namespace

// Issue 23: the origin's host died before shipping what a range asked; the survivors hold less.
BOOST_AUTO_TEST_CASE(a_range_past_what_the_survivors_hold_shrinks_to_the_most_a_candidate_holds) {
  auto s = ShrinkRange(100, 900, DeadOrigin(300, 500));
  BOOST_REQUIRE(s.has_value());
  BOOST_TEST(s->to == 500u);
  BOOST_TEST(s->holder == "c");
  BOOST_TEST(s->reassign, "b holds 300 of [100, 500): the range goes to another agent");
  // The assignee holds the new end: it keeps the range (under a new epoch, the caller's).
  s = ShrinkRange(100, 900, DeadOrigin(500, 500));
  BOOST_REQUIRE(s.has_value());
  BOOST_TEST(s->holder == "b", "the smallest id among equals");
  BOOST_TEST(!s->reassign);
  // Waiting, or held by an agent no longer alive: elected afresh.
  BOOST_TEST(ShrinkRange(100, 900, DeadOrigin(500, 400, 0, ""))->reassign);
  BOOST_TEST(ShrinkRange(100, 900, DeadOrigin(500, 400, 0, "x"))->reassign);
  // Survivors that hold none of the range: shrunk to nothing, never below its start.
  s = ShrinkRange(100, 900, DeadOrigin(60, 0));
  BOOST_REQUIRE(s.has_value());
  BOOST_TEST(s->to == 100u);
}

BOOST_AUTO_TEST_CASE(a_range_is_not_shrunk_while_it_may_still_get_its_bytes) {
  // Covered already.
  BOOST_TEST(!ShrinkRange(100, 900, DeadOrigin(900, 10)).has_value());
  BOOST_TEST(!ShrinkRange(100, 900, DeadOrigin(10, 1000)).has_value());
  // The origin's host lives: it ships what the range asks.
  ShrinkFacts f = DeadOrigin(300, 500);
  f.origin_alive = true;
  BOOST_TEST(!ShrinkRange(100, 900, f).has_value());
  // The host died moments ago: it is given the grace to come back with its file first.
  f = DeadOrigin(300, 500);
  f.grace_ms = 3000;
  f.origin_dead_ms = 2999;
  BOOST_TEST(!ShrinkRange(100, 900, f).has_value());
  f.origin_dead_ms = 3000;
  BOOST_TEST(ShrinkRange(100, 900, f).has_value());
  // A live agent has not reported on its connection yet: it may hold more.
  f = DeadOrigin(300, 500);
  f.all_reported = false;
  BOOST_TEST(!ShrinkRange(100, 900, f).has_value());
  // Running: its assignee held all of it to start the hook.
  f = DeadOrigin(300, 500);
  f.running = true;
  BOOST_TEST(!ShrinkRange(100, 900, f).has_value());
  // No candidate runs the hook: the range waits for one, as any does.
  f = DeadOrigin(0, 0, 700);
  f.survivors.erase(f.survivors.begin(), f.survivors.begin() + 2);
  BOOST_TEST(!ShrinkRange(100, 900, f).has_value());
}

BOOST_AUTO_TEST_CASE(a_survivor_without_the_hook_that_holds_more_is_named) {
  auto s = ShrinkRange(100, 900, DeadOrigin(300, 500, 700));
  BOOST_REQUIRE(s.has_value());
  BOOST_TEST(s->to == 500u);
  BOOST_TEST(s->beyond == 700u);
  BOOST_TEST(s->beyond_holder == "d");
  // Only what the range asked for.
  BOOST_TEST(ShrinkRange(100, 900, DeadOrigin(300, 500, 5000))->beyond == 900u);
  // Holding no more than a candidate: nothing to pull.
  s = ShrinkRange(100, 900, DeadOrigin(300, 500, 500));
  BOOST_TEST(s->beyond == 0u);
  BOOST_TEST(s->beyond_holder.empty());
}

// Issue 23: bytes held only by a survivor without the hook are pulled from it by the assignee,
// which then runs on the whole range; only a connected holder can be pulled from.
BOOST_AUTO_TEST_CASE(the_assignee_pulls_what_only_a_survivor_without_the_hook_holds) {
  auto s = ShrinkRange(100, 900, DeadOrigin(300, 500, 700));
  BOOST_REQUIRE(s.has_value());
  BOOST_TEST(s->pull, "d holds [500, 700) that no candidate holds");
  BOOST_TEST(s->holder == "c");
  BOOST_TEST(s->to == 500u, "what the candidate itself holds: its end if the pull fails");
  // Holding no more than a candidate: nothing to pull.
  BOOST_TEST(!ShrinkRange(100, 900, DeadOrigin(300, 500, 500))->pull);
  BOOST_TEST(!ShrinkRange(100, 900, DeadOrigin(300, 500, 0))->pull);
  // A holder that is not connected is named but not pulled from.
  ShrinkFacts f = DeadOrigin(300, 500, 700);
  f.survivors[2].connected = false;
  s = ShrinkRange(100, 900, f);
  BOOST_TEST(!s->pull);
  BOOST_TEST(s->beyond_holder == "d");
  // Of two holders without the hook, a connected one that holds less beats one that is not.
  f.survivors.push_back({"e", 600, false, true});
  s = ShrinkRange(100, 900, f);
  BOOST_TEST(s->pull);
  BOOST_TEST(s->beyond_holder == "e");
  BOOST_TEST(s->beyond == 600u);
  // Two connected holders: the one that holds more.
  f.survivors[2].connected = true;
  s = ShrinkRange(100, 900, f);
  BOOST_TEST(s->beyond_holder == "d");
  BOOST_TEST(s->pull);
  // A candidate that holds it all needs no pull, nor any shrink.
  BOOST_TEST(!ShrinkRange(100, 900, DeadOrigin(300, 900, 900)).has_value());
}

// Planning after a shrink recovers nothing twice and skips nothing a survivor shows later: the
// shrunk range, recovered up to its whole records, is followed by exactly the bytes past them
// that a later report (or the host's return) shows, once they reach past the shrunk end.
BOOST_AUTO_TEST_CASE(planning_after_a_shrink_follows_up_exactly_what_survivors_show_later) {
  std::mt19937_64 rng(20260523);
  auto below = [&](uint64_t n) { return n == 0 ? 0 : rng() % n; };
  for (int round = 0; round < 5000; ++round) {
    uint64_t from = below(500), asked = from + 1 + below(1000);
    auto s = ShrinkRange(from, asked, DeadOrigin(below(asked), below(asked)));
    BOOST_REQUIRE(s.has_value());
    BOOST_REQUIRE(s->to >= from);
    BOOST_REQUIRE(s->to < asked);
    uint64_t delivered = s->to - below(s->to - from + 1);  // the whole records of [from, to)
    std::vector<RangeRecord> recs = {{1, from, s->to, delivered, State::kRecovered}};
    uint64_t later = below(asked + 200);  // what the survivors (or the host) show afterwards
    Ranges planned = PlanTail(TailCheckpoint{1, from}, {{1, later}}, recs);
    Ranges want;
    if (later > s->to && later > delivered) want.push_back({1, delivered, later});
    BOOST_TEST_REQUIRE((planned == want), "round " << round << ": [" << from << ", " << asked << ") shrunk to "
                                                   << s->to << ", delivered " << delivered << ", later " << later);
  }
}

// Bytes a shrink gave up are followed up whatever the bolt does now (its host may return with
// the bolt running again): exactly the bytes given up that no range delivered, once they reach
// past the ends asked, and never twice.
BOOST_AUTO_TEST_CASE(bytes_a_shrink_gave_up_are_followed_up_once_they_are_held_again) {
  // [100, 400) shrunk to [100, 200), whose hook got whole records up to 180.
  RangeRecord shrunk{1, 100, 200, 180, State::kRecovered, 400};
  BOOST_TEST((PlanGivenUp({{1, 400}}, {shrunk}) == Ranges{{1, 180, 400}}));
  BOOST_TEST((PlanGivenUp({{1, 900}}, {shrunk}) == Ranges{{1, 180, 400}}), "past the given-up end: the tail's");
  BOOST_TEST((PlanGivenUp({{1, 300}}, {shrunk}) == Ranges{{1, 180, 300}}), "as much as is held");
  BOOST_TEST(PlanGivenUp({{1, 200}}, {shrunk}).empty(), "not past the shrunk end: the cut record again");
  BOOST_TEST(PlanGivenUp({{2, 400}}, {shrunk}).empty(), "nothing held of its generation");
  // Followed up in part, its own record cut at 300: the rest once more than 300 is held.
  RangeRecord part{1, 180, 300, 290, State::kRecovered};
  BOOST_TEST(PlanGivenUp({{1, 300}}, {shrunk, part}).empty());
  BOOST_TEST((PlanGivenUp({{1, 400}}, {shrunk, part}) == Ranges{{1, 290, 400}}));
  // Followed up whole: nothing, ever.
  BOOST_TEST(PlanGivenUp({{1, 900}}, {shrunk, {1, 180, 400, 400, State::kRecovered}}).empty());
  // A follow-up under way (or failed) blocks its generation alone.
  RangeRecord other{2, 0, 50, 20, State::kRecovered, 90};
  BOOST_TEST((PlanGivenUp({{1, 400}, {2, 90}}, {shrunk, {1, 180, 400, 0, State::kUnfinished}, other}) ==
              Ranges{{2, 20, 90}}));
  // A later range (a successor's death, from its checkpoint at 350) bounds the given-up bytes.
  RangeRecord later{1, 350, 500, 500, State::kRecovered};
  BOOST_TEST((PlanGivenUp({{1, 600}}, {shrunk, later}) == Ranges{{1, 180, 350}}));
  BOOST_TEST(PlanGivenUp({{1, 600}}, {shrunk, later, {1, 180, 350, 350, State::kRecovered}}).empty());
  // Nothing given up: past the ends asked is PlanTail's (a death's), not this.
  BOOST_TEST(PlanGivenUp({{1, 900}}, {{1, 100, 200, 200, State::kRecovered}}).empty());
}

BOOST_AUTO_TEST_CASE(election_prefers_other_hosts_then_coverage_then_load_then_id) {
  // Other hosts first, even with less coverage; the origin is the fallback.
  BOOST_TEST(*Elect({{"a", 1000, 0}, {"b", 10, 5}}, "a") == "b");
  BOOST_TEST(*Elect({{"a", 1000, 0}}, "a") == "a");
  // Most coverage.
  BOOST_TEST(*Elect({{"b", 10, 0}, {"c", 20, 3}}, "a") == "c");
  // Fewest unfinished recoveries.
  BOOST_TEST(*Elect({{"b", 20, 2}, {"c", 20, 1}}, "a") == "c");
  // Then the smallest id.
  BOOST_TEST(*Elect({{"c", 20, 1}, {"b", 20, 1}}, "a") == "b");
  BOOST_TEST(!Elect({}, "a").has_value());
}

BOOST_AUTO_TEST_SUITE_END()
