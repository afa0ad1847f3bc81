// One broken stream or one peer's bad replica harms only itself: a replica the receiver cannot
// write fails that stream alone (the session and the other bolts' streams go on), and a replica
// that no longer matches the origin's file is that peer's divergence, not every peer's.
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
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

// One peer's replica of a rotated generation is damaged while it is away (the origin's file is
// intact): that is this peer's divergence alone. The other peer, away too, still receives the
// whole generation, and the generation is not lost.
BOOST_AUTO_TEST_CASE(one_peers_bad_replica_is_its_divergence_alone) {
  ClusterOptions opt;
  opt.agents = 3;
  opt.bolts_per_agent = 1;
  opt.seal_after_ms = 200;
  TestCluster c("diverge-one", opt);
  BOOST_REQUIRE(c.StartAll().ok());
  {
    AppendWriter w(c.BoltFile(0, 0), 100'000, 11);
    w.Start();
    w.Join();
  }
  std::string why;
  // Acknowledged, not only on the peers' disks: a peer records (trusts after a restart) only the
  // bytes its loop has taken in, and would cut, not keep, a damaged byte past them.
  BOOST_REQUIRE(c.WaitAcked(0, 0, 10));
  BOOST_REQUIRE(c.Stop(1).ok());
  BOOST_REQUIRE(c.Stop(2).ok());
  // Generation 1 grows while both peers are away, then is rotated away and sealed.
  {
    AppendWriter w(c.BoltFile(0, 0), 50'000, 12);
    w.Start();
    w.Join();
  }
  std::string rotated = c.BoltFile(0, 0) + ".1";
  BOOST_REQUIRE(std::rename(c.BoltFile(0, 0).c_str(), rotated.c_str()) == 0);
  std::ofstream(c.BoltFile(0, 0)) << "the next generation\n";
  // h2's replica: 100 bytes rewritten just before its end, inside the window POSITION proves.
  std::string bad = c.ReplicaFile(1, 0, 0, 1);
  int fd = ::open(bad.c_str(), O_WRONLY | O_CLOEXEC);
  BOOST_REQUIRE(fd >= 0);
  std::string junk(100, '#');
  BOOST_REQUIRE(::pwrite(fd, junk.data(), junk.size(), 100'000 - 500) == 100);
  ::close(fd);
  std::string before = ReadAll(bad);

  BOOST_REQUIRE(c.Start(1).ok());
  BOOST_REQUIRE(WaitUntil([&] {
    nlohmann::json p = PeerStatus(c, 0, c.AgentId(1));
    return p.is_object() && p["divergences"].get<uint64_t>() >= 1;
  }, 10));
  BOOST_REQUIRE(c.Start(2).ok());
  bool ok = WaitUntil([&] { return FilesEqual(rotated, c.ReplicaFile(2, 0, 0, 1), &why); }, 10);
  BOOST_TEST(ok, "the good peer's replica: " << why);
  BOOST_TEST((ReadAll(bad) == before), "the diverged replica was modified");
  auto st = c.AgentStatus(0);
  BOOST_REQUIRE(st.ok());
  BOOST_TEST((*st)["bolts"][0]["generations_lost"].get<uint64_t>() == 0u);
  nlohmann::json good = PeerStatus(c, 0, c.AgentId(2));
  BOOST_TEST(good["divergences"].get<uint64_t>() == 0u);
  BOOST_TEST(good["lost_bytes"].get<uint64_t>() == 0u);
  BOOST_TEST(PeerStatus(c, 0, c.AgentId(1))["lost_bytes"].get<uint64_t>() == 50'000u);
  BOOST_TEST(c.StopAll().ok());
}

BOOST_AUTO_TEST_SUITE_END()
