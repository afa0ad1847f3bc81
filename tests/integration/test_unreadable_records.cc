// A coordinator that finds documents on record it cannot read (tailsafe-coordinator(8)): it
// names the document and the field, writes an unreadable /agents/ID afresh when that agent
// registers, and holds an unreadable /bolts/ORIGIN/BOLT as it is (it may hold deaths not yet
// planned), while the agent's other bolts are kept as always.
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <string>
#include <vector>

#include "coordinator/namespace_store.h"
#include "tests/support/cluster.h"

using namespace tailsafe;
using namespace tailsafe::testing;

BOOST_AUTO_TEST_SUITE(unreadable_records)

BOOST_AUTO_TEST_CASE(an_unreadable_agent_is_written_afresh_and_an_unreadable_bolt_is_held) {
  ClusterOptions o = RecoveryCluster(2);
  o.bolts_per_agent = 2;
  TestCluster c("unreadable", o);
  const std::string bad_bolt =
      R"({"bolt":"bolt-1","deaths_pending":[{"pid":41}],"hook":"test","host_alive":true,"origin":"h1"})";
  {
    std::filesystem::create_directories(c.root() + "/coordinator");
    auto store = SqliteNamespaceStore::Open(c.root() + "/coordinator/namespace.db");
    BOOST_REQUIRE_MESSAGE(store.ok(), store.status().message());
    std::vector<NamespaceStore::Write> writes = {
        {"/agents/h1", R"({"address":"127.0.0.1:1","alive":"yes","bolts":[],"hooks":[]})"},
        {"/bolts/h1/bolt-1", bad_bolt},
    };
    BOOST_REQUIRE((*store)->Commit(writes).ok());
  }
  BOOST_REQUIRE(c.StartCoordinator().ok());
  std::string log = ReadAll(c.CoordinatorLogPath());
  BOOST_TEST(log.find("/agents/h1 cannot be read (field 'alive' must be true or false)") != std::string::npos, log);
  BOOST_TEST(log.find("/bolts/h1/bolt-1 cannot be read (deaths_pending[]: field 'start_ns' must be an unsigned "
                      "integer); the bolt is held") != std::string::npos,
             log);
  BOOST_REQUIRE(c.StartAll().ok());
  nlohmann::json doc;
  BOOST_TEST(c.WaitDoc("/agents/h1", [](const auto& d) { return d.value("alive", false) == true; }, 20, &doc),
             doc.dump() << c.CoordinatorLogTail());
  // The heartbeat that wrote bolt-2 carried bolt-1 too: bolt-1 is left as it was.
  BOOST_REQUIRE_MESSAGE(c.WaitDoc("/bolts/h1/bolt-2", [](const auto& d) { return d.contains("process"); }, 20, &doc),
                        doc.dump() << c.CoordinatorLogTail());
  auto held = c.CoordinatorGet("/bolts/h1/bolt-1");
  BOOST_REQUIRE_MESSAGE(held.ok(), held.status().message());
  held->erase("lag_bytes");  // live facts a read adds, not stored
  held->erase("lag_seconds");
  held->erase("holders_filling");
  held->erase("peer_lag");
  held->erase("file_size");
  BOOST_TEST((*held == nlohmann::json::parse(bad_bolt)), held->dump());
  // Nothing was planned from it.
  BOOST_TEST(!c.CoordinatorGet("/recoveries/1").ok());
}

BOOST_AUTO_TEST_SUITE_END()
