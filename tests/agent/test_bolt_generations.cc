// BoltGenerations (agent/bolt_generations.h): one bolt's list of generations. Numbering that
// continues across restarts and a remove and re-add, the active one, the checkpoint (applied to
// the active generation, or held for the next one), the rows to persist, and which generations
// close: sealed ones every peer has, lost ones whose row is written.
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <fcntl.h>

#include <memory>
#include <string>
#include <vector>

#include "agent/bolt_generations.h"

using namespace tailsafe;

namespace {

std::shared_ptr<Fd> DevNull() { return std::make_shared<Fd>(::open("/dev/null", O_RDONLY | O_CLOEXEC)); }

OriginGenRow Row(uint64_t gen, GenState state, uint64_t final_size = 0) {
  OriginGenRow row;
  row.bolt = "b";
  row.gen = gen;
  row.dev = 1;
  row.ino = 100 + gen;
  row.state = state;
  row.final_size = final_size;
  return row;
}

struct Fixture {
  uint32_t next_stream = 1;
  BoltGenerations gens{"b", &next_stream};

  // What Close() closed, in order, and whether each was released.
  std::vector<std::pair<uint64_t, bool>> closed;
  uint64_t acked = 0;
  bool seal_held = true;

  bool Close(bool with_seal_check = true) {
    auto min_acked = [this](const Generation&) { return acked; };
    std::function<bool(const Generation&)> held;
    if (with_seal_check) held = [this](const Generation&) { return seal_held; };
    return gens.Close(min_acked, held, [this](Generation& g, bool released) {
      BOOST_TEST(static_cast<bool>(g.fd()) == (g.state() != GenState::kLost));  // closed after, not before
      BOOST_TEST((g.state() == GenState::kReleased) == released);  // released before `closing` runs
      closed.emplace_back(g.gen, released);
    });
  }
  // Collects and makes every row durable, as a commit would.
  std::vector<OriginGenRow> Commit() {
    Committer::Batch batch;
    gens.Collect(&batch, [](Generation& g) { g.MarkPersisted(); });
    for (auto& f : batch.on_durable) f();
    return batch.rows.origin_gens;
  }
  // A generation sealed at `size` bytes and committed.
  Generation& Sealed(uint64_t size) {
    Generation& g = gens.Add(DevNull(), 1, 7, size, 0);
    g.Retire(0);
    g.Seal();
    Commit();
    return g;
  }
};

}  // namespace

BOOST_FIXTURE_TEST_SUITE(bolt_generations, Fixture)

BOOST_AUTO_TEST_CASE(numbering_starts_at_one_and_continues_after_every_row_even_those_not_taken_up) {
  BOOST_TEST(gens.next_gen() == 1u);
  gens.NoteRow(Row(4, GenState::kReleased));  // released long ago: not restored, still counted
  BOOST_TEST(gens.next_gen() == 5u);
  gens.NoteRow(Row(2, GenState::kLost));  // an older row does not go back
  BOOST_TEST(gens.next_gen() == 5u);
  Generation& restored = gens.Restore(Row(5, GenState::kSealed, 300), GenState::kSealed, 10);
  BOOST_TEST(restored.gen == 5u);
  BOOST_TEST(gens.next_gen() == 6u);
  Generation& added = gens.Add(DevNull(), 1, 200, 0, 20);
  BOOST_TEST(added.gen == 6u);
  BOOST_TEST(gens.next_gen() == 7u);
  BOOST_REQUIRE_EQUAL(gens.all().size(), 2u);
  BOOST_TEST(gens.all().front()->gen == 5u);  // oldest first
  BOOST_TEST(gens.all().back()->gen == 6u);
}

BOOST_AUTO_TEST_CASE(stream_ids_come_from_the_agents_counter_shared_by_every_bolt) {
  BoltGenerations other{"c", &next_stream};
  Generation& a = gens.Add(DevNull(), 1, 1, 0, 0);
  Generation& b = other.Add(DevNull(), 1, 2, 0, 0);
  Generation& c = gens.Restore(Row(9, GenState::kRetired), GenState::kRetired, 0);
  BOOST_TEST(a.stream == 1u);
  BOOST_TEST(b.stream == 2u);
  BOOST_TEST(c.stream == 3u);
  BOOST_TEST(next_stream == 4u);
  BOOST_TEST(b.gen == 1u);  // generation numbers are per bolt
}

BOOST_AUTO_TEST_CASE(a_restored_generation_takes_its_rows_state_and_is_persisted_and_clean) {
  Generation& g = gens.Restore(Row(3, GenState::kSealed, 300), GenState::kRetired, 10);
  BOOST_TEST((g.state() == GenState::kRetired));  // the state given, not the row's
  BOOST_TEST(g.persisted());
  BOOST_TEST(!g.row_dirty());
  BOOST_TEST(g.ino() == 103u);
  BOOST_TEST(!g.fd());  // its file is given later, if found
  BOOST_TEST(!gens.dirty());
}

