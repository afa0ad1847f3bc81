// The command-line surface: tailsafectl status (human and JSON), and clear errors with the
// documented exit codes for bad arguments, bad configs and an agent that is not running.
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <sys/wait.h>

#include <cstdio>
#include <fstream>
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
  BOOST_TEST(unknown.code != 0);
  BOOST_TEST(Contains(unknown.out, "frobnicate"), unknown.out);

  std::ofstream(dir + "/good.conf") << "[cluster]\nname = \"x\"\n[agent]\nid = \"a\"\nlisten = \"127.0.0.1:1\"\n"
                                       "data_dir = \"/tmp/x\"\n";
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

BOOST_AUTO_TEST_SUITE_END()
