// SIGHUP reloads an agent's configuration (agent/reload_plan.h): bolts added, removed, moved
// to a new file and added back, under load, with every byte appended before a removal on the
// peer; bad configurations refused with the reason while the agent goes on; and a hook changed
// by a reload is the one the next recovery runs.
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <signal.h>
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "tests/support/cluster.h"
#include "tests/support/process.h"
#include "tests/support/writer.h"

using namespace tailsafe;
using namespace tailsafe::testing;

namespace {

size_t Count(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

std::string Replaced(std::string text, const std::string& from, const std::string& to) {
  size_t at = text.find(from);
  BOOST_REQUIRE_MESSAGE(at != std::string::npos, "'" << from << "' is not in:\n" << text);
  return text.replace(at, from.size(), to);
}

void WriteFile(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

// Agent i's reload of `config` (TestCluster::Reload): the log line that answers it.
std::string Reload(TestCluster& c, int i, const std::string& config) {
  Result<std::string> line = c.Reload(i, config);
  BOOST_REQUIRE_MESSAGE(line.ok(), line.status().message());
  return *line;
}

std::string BoltTable(const std::string& name, const std::string& file) {
  return "\n[[bolt]]\nname = \"" + name + "\"\nfile = \"" + file + "\"\n";
}

// The replica holds at least `at_least` bytes and is a prefix of the origin's file.
bool ReplicaIsPrefix(const std::string& origin, const std::string& replica, uint64_t at_least, std::string* why) {
  std::string o = ReadAll(origin), r = ReadAll(replica);
  if (r.size() < at_least) {
    *why = replica + " has " + std::to_string(r.size()) + " bytes, fewer than the " + std::to_string(at_least) +
           " written before the reload";
    return false;
  }
  if (o.compare(0, r.size(), r) != 0) {
    *why = replica + " is not a prefix of " + origin;
    return false;
  }
  return true;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(reload)

BOOST_AUTO_TEST_CASE(sighup_adds_removes_and_moves_bolts_under_load_and_refuses_bad_configs) {
  ClusterOptions opt;
  opt.agents = 2;
  opt.bolts_per_agent = 2;
  opt.seal_after_ms = 300;
  TestCluster c("reload", opt);
  BOOST_REQUIRE(c.StartAll().ok());
  const std::string original = ReadAll(c.ConfigPath(0));
  const std::string bolt1 = c.BoltFile(0, 0), bolt2 = c.BoltFile(0, 1), bolt3 = c.BoltFile(0, 2);

  // Load: bolt-1 and bolt-2 are written at 4 MB/s each through every reload below.
  AppendWriter w1(bolt1, 16 << 20, 1, 4.0, 64 << 10), w2(bolt2, 16 << 20, 2, 4.0, 64 << 10);
  w1.Start();
  w2.Start();
  BOOST_REQUIRE(WaitUntil([&] { return FileSize(bolt1) > (1 << 20) && FileSize(bolt2) > (1 << 20); }, 10));

  // 1. Bad configurations are refused, each with its reason, and the agent goes on.
  struct Bad {
    std::string config, reason;
  };
  const Bad bad[] = {
      {original + "bogus = 1\n", "tailsafe.conf:20: bolt 'bolt-2': unknown key 'bogus'"},
      {original + "[agent\n", "tailsafe.conf:"},
      {Replaced(original, "listen = \"127.0.0.1:", "listen = \"127.0.0.2:"), "agent.listen changed from 127.0.0.1:"},
      {Replaced(original, "reconnect_max_ms = 200", "reconnect_max_ms = 300"),
       "agent.reconnect_max_ms changed from 200 to 300; that takes a restart"},
  };
  for (const Bad& b : bad) {
    std::string line = Reload(c, 0, b.config);
    BOOST_TEST_CONTEXT(b.reason) {
      BOOST_TEST(line.find(" was not loaded, the running configuration stays: ") != std::string::npos, line);
      BOOST_TEST(line.find(b.reason) != std::string::npos, line);
      BOOST_TEST(line.find("<3>") == 0u, "not logged at error priority: " << line);
      BOOST_TEST(c.Running(0));
    }
  }

  // 2. Remove bolt-2 (its writer goes on) and add bolt-3.
  std::string without2 = Replaced(original, BoltTable("bolt-2", bolt2), BoltTable("bolt-3", bolt3));
  uint64_t written_before_removal = FileSize(bolt2);
  std::string line = Reload(c, 0, without2);
  BOOST_TEST(line.find("configuration reloaded: bolts added: bolt-3; bolts removed: bolt-2") != std::string::npos,
             line);
  AppendWriter w3(bolt3, 4 << 20, 3, 4.0, 64 << 10);
  w3.Start();
  // bolt-2's last generation is sealed where the file ended at the reload, and dropped once the
  // peer has all of it.
  BOOST_REQUIRE_MESSAGE(WaitUntil([&] {
    return Count(ReadAll(c.LogPath(0)), "bolt bolt-2: every peer has its last bytes") == 1;
  }, 20), c.LogTail(0));
  std::string why;
  BOOST_TEST(ReplicaIsPrefix(bolt2, c.ReplicaFile(1, 0, 1, 1), written_before_removal, &why), why);
  auto st = c.AgentStatus(0);
  BOOST_REQUIRE(st.ok());
  std::string names;
  for (const auto& b : (*st)["bolts"]) names += b["name"].get<std::string>() + " ";
  BOOST_TEST(names == "bolt-1 bolt-3 ");
  w2.Join();
  BOOST_TEST(w2.error().empty(), w2.error());

  // 3. Move bolt-3 to a new file, and add bolt-2 back on a new file: both start a generation 2.
  w3.Join();
  BOOST_REQUIRE(w3.error().empty());
  const std::string moved3 = bolt3 + ".moved", again2 = bolt2 + ".again";
  std::string moved = Replaced(without2, BoltTable("bolt-3", bolt3), BoltTable("bolt-3", moved3)) +
                      BoltTable("bolt-2", again2);
  line = Reload(c, 0, moved);
  BOOST_TEST(line.find("configuration reloaded: bolts added: bolt-2; new file for: bolt-3") != std::string::npos, line);
  AppendWriter w4(moved3, 2 << 20, 4, 4.0, 64 << 10), w5(again2, 2 << 20, 5, 4.0, 64 << 10);
  w4.Start();
  w5.Start();
  w4.Join();
  w5.Join();
  w1.Join();
  BOOST_REQUIRE(w1.error().empty());

  // Every replica equals its file: bolt-1 throughout, bolt-3 before and after its move, bolt-2
  // added back (its numbering goes on from the drained generation 1).
  const struct {
    std::string origin;
    int bolt;
    uint64_t gen;
  } expected[] = {{bolt1, 0, 1}, {bolt3, 2, 1}, {moved3, 2, 2}, {again2, 1, 2}};
  bool ok = WaitUntil([&] {
    for (const auto& e : expected) {
      if (!FilesEqual(e.origin, c.ReplicaFile(1, 0, e.bolt, e.gen), &why)) return false;
    }
    return true;
  }, 30, 50);
  if (!ok) c.Keep();
  BOOST_TEST(ok, why << "\n" << c.LogTail(0));
  st = c.AgentStatus(0);
  BOOST_REQUIRE(st.ok());
  for (const auto& b : (*st)["bolts"]) {
    BOOST_TEST(b["generations_lost"].get<uint64_t>() == 0u, b["name"]);
    BOOST_TEST(!b.contains("removed"), b["name"]);
  }
  BOOST_TEST((*st)["peers"][0]["lost_bytes"].get<uint64_t>() == 0u);
  BOOST_TEST(c.StopAll().ok());
}

BOOST_AUTO_TEST_CASE(a_hook_changed_by_sighup_runs_at_the_next_recovery) {
  TestCluster c("reload-hook", RecoveryCluster(2));
  BOOST_REQUIRE(c.StartCoordinator().ok());
  BOOST_REQUIRE(c.StartAll().ok());
  // Both agents learn a hook "other" writing to another directory; h1's bolt-1 now names it.
  char* bin = ::realpath(BinDir().c_str(), nullptr);
  const std::string other_dir = c.root() + "/hooks/other";
  const std::string other = "other = [\"" + std::string(bin ? bin : BinDir().c_str()) + "/tests/ts-hook\", \"" +
                            other_dir + "\"]\n";
  ::free(bin);
  for (int i = 0; i < 2; ++i) {
    std::string config = Replaced(ReadAll(c.ConfigPath(i)), "\n[[bolt]]", other + "\n[[bolt]]");
    if (i == 0) config = Replaced(config, "hook = \"test\"", "hook = \"other\"");
    std::string line = Reload(c, i, config);
    BOOST_TEST(line.find(i == 0 ? "configuration reloaded: new hook for: bolt-1; [hooks] changed"
                                : "configuration reloaded: [hooks] changed") != std::string::npos,
               line);
  }
  nlohmann::json doc;
  BOOST_REQUIRE_MESSAGE(c.WaitDoc("/bolts/h1/bolt-1", [](const auto& d) { return d.value("hook", "") == "other"; }, 10,
                                  &doc),
                        doc.dump() << c.CoordinatorLogTail());

  auto bolt = Child::Spawn({"/bin/sleep", "600"}, c.root() + "/bolt-h1.log");
  BOOST_REQUIRE(bolt.ok());
  WriteFile(c.PidFile(0, 0) + ".tmp", std::to_string(bolt->pid()) + "\n");
  BOOST_REQUIRE(::rename((c.PidFile(0, 0) + ".tmp").c_str(), c.PidFile(0, 0).c_str()) == 0);
  BOOST_REQUIRE_MESSAGE(c.WaitDoc("/bolts/h1/bolt-1", [](const auto& d) {
    return d.contains("process") && d["process"].value("state", "") == "running";
  }, 10, &doc), doc.dump() << c.CoordinatorLogTail());
  const std::string tail = "GET /after-the-reload host-1\nGET /and-again host-2\n";
  WriteFile(c.BoltFile(0, 0), tail);
  BOOST_REQUIRE(c.WaitAcked(0, 0, 20));
  bolt->Signal(SIGKILL);
  bolt->Wait();
  BOOST_REQUIRE_MESSAGE(c.WaitDoc("/recoveries/1", [](const auto& d) { return d.value("state", "") == "recovered"; },
                                  20, &doc),
                        doc.dump() << c.CoordinatorLogTail() << c.LogTail(1));
  BOOST_TEST(doc.value("agent", "") == "h2");
  BOOST_TEST(doc.value("hook", "") == "other");
  // h2 ran the new command: its record is in the new directory, and nothing in the old one.
  std::string input = ReadAll(other_dir + "/r1-e" + std::to_string(doc.value("epoch", uint64_t{0})) + "-a1.in");
  BOOST_TEST(input == tail);
  struct stat old_dir;
  BOOST_TEST(::stat(c.HookDir(1).c_str(), &old_dir) != 0, "the old hook ran too");
  BOOST_TEST(c.StopAll().ok());
  BOOST_TEST(c.StopCoordinator().message() == "ok");
}

BOOST_AUTO_TEST_SUITE_END()