BOOST_AUTO_TEST_CASE(the_active_generation_is_the_bolts_current_file_and_there_is_at_most_one) {
  BOOST_TEST(gens.active() == nullptr);
  Generation& first = gens.Add(DevNull(), 1, 1, 0, 0);
  BOOST_TEST(gens.active() == &first);
  first.Retire(5);
  BOOST_TEST(gens.active() == nullptr);  // rotated away: read to its end, but not the current file
  Generation& second = gens.Add(DevNull(), 1, 2, 0, 6);
  BOOST_TEST(gens.active() == &second);
  const BoltGenerations& view = gens;
  BOOST_TEST(view.active() == &second);
}

BOOST_AUTO_TEST_CASE(a_checkpoint_applies_to_the_active_generation) {
  Generation& g = gens.Add(DevNull(), 1, 1, 500, 0);
  BOOST_TEST(gens.checkpointed() == nullptr);
  BOOST_TEST(gens.SetCheckpoint(120));
  BOOST_TEST(g.has_checkpoint());
  BOOST_TEST(g.checkpoint() == 120u);
  BOOST_TEST(gens.checkpointed() == &g);
  // After a rotation the old generation keeps its checkpoint until the new one gets its own:
  // checkpointed() is the newest that has one.
  g.Retire(1);
  Generation& next = gens.Add(DevNull(), 1, 2, 0, 2);
  BOOST_TEST(gens.checkpointed() == &g);
  BOOST_TEST(gens.SetCheckpoint(7));
  BOOST_TEST(gens.checkpointed() == &next);
  BOOST_TEST(g.checkpoint() == 120u);
}

BOOST_AUTO_TEST_CASE(the_same_reading_again_stays_with_the_generation_it_applied_to) {
  Generation& g = gens.Add(DevNull(), 1, 1, 500, 0);
  BOOST_TEST(gens.SetCheckpoint(120));
  g.Retire(1);
  Generation& next = gens.Add(DevNull(), 1, 2, 0, 2);
  // The bolt died before checkpointing in its new file: the tracker re-reads the unchanged
  // file at the death. That offset is in the old generation, not the new one.
  BOOST_TEST(!gens.SetCheckpoint(120));
  BOOST_TEST(!next.has_checkpoint());
  BOOST_TEST(gens.checkpointed() == &g);
  BOOST_TEST(gens.SetCheckpoint(30));  // a new reading: the new file
  BOOST_TEST(next.checkpoint() == 30u);
}

BOOST_AUTO_TEST_CASE(a_checkpoint_read_before_the_bolts_file_waits_for_the_next_generation) {
  BOOST_TEST(!gens.SetCheckpoint(40));  // no active generation: held, not applied
  BOOST_TEST(gens.checkpointed() == nullptr);
  BOOST_TEST(gens.SetCheckpoint(45) == false);  // the newest wins
  Generation& g = gens.Add(DevNull(), 1, 1, 100, 0);
  BOOST_TEST(g.has_checkpoint());
  BOOST_TEST(g.checkpoint() == 45u);
  g.Retire(1);
  Generation& later = gens.Add(DevNull(), 1, 2, 0, 2);
  BOOST_TEST(!later.has_checkpoint());  // used once
}

BOOST_AUTO_TEST_CASE(a_forgotten_pending_checkpoint_is_not_applied) {
  BOOST_TEST(!gens.SetCheckpoint(40));
  gens.ForgetPendingCheckpoint();
  Generation& g = gens.Add(DevNull(), 1, 1, 100, 0);
  BOOST_TEST(!g.has_checkpoint());
}

BOOST_AUTO_TEST_CASE(changed_rows_go_into_the_commit_and_are_persisted_once_it_is_durable) {
  Generation& g = gens.Add(DevNull(), 1, 1, 100, 0);
  BOOST_TEST(gens.dirty());
  Committer::Batch batch;
  std::vector<uint64_t> durable;
  gens.Collect(&batch, [&](Generation& d) { durable.push_back(d.gen); });
  BOOST_REQUIRE_EQUAL(batch.rows.origin_gens.size(), 1u);
  BOOST_TEST(batch.rows.origin_gens[0].gen == 1u);
  BOOST_TEST(batch.rows.origin_gens[0].ino == 1u);
  BOOST_TEST(!gens.dirty());  // taken: the next commit does not write it again
  BOOST_TEST(durable.empty());  // not before the commit is durable
  BOOST_REQUIRE_EQUAL(batch.on_durable.size(), 1u);
  batch.on_durable[0]();
  BOOST_REQUIRE_EQUAL(durable.size(), 1u);
  BOOST_TEST(durable[0] == 1u);

  Committer::Batch nothing;
  gens.Collect(&nothing, [&](Generation&) {});
  BOOST_TEST(nothing.empty());
  g.Seal();
  BOOST_TEST(gens.dirty());
}

