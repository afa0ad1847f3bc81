// state.db: rows survive a close and reopen; a batch is one transaction.
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include "agent/state_store.h"
#include "tests/support/cluster.h"

using namespace tailsafe;

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

BOOST_AUTO_TEST_CASE(unwritable_path_is_a_clear_error) {
  auto s = StateStore::Open("/nonexistent-dir/state.db");
  BOOST_TEST(!s.ok());
  BOOST_TEST(s.status().message().find("/nonexistent-dir/state.db") != std::string::npos, s.status().message());
}

BOOST_AUTO_TEST_SUITE_END()
