// A peer away for long costs bounded work when it returns: the generations rotated meanwhile
// (its backlog) are streamed a few at a time (agent/peer_cursor.h, kMaxBacklogStreams), and a
// generation the peer holds whole is not opened again when it reconnects.
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <cstdio>
#include <fstream>
#include <string>

#include "agent/peer_cursor.h"
#include "tests/support/cluster.h"
#include "tests/support/writer.h"

using namespace tailsafe;
using namespace tailsafe::testing;

namespace {

constexpr int kRotated = 20;

// The status entry of peer `peer` in agent `agent`'s status, or null.
nlohmann::json PeerStatus(TestCluster& c, int agent, const std::string& peer) {
  auto st = c.AgentStatus(agent);
  if (!st.ok()) return nullptr;
  for (const auto& p : (*st)["peers"]) {
    if (p["peer"] == peer) return p;
  }
  return nullptr;
}

// How many of agent 0's first bolt's generations are in `state`.
int GenerationsIn(TestCluster& c, const std::string& state) {
  auto st = c.AgentStatus(0);
  if (!st.ok()) return -1;
  int n = 0;
  for (const auto& g : (*st)["bolts"][0]["generations"]) n += g["state"] == state ? 1 : 0;
  return n;
}

// Agent 0's bolt file, rotated `kRotated` times with both peers away: FILE.1 ... FILE.20 and the
// current file, each with bytes of its own.
void RotateWhileAway(TestCluster& c) {
  std::string file = c.BoltFile(0, 0);
  for (int i = 1; i <= kRotated; ++i) {
    AppendWriter w(file, 20'000, 100 + i);
    w.Start();
    w.Join();
    // The agent has read this generation whole before it is rotated away (the first one too: a
    // file rotated away before the agent opened it is a generation it never sees).
    uint64_t size = FileSize(file);
    BOOST_REQUIRE_MESSAGE(WaitUntil([&] {
      auto st = c.AgentStatus(0);
      return st.ok() && (*st)["bolts"][0]["generation"].get<uint64_t>() == static_cast<uint64_t>(i) &&
             (*st)["bolts"][0]["origin_size"].get<uint64_t>() == size;
    }, 10), "generation " << i << " of " << size << " bytes never reached the agent\n" << c.LogTail(0));
    BOOST_REQUIRE(std::rename(file.c_str(), (file + "." + std::to_string(i)).c_str()) == 0);
    std::ofstream(file) << "generation " << i + 1 << "\n";
    // One rotation at a time: a file created and rotated away before the agent saw it is missed.
    BOOST_REQUIRE(WaitUntil([&] {
      auto st = c.AgentStatus(0);
      return st.ok() && (*st)["bolts"][0]["generation"].get<uint64_t>() == static_cast<uint64_t>(i + 1);
    }, 10));
  }
  BOOST_REQUIRE(WaitUntil([&] { return GenerationsIn(c, "sealed") == kRotated; }, 10));
}

bool HoldsEverything(TestCluster& c, int peer, std::string* why) {
  std::string file = c.BoltFile(0, 0);
  for (int i = 1; i <= kRotated; ++i) {
    if (!FilesEqual(file + "." + std::to_string(i), c.ReplicaFile(peer, 0, 0, i), why)) return false;
  }
  return FilesEqual(file, c.ReplicaFile(peer, 0, 0, kRotated + 1), why);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(backlog)

// h2 comes back to twenty sealed generations: it gets all of them, byte for byte, with never
// more than kMaxBacklogStreams of them open at once. h3 stays away, so the generations stay
// too; when h2 reconnects, only the current generation is opened again: it holds the others.
BOOST_AUTO_TEST_CASE(a_peer_back_from_far_away_catches_up_a_few_streams_at_a_time) {
  ClusterOptions opt;
  opt.agents = 3;
  opt.bolts_per_agent = 1;
  opt.seal_after_ms = 100;
  TestCluster c("backlog", opt);
  BOOST_REQUIRE(c.StartAll().ok());
  BOOST_REQUIRE(c.Stop(1).ok());
  BOOST_REQUIRE(c.Stop(2).ok());
  RotateWhileAway(c);

  BOOST_REQUIRE(c.Start(1).ok());
  std::string why;
  bool ok = WaitUntil([&] { return HoldsEverything(c, 1, &why); }, 30);
  BOOST_REQUIRE_MESSAGE(ok, why << "\n" << c.LogTail(0));
  nlohmann::json p = PeerStatus(c, 0, c.AgentId(1));
  BOOST_REQUIRE(p.is_object());
  BOOST_TEST(p.value("backlog_peak", uint64_t{0}) >= 1u);
  BOOST_TEST(p.value("backlog_peak", uint64_t{999}) <= kMaxBacklogStreams, p.dump());
  // Every sealed generation waits for h3: none is released.
  BOOST_REQUIRE(WaitUntil([&] {
    nlohmann::json q = PeerStatus(c, 0, c.AgentId(1));
    return q.is_object() && q["bytes_acked"].get<uint64_t>() >= uint64_t{kRotated} * 20'000;
  }, 10));
  BOOST_TEST(GenerationsIn(c, "sealed") == kRotated);

  // h2 reconnects: it holds the sealed generations whole (it said SEALED), so only the current
  // one is opened. New bytes reaching it show the link has pumped since.
  uint64_t opens = PeerStatus(c, 0, c.AgentId(1))["opens"].get<uint64_t>();
  BOOST_REQUIRE(c.Stop(1).ok());
  BOOST_REQUIRE(c.Start(1).ok());
  {
    AppendWriter w(c.BoltFile(0, 0), 10'000, 999);
    w.Start();
    w.Join();
  }
  ok = WaitUntil([&] { return FilesEqual(c.BoltFile(0, 0), c.ReplicaFile(1, 0, 0, kRotated + 1), &why); }, 10);
  BOOST_REQUIRE_MESSAGE(ok, why);
  p = PeerStatus(c, 0, c.AgentId(1));
  BOOST_TEST(p["opens"].get<uint64_t>() == opens + 1, p.dump());

  // h3 comes back too: it catches up the same way, and then the generations are released.
  BOOST_REQUIRE(c.Start(2).ok());
  ok = WaitUntil([&] { return HoldsEverything(c, 2, &why); }, 30);
  BOOST_TEST(ok, why);
  BOOST_TEST(PeerStatus(c, 0, c.AgentId(2)).value("backlog_peak", uint64_t{999}) <= kMaxBacklogStreams);
  BOOST_TEST(WaitUntil([&] { return GenerationsIn(c, "sealed") == 0; }, 10));
  BOOST_TEST(c.StopAll().ok());
}

BOOST_AUTO_TEST_SUITE_END()