BOOST_AUTO_TEST_CASE(a_commit_durable_after_its_generation_closed_calls_nothing) {
  Generation& g = gens.Add(DevNull(), 1, 1, 0, 0);
  g.Lose();
  Committer::Batch first;
  int calls = 0;
  gens.Collect(&first, [&](Generation&) { ++calls; });
  BOOST_TEST(Close());  // lost and its row taken: closed
  for (auto& f : first.on_durable) f();
  BOOST_TEST(calls == 0);
}

BOOST_AUTO_TEST_CASE(a_sealed_generation_closes_once_every_peer_has_it_all_and_holds_its_seal) {
  Sealed(300);
  acked = 299;
  BOOST_TEST(!Close());
  acked = 300;
  seal_held = false;
  BOOST_TEST(!Close());  // every byte, but a peer does not yet hold the seal
  seal_held = true;
  BOOST_TEST(Close());
  BOOST_REQUIRE_EQUAL(closed.size(), 1u);
  BOOST_TEST(closed[0].first == 1u);
  BOOST_TEST(closed[0].second);  // released
  BOOST_TEST(gens.all().empty());
  // The released row is still to be written: not empty until it is.
  BOOST_TEST(!gens.empty());
  BOOST_TEST(gens.dirty());
  std::vector<OriginGenRow> rows = Commit();
  BOOST_REQUIRE_EQUAL(rows.size(), 1u);
  BOOST_TEST((rows[0].state == GenState::kReleased));
  BOOST_TEST(rows[0].final_size == 300u);
  BOOST_TEST(gens.empty());
}

BOOST_AUTO_TEST_CASE(without_a_seal_check_every_peer_holds_the_seal) {
  Sealed(300);
  acked = 300;
  BOOST_TEST(Close(false));
  BOOST_TEST(closed.size() == 1u);
}

BOOST_AUTO_TEST_CASE(a_sealed_generation_stays_while_its_row_is_not_durable) {
  Generation& g = gens.Add(DevNull(), 1, 1, 300, 0);
  g.Seal();
  acked = 300;
  BOOST_TEST(!Close());  // never persisted: peers could not have been sent it
  Committer::Batch batch;
  gens.Collect(&batch, [](Generation& d) { d.MarkPersisted(); });
  BOOST_TEST(!Close());  // collected, not yet durable
  for (auto& f : batch.on_durable) f();
  BOOST_TEST(Close());
}

BOOST_AUTO_TEST_CASE(active_and_retired_generations_never_close_however_much_is_acknowledged) {
  Generation& a = gens.Add(DevNull(), 1, 1, 100, 0);
  Commit();
  acked = UINT64_MAX;
  BOOST_TEST(!Close());
  a.Retire(1);
  Commit();
  BOOST_TEST(!Close());
  BOOST_TEST(gens.all().size() == 1u);
}

BOOST_AUTO_TEST_CASE(a_lost_generation_closes_once_its_row_is_written_and_is_not_released) {
  Generation& lost = gens.Add(DevNull(), 1, 1, 100, 0);
  Commit();
  Generation& keep = gens.Add(DevNull(), 1, 2, 10, 0);
  Commit();
  lost.Lose();
  BOOST_TEST(!Close());  // the lost state must reach state.db first
  Commit();
  BOOST_TEST(Close());
  BOOST_REQUIRE_EQUAL(closed.size(), 1u);
  BOOST_TEST(closed[0].first == 1u);
  BOOST_TEST(!closed[0].second);
  BOOST_REQUIRE_EQUAL(gens.all().size(), 1u);
  BOOST_TEST(gens.all().front().get() == &keep);
  BOOST_TEST(!gens.dirty());  // its row was written as lost; no released row follows
}

BOOST_AUTO_TEST_CASE(closing_closes_the_file_and_keeps_the_others_in_order) {
  Sealed(10);
  Generation& middle = gens.Add(DevNull(), 1, 8, 50, 0);
  Commit();
  Sealed(20);
  std::shared_ptr<Fd> fd = gens.all().front()->fd();
  acked = 20;
  BOOST_TEST(Close());
  BOOST_REQUIRE_EQUAL(closed.size(), 2u);
  BOOST_TEST(closed[0].first == 1u);
  BOOST_TEST(closed[1].first == 3u);
  BOOST_REQUIRE_EQUAL(gens.all().size(), 1u);
  BOOST_TEST(gens.all().front().get() == &middle);
  BOOST_TEST(fd.use_count() == 1);  // the generation let go of its descriptor
}

BOOST_AUTO_TEST_SUITE_END()
