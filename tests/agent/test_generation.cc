// Generation: what readers see of a generation through its accessors (agent/generation.h),
// and how the owner's changes move them.
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <fcntl.h>

#include <memory>

#include "agent/generation.h"

using namespace tailsafe;

namespace {

std::shared_ptr<Fd> DevNull() { return std::make_shared<Fd>(::open("/dev/null", O_RDONLY | O_CLOEXEC)); }

std::shared_ptr<Generation> Opened(uint64_t size) {
  auto g = std::make_shared<Generation>("bolt-1", 3, 17);
  g->Open(DevNull(), 2049, 77, size, 1000);
  return g;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(generation)

BOOST_AUTO_TEST_CASE(a_new_generation_is_active_and_ships_only_once_persisted) {
  auto g = Opened(500);
  BOOST_TEST(g->bolt == "bolt-1");
  BOOST_TEST(g->gen == 3u);
  BOOST_TEST(g->stream == 17u);
  BOOST_TEST(g->active());
  BOOST_TEST(!g->sealed());
  BOOST_TEST(!g->gone());
  BOOST_TEST(g->size() == 500u);
  BOOST_TEST(g->known_size() == 500u);
  BOOST_TEST(g->final_size() == 0u);
  BOOST_TEST(g->dev() == 2049u);
  BOOST_TEST(g->ino() == 77u);
  BOOST_TEST(static_cast<bool>(g->fd()));
  BOOST_TEST(g->row_dirty());
  BOOST_TEST(!g->shippable());  // its row is not durable yet
  BOOST_TEST(g->MarkPersisted());
  BOOST_TEST(!g->MarkPersisted());  // only the first time is news
  BOOST_TEST(g->shippable());
  BOOST_TEST(g->TakeDirty());
  BOOST_TEST(!g->TakeDirty());
}

BOOST_AUTO_TEST_CASE(known_size_is_the_final_size_once_sealed) {
  auto g = Opened(500);
  g->MarkPersisted();
  g->Grow(800, 2000);
  BOOST_TEST(g->known_size() == 800u);
  BOOST_TEST(g->last_growth_ns() == 2000u);
  g->Retire(3000);
  BOOST_TEST((g->state() == GenState::kRetired));
  BOOST_TEST(g->known_size() == 800u);
  BOOST_TEST(g->shippable());
  g->Seal();
  BOOST_TEST(g->sealed());
  BOOST_TEST(g->final_size() == 800u);
  BOOST_TEST(g->known_size() == 800u);
  BOOST_TEST(g->shippable());
  // A process appends to the sealed file: readers see more bytes, but the generation ends at
  // its final size.
  g->AppendedAfterSeal(900);
  BOOST_TEST(g->size() == 900u);
  BOOST_TEST(g->known_size() == 800u);
  OriginGenRow row = g->Row();
  BOOST_TEST(row.bolt == "bolt-1");
  BOOST_TEST(row.gen == 3u);
  BOOST_TEST((row.state == GenState::kSealed));
  BOOST_TEST(row.final_size == 800u);
  g->Release();
  BOOST_TEST(g->gone());
  BOOST_TEST(!g->shippable());
}

BOOST_AUTO_TEST_CASE(a_lost_generation_is_closed_and_keeps_what_it_had) {
  auto g = Opened(500);
  g->MarkPersisted();
  g->TakeDirty();
  g->Lose();
  BOOST_TEST(g->gone());
  BOOST_TEST((g->state() == GenState::kLost));
  BOOST_TEST(!g->fd());
  BOOST_TEST(!g->shippable());
  BOOST_TEST(g->row_dirty());
  BOOST_TEST(g->known_size() == 500u);

  // Restored sealed, then lost: what it had is its final size.
  OriginGenRow row{"bolt-1", 4, 1, 2, 4096, 0xabc, GenState::kSealed, 1234};
  auto r = Generation::FromRow(row, GenState::kSealed, 18, 5000);
  r->Lose();
  BOOST_TEST(r->known_size() == 1234u);
}

BOOST_AUTO_TEST_CASE(a_restored_generation_is_persisted_and_a_sealed_one_never_grows_past_its_end) {
  OriginGenRow row{"bolt-1", 4, 1, 2, 4096, 0xabc, GenState::kSealed, 1234};
  auto g = Generation::FromRow(row, GenState::kSealed, 18, 5000);
  BOOST_TEST(g->persisted());
  BOOST_TEST(!g->row_dirty());
  BOOST_TEST(g->head_len() == 4096u);
  BOOST_TEST(g->head_hash() == 0xabcu);
  BOOST_TEST(g->stream == 18u);
  BOOST_TEST(!g->fd());
  g->Reopen(DevNull(), 2000, 5000);  // bytes appended after the seal while the agent was down
  BOOST_TEST(g->size() == 1234u);
  BOOST_TEST(g->known_size() == 1234u);

  OriginGenRow active{"bolt-1", 5, 1, 3, 10, 0xdef, GenState::kActive, 0};
  auto a = Generation::FromRow(active, GenState::kRetired, 19, 5000);  // renamed while down
  BOOST_TEST((a->state() == GenState::kRetired));
  a->Reopen(DevNull(), 2000, 5000);
  BOOST_TEST(a->size() == 2000u);
}

BOOST_AUTO_TEST_CASE(continuing_from_a_copy_switches_files_and_retires) {
  auto g = Opened(500);
  g->TakeDirty();
  std::shared_ptr<Fd> old = g->fd();
  g->ContinueFrom(DevNull(), 2049, 99, 700, 6000);
  BOOST_TEST(g->fd() != old);
  BOOST_TEST(g->ino() == 99u);
  BOOST_TEST(g->size() == 700u);
  BOOST_TEST((g->state() == GenState::kRetired));
  BOOST_TEST(g->last_growth_ns() == 6000u);
  BOOST_TEST(g->row_dirty());
}

BOOST_AUTO_TEST_CASE(growth_points_give_the_first_unacknowledged_time_and_are_pruned) {
  auto g = Opened(100);                 // point (100, 1000)
  g->Grow(200, 1000 + 500000);          // within 1 ms: coalesced into (200, 1000)
  g->Grow(300, 1000 + 5000000);         // (300, 5001000)
  BOOST_TEST(g->FirstUnackedNs(0) == 1000u);
  BOOST_TEST(g->FirstUnackedNs(200) == 5001000u);
  BOOST_TEST(g->FirstUnackedNs(300) == 0u);
  g->PruneGrowth(200);
  BOOST_TEST(g->FirstUnackedNs(0) == 5001000u);
  g->PruneGrowth(300);
  BOOST_TEST(g->FirstUnackedNs(0) == 0u);
}

BOOST_AUTO_TEST_CASE(checkpoint_head_and_seal_deferral_are_kept) {
  auto g = Opened(100);
  BOOST_TEST(!g->has_checkpoint());
  g->SetCheckpoint(42);
  BOOST_TEST(g->has_checkpoint());
  BOOST_TEST(g->checkpoint() == 42u);
  g->TakeDirty();
  g->SetHead(100, 0x1234);
  BOOST_TEST(g->head_len() == 100u);
  BOOST_TEST(g->head_hash() == 0x1234u);
  BOOST_TEST(g->row_dirty());
  g->DeferSeal(99);
  BOOST_TEST(g->seal_check_ns() == 99u);
  g->Close();
  BOOST_TEST(!g->fd());
}

BOOST_AUTO_TEST_SUITE_END()
