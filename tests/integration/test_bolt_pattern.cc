// Bolts found by pattern (issue 22): a [[bolt_pattern]] rule makes every matching file a bolt,
// named by its path, with its pid and checkpoint files beside it, as files come and go, without
// a config edit or a reload. Real agents and a real coordinator on loopback; `sleep` stands in for
// a bolt's process and the test writes its files.
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>

#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/support/cluster.h"
#include "tests/support/hook_runs.h"
#include "tests/support/process.h"

using namespace tailsafe;
using namespace tailsafe::testing;
using nlohmann::json;

namespace {

void WriteFile(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

void WriteAtomically(const std::string& path, const std::string& text) {
  WriteFile(path + ".tmp", text);
  BOOST_REQUIRE(::rename((path + ".tmp").c_str(), path.c_str()) == 0);
}

void MakeDir(const std::string& path) { BOOST_REQUIRE_MESSAGE(::mkdir(path.c_str(), 0755) == 0, path); }

std::string Lines(const std::string& tag, int from, int to) {
  std::string s;
  for (int i = from; i < to; ++i) s += "GET /" + tag + "/" + std::to_string(i) + " host-" + std::to_string(i % 7) + "\n";
  return s;
}

size_t Count(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

// Where a rule of agent 0 looks: ROOT/h1/storm/TOPOLOGY/COMPONENT/task-N.log.
std::string SpoolRoot(const TestCluster& c) { return c.root() + "/h1/storm"; }
std::string Rule(const TestCluster& c, const std::string& hook) {
  return "\n[[bolt_pattern]]\nfiles = \"" + SpoolRoot(c) + "/*/*/task-*.log\"\n" +
         (hook.empty() ? "" : "hook = \"" + hook + "\"\n");
}

void AppendConfig(const TestCluster& c, int agent, const std::string& text) {
  std::ofstream(c.ConfigPath(agent), std::ios::app) << text;
}

// Agent i's status entry for `bolt`, if it lists it.
std::optional<json> BoltStatus(TestCluster& c, int i, const std::string& bolt) {
  auto st = c.AgentStatus(i);
  if (!st) return std::nullopt;
  for (const json& b : (*st)["bolts"]) {
    if (b.value("name", "") == bolt) return b;
  }
  return std::nullopt;
}

// Agent i lists `bolt`, found by a rule, with generation `gen` of `size` bytes that every peer
// has acknowledged.
bool Replicated(TestCluster& c, int i, const std::string& bolt, uint64_t gen, uint64_t size) {
  auto b = BoltStatus(c, i, bolt);
  if (!b || b->value("pattern", "").empty() || b->value("generation", uint64_t{0}) != gen ||
      b->value("origin_size", uint64_t{0}) != size || (*b)["peers"].empty()) {
    return false;
  }
  for (const json& p : (*b)["peers"]) {
    if (p.value("acked", uint64_t{0}) != size) return false;
  }
  return true;
}

std::string Replica(const TestCluster& c, int holder, const std::string& bolt, uint64_t gen) {
  char name[32];
  snprintf(name, sizeof name, "%020llu", static_cast<unsigned long long>(gen));
  return c.DataDir(holder) + "/replicas/h1/" + bolt + "/" + name;
}

Child StartSleep(const TestCluster& c, const std::string& tag) {
  auto p = Child::Spawn({"/bin/sleep", "600"}, c.root() + "/" + tag + ".out");
  BOOST_REQUIRE(p.ok());
  return std::move(p.value());
}


// The discovery's count of timer rescans on agent i.
uint64_t TimerScans(TestCluster& c, int i) {
  auto st = c.AgentStatus(i);
  if (!st || !st->contains("discovery")) return 0;
  return (*st)["discovery"]["scans"].value("timer", uint64_t{0});
}

// Waits until agent i's discovery has done `n` more timer rescans.
void LetRescansPass(TestCluster& c, int i, uint64_t n) {
  uint64_t from = TimerScans(c, i);
  BOOST_REQUIRE_MESSAGE(WaitUntil([&] { return TimerScans(c, i) >= from + n; }, 10), c.LogTail(i));
}

// Agent i's reload of `config` (TestCluster::Reload): the log line that answers it.
std::string Reload(TestCluster& c, int i, const std::string& config) {
  Result<std::string> line = c.Reload(i, config);
  BOOST_REQUIRE_MESSAGE(line.ok(), line.status().message());
  return *line;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(bolt_pattern)

// The story of the issue: a task's file appears (in directories made at run time) and is
// tracked, replicated and, when its process dies, recovered by the hook on the other host; a
// second task in a new topology becomes a bolt without a reload; a rotation by rename and create
// keeps it one bolt; a file removed for good makes its bolt go, with every byte on the peer.
BOOST_AUTO_TEST_CASE(a_file_the_rule_matches_is_a_bolt_until_it_is_gone_for_good) {
  ClusterOptions o = RecoveryCluster(2);
  o.bolts_per_agent = 0;
  o.pid_files = false;
  o.checkpoint_files = false;
  o.rescan_interval_ms = 100;
  TestCluster c("pattern", o);
  MakeDir(SpoolRoot(c));
  AppendConfig(c, 0, Rule(c, "test"));
  BOOST_REQUIRE(c.StartCoordinator().ok());
  BOOST_REQUIRE(c.StartAll().ok());

  // A task appears: its directories, its process, its file, pid file and checkpoint.
  const std::string name1 = "topo.comp.task-1";
  const std::string dir1 = SpoolRoot(c) + "/topo/comp";
  MakeDir(SpoolRoot(c) + "/topo");
  MakeDir(dir1);
  Child task1 = StartSleep(c, "task-1");
  std::string processed = Lines("one", 0, 30), tail = Lines("one", 30, 50);
  WriteFile(dir1 + "/task-1.log", processed + tail);
  WriteAtomically(dir1 + "/task-1.pid", std::to_string(task1.pid()) + "\n");
  WriteAtomically(dir1 + "/task-1.checkpoint", std::to_string(processed.size()) + "\n");
  json doc;
  BOOST_REQUIRE_MESSAGE(c.WaitDoc("/bolts/h1/" + name1, [&](const json& d) {
    return d.contains("process") && d["process"].value("state", "") == "running" &&
           d["process"].value("pid", 0) == task1.pid() && d.contains("checkpoint") &&
           d["checkpoint"].value("offset", uint64_t{0}) == processed.size();
  }, 20, &doc), doc.dump() << c.LogTail(0));
  BOOST_REQUIRE_MESSAGE(WaitUntil([&] { return Replicated(c, 0, name1, 1, processed.size() + tail.size()); }, 20),
                        c.LogTail(0));
  auto b1 = BoltStatus(c, 0, name1);
  BOOST_REQUIRE(b1);
  BOOST_TEST(b1->value("pattern", "") == SpoolRoot(c) + "/*/*/task-*.log");
  BOOST_TEST(b1->value("file", "") == dir1 + "/task-1.log");
  std::string why;
  BOOST_TEST(FilesEqual(dir1 + "/task-1.log", Replica(c, 1, name1, 1), &why), why);

  // Its process dies: the other host's hook gets exactly the unprocessed tail, once.
  task1.Signal(SIGKILL);
  task1.Wait();
  json rec;
  BOOST_REQUIRE_MESSAGE(c.WaitDoc("/recoveries/1", [](const json& d) { return d.value("state", "") == "recovered"; },
                                  20, &rec),
                        rec.dump() << c.CoordinatorLogTail() << c.LogTail(0));
  BOOST_TEST(rec.value("bolt", "") == name1);
  c.LetHeartbeatsPass(0);
  auto runs = HookRuns(c);
  BOOST_REQUIRE_EQUAL(runs.size(), 1u);
  BOOST_TEST(runs[0].agent == 1);
  BOOST_TEST(runs[0].input == tail);
  BOOST_TEST(runs[0].env["TAILSAFE_BOLT"] == name1);
  BOOST_TEST(runs[0].unexpected.empty());
  auto recoveries = c.CoordinatorDocs("/recoveries/");
  BOOST_REQUIRE(recoveries.ok());
  BOOST_TEST(recoveries->size() == 1u);

  // A second task, later, in a topology directory that did not exist: a bolt, with no reload.
  const std::string name2 = "topo2.bolt.task-2";
  const std::string dir2 = SpoolRoot(c) + "/topo2/bolt";
  MakeDir(SpoolRoot(c) + "/topo2");
  MakeDir(dir2);
  Child task2 = StartSleep(c, "task-2");
  WriteAtomically(dir2 + "/task-2.pid", std::to_string(task2.pid()) + "\n");
  std::string first = Lines("two", 0, 40);
  WriteFile(dir2 + "/task-2.log", first);
  BOOST_REQUIRE_MESSAGE(WaitUntil([&] { return Replicated(c, 0, name2, 1, first.size()); }, 20), c.LogTail(0));
  BOOST_REQUIRE_MESSAGE(c.WaitDoc("/bolts/h1/" + name2, [&](const json& d) {
    return d.contains("process") && d["process"].value("pid", 0) == task2.pid();
  }, 20, &doc), doc.dump() << c.LogTail(0));
  BOOST_TEST(ReadAll(c.LogPath(0)).find("SIGHUP") == std::string::npos);

  // Rotation by rename and create: the same bolt, a new generation; the old one complete.
  BOOST_REQUIRE(::rename((dir2 + "/task-2.log").c_str(), (dir2 + "/task-2.log.1").c_str()) == 0);
  std::string second = Lines("two-b", 0, 25);
  WriteFile(dir2 + "/task-2.log", second);
  BOOST_REQUIRE_MESSAGE(WaitUntil([&] { return Replicated(c, 0, name2, 2, second.size()); }, 20), c.LogTail(0));
  BOOST_TEST(WaitUntil([&] { return FilesEqual(dir2 + "/task-2.log.1", Replica(c, 1, name2, 1), &why); }, 20), why);
  BOOST_TEST(FilesEqual(dir2 + "/task-2.log", Replica(c, 1, name2, 2), &why), why);
  std::string log = ReadAll(c.LogPath(0));
  BOOST_TEST(Count(log, "bolt " + name2 + ": found at") == 1u, c.LogTail(0));
  BOOST_TEST(Count(log, "bolt " + name2 + ": no longer found") == 0u, c.LogTail(0));
  BOOST_TEST(!BoltStatus(c, 0, name2)->value("removed", false));

  // task-1's file is removed for good (its process is dead, its death on record): it goes once
  // two rescans have not found it, and its bytes stay on the peer.
  BOOST_REQUIRE(::unlink((dir1 + "/task-1.log").c_str()) == 0);
  BOOST_REQUIRE_MESSAGE(WaitUntil([&] {
    auto st = c.AgentStatus(0);
    if (!st) return false;
    for (const json& b : (*st)["bolts"]) {
      if (b.value("name", "") == name1) return false;
    }
    return true;
  }, 20), c.LogTail(0));
  log = ReadAll(c.LogPath(0));
  BOOST_TEST(Count(log, "bolt " + name1 + ": no longer found by its rule (its file " + dir1 + "/task-1.log is gone)") == 1u,
             c.LogTail(0));
  BOOST_TEST(ReadAll(Replica(c, 1, name1, 1)) == processed + tail);
  BOOST_TEST(BoltStatus(c, 0, name2).has_value());
  auto st = c.AgentStatus(0);
  BOOST_REQUIRE(st);
  BOOST_TEST((*st)["discovery"]["rules"][0]["bolts"] == json::array({name2}), st->dump());
  BOOST_TEST(HookRuns(c).size() == 1u);

  task2.Signal(SIGKILL);
  task2.Wait();
  BOOST_TEST(c.StopAll().ok());
  BOOST_TEST(c.StopCoordinator().message() == "ok");
}

// A bolt whose file is gone stays while its process runs, and goes once it has died; paths
// that give no valid name, or a name a [[bolt]] table holds, are skipped with one warning each.
BOOST_AUTO_TEST_CASE(a_bolt_stays_while_its_process_runs_and_bad_matches_are_warned_once) {
  ClusterOptions o = TwoAgentsOneBolt();
  o.bolts_per_agent = 0;
  o.rescan_interval_ms = 50;
  TestCluster c("pattern-stays", o);
  const std::string dir = SpoolRoot(c) + "/t/c";
  MakeDir(SpoolRoot(c));
  MakeDir(SpoolRoot(c) + "/t");
  MakeDir(dir);
  MakeDir(SpoolRoot(c) + "/bad topo");
  MakeDir(SpoolRoot(c) + "/bad topo/c");
  WriteFile(SpoolRoot(c) + "/bad topo/c/task-9.log", "x\n");
  WriteFile(dir + "/task-3.log", "y\n");
  AppendConfig(c, 0, Rule(c, "") + "\n[[bolt]]\nname = \"t.c.task-3\"\nfile = \"" + c.root() + "/h1/spool/other.log\"\n");
  Child task = StartSleep(c, "task-1");
  WriteAtomically(dir + "/task-1.pid", std::to_string(task.pid()) + "\n");
  WriteFile(dir + "/task-1.log", Lines("a", 0, 10));
  BOOST_REQUIRE(c.StartAll().ok());
  BOOST_REQUIRE_MESSAGE(WaitUntil([&] {
    auto b = BoltStatus(c, 0, "t.c.task-1");
    return b && b->contains("process") && (*b)["process"].value("state", "") == "running";
  }, 20), c.LogTail(0));

  BOOST_REQUIRE(::unlink((dir + "/task-1.log").c_str()) == 0);
  LetRescansPass(c, 0, 5);
  auto b = BoltStatus(c, 0, "t.c.task-1");
  BOOST_REQUIRE_MESSAGE(b, c.LogTail(0));
  BOOST_TEST(!b->value("removed", false));
  auto st = c.AgentStatus(0);
  BOOST_REQUIRE(st);
  BOOST_TEST((*st)["discovery"]["waiting"] == json::array({"t.c.task-1"}), st->dump());
  std::string log = ReadAll(c.LogPath(0));
  BOOST_TEST(Count(log, "bolt t.c.task-1: its file is gone, but its process still runs") == 1u, c.LogTail(0));

  task.Signal(SIGKILL);
  task.Wait();
  BOOST_REQUIRE_MESSAGE(WaitUntil([&] { return !BoltStatus(c, 0, "t.c.task-1").has_value(); }, 20), c.LogTail(0));
  // The replica is all the file ever held.
  BOOST_TEST(ReadAll(Replica(c, 1, "t.c.task-1", 1)) == Lines("a", 0, 10));

  // Each bad match: one warning, however many rescans saw it.
  log = ReadAll(c.LogPath(0));
  BOOST_TEST(Count(log, "bad topo/c/task-9.log: its bolt name 'bad topo.c.task-9' is invalid") == 1u, c.LogTail(0));
  BOOST_TEST(Count(log, "t/c/task-3.log: its bolt name 't.c.task-3' is a [[bolt]] table's") == 1u, c.LogTail(0));
  st = c.AgentStatus(0);
  BOOST_REQUIRE(st);
  BOOST_TEST((*st)["discovery"]["skipped"].size() == 2u, st->dump());
  BOOST_TEST(TimerScans(c, 0) > 5u);
  BOOST_TEST(c.StopAll().ok());
}

// SIGHUP adds a rule (its files become bolts at once) and removes it (its bolts are drained and
// dropped, though their files are still there).
BOOST_AUTO_TEST_CASE(sighup_adds_and_removes_a_bolt_pattern) {
  ClusterOptions o = TwoAgentsOneBolt();
  o.bolts_per_agent = 0;
  TestCluster c("pattern-reload", o);
  const std::string dir = SpoolRoot(c) + "/t/c";
  MakeDir(SpoolRoot(c));
  MakeDir(SpoolRoot(c) + "/t");
  MakeDir(dir);
  std::string text = Lines("r", 0, 20);
  WriteFile(dir + "/task-1.log", text);
  std::string base = ReadAll(c.ConfigPath(0));
  BOOST_REQUIRE(c.StartAll().ok());
  BOOST_TEST(!BoltStatus(c, 0, "t.c.task-1").has_value());

  std::string line = Reload(c, 0, base + Rule(c, ""));
  BOOST_TEST(line.find("bolts added: t.c.task-1") != std::string::npos, line);
  BOOST_TEST(line.find("bolt patterns added: " + SpoolRoot(c) + "/*/*/task-*.log") != std::string::npos, line);
  BOOST_REQUIRE_MESSAGE(WaitUntil([&] { return Replicated(c, 0, "t.c.task-1", 1, text.size()); }, 20), c.LogTail(0));

  line = Reload(c, 0, base);
  BOOST_TEST(line.find("bolts removed: t.c.task-1") != std::string::npos, line);
  BOOST_TEST(line.find("bolt patterns removed: ") != std::string::npos, line);
  BOOST_REQUIRE_MESSAGE(WaitUntil([&] { return !BoltStatus(c, 0, "t.c.task-1").has_value(); }, 20), c.LogTail(0));
  BOOST_TEST(ReadAll(Replica(c, 1, "t.c.task-1", 1)) == text);
  auto st = c.AgentStatus(0);
  BOOST_REQUIRE(st);
  BOOST_TEST(!st->contains("discovery"));
  BOOST_TEST(c.StopAll().ok());
}

BOOST_AUTO_TEST_SUITE_END()
