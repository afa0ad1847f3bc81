// BoltDiscovery (agent/bolt_discovery.h) on a real libuv loop and inotify instance: a rule's
// files found at start, a new file (in a directory that already existed, or in a new one) found
// from its inotify event, and a file gone for good removed by the timer's rescans, or kept
// waiting while the agent says it may not go yet. What a scan decides is unit-tested in
// test_discovery_plan.cc; this is the I/O around it.
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

#include "agent/bolt_discovery.h"
#include "common/inotify_watcher.h"
#include "tests/support/cluster.h"
#include "tests/support/test_loop.h"

using namespace tailsafe;
using tailsafe::testing::ScopedTempDir;
using tailsafe::testing::TestLoop;

namespace {

struct Fixture {
  ScopedTempDir dir{"discovery"};
  TestLoop loop;
  InotifyWatcher watcher{loop.get(), 0};
  BoltPatternConfig rule;
  bool may_remove = true;
  int changes = 0;
  std::unique_ptr<BoltDiscovery> discovery;

  Fixture() {
    BOOST_REQUIRE(watcher.Start().ok());
    rule.files = dir.path + "/*/task-*.log";
  }
  ~Fixture() {
    discovery.reset();
    watcher.Stop();
  }
  void Start(uint32_t rescan_ms) {
    BoltDiscovery::Hooks hooks;
    hooks.checks.may_remove = [this](const std::string&) { return may_remove; };
    hooks.checks.may_add = [](const std::string&) { return true; };
    hooks.changed = [this] { ++changes; };
    discovery = std::make_unique<BoltDiscovery>(loop.get(), &watcher, rescan_ms, std::move(hooks));
    BOOST_REQUIRE(discovery->Start({rule}, {}).ok());
  }
  void Touch(const std::string& rel) { std::ofstream(dir.path + "/" + rel) << "x\n"; }
  void MakeDir(const std::string& rel) { BOOST_REQUIRE(::mkdir((dir.path + "/" + rel).c_str(), 0755) == 0); }
  std::vector<std::string> Names() const {
    std::vector<std::string> names;
    for (const FoundBolt& f : discovery->found()) names.push_back(f.bolt.name);
    return names;
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(bolt_discovery)

BOOST_AUTO_TEST_CASE(files_are_found_at_start_and_as_they_appear) {
  Fixture f;
  f.MakeDir("topo");
  f.Touch("topo/task-1.log");
  f.Touch("topo/task-1.log.1");  // rotated away: not a bolt
  f.Start(600000);  // no rescan during the test: what is found comes from inotify
  BOOST_TEST(f.Names() == std::vector<std::string>({"topo.task-1"}));
  BOOST_TEST(f.changes == 0, "Start does not call changed()");
  const BoltConfig& b = f.discovery->found()[0].bolt;
  BOOST_TEST(b.file == f.dir.path + "/topo/task-1.log");
  BOOST_TEST(b.pid_file == f.dir.path + "/topo/task-1.pid");
  BOOST_TEST(b.checkpoint_file == f.dir.path + "/topo/task-1.checkpoint");
  BOOST_TEST(b.pattern == f.rule.files);

  f.Touch("topo/task-2.log");
  BOOST_REQUIRE(f.loop.RunUntil([&] { return f.Names().size() == 2u; }));
  BOOST_TEST(f.Names() == std::vector<std::string>({"topo.task-1", "topo.task-2"}));
  BOOST_TEST(f.changes >= 1);

  // A directory created after start is watched by the scan its creation caused.
  f.MakeDir("other");
  BOOST_REQUIRE(f.loop.RunUntil([&] { return f.discovery->stats().scans_event >= 2u; }));
  f.Touch("other/task-9.log");
  BOOST_REQUIRE(f.loop.RunUntil([&] { return f.Names().size() == 3u; }));
  BOOST_TEST(f.Names()[2] == "other.task-9");
  BOOST_TEST(f.discovery->stats().scans_timer == 0u);
}

BOOST_AUTO_TEST_CASE(a_file_gone_for_good_is_removed_by_rescans_unless_the_agent_says_not_yet) {
  Fixture f;
  f.MakeDir("topo");
  f.Touch("topo/task-1.log");
  f.Touch("topo/task-2.log");
  f.may_remove = false;
  f.Start(20);
  BOOST_REQUIRE(f.Names().size() == 2u);
  BOOST_REQUIRE(::unlink((f.dir.path + "/topo/task-1.log").c_str()) == 0);
  // Not yet removable: it waits, and the status says so.
  BOOST_REQUIRE(f.loop.RunUntil([&] {
    return f.discovery->StatusJson()["waiting"] == nlohmann::json::array({"topo.task-1"});
  }));
  uint64_t scans = f.discovery->stats().scans_timer;
  BOOST_REQUIRE(f.loop.RunUntil([&] { return f.discovery->stats().scans_timer >= scans + 2; }));
  BOOST_TEST(f.Names().size() == 2u);
  f.may_remove = true;
  BOOST_REQUIRE(f.loop.RunUntil([&] { return f.Names().size() == 1u; }));
  BOOST_TEST(f.Names()[0] == "topo.task-2");
}

BOOST_AUTO_TEST_SUITE_END()
