// state.db: rows survive a close and reopen; a batch is one transaction.
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "agent/state_store.h"
#include "tests/support/cluster.h"

using namespace tailsafe;

namespace {

// The generations of bolt b1 in state.db, and the (peer, gen) of its acks.
std::pair<std::vector<std::pair<uint64_t, GenState>>, std::vector<std::pair<std::string, uint64_t>>> RowsOf(
    StateStore& s) {
  std::pair<std::vector<std::pair<uint64_t, GenState>>, std::vector<std::pair<std::string, uint64_t>>> out;
  auto gens = s.LoadOriginGens();
  BOOST_REQUIRE(gens.ok());
  for (const auto& g : *gens) {
    if (g.bolt == "b1") out.first.push_back({g.gen, g.state});
  }
  auto acks = s.LoadPeerAcks();
  BOOST_REQUIRE(acks.ok());
  for (const auto& a : *acks) {
    if (a.bolt == "b1") out.second.push_back({a.peer, a.gen});
  }
  std::sort(out.second.begin(), out.second.end());
  return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(state_store)

BOOST_AUTO_TEST_CASE(rows_round_trip_across_reopen) {
  std::string dir = testing::MakeTempDir("statedb");
  std::string path = dir + "/state.db";
  {
    auto s = StateStore::Open(path);
    BOOST_REQUIRE_MESSAGE(s.ok(), s.status().message());
    StateBatch b;
    b.origin_gens.push_back({"bolt-1", 1, 2049, 123456, 4096, 0xdeadbeefcafef00dULL, GenState::kSealed, 777});
    b.origin_gens.push_back({"bolt-1", 2, 2049, 123457, 10, 5, GenState::kActive, 0});
    b.peer_acks.push_back({"h2", "bolt-1", 1, 777});
    b.replicas.push_back({"h3", "bolt-9", 4, 1u << 30, true});
    b.checkpoints.push_back({"h3", "bolt-9", 4, 1000});
    BOOST_REQUIRE(s->Apply(b).ok());
    // Upsert: the same key replaces the row (a checkpoint is kept per origin and bolt).
    StateBatch b2;
    b2.peer_acks.push_back({"h2", "bolt-1", 1, 778});
    b2.checkpoints.push_back({"h3", "bolt-9", 5, 20});
    b2.members.push_back({"h4", "10.0.0.4:7401"});
    BOOST_REQUIRE(s->Apply(b2).ok());
  }
  auto s = StateStore::Open(path);
  BOOST_REQUIRE(s.ok());
  auto gens = s->LoadOriginGens();
  BOOST_REQUIRE(gens.ok());
  BOOST_REQUIRE(gens->size() == 2u);
  BOOST_TEST((*gens)[0].head_hash == 0xdeadbeefcafef00dULL);  // full 64 bits survive SQLite's signed integers
  BOOST_TEST(((*gens)[0].state == GenState::kSealed));
  BOOST_TEST((*gens)[0].final_size == 777u);
  auto acks = s->LoadPeerAcks();
  BOOST_REQUIRE(acks.ok());
  BOOST_REQUIRE(acks->size() == 1u);
  BOOST_TEST((*acks)[0].acked == 778u);
  auto reps = s->LoadReplicas();
  BOOST_REQUIRE(reps.ok());
  BOOST_REQUIRE(reps->size() == 1u);
  BOOST_TEST((*reps)[0].durable == (1ull << 30));
  BOOST_TEST((*reps)[0].sealed);
  auto cks = s->LoadCheckpoints();
  BOOST_REQUIRE(cks.ok());
  BOOST_REQUIRE(cks->size() == 1u);
  BOOST_TEST((*cks)[0].gen == 5u);
  BOOST_TEST((*cks)[0].offset == 20u);
  auto members = s->LoadMembers();
  BOOST_REQUIRE(members.ok());
  BOOST_REQUIRE(members->size() == 1u);
  BOOST_TEST((*members)[0].address == "10.0.0.4:7401");
  testing::RemoveTree(dir);
}

BOOST_AUTO_TEST_CASE(processes_and_deaths_are_put_and_removed_in_batch_order) {
  testing::ScopedTempDir dir("statedb");
  auto s = StateStore::Open(dir.path + "/state.db");
  BOOST_REQUIRE(s.ok());
  StateBatch b;
  b.bolt_processes.push_back({"b1", 100, 5});
  b.bolt_processes.push_back({"b2", 200, 6});
  b.bolt_processes.push_back({"b2", 0, 0});  // later in the batch: b2 has no process
  b.deaths.push_back({"b1", 90, 4, true, 3, 4096, 1000, false});
  b.deaths.push_back({"b1", 91, 4, false, 0, 0, 2000, false});
  StateBatch later;
  later.bolt_processes.push_back({"b1", 101, 7});
  later.deaths.push_back({"b1", 90, 4, false, 0, 0, 0, true});  // the coordinator has it
  b.Append(std::move(later));
  BOOST_REQUIRE(s->Apply(b).ok());
  auto procs = s->LoadBoltProcesses();
  BOOST_REQUIRE(procs.ok());
  BOOST_REQUIRE(procs->size() == 1u);
  BOOST_TEST((*procs)[0].bolt == "b1");
  BOOST_TEST((*procs)[0].pid == 101u);
  BOOST_TEST((*procs)[0].start_ns == 7u);
  auto deaths = s->LoadDeaths();
  BOOST_REQUIRE(deaths.ok());
  BOOST_REQUIRE(deaths->size() == 1u);
  BOOST_TEST((*deaths)[0].pid == 91u);
  BOOST_TEST(!(*deaths)[0].has_checkpoint);
  BOOST_TEST((*deaths)[0].unix_ms == 2000u);
  bool full = true;
  BOOST_TEST(s->Apply(StateBatch(), &full).ok());  // empty: nothing to do
  BOOST_TEST(!full);
}

BOOST_AUTO_TEST_CASE(released_generations_rows_are_pruned_but_the_newest_keeps_the_numbering) {
  testing::ScopedTempDir dir("statedb");
  auto s = StateStore::Open(dir.path + "/state.db");
  BOOST_REQUIRE(s.ok());
  StateBatch b;
  for (uint64_t gen = 1; gen <= 4; ++gen) {
    b.origin_gens.push_back({"b1", gen, 1, 100 + gen, 10, gen, GenState::kSealed, 1000});
    b.peer_acks.push_back({"h2", "b1", gen, 1000});
    b.peer_acks.push_back({"h3", "b1", gen, 900});
  }
  b.origin_gens.push_back({"b2", 1, 1, 200, 10, 1, GenState::kSealed, 10});  // another bolt's
  b.origin_gens.push_back({"b2", 2, 1, 201, 10, 1, GenState::kActive, 0});
  b.peer_acks.push_back({"h2", "b2", 1, 10});
  BOOST_REQUIRE(s->Apply(b).ok());

  // Generations 1 and 2 are released (every peer has every byte), 3 is lost; 4 is still open.
  StateBatch release;
  release.origin_gens.push_back({"b1", 1, 1, 101, 10, 1, GenState::kReleased, 1000});
  release.origin_gens.push_back({"b1", 2, 1, 102, 10, 2, GenState::kReleased, 1000});
  release.origin_gens.push_back({"b1", 3, 1, 103, 10, 3, GenState::kLost, 1000});
  release.peer_acks.push_back({"h3", "b1", 2, 1000});  // the ack that released it, same batch
  BOOST_REQUIRE(s->Apply(release).ok());
  auto rows = RowsOf(*s);
  using Gens = std::vector<std::pair<uint64_t, GenState>>;
  using Acks = std::vector<std::pair<std::string, uint64_t>>;
  BOOST_TEST((rows.first == Gens{{4, GenState::kSealed}}));
  BOOST_TEST((rows.second == Acks{{"h2", 4}, {"h3", 4}}));

  // Generation 4 released too: its row stays, the newest, so numbers never repeat after a
  // restart (BoltSource::Restore takes next_gen from it); its acks go.
  StateBatch last;
  last.origin_gens.push_back({"b1", 4, 1, 104, 10, 4, GenState::kReleased, 1000});
  BOOST_REQUIRE(s->Apply(last).ok());
  rows = RowsOf(*s);
  BOOST_TEST((rows.first == Gens{{4, GenState::kReleased}}));
  BOOST_TEST(rows.second.empty());

  // A late ack of a pruned generation goes with the bolt's next release.
  StateBatch late;
  late.peer_acks.push_back({"h2", "b1", 2, 1000});
  late.origin_gens.push_back({"b1", 5, 1, 105, 10, 5, GenState::kActive, 0});
  late.peer_acks.push_back({"h2", "b1", 5, 10});
  BOOST_REQUIRE(s->Apply(late).ok());
  StateBatch lost5;
  lost5.origin_gens.push_back({"b1", 6, 1, 106, 10, 6, GenState::kActive, 0});
  lost5.origin_gens.push_back({"b1", 5, 1, 105, 10, 5, GenState::kLost, 0});
  BOOST_REQUIRE(s->Apply(lost5).ok());
  rows = RowsOf(*s);
  BOOST_TEST((rows.first == Gens{{6, GenState::kActive}}));
  BOOST_TEST(rows.second.empty());

  // Another bolt's rows are untouched by b1's releases.
  auto gens = s->LoadOriginGens();
  BOOST_REQUIRE(gens.ok());
  BOOST_TEST(std::count_if(gens->begin(), gens->end(), [](const OriginGenRow& g) { return g.bolt == "b2"; }) == 2);
}

BOOST_AUTO_TEST_CASE(unwritable_path_is_a_clear_error) {
  auto s = StateStore::Open("/nonexistent-dir/state.db");
  BOOST_TEST(!s.ok());
  BOOST_TEST(s.status().message().find("/nonexistent-dir/state.db") != std::string::npos, s.status().message());
}

BOOST_AUTO_TEST_CASE(a_replica_row_is_removed_by_a_batch_that_says_so) {
  std::string dir = testing::MakeTempDir("statedb");
  auto s = StateStore::Open(dir + "/state.db");
  BOOST_REQUIRE_MESSAGE(s.ok(), s.status().message());
  StateBatch b;
  b.replicas.push_back({"h3", "bolt-9", 4, 100, true});
  b.replicas.push_back({"h3", "bolt-9", 5, 7, false});
  BOOST_REQUIRE(s->Apply(b).ok());
  StateBatch del;
  ReplicaRow gone{"h3", "bolt-9", 4, 0, false};
  gone.remove = true;
  del.replicas.push_back(gone);
  BOOST_REQUIRE(s->Apply(del).ok());
  auto rows = s->LoadReplicas();
  BOOST_REQUIRE(rows.ok());
  BOOST_REQUIRE(rows->size() == 1u);
  BOOST_TEST((*rows)[0].gen == 5u);
}

BOOST_AUTO_TEST_SUITE_END()
