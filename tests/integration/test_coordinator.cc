// tailsafe-coordinator with real agents on loopback (issue 3): registration, heartbeats carrying
// bolt states, death by silence, return, a coordinator restart that forgets nothing, and clear
// errors for bad paths and bad peers.
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>

#include "common/fd.h"
#include "tests/support/cluster.h"
#include "tests/support/writer.h"

using namespace tailsafe;
using namespace tailsafe::testing;
using Clock = std::chrono::steady_clock;

namespace {

using Run = CommandResult;
Run Exec(const std::string& cmd) { return RunCommand(cmd); }

bool Contains(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

void WritePidFile(const std::string& path, pid_t pid) {
  std::ofstream(path + ".tmp") << pid << "\n";
  BOOST_REQUIRE(::rename((path + ".tmp").c_str(), path.c_str()) == 0);
}

ClusterOptions WithCoordinator() {
  ClusterOptions opt = TwoAgentsOneBolt();
  opt.coordinator = true;
  opt.host_timeout_ms = 1000;
  opt.pid_files = true;
  opt.checkpoint_files = true;
  return opt;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(coordinator)

// A peer that closes its end while a daemon writes to it must cost that connection only: both
// daemons ignore SIGPIPE (the coordinator did not, and died of it now and then when agents
// stopped while it wrote to them).
BOOST_AUTO_TEST_CASE(the_daemons_ignore_sigpipe) {
  ClusterOptions o = RecoveryCluster(1);
  TestCluster c("sigpipe", o);
  BOOST_REQUIRE(c.StartCoordinator().ok());
  BOOST_REQUIRE(c.StartAll().ok());
  auto ignores_sigpipe = [](pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    for (std::string line; std::getline(in, line);) {
      if (line.rfind("SigIgn:", 0) == 0) return ((std::stoull(line.substr(7), nullptr, 16) >> (SIGPIPE - 1)) & 1) == 1;
    }
    return false;
  };
  BOOST_TEST(ignores_sigpipe(c.CoordinatorPid()), "the coordinator does not ignore SIGPIPE");
  BOOST_TEST(ignores_sigpipe(c.Pid(0)), "the agent does not ignore SIGPIPE");
  BOOST_TEST(c.StopAll().ok());
  BOOST_TEST(c.StopCoordinator().message() == "ok");
}

BOOST_AUTO_TEST_CASE(agents_register_report_bolts_and_die_by_silence) {
  TestCluster c("coord", WithCoordinator());
  BOOST_REQUIRE(c.StartCoordinator().ok());
  BOOST_REQUIRE(c.StartAll().ok());
  nlohmann::json doc;
  for (const char* id : {"h1", "h2"}) {
    BOOST_REQUIRE_MESSAGE(c.WaitDoc(std::string("/agents/") + id, [](const auto& d) { return d.value("alive", false); },
                                  10, &doc),
                          doc.dump() << c.CoordinatorLogTail());
  }
  BOOST_TEST(doc.value("address", "").rfind("127.0.0.1:", 0) == 0, doc.dump());
  std::string ctl = BinDir() + "/tailsafectl --config " + c.ConfigPath(0);
  Run ls = Exec(ctl + " ls /agents");
  BOOST_TEST(ls.code == 0, ls.out);
  BOOST_TEST(ls.out == "h1\nh2\n", ls.out);

  // The bolt's process and checkpoint reach /bolts/h1/bolt-1 through the heartbeats.
  auto sleeper = Child::Spawn({"/bin/sleep", "600"}, c.root() + "/sleeper.log");
  BOOST_REQUIRE(sleeper.ok());
  WritePidFile(c.PidFile(0, 0), sleeper->pid());
  BOOST_TEST(Exec(ctl + " checkpoint bolt-1 42").code == 0);
  auto running = [&](const nlohmann::json& d) {
    return d.contains("process") && d["process"].value("state", "") == "running" && d.contains("checkpoint") &&
           d["checkpoint"].value("offset", 0) == 42;
  };
  BOOST_REQUIRE_MESSAGE(c.WaitDoc("/bolts/h1/bolt-1", running, 10, &doc), doc.dump());
  sleeper->Signal(SIGKILL);
  sleeper->Wait();
  BOOST_REQUIRE_MESSAGE(c.WaitDoc("/bolts/h1/bolt-1", [](const auto& d) {
    return d.contains("process") && d["process"].value("state", "") == "dead";
  }, 10, &doc), doc.dump());
  BOOST_TEST(doc["process"].value("deaths", 0) == 1, doc.dump());

  // Whole-host death: the agent goes silent; after host_timeout_ms it and its bolts are dead.
  c.Kill(1, SIGKILL);
  auto killed = Clock::now();
  BOOST_REQUIRE_MESSAGE(c.WaitDoc("/agents/h2", [](const auto& d) { return !d.value("alive", true); }, 10, &doc),
                        doc.dump() << c.CoordinatorLogTail());
  double took = std::chrono::duration<double>(Clock::now() - killed).count();
  BOOST_TEST_MESSAGE("h2 declared dead " << took << " s after SIGKILL (host_timeout_ms 1000)");
  BOOST_TEST(Contains(c.CoordinatorLogTail(), "agent h2 is dead"), c.CoordinatorLogTail());
  auto bolt = c.CoordinatorGet("/bolts/h2/bolt-1");
  BOOST_REQUIRE(bolt.ok());
  BOOST_TEST(!bolt->value("host_alive", true), bolt->dump());
  // h1 hears of it through membership.
  BOOST_TEST(WaitUntil([&] {
    auto st = c.AgentStatus(0);
    if (!st.ok() || !st->contains("coordinator")) return false;
    for (const auto& a : (*st)["coordinator"]["membership"]) {
      if (a["id"] == "h2" && a["alive"] == false) return true;
    }
    return false;
  }, 10));

  // It returns.
  BOOST_REQUIRE(c.Start(1).ok());
  BOOST_TEST(c.WaitDoc("/agents/h2", [](const auto& d) { return d.value("alive", false); }, 10, &doc), doc.dump());
  BOOST_TEST(c.WaitDoc("/bolts/h2/bolt-1", [](const auto& d) { return d.value("host_alive", false); }, 10, &doc),
             doc.dump());
  BOOST_TEST(c.StopAll().ok());
  BOOST_TEST(c.StopCoordinator().message() == "ok");
}

BOOST_AUTO_TEST_CASE(a_restarted_coordinator_remembers_and_agents_come_back) {
  TestCluster c("coord-restart", WithCoordinator());
  BOOST_REQUIRE(c.StartCoordinator().ok());
  BOOST_REQUIRE(c.StartAll().ok());
  nlohmann::json doc;
  BOOST_REQUIRE(c.WaitDoc("/agents/h2", [](const auto& d) { return d.value("alive", false); }, 10, &doc));
  c.KillCoordinator(SIGKILL);
  BOOST_REQUIRE(c.StartCoordinator().ok());
  auto remembered = c.CoordinatorGet("/agents/h1");
  BOOST_TEST(remembered.ok(), remembered.status().message());
  // Both agents reconnect and heartbeat again; neither is declared dead meanwhile.
  BOOST_TEST(c.WaitDoc("/agents/h1", [](const auto& d) { return d.value("connected", false); }, 10, &doc), doc.dump());
  BOOST_TEST(c.WaitDoc("/agents/h2", [](const auto& d) { return d.value("connected", false); }, 10, &doc), doc.dump());
  BOOST_TEST(!Contains(c.CoordinatorLogTail(), "is dead"), c.CoordinatorLogTail());
  BOOST_TEST(c.StopAll().ok());
  BOOST_TEST(c.StopCoordinator().message() == "ok");
}

BOOST_AUTO_TEST_CASE(bad_paths_and_bad_peers_get_clear_errors) {
  TestCluster c("coord-bad", WithCoordinator());
  BOOST_REQUIRE(c.StartCoordinator().ok());
  std::string ctl = c.Ctl() + " --coordinator " + c.CoordinatorAddress();
  Run bad = Exec(c.Ctl() + " ls '/no such' --coordinator " + c.CoordinatorAddress());
  BOOST_TEST(bad.code == 1, bad.out);
  BOOST_TEST(Contains(bad.out, "'no such' is not a valid name"), bad.out);
  BOOST_REQUIRE(c.Start(0).ok());
  nlohmann::json doc;
  BOOST_REQUIRE(c.WaitDoc("/agents/h1", [](const auto& d) { return d.value("alive", false); }, 10, &doc));
  Run inner = Exec(c.Ctl() + " get /agents --coordinator " + c.CoordinatorAddress());
  BOOST_TEST(inner.code == 1, inner.out);
  BOOST_TEST(Contains(inner.out, "no document at /agents (it has children: use ls)"), inner.out);
  Run missing = Exec(c.Ctl() + " get /agents/zz --coordinator " + c.CoordinatorAddress());
  BOOST_TEST(missing.code == 1, missing.out);
  BOOST_TEST(Contains(missing.out, "no document at /agents/zz"), missing.out);
  Run nowhere = Exec(c.Ctl() + " ls / --coordinator 127.0.0.1:1");
  BOOST_TEST(nowhere.code == 1, nowhere.out);
  BOOST_TEST(Contains(nowhere.out, "cannot reach the coordinator at 127.0.0.1:1"), nowhere.out);

  // Garbage on the coordinator's port closes that connection only.
  {
    Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(std::stoi(c.CoordinatorAddress().substr(10))));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    BOOST_REQUIRE(::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    std::string junk(4096, 'x');
    (void)::send(fd.get(), junk.data(), junk.size(), MSG_NOSIGNAL);
    char b;
    BOOST_TEST(::recv(fd.get(), &b, 1, 0) <= 0);  // closed on us
  }
  Run still = Exec(c.Ctl() + " ls /agents --coordinator " + c.CoordinatorAddress());
  BOOST_TEST(still.code == 0, still.out);

  // An agent of another cluster is refused, and says so.
  std::string other = c.root() + "/other.toml";
  {
    std::ifstream in(c.ConfigPath(1));
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    text.replace(text.find("name = \"test\""), 13, "name = \"other\"");
    std::ofstream(other) << text;
  }
  auto stranger = Child::Spawn({BinDir() + "/tailsafe-agent", "-c", other}, c.root() + "/stranger.log");
  BOOST_REQUIRE(stranger.ok());
  BOOST_TEST(WaitUntil([&] {
    std::ifstream f(c.root() + "/stranger.log");
    std::string log((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    return Contains(log, "refused this agent: agent is in cluster 'other', this coordinator serves 'test'");
  }, 10));
  BOOST_TEST(!c.CoordinatorGet("/agents/h2").ok());
  stranger->Signal(SIGTERM);
  stranger->Wait();
  BOOST_TEST(c.Stop(0).ok());
  BOOST_TEST(c.StopCoordinator().message() == "ok");
}

// Without static peers, the coordinator's membership is the peer list; each agent remembers it in
// state.db, so replication goes on after a restart while the coordinator is down.
BOOST_AUTO_TEST_CASE(membership_is_the_peer_list_and_is_remembered) {
  ClusterOptions opt;
  opt.agents = 3;
  opt.bolts_per_agent = 1;
  opt.coordinator = true;
  opt.static_peers = false;
  TestCluster c("coord-members", opt);
  BOOST_REQUIRE(c.StartCoordinator().ok());
  BOOST_REQUIRE(c.StartAll().ok());
  AppendWriter w(c.BoltFile(0, 0), 2'000'000, 5);
  w.Start();
  w.Join();
  std::string why;
  auto replicated = [&] {
    return FilesEqual(c.BoltFile(0, 0), c.ReplicaFile(1, 0, 0, 1), &why) &&
           FilesEqual(c.BoltFile(0, 0), c.ReplicaFile(2, 0, 0, 1), &why);
  };
  BOOST_REQUIRE_MESSAGE(WaitUntil(replicated, 20), why << "\n" << c.LogTail(0));
  BOOST_TEST(Contains(c.LogTail(0), "coordinator: peer h2 at 127.0.0.1:"), c.LogTail(0));

  BOOST_REQUIRE(c.StopAll().ok());
  c.KillCoordinator(SIGKILL);
  BOOST_REQUIRE(c.StartAll().ok());
  AppendWriter more(c.BoltFile(0, 0), 1'000'000, 6);
  more.Start();
  more.Join();
  BOOST_TEST(WaitUntil(replicated, 20), why << "\n" << c.LogTail(0));
  BOOST_TEST(c.StopAll().ok());
}

BOOST_AUTO_TEST_SUITE_END()
