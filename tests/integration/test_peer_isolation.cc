// One broken stream or one peer's bad replica harms only itself: a replica the receiver cannot
// write fails that stream alone (the session and the other bolts' streams go on), and a replica
// that no longer matches the origin's file is that peer's divergence, not every peer's.
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include "tests/support/cluster.h"
#include "tests/support/writer.h"

using namespace tailsafe;
using namespace tailsafe::testing;
namespace fs = std::filesystem;

namespace {

// The status entry of peer `peer` in agent `agent`'s status, or null.
nlohmann::json PeerStatus(TestCluster& c, int agent, const std::string& peer) {
  auto st = c.AgentStatus(agent);
  if (!st.ok()) return nullptr;
  for (const auto& p : (*st)["peers"]) {
    if (p["peer"] == peer) return p;
  }
  return nullptr;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(peer_isolation)

// Bolt 1's second generation cannot be written on the peer (a directory sits where its replica
// file goes): that stream alone fails, with its reason in the origin's status, and bolt 2's bytes
// keep arriving on the same session.
BOOST_AUTO_TEST_CASE(a_broken_stream_does_not_block_the_other_bolts) {
  ClusterOptions opt;
  opt.agents = 2;
  opt.bolts_per_agent = 2;
  TestCluster c("stream-error", opt);
  BOOST_REQUIRE(c.StartAll().ok());
  {
    AppendWriter a(c.BoltFile(0, 0), 200'000, 1), b(c.BoltFile(0, 1), 200'000, 2);
    a.Start();
    b.Start();
    a.Join();
    b.Join();
  }
  std::string why;
  for (int bolt = 0; bolt < 2; ++bolt) {
    BOOST_REQUIRE(WaitUntil([&] { return FilesEqual(c.BoltFile(0, bolt), c.ReplicaFile(1, 0, bolt, 1), &why); }, 10));
  }

  uint64_t connects = PeerStatus(c, 0, c.AgentId(1))["connects"].get<uint64_t>();

  // Where bolt 1's generation 2 would go, a directory: the peer cannot open that replica.
  BOOST_REQUIRE(fs::create_directory(c.ReplicaFile(1, 0, 0, 2)));
  BOOST_REQUIRE(std::rename(c.BoltFile(0, 0).c_str(), (c.BoltFile(0, 0) + ".1").c_str()) == 0);
  {
    AppendWriter a(c.BoltFile(0, 0), 100'000, 3);
    a.Start();
    a.Join();
  }

  // Bolt 2 goes on, byte for byte, over the same session.
  AppendWriter b(c.BoltFile(0, 1), 2'000'000, 4, 0, 4096);
  b.Start();
  b.Join();
  bool ok = WaitUntil([&] { return FilesEqual(c.BoltFile(0, 1), c.ReplicaFile(1, 0, 1, 1), &why); }, 10);
  BOOST_TEST(ok, why << "\n" << c.LogTail(1));
  nlohmann::json p = PeerStatus(c, 0, c.AgentId(1));
  BOOST_TEST(p["connects"].get<uint64_t>() == connects, "the session to the peer was ended");
  BOOST_TEST(p["connected"].get<bool>());
  BOOST_TEST(p.value("stream_errors", uint64_t{0}) >= 1u);
  BOOST_REQUIRE(p["failed_streams"].is_array());
  BOOST_REQUIRE(p["failed_streams"].size() == 1u);
  BOOST_TEST(p["failed_streams"][0]["bolt"] == c.BoltName(0));
  BOOST_TEST(p["failed_streams"][0]["generation"].get<uint64_t>() == 2u);
  BOOST_TEST(p["failed_streams"][0]["error"].get<std::string>().find("directory") != std::string::npos,
             p["failed_streams"][0]["error"].get<std::string>());

  // Once the replica can be written, the failed stream is retried and catches up.
  fs::remove(c.ReplicaFile(1, 0, 0, 2));
  ok = WaitUntil([&] { return FilesEqual(c.BoltFile(0, 0), c.ReplicaFile(1, 0, 0, 2), &why); }, 20);
  BOOST_TEST(ok, why << "\n" << c.LogTail(0));
  BOOST_TEST(c.StopAll().ok());
}

BOOST_AUTO_TEST_SUITE_END()
