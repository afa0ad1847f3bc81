// The command-line surface: tailsafectl status (human and JSON), and clear errors with the
// documented exit codes for bad arguments, bad configs and an agent that is not running.
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <sys/wait.h>

#include <signal.h>

#include <cctype>
#include <cstdio>
#include <fstream>
#include <set>
#include <cstdlib>
#include <string>

#include <nlohmann/json.hpp>

#include "tests/support/cluster.h"
#include "tests/support/writer.h"

using namespace tailsafe;
using namespace tailsafe::testing;

namespace {

using Run = CommandResult;
Run Exec(const std::string& cmd) { return RunCommand(cmd); }

bool Contains(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

// The long options a --help text lists ("--lag-warn", ...), without --help itself.
std::set<std::string> LongOptions(const std::string& help) {
  std::set<std::string> out;
  for (size_t at = help.find("--"); at != std::string::npos; at = help.find("--", at + 2)) {
    size_t end = at + 2;
    while (end < help.size() && (std::islower(static_cast<unsigned char>(help[end])) || help[end] == '-')) ++end;
    std::string name = help.substr(at, end - at);
    if (name.size() > 2 && name != "--help") out.insert(name);
  }
  return out;
}

std::string ManPage(const std::string& name) {
  const char* dir = std::getenv("TAILSAFE_SOURCE_DIR");
  return ReadAll(std::string(dir ? dir : ".") + "/man/" + name);
}

// One line of monitoring-plugins output: "SERVICE STATE - text | 'label'=value[UOM];warn;crit;min;max ..."
// (std::regex would do, but trips g++ 12's -Wmaybe-uninitialized under ASan.)
bool IsPluginOutput(const std::string& out, const std::string& state) {
  std::string head = "TAILSAFE " + state + " - ";
  if (out.rfind(head, 0) != 0 || out.empty() || out.back() != '\n' || out.find('\n') != out.size() - 1) return false;
  size_t bar = out.find(" | ");
  if (bar == std::string::npos) return out.find('|') == std::string::npos;
  if (bar <= head.size()) return false;  // no text
  std::string perf = out.substr(bar + 3, out.size() - bar - 4);
  size_t pos = 0;
  while (pos < perf.size()) {
    size_t end = perf.find(' ', pos);
    std::string item = perf.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
    pos = end == std::string::npos ? perf.size() : end + 1;
    size_t q = item.find("'=");
    if (item.size() < 4 || item[0] != '\'' || q == std::string::npos || q < 2) return false;
    std::string rest = item.substr(q + 2);
    size_t i = 0;
    while (i < rest.size() && (std::isdigit(static_cast<unsigned char>(rest[i])) || rest[i] == '.')) ++i;
    if (i == 0) return false;  // a value is required
    while (i < rest.size() && std::isalpha(static_cast<unsigned char>(rest[i]))) ++i;  // UOM
    int semis = 0;
    for (; i < rest.size(); ++i) {
      if (rest[i] == ';') {
        ++semis;
      } else if (!std::isdigit(static_cast<unsigned char>(rest[i])) && rest[i] != '.') {
        return false;
      }
    }
    if (semis > 4) return false;
  }
  return true;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(cli)

BOOST_AUTO_TEST_CASE(status_human_and_json) {
  ClusterOptions opt = TwoAgentsOneBolt();
  TestCluster c("cli", opt);
  BOOST_REQUIRE(c.StartAll().ok());
  AppendWriter w(c.BoltFile(0, 0), 500000, 1);
  w.Start();
  w.Join();
  std::string why;
  BOOST_REQUIRE(WaitUntil([&] { return FilesEqual(c.BoltFile(0, 0), c.ReplicaFile(1, 0, 0, 1), &why); }, 10));
  std::string ctl = BinDir() + "/tailsafectl -c " + c.ConfigPath(0);

  Run human = Exec(ctl + " status");
  BOOST_TEST(human.code == 0, human.out);
  BOOST_TEST(Contains(human.out, "bolt-1"), human.out);
  BOOST_TEST(Contains(human.out, "h2"), human.out);
  BOOST_TEST(Contains(human.out, "LAG"), human.out);

  BOOST_REQUIRE(WaitUntil([&] {
    Run j = Exec(ctl + " status --json");
    auto doc = nlohmann::json::parse(j.out, nullptr, false);
    return j.code == 0 && !doc.is_discarded() && doc["bolts"][0]["peers"][0]["lag_bytes"] == 0 &&
           doc["bolts"][0]["origin_size"] == 500000;
  }, 10));

  // The same through an explicit socket, with no config at all.
  Run sock = Exec(BinDir() + "/tailsafectl -c /nonexistent status --json --socket " + c.ControlSocket(0));
  BOOST_TEST(sock.code == 0, sock.out);

  // A second agent on the same data_dir refuses to start and names the first.
  Run twice = Exec(BinDir() + "/tailsafe-agent -c " + c.ConfigPath(0));
  BOOST_TEST(twice.code == 1, twice.out);
  BOOST_TEST(Contains(twice.out, "another tailsafe-agent (pid " + std::to_string(c.Pid(0)) + ")"), twice.out);
  BOOST_TEST(c.Running(0));

  BOOST_TEST(c.Stop(0).ok());
  Run down = Exec(ctl + " status");
  BOOST_TEST(down.code == 1);
  BOOST_TEST(Contains(down.out, "is tailsafe-agent running?"), down.out);
  BOOST_TEST(c.Stop(1).ok());
}

BOOST_AUTO_TEST_CASE(bad_invocations_name_the_problem) {
  std::string dir = MakeTempDir("cli-bad");
  std::string agent = BinDir() + "/tailsafe-agent";
  std::string ctl = BinDir() + "/tailsafectl";

  Run missing = Exec(agent + " -c " + dir + "/nope.conf");
  BOOST_TEST(missing.code == 2);
  BOOST_TEST(Contains(missing.out, "nope.conf"), missing.out);

  std::ofstream(dir + "/bad.conf") << "[cluster]\nname = \"x\"\n[agent]\nid = \"a\"\nlisten = \"127.0.0.1:1\"\n"
                                      "data_dir = \"/tmp/x\"\nbogus_key = 1\n";
  Run bad = Exec(agent + " -c " + dir + "/bad.conf");
  BOOST_TEST(bad.code == 2);
  BOOST_TEST(Contains(bad.out, "bogus_key"), bad.out);
  BOOST_TEST(Contains(bad.out, ":7"), bad.out);  // the line number

  Run level = Exec(agent + " -c " + dir + "/bad.conf --log-level chatty");
  BOOST_TEST(level.code == 2);
  BOOST_TEST(Contains(level.out, "chatty"), level.out);

  Run unknown = Exec(agent + " --frobnicate");
  BOOST_TEST(unknown.code == 2);
  BOOST_TEST(Contains(unknown.out, "frobnicate"), unknown.out);
  // tailsafectl: a command-line error exits 2, and 3 (UNKNOWN) for check, which monitoring reads.
  Run ctl_unknown = Exec(ctl + " status --frobnicate");
  BOOST_TEST(ctl_unknown.code == 2, ctl_unknown.out);
  Run check_usage = Exec(ctl + " check --lag-warn many");
  BOOST_TEST(check_usage.code == 3, check_usage.out);
  BOOST_TEST(Contains(check_usage.out, "lag-warn"), check_usage.out);

  Run keygen = Exec(ctl + " keygen " + dir + "/cluster.key");
  BOOST_TEST(keygen.code == 0, keygen.out);
  BOOST_TEST(Contains(keygen.out, "key id"), keygen.out);
  std::ofstream(dir + "/good.conf") << "[cluster]\nname = \"x\"\nkey_file = \"" << dir << "/cluster.key\"\n"
                                       "[agent]\nid = \"a\"\nlisten = \"127.0.0.1:1\"\ndata_dir = \"/tmp/x\"\n";
  Run check = Exec(agent + " -c " + dir + "/good.conf --check-config");
  BOOST_TEST(check.code == 0, check.out);
  BOOST_TEST(Contains(check.out, "ok"), check.out);

  std::string coordinator = BinDir() + "/tailsafe-coordinator";
  Run notable = Exec(coordinator + " -c " + dir + "/good.conf");
  BOOST_TEST(notable.code == 2, notable.out);
  BOOST_TEST(Contains(notable.out, "has no [coordinator] table"), notable.out);
  std::ofstream(dir + "/coord.conf") << "[cluster]\nname = \"x\"\n[coordinator]\nlisten = \"127.0.0.1:7400\"\n"
                                        "state_dir = \"/tmp/x\"\nhost_timeout_ms = 5\n";
  Run range = Exec(coordinator + " -c " + dir + "/coord.conf --check-config");
  BOOST_TEST(range.code == 2, range.out);
  BOOST_TEST(Contains(range.out, "coordinator.host_timeout_ms"), range.out);
  Run unknown_flag = Exec(coordinator + " --frobnicate");
  BOOST_TEST(unknown_flag.code != 0);
  BOOST_TEST(Contains(unknown_flag.out, "frobnicate"), unknown_flag.out);

  Run nosub = Exec(ctl);
  BOOST_TEST(nosub.code != 0);
  Run ctlbad = Exec(ctl + " -c " + dir + "/bad.conf status");
  BOOST_TEST(ctlbad.code == 2);
  BOOST_TEST(Contains(ctlbad.out, "bogus_key"), ctlbad.out);
  RemoveTree(dir);
}

// `tailsafectl checkpoint` writes the file a bolt would; the agent reads it on the change and
// shows it; bad arguments and a bad file are named, and a bad file keeps the last good offset.
BOOST_AUTO_TEST_CASE(checkpoint_written_by_tailsafectl_reaches_status) {
  ClusterOptions opt = TwoAgentsOneBolt();
  opt.checkpoint_files = true;
  TestCluster c("ckpt", opt);
  BOOST_REQUIRE(c.Start(0).ok());
  std::string ctl = BinDir() + "/tailsafectl -c " + c.ConfigPath(0);
  auto checkpoint = [&]() -> nlohmann::json {
    auto st = c.AgentStatus(0);
    if (!st.ok() || (*st)["bolts"].empty()) return nullptr;
    return (*st)["bolts"][0].value("checkpoint", nlohmann::json());
  };
  nlohmann::json ck;
  BOOST_REQUIRE(WaitUntil([&] { ck = checkpoint(); return ck.is_object() && ck.contains("problem"); }, 10));
  BOOST_TEST(ck.value("problem", "") == "no checkpoint file yet", ck.dump());

  Run ok = Exec(ctl + " checkpoint bolt-1 123456");
  BOOST_TEST(ok.code == 0, ok.out);
  BOOST_TEST(WaitUntil([&] { ck = checkpoint(); return ck.value("offset", 0ull) == 123456u; }, 10), ck.dump());

  Run human = Exec(ctl + " status");
  BOOST_TEST(Contains(human.out, "checkpoint: 123456"), human.out);

  Run unknown = Exec(ctl + " checkpoint bolt-9 1");
  BOOST_TEST(unknown.code == 2, unknown.out);
  BOOST_TEST(Contains(unknown.out, "no bolt 'bolt-9'"), unknown.out);
  BOOST_TEST(Contains(unknown.out, "(bolts: bolt-1)"), unknown.out);
  Run bad = Exec(ctl + " checkpoint bolt-1 12x");
  BOOST_TEST(bad.code == 2, bad.out);
  BOOST_TEST(Contains(bad.out, "OFFSET '12x' is not a decimal byte offset"), bad.out);
  Run missing = Exec(ctl + " checkpoint");
  BOOST_TEST(missing.code != 0, missing.out);

  // A broken file written in place: logged, shown, and the last good offset stays.
  std::ofstream(c.CheckpointFile(0, 0)) << "half-written";
  BOOST_TEST(WaitUntil([&] { ck = checkpoint(); return ck.contains("problem"); }, 10), ck.dump());
  BOOST_TEST(ck.value("offset", 0ull) == 123456u, ck.dump());
  BOOST_TEST(Contains(ck.value("problem", ""), "'half-written' is not a decimal byte offset"), ck.dump());
  BOOST_TEST(Contains(c.LogTail(0), "is not a decimal byte offset"), c.LogTail(0));
  BOOST_TEST(c.Stop(0).ok());
}

// The checkpoint travels with the stream: the peer records it per (origin, bolt), keeps it across
// its own restart, and gets the current one after being down while it changed.
BOOST_AUTO_TEST_CASE(checkpoint_travels_to_the_peer_and_survives_its_restart) {
  ClusterOptions opt = TwoAgentsOneBolt();
  opt.checkpoint_files = true;
  TestCluster c("ckpt-travel", opt);
  BOOST_REQUIRE(c.StartAll().ok());
  AppendWriter w(c.BoltFile(0, 0), 100000, 3);
  w.Start();
  w.Join();
  BOOST_REQUIRE(c.WaitAcked(0, 0, 10));
  std::string ctl = BinDir() + "/tailsafectl -c " + c.ConfigPath(0);
  auto peer_checkpoint = [&]() -> nlohmann::json {
    auto st = c.AgentStatus(1);
    if (!st.ok()) return nullptr;
    for (const auto& ck : (*st)["peer_checkpoints"]) {
      if (ck["origin"] == "h1" && ck["bolt"] == "bolt-1") return ck;
    }
    return nullptr;
  };
  nlohmann::json ck;
  BOOST_TEST(Exec(ctl + " checkpoint bolt-1 5000").code == 0);
  BOOST_REQUIRE_MESSAGE(WaitUntil([&] { ck = peer_checkpoint(); return ck.is_object() && ck["offset"] == 5000; }, 10),
                        ck.dump());
  BOOST_TEST(ck["generation"] == 1);

  BOOST_REQUIRE(c.Stop(1).ok());
  BOOST_TEST(Exec(ctl + " checkpoint bolt-1 7000").code == 0);  // while the peer is down
  BOOST_REQUIRE(c.Start(1).ok());
  BOOST_TEST(WaitUntil([&] { ck = peer_checkpoint(); return ck.is_object() && ck["offset"] == 7000; }, 10), ck.dump());

  // Recorded in the peer's state.db: still there after the peer restarts with the origin gone.
  BOOST_REQUIRE(c.Stop(0).ok());
  BOOST_REQUIRE(c.Stop(1).ok());
  BOOST_REQUIRE(c.Start(1).ok());
  ck = peer_checkpoint();
  BOOST_TEST((ck.is_object() && ck["offset"] == 7000), ck.dump());
  BOOST_TEST(c.Stop(1).ok());
}

// Acceptance 6: `tailsafectl check` exits 0 when healthy, 1 above the lag warning threshold,
// 2 with a failed recovery or a dead agent, 3 without a coordinator; its output parses as
// monitoring-plugins output. Also: watch and the cluster-wide status.
BOOST_AUTO_TEST_CASE(check_follows_monitoring_plugins_and_watch_sees_recoveries) {
  ClusterOptions opt = TwoAgentsOneBolt();
  opt.coordinator = true;
  opt.pid_files = true;
  opt.hooks = true;
  opt.hook_args = {"--fail", "99"};
  opt.hook_attempts = 1;
  TestCluster c("cli-check", opt);
  // h1 also ships to a peer that never answers, so its lag grows and stays.
  BOOST_REQUIRE(c.EditConfig(0, "peers = [", "peers = [\"ghost@127.0.0.1:9\", "));
  BOOST_REQUIRE(c.StartCoordinator().ok());
  BOOST_REQUIRE(c.StartAll().ok());
  nlohmann::json doc;
  BOOST_REQUIRE(c.WaitDoc("/bolts/h2/bolt-1", [](const auto& d) { return d.contains("lag_bytes"); }, 10, &doc));
  std::string check = BinDir() + "/tailsafectl -c " + c.ConfigPath(0) + " check";
  Run ok = Exec(check);
  BOOST_TEST(ok.code == 0, ok.out);
  BOOST_TEST(IsPluginOutput(ok.out, "OK"), ok.out);

  std::ofstream(c.BoltFile(0, 0), std::ios::app) << std::string(999, 'x') << "\n";
  BOOST_REQUIRE_MESSAGE(c.WaitDoc("/bolts/h1/bolt-1", [](const auto& d) { return d.value("lag_bytes", 0) >= 1000; },
                                10, &doc), doc.dump());
  Run warn = Exec(check + " --lag-warn 500 --lag-crit 100000");
  BOOST_TEST(warn.code == 1, warn.out);
  BOOST_TEST(IsPluginOutput(warn.out, "WARNING"), warn.out);
  BOOST_TEST(Contains(warn.out, "lag 1000 B on h1/bolt-1 (warning at 500 B)"), warn.out);
  BOOST_TEST(Contains(warn.out, "'lag_bytes'=1000B;500;100000;0;"), warn.out);
  Run crit = Exec(check + " --lag-warn 500 --lag-crit 800");
  BOOST_TEST(crit.code == 2, crit.out);
  BOOST_TEST(IsPluginOutput(crit.out, "CRITICAL"), crit.out);
  Run bad = Exec(check + " --lag-warn 5 --lag-crit 1");
  BOOST_TEST(bad.code == 3, bad.out);
  BOOST_TEST(IsPluginOutput(bad.out, "UNKNOWN"), bad.out);

  // A recovery whose hook fails: watch sees it come and end; check says CRITICAL.
  auto watch = Child::Spawn({BinDir() + "/tailsafectl", "-c", c.ConfigPath(0), "watch", "/recoveries", "--interval-ms",
                             "20", "--count", "1"},
                            c.root() + "/watch.out");
  BOOST_REQUIRE(watch.ok());
  BOOST_REQUIRE_MESSAGE(
      WaitUntil([&] { return Contains(ReadAll(c.root() + "/watch.out"), "watching /recoveries: 0 documents"); }, 10),
      ReadAll(c.root() + "/watch.out"));
  auto bolt = Child::Spawn({"/bin/sleep", "600"}, c.root() + "/bolt.log");
  BOOST_REQUIRE(bolt.ok());
  std::ofstream(c.PidFile(0, 0)) << bolt->pid() << "\n";
  BOOST_REQUIRE(c.WaitDoc("/bolts/h1/bolt-1", [](const auto& d) {
    return d.contains("process") && d["process"].value("state", "") == "running";
  }, 10, &doc));
  bolt->Signal(SIGKILL);
  bolt->Wait();
  BOOST_REQUIRE_MESSAGE(c.WaitDoc("/recoveries/1", [](const auto& d) { return d.value("state", "") == "failed"; }, 20,
                                &doc), doc.dump() << c.CoordinatorLogTail());
  BOOST_TEST(WaitUntil([&] { return !watch->running(); }, 20));
  std::string watched = ReadAll(c.root() + "/watch.out");
  BOOST_TEST(Contains(watched, " added /recoveries/1 {"), watched);
  Run failed = Exec(check);
  BOOST_TEST(failed.code == 2, failed.out);
  BOOST_TEST(IsPluginOutput(failed.out, "CRITICAL"), failed.out);
  BOOST_TEST(Contains(failed.out, "recovery 1 of h1/bolt-1 failed: exited with status 1"), failed.out);
  BOOST_TEST(Contains(failed.out, "'recoveries_failed'=1;;1;0;"), failed.out);

  Run status = Exec(BinDir() + "/tailsafectl -c " + c.ConfigPath(0) + " status");
  BOOST_TEST(status.code == 0, status.out);
  for (const char* want : {"AGENT", "h2", "alive", "h1/bolt-1", "dead", "RECOVERY", "failed", "exited with status 1"}) {
    BOOST_TEST(Contains(status.out, want), want << " not in:\n" << status.out);
  }
  Run local = Exec(BinDir() + "/tailsafectl -c " + c.ConfigPath(0) + " status --local --json");
  BOOST_TEST(local.code == 0, local.out);
  BOOST_TEST(Contains(local.out, "\"recoveries\""), local.out);

  // A dead agent is CRITICAL too.
  c.Kill(1, SIGKILL);
  BOOST_REQUIRE(c.WaitDoc("/agents/h2", [](const auto& d) { return !d.value("alive", true); }, 10, &doc));
  Run dead = Exec(check);
  BOOST_TEST(dead.code == 2, dead.out);
  BOOST_TEST(Contains(dead.out, "agent h2 is dead"), dead.out);
  BOOST_TEST(Contains(dead.out, "'agents_dead'=1;;1;0;"), dead.out);

  // No coordinator: UNKNOWN.
  BOOST_TEST(c.StopCoordinator().message() == "ok");
  Run unknown = Exec(check + " --timeout-ms 500");
  BOOST_TEST(unknown.code == 3, unknown.out);
  BOOST_TEST(IsPluginOutput(unknown.out, "UNKNOWN"), unknown.out);
  BOOST_TEST(c.Stop(0).ok());
}

// Every option each program's --help lists, and every tailsafectl command, is in its man page
// (written there as mdoc's `.Fl \-name` and `.Cm name`).
BOOST_AUTO_TEST_CASE(every_option_and_command_is_in_its_man_page) {
  struct Page {
    std::string program, page;
    std::vector<std::string> commands;
  };
  const Page pages[] = {
      {"tailsafe-agent", "tailsafe-agent.8", {}},
      {"tailsafe-coordinator", "tailsafe-coordinator.8", {}},
      {"tailsafectl", "tailsafectl.1", {"status", "check", "watch", "checkpoint", "keygen", "ls", "get"}},
  };
  for (const Page& p : pages) {
    std::string text = ManPage(p.page);
    BOOST_REQUIRE_MESSAGE(!text.empty(), "man/" << p.page << " not found; run from the checkout or set TAILSAFE_SOURCE_DIR");
    Run help = Exec(BinDir() + "/" + p.program + " --help");
    BOOST_REQUIRE_EQUAL(help.code, 0);
    std::set<std::string> options = LongOptions(help.out);
    for (const std::string& command : p.commands) {
      BOOST_TEST(Contains(help.out, command), p.program << " --help does not list " << command);
      BOOST_TEST(Contains(text, ".Cm " + command), p.page << " does not describe the command " << command);
      Run sub = Exec(BinDir() + "/" + p.program + " " + command + " --help");
      BOOST_TEST(sub.code == 0, sub.out);
      for (const std::string& o : LongOptions(sub.out)) options.insert(o);
    }
    BOOST_TEST(options.size() >= 3u, p.program << ": only " << options.size() << " options found in --help");
    for (const std::string& o : options) {
      // "Fl \-name" followed by something that cannot continue the name.
      const std::string mark = "Fl \\-" + o.substr(2);
      bool found = false;
      for (size_t at = text.find(mark); at != std::string::npos && !found; at = text.find(mark, at + 1)) {
        size_t end = at + mark.size();
        found = end == text.size() || !(std::islower(static_cast<unsigned char>(text[end])) || text[end] == '-');
      }
      BOOST_TEST(found, p.page << " does not describe " << o);
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
