// A full data_dir on a receiver: nothing is acknowledged that is not on its disk, health says
// CRITICAL (naming the agent and what it cannot write), the agent keeps running, and
// replication resumes when space returns, every replica byte-identical to its origin.
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include <string>

#include "tests/support/cluster.h"
#include "tests/support/writer.h"

using namespace tailsafe;
using namespace tailsafe::testing;

namespace {

boost::test_tools::assertion_result CanMount(boost::unit_test::test_unit_id) {
  boost::test_tools::assertion_result r(::geteuid() == 0);
  if (!r) r.message() << "skipped: needs root to mount a small tmpfs as the data_dir";
  return r;
}

bool Contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// What h1 (agent 0) says peer `peer` acknowledged of its bolt-1, or 0.
uint64_t AckedBy(TestCluster& c, const std::string& peer) {
  auto st = c.AgentStatus(0);
  if (!st) return 0;
  for (const auto& b : (*st)["bolts"]) {
    if (b.value("name", "") != "bolt-1") continue;
    for (const auto& p : b["peers"])
      if (p.value("peer", "") == peer) return p.value("acked", uint64_t{0});
  }
  return 0;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(full_disk)

BOOST_AUTO_TEST_CASE(a_full_receiver_acknowledges_nothing_reports_critical_and_resumes,
                     *boost::unit_test::precondition(CanMount)) {
  ClusterOptions opt = TwoAgentsOneBolt();
  opt.coordinator = true;
  opt.data_dir_tmpfs_bytes = 16 << 20;
  TestCluster c("full-disk", opt);
  BOOST_REQUIRE(c.StartCoordinator().ok());
  BOOST_REQUIRE(c.StartAll().ok());
  std::string check = c.Ctl() + " -c " + c.ConfigPath(0) + " check";

  // Some bytes both ways before the disk fills.
  for (int a = 0; a < 2; ++a) {
    AppendWriter w(c.BoltFile(a, 0), 100000, 7 + static_cast<uint64_t>(a));
    w.Start();
    w.Join();
    BOOST_REQUIRE_MESSAGE(c.WaitAcked(a, 0, 20), c.LogTail(a));
  }
  CommandResult ok = RunCommand(check);
  BOOST_REQUIRE_MESSAGE(ok.code == 0, ok.out);

  // h2's data_dir full; both bolts keep writing (h2's own state commits need space too).
  std::string filler = c.DataDir(1) + "/filler";
  BOOST_REQUIRE(FillFilesystem(filler).ok());
  AppendWriter w1(c.BoltFile(0, 0), 400000, 11, 0.2, 4096);
  AppendWriter w2(c.BoltFile(1, 0), 400000, 12, 0.2, 4096);
  w1.Start();
  w2.Start();

  CommandResult critical;
  bool reported = WaitUntil([&] {
    critical = RunCommand(check);
    return critical.code == 2 && Contains(critical.out, "agent h2 cannot write its data_dir");
  }, 20, 100);
  if (!reported) c.Keep();
  BOOST_REQUIRE_MESSAGE(reported, "check never said h2 cannot write: " + critical.out + "\n" + c.LogTail(1));
  BOOST_TEST_MESSAGE("while full: " << critical.out);
  // Its state commits stall and are retried: the agent stays up.
  bool stalled = WaitUntil([&] {
    auto st = c.AgentStatus(1);
    return st.ok() && (*st)["commits"].value("full_disk_retries", uint64_t{0}) > 0;
  }, 20, 100);
  BOOST_TEST(stalled, "h2's state commits never met the full disk:\n" << c.LogTail(1));
  BOOST_TEST(c.Running(1));
  // Nothing acknowledged that h2 does not hold.
  for (int i = 0; i < 20; ++i) {
    uint64_t acked = AckedBy(c, "h2");
    uint64_t held = FileSize(c.ReplicaFile(1, 0, 0, 1));  // read after: a replica only grows
    BOOST_TEST(acked <= held, "h2 acknowledged " << acked << " bytes of h1/bolt-1 but holds " << held);
  }
  w1.Join();
  w2.Join();
  BOOST_TEST(AckedBy(c, "h2") < FileSize(c.BoltFile(0, 0)), "h2 acknowledged everything while its disk was full");

  // Space back: everything arrives, health is OK again, both agents stop cleanly.
  BOOST_REQUIRE(::unlink(filler.c_str()) == 0);
  for (int a = 0; a < 2; ++a) BOOST_TEST(c.WaitAcked(a, 0, 30), c.LogTail(a));
  std::string why;
  BOOST_TEST(WaitUntil([&] { return c.AllReplicasMatch(&why); }, 20, 100), why);
  CommandResult healthy;
  BOOST_TEST(WaitUntil([&] { return (healthy = RunCommand(check)).code == 0; }, 20, 100), healthy.out);
  BOOST_TEST(c.StopAll().ok(), c.LogTail(1));
}

BOOST_AUTO_TEST_SUITE_END()
