// What BoltSource::Check() makes of fstat and stat (agent/generation_transition.h): growth,
// truncation and rewrite, the seal on rotation, copies, each rule pinned.
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include "agent/generation_transition.h"

using namespace tailsafe;

namespace {

SizeFacts Size(GenState state, uint64_t size, uint64_t now_size, uint32_t head_len = 4096,
               HeadCheck head = HeadCheck::kSame) {
  return {state, size, now_size, head_len, head};
}

constexpr uint64_t kSecond = 1000000000;

SealFacts Seal(uint64_t now, uint64_t last_growth, uint64_t seal_check = 0, bool writer_open = false,
               GenState state = GenState::kRetired) {
  return {state, now, last_growth, seal_check, 2 * kSecond, writer_open};
}

CopyFacts Copy(uint64_t size) {
  CopyFacts f;
  f.regular_file = true;
  f.size = size;
  f.generation_size = 1000;
  f.head_len = 4096;
  return f;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(generation_transition)

BOOST_AUTO_TEST_CASE(growth_with_the_same_head_is_growth) {
  SizeFacts f = Size(GenState::kActive, 100, 250);
  BOOST_TEST(NeedsHeadCheck(f));
  BOOST_TEST((JudgeSize(f) == SizeChange::kGrew));
  BOOST_TEST((JudgeSize(Size(GenState::kRetired, 100, 250)) == SizeChange::kGrew));
  // No head recorded yet (the file was empty): nothing to compare, growth.
  f = Size(GenState::kActive, 0, 250, 0);
  BOOST_TEST(!NeedsHeadCheck(f));
  BOOST_TEST((JudgeSize(f) == SizeChange::kGrew));
}

BOOST_AUTO_TEST_CASE(unchanged_size_is_nothing_and_reads_no_head) {
  SizeFacts f = Size(GenState::kActive, 100, 100);
  BOOST_TEST(!NeedsHeadCheck(f));
  BOOST_TEST((JudgeSize(f) == SizeChange::kNone));
}

BOOST_AUTO_TEST_CASE(a_shrunk_file_was_truncated) {
  SizeFacts f = Size(GenState::kActive, 1000, 10);
  BOOST_TEST(!NeedsHeadCheck(f));
  BOOST_TEST((JudgeSize(f) == SizeChange::kTruncated));
  BOOST_TEST((JudgeSize(Size(GenState::kActive, 1000, 0)) == SizeChange::kTruncated));
  BOOST_TEST((JudgeSize(Size(GenState::kRetired, 1000, 10)) == SizeChange::kTruncated));
}

BOOST_AUTO_TEST_CASE(growth_with_another_head_is_a_rewrite_not_growth) {
  // Truncated and refilled past the old size between two checks.
  BOOST_TEST((JudgeSize(Size(GenState::kActive, 100, 5000, 100, HeadCheck::kChanged)) == SizeChange::kRewritten));
}

BOOST_AUTO_TEST_CASE(growth_whose_head_cannot_be_read_is_not_judged_until_it_can) {
  // An I/O error, or the file shrank under the read: neither growth (the bytes may be another
  // file's) nor a rewrite (which would end the generation for every peer). The next check asks
  // again. Before, an unreadable head counted as a changed one: a rewrite.
  SizeFacts f = Size(GenState::kActive, 100, 5000, 100, HeadCheck::kUnreadable);
  BOOST_TEST(NeedsHeadCheck(f));
  BOOST_TEST((JudgeSize(f) == SizeChange::kUndecided));
  BOOST_TEST((JudgeSize(Size(GenState::kRetired, 100, 5000, 100, HeadCheck::kUnreadable)) == SizeChange::kUndecided));
  // Facts that need no head read are judged as always.
  BOOST_TEST((JudgeSize(Size(GenState::kActive, 100, 10, 100, HeadCheck::kUnreadable)) == SizeChange::kTruncated));
  BOOST_TEST((JudgeSize(Size(GenState::kActive, 0, 5000, 0, HeadCheck::kUnreadable)) == SizeChange::kGrew));
}

BOOST_AUTO_TEST_CASE(a_sealed_generation_is_never_rejudged) {
  SizeFacts f = Size(GenState::kSealed, 800, 900, 4096, HeadCheck::kChanged);
  BOOST_TEST(!NeedsHeadCheck(f));
  BOOST_TEST((JudgeSize(f) == SizeChange::kAppendedAfterSeal));
  BOOST_TEST((JudgeSize(Size(GenState::kSealed, 800, 800)) == SizeChange::kNone));
  // Shrinking after the seal changes nothing either: its bytes were read (or are lost to peers
  // that lacked them, which the peer links count).
  BOOST_TEST((JudgeSize(Size(GenState::kSealed, 800, 10)) == SizeChange::kNone));
}

BOOST_AUTO_TEST_CASE(truncation_continues_from_a_copy_or_loses_the_generation) {
  TruncationPlan copied = PlanTruncation(GenState::kActive, true, false);  // copytruncate: harmless
  BOOST_TEST(copied.from_copy);
  BOOST_TEST(!copied.seal_as_is);
  BOOST_TEST(copied.new_generation);  // the truncated file goes on as the next generation
  TruncationPlan lost = PlanTruncation(GenState::kActive, false, false);  // truncated in place: lost
  BOOST_TEST(!lost.from_copy);
  BOOST_TEST(!lost.seal_as_is);
  BOOST_TEST(lost.new_generation);
  // A rotated-away file truncated: no longer the bolt's file, so no new generation from it.
  TruncationPlan retired = PlanTruncation(GenState::kRetired, false, false);
  BOOST_TEST(!retired.from_copy);
  BOOST_TEST(!retired.new_generation);
  BOOST_TEST(PlanTruncation(GenState::kRetired, true, false).from_copy);
}

BOOST_AUTO_TEST_CASE(a_truncation_after_every_peer_has_every_byte_seals_and_loses_nothing) {
  TruncationPlan held = PlanTruncation(GenState::kActive, false, true);
  BOOST_TEST(!held.from_copy);
  BOOST_TEST(held.seal_as_is);
  BOOST_TEST(held.new_generation);
  // A copy found wins: the generation goes on from it.
  TruncationPlan both = PlanTruncation(GenState::kActive, true, true);
  BOOST_TEST(both.from_copy);
  BOOST_TEST(!both.seal_as_is);
}

BOOST_AUTO_TEST_CASE(path_rotation_first_file_and_same_file) {
  BOOST_TEST((JudgePath({true, true, true}) == PathChange::kNone));
  BOOST_TEST((JudgePath({true, true, false}) == PathChange::kRotated));
  BOOST_TEST((JudgePath({true, false, false}) == PathChange::kAppeared));
  // Nothing (or no regular file) at the path: nothing changes, the old file is read on.
  BOOST_TEST((JudgePath({false, true, false}) == PathChange::kNone));
  BOOST_TEST((JudgePath({false, false, false}) == PathChange::kNone));
}

BOOST_AUTO_TEST_CASE(a_rotated_generation_is_sealed_once_quiet_and_unwritten) {
  uint64_t t = 100 * kSecond;
  BOOST_TEST((JudgeSeal(Seal(t, t - kSecond)) == SealStep::kWait));  // grew a second ago
  BOOST_TEST(!SealDue(Seal(t, t - kSecond)));
  BOOST_TEST(SealDue(Seal(t, t - 2 * kSecond)));
  BOOST_TEST((JudgeSeal(Seal(t, t - 2 * kSecond)) == SealStep::kSeal));
  // Still open for writing elsewhere: asked again later, not sealed.
  BOOST_TEST((JudgeSeal(Seal(t, t - 3 * kSecond, 0, true)) == SealStep::kDefer));
  // Deferred until later: not asked before then.
  BOOST_TEST((JudgeSeal(Seal(t, t - 3 * kSecond, t + 1, true)) == SealStep::kWait));
  BOOST_TEST((JudgeSeal(Seal(t + 1, t - 3 * kSecond, t + 1)) == SealStep::kSeal));
  // Only a rotated-away generation is sealed by time: the bolt's own file never is.
  BOOST_TEST((JudgeSeal(Seal(t, 0, 0, false, GenState::kActive)) == SealStep::kWait));
  BOOST_TEST((JudgeSeal(Seal(t, 0, 0, false, GenState::kSealed)) == SealStep::kWait));
  // Growth stamped after `now` was taken (a copy found within the same check) is fresh growth.
  BOOST_TEST(!SealDue(Seal(t, t + 1)));
  BOOST_TEST((JudgeSeal(Seal(t, t + 1)) == SealStep::kWait));
}

BOOST_AUTO_TEST_CASE(the_seal_timer_is_due_at_the_later_of_quiet_and_deferral) {
  BOOST_TEST(SealDueAt(Seal(0, 10 * kSecond)) == 12 * kSecond);
  BOOST_TEST(SealDueAt(Seal(0, 10 * kSecond, 20 * kSecond)) == 20 * kSecond);
}

BOOST_AUTO_TEST_CASE(a_copy_is_another_regular_file_at_least_as_long_with_a_known_head) {
  BOOST_TEST(MayBeCopy(Copy(1000)));
  BOOST_TEST(MayBeCopy(Copy(5000)));
  BOOST_TEST(!MayBeCopy(Copy(999)));  // shorter: it cannot hold every byte the generation had
  CopyFacts f = Copy(1000);
  f.named_as_bolt = true;  // the bolt's file itself (the truncated one or a new one)
  BOOST_TEST(!MayBeCopy(f));
  f = Copy(1000);
  f.hidden = true;
  BOOST_TEST(!MayBeCopy(f));
  f = Copy(1000);
  f.regular_file = false;
  BOOST_TEST(!MayBeCopy(f));
  f = Copy(1000);
  f.same_inode = true;  // the generation's own file under another name is no copy
  BOOST_TEST(!MayBeCopy(f));
  f = Copy(1000);
  f.head_len = 0;  // no head to recognize it by
  BOOST_TEST(!MayBeCopy(f));
}

BOOST_AUTO_TEST_SUITE_END()
