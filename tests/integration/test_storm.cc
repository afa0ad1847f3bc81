// tailsafe on a real Apache Storm cluster (issue 22): Storm's released jars (build/storm-home),
// Debian's ZooKeeper, Nimbus and two supervisors as two "hosts" (tests/support/storm_cluster.h),
// the weblog topology of examples/storm-weblog submitted through StormSubmitter. Skipped, with
// the reason, where the machine cannot run one (no root for its network namespace, no Java, no
// `make storm-home`).
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include <string>
#include <vector>

#include "tests/support/cluster.h"
#include "tests/support/storm_cluster.h"
#include "tests/support/weblog_deployment.h"

using namespace tailsafe;
using namespace tailsafe::testing;

namespace {

boost::test_tools::assertion_result CanRunStorm(boost::unit_test::test_unit_id) {
  std::string missing = StormMissing();
  boost::test_tools::assertion_result r(missing.empty());
  if (!r) r.message() << "skipped: " << missing;
  return r;
}

std::string Source(const std::string& path) {
  const char* s = ::getenv("TAILSAFE_SOURCE_DIR");
  return std::string(s ? s : ".") + "/" + path;
}

const char* const kTopologyMain = "io.tailsafe.examples.weblog.WeblogTopology";

std::string WeblogJar() { return Source("examples/storm-weblog/target/storm-weblog-0.1.0.jar"); }

}  // namespace

BOOST_AUTO_TEST_SUITE(storm, *boost::unit_test::precondition(CanRunStorm))

// The harness and the topology alone, no fault: every request of the log is counted once.
BOOST_AUTO_TEST_CASE(the_weblog_topology_counts_every_request_once) {
  ScopedTempDir dir("storm-weblog");
  std::string input = dir.path + "/access.log", db = dir.path + "/results.db";
  CommandResult gen = RunCommand(AbsBin("weblog-gen") + " -n 20000 --minutes 30 --malformed-every 5000 -o " + input);
  BOOST_REQUIRE_MESSAGE(gen.code == 0, gen.out);

  auto storm = StormCluster::Start("weblog-smoke", {});
  BOOST_REQUIRE_MESSAGE(storm.ok(), storm.status().message());
  StormCluster& s = *storm.value();
  Status submitted = s.Submit(WeblogJar(), kTopologyMain,
                              {"--name", "weblog", "--log", input, "--db", db, "--bolt", AbsBin("weblog-storm-bolt"), "--no-tailsafe"});
  BOOST_REQUIRE_MESSAGE(submitted.ok(), submitted.message());
  std::string last;
  bool equal = WaitUntil([&] {
    CommandResult r = RunCommand(AbsBin("weblog-analyze") + " compare --db " + db + " " + input + " 2>&1");
    last = r.out;
    return r.code == 0;
  }, 120, 1000);
  BOOST_TEST(equal, "the results never equalled the input's analysis:\n" << last << s.LogTail());
  auto placement = s.Placement("weblog");
  BOOST_REQUIRE_MESSAGE(placement.ok(), placement.status().message());
  int on_first = 0, on_second = 0;
  for (const auto& t : *placement) {
    if (t.component != "count") continue;
    on_first += s.SupervisorOf(t.host) == 0;
    on_second += s.SupervisorOf(t.host) == 1;
  }
  BOOST_TEST_MESSAGE("count tasks: " << on_first << " on " << StormCluster::Hostname(0) << ", " << on_second << " on "
                                     << StormCluster::Hostname(1));
  BOOST_TEST(on_first + on_second == 4);
  BOOST_TEST(s.Kill("weblog", 0).ok());
}

BOOST_AUTO_TEST_SUITE_END()
