// Placement of streams on `[cluster] replicas` peers (issue 24; common/placement.h): with six
// agents and replicas = 2, each bolt's stream is on exactly the two peers its rendezvous
// placement names, byte-identical, and on no other.
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <sys/stat.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "common/placement.h"
#include "tests/support/cluster.h"
#include "tests/support/writer.h"

using namespace tailsafe;
using namespace tailsafe::testing;

namespace {

bool Exists(const std::string& path) {
  struct stat st{};
  return ::stat(path.c_str(), &st) == 0;
}

std::vector<std::string> Members(const TestCluster& c) {
  std::vector<std::string> m;
  for (int i = 0; i < c.size(); ++i) m.push_back(c.AgentId(i));
  return m;
}

int IndexOf(const TestCluster& c, const std::string& id) {
  for (int i = 0; i < c.size(); ++i) {
    if (c.AgentId(i) == id) return i;
  }
  return -1;
}

ClusterOptions SixAgentsTwoReplicas() {
  ClusterOptions opt;
  opt.agents = 6;
  opt.bolts_per_agent = 2;
  opt.coordinator = true;
  opt.static_peers = false;  // the members are the coordinator's
  opt.replicas = 2;
  return opt;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(placement)

BOOST_AUTO_TEST_CASE(each_stream_is_on_exactly_its_two_placed_peers) {
  TestCluster c("placement-exact", SixAgentsTwoReplicas());
  BOOST_REQUIRE(c.StartCoordinator().ok());
  BOOST_REQUIRE(c.StartAll().ok());
  std::vector<std::unique_ptr<AppendWriter>> writers;
  for (int o = 0; o < c.size(); ++o) {
    for (int b = 0; b < c.bolts(); ++b) {
      writers.push_back(std::make_unique<AppendWriter>(c.BoltFile(o, b), 200'000, 100 * o + b + 1));
    }
  }
  for (auto& w : writers) w->Start();
  for (auto& w : writers) w->Join();

  std::vector<std::string> members = Members(c);
  for (int o = 0; o < c.size(); ++o) {
    for (int b = 0; b < c.bolts(); ++b) {
      std::vector<std::string> holders = PlaceStream(c.AgentId(o), c.BoltName(b), members, 2);
      BOOST_REQUIRE_EQUAL(holders.size(), 2u);
      std::string why;
      for (const std::string& h : holders) {
        int hi = IndexOf(c, h);
        BOOST_REQUIRE_MESSAGE(WaitUntil([&] { return FilesEqual(c.BoltFile(o, b), c.ReplicaFile(hi, o, b, 1), &why); }, 30),
                              c.AgentId(o) << "/" << c.BoltName(b) << " on " << h << ": " << why << "\n" << c.LogTail(o));
      }
      BOOST_REQUIRE_MESSAGE(c.WaitAcked(o, b, 20), c.LogTail(o));
      auto st = c.AgentStatus(o);
      BOOST_REQUIRE(st.ok());
      std::vector<std::string> listed;
      for (const auto& p : (*st)["bolts"][b]["peers"]) listed.push_back(p["peer"].get<std::string>());
      std::sort(listed.begin(), listed.end());
      std::vector<std::string> sorted = holders;
      std::sort(sorted.begin(), sorted.end());
      BOOST_TEST(listed == sorted, boost::test_tools::per_element());
    }
  }
  // Nothing anywhere else: no other agent has a replica of a stream it does not hold.
  for (int o = 0; o < c.size(); ++o) {
    for (int b = 0; b < c.bolts(); ++b) {
      std::vector<std::string> holders = PlaceStream(c.AgentId(o), c.BoltName(b), members, 2);
      for (int h = 0; h < c.size(); ++h) {
        if (h == o || std::find(holders.begin(), holders.end(), c.AgentId(h)) != holders.end()) continue;
        BOOST_TEST(!Exists(c.ReplicaFile(h, o, b, 1)), c.ReplicaFile(h, o, b, 1) << " exists");
      }
    }
  }
  BOOST_TEST(c.StopAll().ok());
}

BOOST_AUTO_TEST_SUITE_END()
