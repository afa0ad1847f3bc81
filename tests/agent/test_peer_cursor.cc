// PeerCursor: a failed stream's backoff, giving up, resuming; FailedStreams for status; the
// backlog (agent/peer_cursor.h). PeerHoldings: what a peer holds, the rows it persists, what the
// link keeps per generation and forgets when it closes (agent/peer_holdings.h).
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <map>
#include <memory>
#include <vector>

#include "agent/peer_cursor.h"
#include "agent/peer_holdings.h"

using namespace tailsafe;

namespace {

constexpr uint64_t kMs = 1000000;

PeerCursor Cursor(const char* bolt, uint64_t gen) {
  PeerCursor c;
  c.gen = std::make_shared<Generation>(bolt, gen, 7);
  return c;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(peer_cursor)

BOOST_AUTO_TEST_CASE(a_failed_stream_waits_a_second_doubling_to_a_minute_and_resends_from_what_was_acked) {
  PeerCursor c = Cursor("b", 1);
  c.positioned = c.seal_sent = c.checkpoint_sent = true;
  c.sent = 900;
  c.acked = 500;
  BOOST_TEST(c.Fail("disk full", false, 10 * kMs) == kStreamRetryFirstMs);
  BOOST_TEST(c.failed);
  BOOST_TEST(!c.positioned);
  BOOST_TEST(!c.seal_sent);
  BOOST_TEST(!c.checkpoint_sent);
  BOOST_TEST(c.sent == 500u);  // what the peer did not acknowledge goes again
  BOOST_TEST(c.error == "disk full");
  BOOST_TEST(c.retry_at_ns == 10 * kMs + kStreamRetryFirstMs * kMs);
  BOOST_TEST(c.Fail("disk full", false, 0) == 2 * kStreamRetryFirstMs);
  BOOST_TEST(c.Fail("disk full", false, 0) == 4 * kStreamRetryFirstMs);
  for (int i = 0; i < 10; ++i) c.Fail("disk full", false, 0);
  BOOST_TEST(c.Fail("disk full", false, 0) == kStreamRetryMaxMs);
}

BOOST_AUTO_TEST_CASE(giving_up_means_not_on_this_connection_and_a_position_clears_the_failures) {
  PeerCursor c = Cursor("b", 1);
  BOOST_TEST(c.Fail("unreadable", true, 5) == 0u);
  BOOST_TEST(c.retry_at_ns == UINT64_MAX);
  BOOST_TEST(c.Resume(300));  // it had failed: the link logs the resumption
  BOOST_TEST(c.positioned);
  BOOST_TEST(c.sent == 300u);
  BOOST_TEST(c.acked == 300u);
  BOOST_TEST(c.error.empty());
  BOOST_TEST(c.failures == 0u);
  BOOST_TEST(!c.Resume(300));  // nothing had failed since
}

BOOST_AUTO_TEST_CASE(failed_streams_lists_those_with_an_error_and_whether_they_are_being_retried) {
  std::map<uint32_t, PeerCursor> cursors;
  cursors[1] = Cursor("a", 1);
  cursors[2] = Cursor("b", 4);
  cursors[2].Fail("replica is a directory", false, 0);
  cursors[3] = Cursor("c", 2);
  cursors[3].Fail("gone", false, 0);
  cursors[3].failed = false;  // OPENed again, no POSITION yet
  auto out = FailedStreams(cursors);
  BOOST_REQUIRE_EQUAL(out.size(), 2u);
  BOOST_TEST(out[0].bolt == "b");
  BOOST_TEST(out[0].gen == 4u);
  BOOST_TEST(out[0].error == "replica is a directory");
  BOOST_TEST(out[0].failures == 1u);
  BOOST_TEST(!out[0].retrying);
  BOOST_TEST(out[1].retrying);
}

BOOST_AUTO_TEST_CASE(due_retries_are_taken_once_and_the_next_one_is_timed) {
  std::map<uint32_t, PeerCursor> cursors{{1, Cursor("b", 1)}, {2, Cursor("b", 2)}, {3, Cursor("b", 3)},
                                         {4, Cursor("b", 4)}};
  cursors[1].Fail("x", false, 0);        // due at 1 s
  cursors[2].Fail("x", false, 500 * kMs);  // due at 1.5 s
  cursors[3].Fail("x", true, 0);         // given up: never on this connection
  uint64_t soonest = 0;
  BOOST_TEST(TakeDueRetries(&cursors, 100 * kMs, &soonest).empty());
  BOOST_TEST(soonest == 900 * kMs);
  BOOST_TEST((TakeDueRetries(&cursors, 1000 * kMs, &soonest) == std::vector<uint32_t>{1}));
  BOOST_TEST(!cursors[1].failed);
  BOOST_TEST(soonest == 500 * kMs);
  BOOST_TEST((TakeDueRetries(&cursors, 2000 * kMs, &soonest) == std::vector<uint32_t>{2}));
  BOOST_TEST(soonest == UINT64_MAX, "the one given up is not waited for");
  BOOST_TEST(cursors[3].failed);
}

// Issue 23: the backlog a peer catches up on counts rotated and sealed generations' streams,
// not the current generation's, and not a failed one waiting for its retry.
BOOST_AUTO_TEST_CASE(the_backlog_is_the_streams_of_generations_no_longer_current_that_have_not_failed) {
  std::map<uint32_t, PeerCursor> cursors;
  for (uint32_t i = 1; i <= 4; ++i) cursors[i] = Cursor("b", i);
  BOOST_TEST(BacklogStreams(cursors) == 0u, "current generations (one per bolt) are never held back");
  cursors[1].gen->Retire(0);
  cursors[2].gen->Retire(0);
  cursors[2].gen->Seal();
  cursors[3].gen->Retire(0);
  BOOST_TEST(BacklogStreams(cursors) == 3u);
  cursors[3].Fail("disk full", false, 0);
  BOOST_TEST(BacklogStreams(cursors) == 2u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(peer_holdings)

BOOST_AUTO_TEST_CASE(acks_come_from_state_db_for_this_peer_and_changes_go_into_the_next_commit) {
  PeerHoldings h("p1", {{"p1", "b", 1, 100}, {"p2", "b", 1, 999}});
  BOOST_TEST(h.Acked("b", 1) == 100u);
  BOOST_TEST(h.Acked("b", 2) == 0u);
  BOOST_TEST(!h.has_dirty());
  h.Resumed("b", 1, 100);  // the same: nothing to write
  BOOST_TEST(!h.has_dirty());
  h.Resumed("b", 1, 80);  // the peer holds less than it acknowledged (it cut its tail)
  h.Acknowledged("b", 2, 40, 122);
  BOOST_TEST(h.DrainAckLog().empty(), "ACKs before the first drain are not kept");
  h.Acknowledged("b", 2, 50, 123);
  Committer::Batch batch;
  h.Collect(&batch);
  BOOST_REQUIRE_EQUAL(batch.rows.peer_acks.size(), 2u);
  BOOST_TEST(batch.rows.peer_acks[0].peer == "p1");
  BOOST_TEST(batch.rows.peer_acks[0].acked == 80u);
  BOOST_TEST(batch.rows.peer_acks[1].acked == 50u);
  BOOST_TEST(!h.has_dirty());
  auto log = h.DrainAckLog();
  BOOST_REQUIRE_EQUAL(log.size(), 1u);  // only ACKs are measured, not resumptions
  BOOST_TEST(log[0].t_ns == 123u);
  BOOST_TEST(h.DrainAckLog().empty());
}

BOOST_AUTO_TEST_CASE(seals_and_divergences_are_per_generation) {
  PeerHoldings h("p1", {});
  BOOST_TEST(h.HoldSeal("b", 1));
  BOOST_TEST(!h.HoldSeal("b", 1));  // told once
  BOOST_TEST(h.SealHeld("b", 1));
  BOOST_TEST(!h.SealHeld("b", 2));
  h.MarkDiverged("b", 2);
  BOOST_TEST(h.Diverged("b", 2));
  BOOST_TEST(!h.Diverged("b", 1));
}

BOOST_AUTO_TEST_CASE(what_was_sent_before_a_resume_counts_as_resent_and_read_errors_count_in_a_row) {
  PeerHoldings h("p1", {});
  h.Sent("b", 1, 5000);
  h.Sent("b", 1, 3000);  // a resume sends lower offsets again: the high water stays
  BOOST_TEST(h.Resent("b", 1, 2000) == 3000u);
  BOOST_TEST(h.Resent("b", 1, 6000) == 0u);
  BOOST_TEST(h.Resent("b", 2, 0) == 0u);
  BOOST_TEST(h.ReadFailed("b", 1) == 1u);
  BOOST_TEST(h.ReadFailed("b", 1) == 2u);
  BOOST_TEST(h.ReadFailed("b", 2) == 1u);
  h.ReadOk("b", 1);
  BOOST_TEST(h.ReadFailed("b", 1) == 1u);
}

// Issue 23: the per-generation state of a closed generation goes, with any acknowledgement not
// yet written (its peer_ack row would be pruned at once); other generations keep theirs.
BOOST_AUTO_TEST_CASE(a_forgotten_generation_leaves_nothing_and_writes_no_row) {
  PeerHoldings h("p1", {{"p1", "b", 1, 100}, {"p1", "b", 2, 10}});
  h.Acknowledged("b", 1, 200, 1);
  BOOST_TEST(h.HoldSeal("b", 1));
  h.MarkDiverged("b", 3);
  h.Sent("b", 1, 200);
  (void)h.ReadFailed("b", 4);
  BOOST_TEST(h.generations() == 4u);
  h.Forget("b", 1);
  h.Forget("b", 3);
  h.Forget("b", 4);
  h.Forget("b", 9);  // never known: nothing happens
  BOOST_TEST(h.generations() == 1u);
  BOOST_TEST(h.Acked("b", 1) == 0u);
  BOOST_TEST(!h.SealHeld("b", 1));
  BOOST_TEST(!h.Diverged("b", 3));
  BOOST_TEST(h.Resent("b", 1, 0) == 0u);
  BOOST_TEST(h.Acked("b", 2) == 10u);
  BOOST_TEST(!h.has_dirty());
  Committer::Batch batch;
  h.Collect(&batch);
  BOOST_TEST(batch.rows.peer_acks.empty());
}

BOOST_AUTO_TEST_SUITE_END()
