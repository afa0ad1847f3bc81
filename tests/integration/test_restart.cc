// A receiver that restarts keeps the bytes it had synced but not yet recorded in state.db, and
// proves them against the origin's (POSITION window); bytes that differ (what a power loss can
// leave past the last fdatasync) are cut at the origin's CUT and fetched again. Never a merge.
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <string>

#include "tests/support/cluster.h"
#include "tests/support/writer.h"

using namespace tailsafe;
using namespace tailsafe::testing;

namespace {

enum class Damage { kNone, kFlipInTail, kGarbageAppended };

struct Sizes {
  uint64_t recorded = 0, durable = 0;
};

void Append(TestCluster& c, uint64_t bytes, uint64_t seed) {
  AppendWriter w(c.BoltFile(0, 0), bytes, seed);
  w.Start();
  w.Join();
  BOOST_REQUIRE_MESSAGE(w.error().empty(), w.error());
}

// Waits until the origin counts its whole file acknowledged by the peer.
bool AllAcked(TestCluster& c) {
  return WaitUntil([&] {
    auto st = c.AgentStatus(0);
    return st && (*st)["bolts"][0]["peers"][0]["acked"].get<uint64_t>() == FileSize(c.BoltFile(0, 0));
  }, 20, 10);
}

uint64_t Counter(TestCluster& c, int agent, const char* section, const char* key) {
  auto st = c.AgentStatus(agent);
  BOOST_REQUIRE(st.ok());
  const auto& sec = std::string(section) == "peer" ? (*st)["peers"][0] : (*st)["receiver"];
  return sec[key].get<uint64_t>();
}

void RunRestart(Damage damage) {
  TestCluster c("restart", TwoAgentsOneBolt());
  BOOST_REQUIRE(c.StartAll().ok());
  // The first commit records the replica's row; later ones only every 4 MiB. So after 1 MB and
  // then 2 MB more, at least 2 MB are durable and acknowledged but not recorded.
  Append(c, 1'000'000, 21);
  BOOST_REQUIRE(AllAcked(c));
  Append(c, 2'000'000, 22);
  BOOST_REQUIRE(AllAcked(c));
  auto st = c.AgentStatus(1);
  BOOST_REQUIRE(st.ok());
  Sizes s{(*st)["replicas"][0]["recorded"].get<uint64_t>(), (*st)["replicas"][0]["durable"].get<uint64_t>()};
  BOOST_TEST_MESSAGE("replica durable " << s.durable << ", recorded " << s.recorded);
  BOOST_REQUIRE(s.durable == 3'000'000u);
  BOOST_REQUIRE(s.recorded < s.durable - 1'000'000);

  c.Kill(1, SIGKILL);
  std::string replica = c.ReplicaFile(1, 0, 0, 1);
  uint64_t expect_cut = 0;
  {
    int fd = ::open(replica.c_str(), O_WRONLY);
    BOOST_REQUIRE(fd >= 0);
    if (damage == Damage::kFlipInTail) {
      // What a power loss may leave past the last sync: a page of zeros in the unrecorded part.
      std::string zeros(4096, '\0');
      BOOST_REQUIRE(::pwrite(fd, zeros.data(), zeros.size(), static_cast<off_t>((s.recorded + s.durable) / 2)) == 4096);
      expect_cut = s.durable - s.recorded;
    } else if (damage == Damage::kGarbageAppended) {
      std::string junk(1000, 'Z');
      BOOST_REQUIRE(::pwrite(fd, junk.data(), junk.size(), static_cast<off_t>(s.durable)) == 1000);
      expect_cut = s.durable + 1000 - s.recorded;
    }
    ::close(fd);
  }
  BOOST_REQUIRE(c.Start(1).ok());
  // More bytes after the restart, so the stream moves on past the proven (or cut) tail.
  Append(c, 100'000, 23);
  BOOST_REQUIRE_MESSAGE(AllAcked(c), c.LogTail(1));
  std::string why;
  BOOST_TEST(FilesEqual(c.BoltFile(0, 0), replica, &why), why);
  BOOST_TEST(Counter(c, 0, "peer", "tail_cuts") == (damage == Damage::kNone ? 0u : 1u));
  BOOST_TEST(Counter(c, 0, "peer", "divergences") == 0u);
  BOOST_TEST(Counter(c, 1, "receiver", "bytes_cut") == expect_cut);
  std::string log = c.LogTail(1, 1 << 20);
  BOOST_TEST(log.find("to be verified with the origin") != std::string::npos);
  BOOST_TEST((log.find("that differ from the origin's") != std::string::npos) == (damage != Damage::kNone));
  BOOST_TEST(c.StopAll().ok());
}

}  // namespace

BOOST_AUTO_TEST_SUITE(restart)

BOOST_AUTO_TEST_CASE(unrecorded_tail_is_proven_and_kept) { RunRestart(Damage::kNone); }

BOOST_AUTO_TEST_CASE(damaged_unrecorded_tail_is_cut_and_fetched_again) { RunRestart(Damage::kFlipInTail); }

BOOST_AUTO_TEST_CASE(garbage_past_the_origin_size_is_cut) { RunRestart(Damage::kGarbageAppended); }

// A clean stop records everything: the restart has nothing to prove.
BOOST_AUTO_TEST_CASE(clean_stop_records_every_durable_byte) {
  TestCluster c("restart-clean", TwoAgentsOneBolt());
  BOOST_REQUIRE(c.StartAll().ok());
  Append(c, 1'000'000, 31);
  BOOST_REQUIRE(AllAcked(c));
  Append(c, 2'000'000, 32);
  BOOST_REQUIRE(AllAcked(c));
  BOOST_REQUIRE(c.Stop(1).ok());
  BOOST_REQUIRE(c.Start(1).ok());
  auto st = c.AgentStatus(1);
  BOOST_REQUIRE(st.ok());
  BOOST_TEST((*st)["replicas"][0]["recorded"].get<uint64_t>() == 3'000'000u);
  BOOST_TEST(c.LogTail(1, 1 << 20).find("to be verified") == std::string::npos);
  BOOST_TEST(c.StopAll().ok());
}

BOOST_AUTO_TEST_SUITE_END()
