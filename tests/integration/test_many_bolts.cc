// An agent with 1,000 bolts (issue 23, acceptance 2): each bolt its own file, pid file (a `sleep`
// process) and checkpoint file. The agent starts with one inotify instance, however many bolts
// (Linux's default fs.inotify.max_user_instances is 128: an instance per bolt stopped an agent at
// its 129th), replicates every file to two peers byte for byte, and sees a bolt's death. How fast
// it sees it, and its memory and descriptors, are bench/many-bolts' measurements.
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <dirent.h>
#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

#include "common/checkpoint.h"
#include "tests/support/cluster.h"

using namespace tailsafe;
using namespace tailsafe::testing;

namespace {

constexpr int kBolts = 1000;

// Writes `pid` to `path` the way a bolt should: a temporary file renamed over it.
void WritePidFile(const std::string& path, pid_t pid) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    f << pid << "\n";
  }
  BOOST_REQUIRE(::rename(tmp.c_str(), path.c_str()) == 0);
}

// `lines` lines naming the bolt, appended to its file.
void AppendLines(const std::string& path, int bolt, int first, int lines) {
  std::ofstream f(path, std::ios::app);
  for (int i = first; i < first + lines; ++i) f << "bolt " << bolt << " record " << i << " the quick brown fox\n";
}

// The inotify instances process `pid` holds.
int InotifyInstances(pid_t pid) {
  std::string dir = "/proc/" + std::to_string(pid) + "/fd";
  int n = 0;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return -1;
  while (struct dirent* e = ::readdir(d)) {
    char target[256] = {0};
    if (::readlink((dir + "/" + e->d_name).c_str(), target, sizeof target - 1) > 0 &&
        std::string(target) == "anon_inode:inotify") {
      ++n;
    }
  }
  ::closedir(d);
  return n;
}

// Agent i's configuration without [[bolt]] tables: a peer that only keeps replicas.
void DropBolts(TestCluster& c, int i) {
  std::string config = ReadAll(c.ConfigPath(i));
  size_t first = config.find("\n[[bolt]]");
  BOOST_REQUIRE(first != std::string::npos);
  std::ofstream(c.ConfigPath(i), std::ios::trunc) << config.substr(0, first + 1);
}

// The first bolt of agent 0 whose replicas on agents 1 and 2 differ from its file; -1 if none.
int FirstUnreplicated(TestCluster& c, int from, std::string* why) {
  for (int b = from; b < kBolts; ++b) {
    for (int h = 1; h <= 2; ++h) {
      if (!FilesEqual(c.BoltFile(0, b), c.ReplicaFile(h, 0, b, 1), why)) return b;
    }
  }
  return -1;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(many_bolts)

BOOST_AUTO_TEST_CASE(a_thousand_bolts_start_replicate_and_report_a_death) {
  ClusterOptions opt;
  opt.agents = 3;
  opt.bolts_per_agent = kBolts;
  opt.pid_files = true;
  opt.checkpoint_files = true;
  TestCluster c("many-bolts", opt);
  DropBolts(c, 1);
  DropBolts(c, 2);

  // Each bolt: a process named by its pid file, a file with records, a checkpoint.
  std::vector<Child> bolts;
  for (int b = 0; b < kBolts; ++b) {
    auto child = Child::Spawn({"/bin/sleep", "3600"}, c.root() + "/sleep.log");
    BOOST_REQUIRE_MESSAGE(child.ok(), child.status().message());
    bolts.push_back(std::move(child.value()));
    WritePidFile(c.PidFile(0, b), bolts.back().pid());
    AppendLines(c.BoltFile(0, b), b, 0, 50);
    BOOST_REQUIRE(WriteCheckpointFile(c.CheckpointFile(0, b), 0).ok());
  }

  BOOST_REQUIRE_MESSAGE(c.Start(1).ok(), c.LogTail(1));
  BOOST_REQUIRE_MESSAGE(c.Start(2).ok(), c.LogTail(2));
  Status started = c.Start(0, 60);
  BOOST_REQUIRE_MESSAGE(started.ok(), started.message() << "\n" << c.LogTail(0));
  BOOST_TEST(InotifyInstances(c.Pid(0)) == 1);

  // Bytes written while the agent runs travel too, and checkpoints are read.
  for (int b = 0; b < kBolts; ++b) {
    AppendLines(c.BoltFile(0, b), b, 50, 50);
    BOOST_REQUIRE(WriteCheckpointFile(c.CheckpointFile(0, b), 1000).ok());
  }
  std::string why;
  int pending = 0;
  bool replicated = WaitUntil([&] { return (pending = FirstUnreplicated(c, pending, &why)) < 0; }, 120, 200);
  BOOST_TEST_REQUIRE(replicated, "bolt " << pending << " is not replicated: " << why << "\n" << c.LogTail(0));

  // Every bolt runs; one dies, and the agent says so.
  // A status of 1,000 bolts is a few MB of JSON: on a loaded machine one request may time out.
  Result<nlohmann::json> st = Status::Error("no status asked yet");
  WaitUntil([&] { return (st = c.AgentStatus(0, 30000)).ok(); }, 60, 200);
  BOOST_REQUIRE_MESSAGE(st.ok(), st.status().message());
  BOOST_REQUIRE((*st)["bolts"].size() == static_cast<size_t>(kBolts));
  int running = 0;
  for (const auto& b : (*st)["bolts"]) running += b["process"].value("state", "") == "running";
  BOOST_TEST(running == kBolts);
  const int victim = 617;
  pid_t pid = bolts[victim].pid();
  bolts[victim].Signal(SIGKILL);
  bolts[victim].Wait();
  nlohmann::json process;
  bool seen = WaitUntil([&] {
    auto s = c.AgentStatus(0);
    if (!s.ok()) return false;
    for (const auto& b : (*s)["bolts"]) {
      if (b["name"] != c.BoltName(victim)) continue;
      process = b["process"];
      return process.value("state", "") == "dead" && process.value("pid", 0) == pid;
    }
    return false;
  }, 10);
  BOOST_TEST(seen, "bolt " << c.BoltName(victim) << ": " << process.dump());
  BOOST_TEST(c.Running(0));
  BOOST_TEST(InotifyInstances(c.Pid(0)) == 1);
}

BOOST_AUTO_TEST_SUITE_END()
