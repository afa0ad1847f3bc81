// Recovery of dead bolts' tails (issue 3): election, the hook contract, retries, host death and
// return, and fencing epochs across coordinator and agent crashes. Real agents, a real
// coordinator and tests/tools/ts-hook as the hook, on loopback.
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <dirent.h>
#include <pwd.h>
#include <sys/stat.h>
#include <signal.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/cluster.h"
#include "tests/support/hook_runs.h"
#include "tests/support/prometheus_check.h"

using namespace tailsafe;
using namespace tailsafe::testing;
namespace fs = std::filesystem;

namespace {


void WriteAtomically(const std::string& path, const std::string& text) {
  std::ofstream(path + ".tmp") << text;
  BOOST_REQUIRE(::rename((path + ".tmp").c_str(), path.c_str()) == 0);
}

void Append(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::app);
  out << text;
}

std::string Lines(int from, int to) {
  std::string s;
  for (int i = from; i < to; ++i) s += "GET /page/" + std::to_string(i) + " host-" + std::to_string(i % 7) + "\n";
  return s;
}

uint64_t UnixNs() {
  struct timespec ts;
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000 + static_cast<uint64_t>(ts.tv_nsec);
}

bool StateIs(const nlohmann::json& d, const char* state) { return d.value("state", "") == state; }


std::string Ls(const TestCluster& c, const std::string& path) {
  return RunCommand(c.Ctl() + " ls " + path + " --coordinator " + c.CoordinatorAddress()).out;
}

// A stand-in bolt process: the test writes its file and checkpoints; the process is what dies.
Child StartBolt(TestCluster& c, int agent) {
  auto p = Child::Spawn({"/bin/sleep", "600"}, c.root() + "/bolt-" + c.AgentId(agent) + ".log");
  BOOST_REQUIRE(p.ok());
  WriteAtomically(c.PidFile(agent, 0), std::to_string(p->pid()) + "\n");
  nlohmann::json doc;
  BOOST_REQUIRE_MESSAGE(c.WaitDoc("/bolts/" + c.AgentId(agent) + "/bolt-1", [](const auto& d) {
    return d.contains("process") && d["process"].value("state", "") == "running";
  }, 10, &doc), doc.dump() << c.CoordinatorLogTail());
  return std::move(p.value());
}

// Two agents whose hooks fail their first `fails` runs of each recovery; two attempts per
// assignment, 20 ms apart.
ClusterOptions FailingHookCluster(int fails) {
  ClusterOptions o = RecoveryCluster(2);
  o.hook_args = {"--fail", std::to_string(fails)};
  o.hook_attempts = 2;
  o.hook_retry_ms = 20;
  return o;
}

// Three agents whose hooks hold (ts-hook --hold) until KillBoltWithHeldHook's release file exists.
ClusterOptions HeldHookCluster() {
  ClusterOptions o = RecoveryCluster(3);
  o.hook_args = {"--hold", "RELEASE"};
  return o;
}

// Starts everything, appends `tail` to h1's bolt file, kills the bolt once the tail is replicated,
// and waits until the elected agent's hook runs (and holds); `rec` is then /recoveries/1. Returns
// the file that releases the hooks.
std::string KillBoltWithHeldHook(TestCluster& c, const std::string& tail, nlohmann::json* rec) {
  std::string release = c.root() + "/release";  // the placeholder, now that the root is known
  for (int i = 0; i < c.size(); ++i) BOOST_REQUIRE(c.EditConfig(i, "RELEASE", release));
  BOOST_REQUIRE(c.StartCoordinator().ok());
  BOOST_REQUIRE(c.StartAll().ok());
  Child bolt = StartBolt(c, 0);
  Append(c.BoltFile(0, 0), tail);
  BOOST_REQUIRE(c.WaitAcked(0, 0, 20));
  bolt.Signal(SIGKILL);
  bolt.Wait();
  BOOST_REQUIRE_MESSAGE(c.WaitDoc("/recoveries/1", [](const auto& d) { return StateIs(d, "running"); }, 20, rec),
                        rec->dump() << c.CoordinatorLogTail());
  return release;
}

// A successor bolt started while nobody watches: a new process in the pid file, the lines it
// appended, and a checkpoint that claims them (the dead process's tail is not its business).
Child StartSuccessor(TestCluster& c, int agent, const std::string& lines) {
  auto p = Child::Spawn({"/bin/sleep", "600"}, c.root() + "/bolt-" + c.AgentId(agent) + ".log");
  BOOST_REQUIRE(p.ok());
  WriteAtomically(c.PidFile(agent, 0), std::to_string(p->pid()) + "\n");
  Append(c.BoltFile(agent, 0), lines);
  WriteAtomically(c.CheckpointFile(agent, 0), std::to_string(FileSize(c.BoltFile(agent, 0))) + "\n");
  return std::move(p.value());
}

// Starts c, a bolt on h1 that processed `processed` and left `unprocessed`, replicated, with the
// checkpoint known to the coordinator.
void StartWithTail(TestCluster& c, Child* bolt, const std::string& processed, const std::string& unprocessed) {
  BOOST_REQUIRE(c.StartCoordinator().ok());
  BOOST_REQUIRE(c.StartAll().ok());
  *bolt = StartBolt(c, 0);
  Append(c.BoltFile(0, 0), processed);
  WriteAtomically(c.CheckpointFile(0, 0), std::to_string(processed.size()) + "\n");
  Append(c.BoltFile(0, 0), unprocessed);
  BOOST_REQUIRE(c.WaitAcked(0, 0, 20));
  nlohmann::json doc;
  BOOST_REQUIRE(c.WaitDoc("/bolts/h1/bolt-1", [&](const auto& d) {
    return d.contains("checkpoint") && d["checkpoint"].value("offset", uint64_t{0}) == processed.size();
  }, 10, &doc));
}

// Three agents, peers that take at most a window (64 KiB) and a chunk of unacknowledged bytes,
// and a host timeout the peers stay paused well within.
ClusterOptions ShrinkCluster() {
  ClusterOptions o = RecoveryCluster(3);
  o.window_bytes = 65536;
  o.host_timeout_ms = 3000;
  o.shrink_grace_ms = 4000;  // the default, 24 s, is the same path, waited for longer
  o.metrics = true;
  return o;
}

// The coordinator's counter `name` (0 if it cannot be read).
double CoordinatorCounter(const TestCluster& c, const std::string& name) {
  auto text = HttpGet(c.MetricsPort(-1), "/metrics");
  if (!text) return 0;
  auto samples = ParsePrometheusText(*text);
  if (!samples) return 0;
  auto it = samples->find(name);
  return it == samples->end() ? 0 : it->second;
}

// Starts c with a bolt on h1 whose first lines are processed and the next replicated, pauses
// both peers (SIGSTOP), appends about 1.3 MB they cannot take, and kills the bolt: its range
// runs to h1's file end. Returns /recoveries/1 once assigned; the peers are still paused.
nlohmann::json KillBoltWithPeersPaused(TestCluster& c, Child* bolt) {
  StartWithTail(c, bolt, Lines(0, 100), Lines(100, 300));
  for (int peer : {1, 2}) ::kill(c.Pid(peer), SIGSTOP);
  Append(c.BoltFile(0, 0), Lines(300, 60000));
  bolt->Signal(SIGKILL);
  bolt->Wait();
  nlohmann::json rec;
  uint64_t acked = Lines(0, 300).size();
  bool planned = c.WaitDoc("/recoveries/1", [&](const auto& d) {
    return StateIs(d, "assigned") && d.value("to", uint64_t{0}) > acked;
  }, 10, &rec);
  if (!planned) {
    for (int peer : {1, 2}) ::kill(c.Pid(peer), SIGCONT);
  }
  BOOST_REQUIRE_MESSAGE(planned, rec.dump() << c.CoordinatorLogTail());
  return rec;
}

// Agent i's recovery runner holds no job, within 10 s.
void ExpectNothingWaits(TestCluster& c, int i) {
  nlohmann::json jobs;
  BOOST_TEST(WaitUntil([&] {
    auto st = c.AgentStatus(i);
    if (st.ok()) jobs = st->value("recoveries", nlohmann::json::array());
    return st.ok() && jobs.empty();
  }, 10), c.AgentId(i) << " still holds " << jobs.dump());
}

// The first recovery of h1/bolt-1 ends recovered, and its hook got exactly `tail` first.
void ExpectTailRecovered(TestCluster& c, uint64_t from, const std::string& tail) {
  nlohmann::json rec;
  BOOST_REQUIRE_MESSAGE(c.WaitDoc("/recoveries/1", [](const auto& d) { return StateIs(d, "recovered"); }, 30, &rec),
                        rec.dump() << c.CoordinatorLogTail() << c.LogTail(0));
  BOOST_TEST(rec.value("from", uint64_t{0}) == from, rec.dump());
  auto runs = HookRuns(c);
  BOOST_REQUIRE(!runs.empty());
  BOOST_TEST(runs[0].input.substr(0, tail.size()) == tail, "the hook got " << runs[0].input.size() << " bytes");
}

// The bolt on h1 is killed while its agent is down (killed, restarted after) or paused
// (shorter than host_timeout_ms: only the bolt is declared dead), and a successor started; with
// `successor_dies` the successor is killed as well before the agent is back. Either way the
// first process's tail, from the checkpoint the agent last read while it lived, is recovered.
enum class Away { kDown, kPaused };
void KillBoltWhileAgentAway(const char* name, Away away, bool successor_dies) {
  TestCluster c(name, RecoveryCluster(3));
  Child bolt;
  std::string processed = Lines(0, 100), unprocessed = Lines(100, 250);
  StartWithTail(c, &bolt, processed, unprocessed);
  if (away == Away::kDown) {
    c.Kill(0);
  } else {
    ::kill(c.Pid(0), SIGSTOP);
  }
  bolt.Signal(SIGKILL);
  bolt.Wait();
  Child successor = StartSuccessor(c, 0, Lines(250, 300));
  if (successor_dies) {
    successor.Signal(SIGKILL);
    successor.Wait();
  }
  if (away == Away::kDown) {
    BOOST_REQUIRE(c.Start(0).ok());
  } else {
    ::kill(c.Pid(0), SIGCONT);
  }
  ExpectTailRecovered(c, processed.size(), unprocessed);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(recovery)

// Acceptance 1: SIGKILL of a bolt; another host's hook gets exactly the lines after the last
// checkpoint, whole lines only, with the right TAILSAFE_* values, once.
BOOST_AUTO_TEST_CASE(killed_bolt_tail_goes_to_another_hosts_hook_once) {
  TestCluster c("rec-kill", RecoveryCluster(3));
  BOOST_REQUIRE(c.StartCoordinator().ok());
  BOOST_REQUIRE(c.StartAll().ok());
  Child bolt = StartBolt(c, 0);
  std::string file = c.BoltFile(0, 0);
  std::string processed = Lines(0, 300);
  Append(file, processed);
  WriteAtomically(c.CheckpointFile(0, 0), std::to_string(processed.size()) + "\n");
  std::string unprocessed = Lines(300, 500);
  Append(file, unprocessed + "GET /cut-in-the-middle-of-a-rec");  // the bolt died mid-write
  BOOST_REQUIRE(c.WaitAcked(0, 0, 20));

  bolt.Signal(SIGKILL);
  bolt.Wait();
  nlohmann::json rec;
  BOOST_REQUIRE_MESSAGE(c.WaitDoc("/recoveries/1", [](const auto& d) { return StateIs(d, "recovered"); }, 20, &rec),
                        rec.dump() << c.CoordinatorLogTail() << c.LogTail(1));
  c.LetHeartbeatsPass(0);

  auto runs = HookRuns(c);
  BOOST_REQUIRE_EQUAL(runs.size(), 1u);
  HookRun run = runs[0];
  BOOST_TEST(run.agent != 0, "the hook ran on the dead bolt's own host although others could");
  BOOST_TEST(run.input == unprocessed, "the hook got " << run.input.size() << " bytes, expected " << unprocessed.size());
  uint64_t from = processed.size(), to = processed.size() + unprocessed.size();
  BOOST_TEST(run.env["TAILSAFE_BOLT"] == "bolt-1");
  BOOST_TEST(run.env["TAILSAFE_ORIGIN"] == "h1");
  BOOST_TEST(run.env["TAILSAFE_GENERATION"] == "1");
  BOOST_TEST(run.env["TAILSAFE_FROM"] == std::to_string(from));
  BOOST_TEST(run.env["TAILSAFE_TO"] == std::to_string(to));
  BOOST_TEST(run.env["TAILSAFE_EPOCH"] == std::to_string(rec.value("epoch", uint64_t{0})));
  BOOST_TEST(run.env["TAILSAFE_RECOVERY"] == "1");
  std::string leaked;
  for (const std::string& u : run.unexpected) leaked += u + "; ";
  BOOST_TEST(leaked.empty(), "the hook's environment leaked: " << leaked);
  // No descriptor of the agent's (sockets, state.db, other replicas, inotify) reaches the hook
  // but descriptor 3, the generation itself, read-only (a hook may read the file's header); it
  // runs in a session of its own, so a timeout kills its children too.
  BOOST_TEST(run.env["HOOK_FDS"] == "0,1,2,3");
  BOOST_TEST(run.env["HOOK_FD3_MODE"] == "r");
  BOOST_TEST(run.env["HOOK_FD3_HEAD"] == processed.substr(0, processed.find('\n')), "fd 3's first line is " << run.env["HOOK_FD3_HEAD"]);
  BOOST_TEST(run.env["HOOK_OWN_SESSION"] == "1");

  BOOST_TEST(rec.value("origin", "") == "h1");
  BOOST_TEST(rec.value("agent", "") == c.AgentId(run.agent));
  BOOST_TEST(rec.value("from", uint64_t{0}) == from);
  BOOST_TEST(rec.value("to", uint64_t{0}) == FileSize(file), "the range asked covers the cut record too");
  BOOST_TEST(rec.value("delivered_to", uint64_t{0}) == to);
  BOOST_TEST(rec.value("cause", "") == "process died");
  BOOST_TEST(Ls(c, "/recoveries") == "1\n");
  BOOST_TEST(c.StopAll().ok());
  BOOST_TEST(c.StopCoordinator().message() == "ok");
}

// A failing hook is tried again with backoff; one that keeps failing ends "failed", with the error.
BOOST_AUTO_TEST_CASE(failing_hook_is_retried_then_shown_failed) {
  ClusterOptions o = FailingHookCluster(1);  // the first run of each recovery fails
  TestCluster c("rec-retry", o);
  BOOST_REQUIRE(c.StartCoordinator().ok());
  BOOST_REQUIRE(c.StartAll().ok());
  Child bolt = StartBolt(c, 0);
  Append(c.BoltFile(0, 0), Lines(0, 50));
  bolt.Signal(SIGKILL);
  bolt.Wait();
  nlohmann::json rec;
  BOOST_REQUIRE_MESSAGE(c.WaitDoc("/recoveries/1", [](const auto& d) { return StateIs(d, "recovered"); }, 20, &rec),
                        rec.dump() << c.CoordinatorLogTail() << c.LogTail(1));
  BOOST_TEST(rec.value("attempts", 0) == 2, rec.dump());
  BOOST_TEST(HookRuns(c).size() == 2u);
  BOOST_TEST(c.StopAll().ok());

  // Now a hook that always fails: two attempts, then "failed" with the reason.
  ClusterOptions o2 = o;
  o2.hook_args = {"--fail", "99"};
  TestCluster c2("rec-fail", o2);
  BOOST_REQUIRE(c2.StartCoordinator().ok());
  BOOST_REQUIRE(c2.StartAll().ok());
  Child bolt2 = StartBolt(c2, 0);
  Append(c2.BoltFile(0, 0), Lines(0, 50));
  bolt2.Signal(SIGKILL);
  bolt2.Wait();
  BOOST_REQUIRE_MESSAGE(c2.WaitDoc("/recoveries/1", [](const auto& d) { return StateIs(d, "failed"); }, 20, &rec),
                        rec.dump() << c2.CoordinatorLogTail() << c2.LogTail(1));
  BOOST_TEST(rec.value("attempts", 0) == 2, rec.dump());
  BOOST_TEST(rec.value("error", "") == "exited with status 1", rec.dump());
  c2.LetHeartbeatsPass(0);
  BOOST_TEST(HookRuns(c2).size() == 2u, "a failed recovery is not retried forever");
  BOOST_TEST(c2.StopAll().ok());
}

// Issue 21's operator commands: `tailsafectl retry` sends a failed recovery back out under a new
// epoch; `tailsafectl forget-agent` removes a dead host, and `check` is OK again. Both refuse,
// saying why, what they cannot do.
BOOST_AUTO_TEST_CASE(an_operator_retries_a_failed_recovery_and_forgets_a_dead_agent) {
  // Both attempts of the first assignment fail, a third run succeeds.
  TestCluster c("rec-operator", FailingHookCluster(2));
  BOOST_REQUIRE(c.StartCoordinator().ok());
  BOOST_REQUIRE(c.StartAll().ok());
  Child bolt = StartBolt(c, 0);
  std::string tail = Lines(0, 50);
  Append(c.BoltFile(0, 0), tail);
  BOOST_REQUIRE(c.WaitAcked(0, 0, 20));
  bolt.Signal(SIGKILL);
  bolt.Wait();
  nlohmann::json rec;
  BOOST_REQUIRE_MESSAGE(c.WaitDoc("/recoveries/1", [](const auto& d) { return StateIs(d, "failed"); }, 20, &rec),
                        rec.dump() << c.CoordinatorLogTail());
  uint64_t failed_epoch = rec.value("epoch", uint64_t{0});
  auto ctl = [&](const std::string& args) {
    return RunCommand(c.Ctl() + " " + args + " --coordinator " + c.CoordinatorAddress() + " 2>&1");
  };
  auto refused = [&](const std::string& args, const std::string& why) {
    CommandResult r = ctl(args);
    BOOST_TEST(r.code == 1, args << ": exit " << r.code);
    BOOST_TEST(r.out.find(why) != std::string::npos, args << ": " << r.out);
  };
  refused("retry /recoveries/2", "retry: no recovery 2");
  refused("retry /agents/h1", "retry: '/agents/h1' is not a recovery (expected /recoveries/N)");
  refused("forget-agent h2", "forget-agent: agent h2 is alive; stop it first");
  refused("forget-agent nobody", "forget-agent: no agent nobody");
  refused("forget-agent ../x", "forget-agent: '../x' is not a valid agent id");

  CommandResult retried = ctl("retry /recoveries/1");
  BOOST_TEST(retried.code == 0, retried.out);
  BOOST_TEST(retried.out.find("recovery 1 retried: assigned to h2 under epoch ") == 0, retried.out);
  BOOST_REQUIRE_MESSAGE(c.WaitDoc("/recoveries/1", [](const auto& d) { return StateIs(d, "recovered"); }, 20, &rec),
                        rec.dump() << c.CoordinatorLogTail());
  BOOST_TEST(rec.value("epoch", uint64_t{0}) > failed_epoch, rec.dump());
  auto runs = HookRuns(c);
  BOOST_REQUIRE_EQUAL(runs.size(), 3u);
  BOOST_TEST(runs[2].input == tail);
  refused("retry /recoveries/1", "retry: recovery 1 is recovered; only a failed recovery can be retried");

  // A host that is gone for good: CRITICAL until it is forgotten.
  c.Kill(1);
  BOOST_REQUIRE_MESSAGE(c.WaitDoc("/agents/h2", [](const auto& d) { return !d.value("alive", true); }, 20, &rec),
                        rec.dump() << c.CoordinatorLogTail());
  BOOST_TEST(ctl("check").code == 2);
  CommandResult forgot = ctl("forget-agent h2");
  BOOST_TEST(forgot.code == 0, forgot.out);
  BOOST_TEST(forgot.out.find("agent h2 forgotten") == 0, forgot.out);
  BOOST_TEST(Ls(c, "/agents") == "h1\n");
  BOOST_TEST(Ls(c, "/bolts") == "h1\n");
  CommandResult check = ctl("check");
  BOOST_TEST(check.code == 0, check.out);
  BOOST_TEST(c.Stop(0).ok());
}

// Acceptance 2: the whole host dies; a survivor recovers what the survivors hold; when the host
// comes back with bytes that never left it, a follow-up range covers exactly those.
BOOST_AUTO_TEST_CASE(host_death_then_return_recovers_the_unshipped_bytes_in_a_follow_up) {
  TestCluster c("rec-host", RecoveryCluster(3));
  BOOST_REQUIRE(c.StartCoordinator().ok());
  BOOST_REQUIRE(c.StartAll().ok());
  Child bolt = StartBolt(c, 0);
  std::string file = c.BoltFile(0, 0);
  std::string processed = Lines(0, 100), shipped = Lines(100, 400), unshipped = Lines(400, 450);
  Append(file, processed);
  WriteAtomically(c.CheckpointFile(0, 0), std::to_string(processed.size()) + "\n");
  Append(file, shipped);
  BOOST_REQUIRE(c.WaitAcked(0, 0, 20));
  nlohmann::json doc;
  // The checkpoint has reached the coordinator (a survivor would also know it from the stream).
  BOOST_REQUIRE(c.WaitDoc("/bolts/h1/bolt-1", [&](const auto& d) {
    return d.contains("checkpoint") && d["checkpoint"].value("offset", uint64_t{0}) == processed.size();
  }, 10, &doc));

  // The host dies: its agent and its bolt at once. Then bytes that never left it appear.
  c.Kill(0, SIGKILL);
  bolt.Signal(SIGKILL);
  bolt.Wait();
  uint64_t killed_ns = UnixNs();
  Append(file, unshipped);

  nlohmann::json rec;
  BOOST_REQUIRE_MESSAGE(c.WaitDoc("/recoveries/1", [](const auto& d) { return StateIs(d, "recovered"); }, 20, &rec),
                        rec.dump() << c.CoordinatorLogTail());
  auto runs = HookRuns(c);
  BOOST_REQUIRE_EQUAL(runs.size(), 1u);
  BOOST_TEST(runs[0].agent != 0);
  BOOST_TEST(runs[0].input == shipped);
  BOOST_TEST(rec.value("cause", "") == "host died");
  uint64_t started_ns = std::stoull(runs[0].env["START_UNIX_NS"]);
  BOOST_TEST_MESSAGE("host death to hook start: " << (started_ns - killed_ns) / 1000000 << " ms (host_timeout_ms 1000)");

  // The host returns: its agent ships the unshipped bytes; a follow-up range recovers them.
  BOOST_REQUIRE(c.Start(0).ok());
  BOOST_REQUIRE_MESSAGE(c.WaitDoc("/recoveries/2", [](const auto& d) { return StateIs(d, "recovered"); }, 20, &rec),
                        rec.dump() << c.CoordinatorLogTail() << c.LogTail(0));
  runs = HookRuns(c);
  BOOST_REQUIRE_EQUAL(runs.size(), 2u);
  HookRun follow = runs[0].env["TAILSAFE_RECOVERY"] == "2" ? runs[0] : runs[1];
  BOOST_TEST(follow.input == unshipped);
  BOOST_TEST(follow.env["TAILSAFE_FROM"] == std::to_string(processed.size() + shipped.size()));
  BOOST_TEST(rec.value("cause", "") == "process died");
  c.LetHeartbeatsPass(0);
  BOOST_TEST(Ls(c, "/recoveries") == "1\n2\n");
  BOOST_TEST(c.StopAll().ok());
  BOOST_TEST(c.StopCoordinator().message() == "ok");
}

// Issue 23: a bolt dies while its host lives, so its range runs to the origin's file end; the
// peers are paused, so the origin ships at most a window and a chunk more of it; then the
// origin's host dies with the rest unshipped. The range is shrunk to what the survivors hold,
// recorded with the end first asked and why, reassigned under a new epoch, and recovered: no
// one waits forever. When the host returns, the bytes given up are recovered in a follow-up.
BOOST_AUTO_TEST_CASE(origin_host_dies_before_shipping_the_range_which_is_shrunk_to_the_survivors) {
  TestCluster c("rec-shrink", ShrinkCluster());
  Child bolt;
  nlohmann::json rec = KillBoltWithPeersPaused(c, &bolt);
  uint64_t asked = rec.value("to", uint64_t{0});
  uint64_t first_epoch = rec.value("epoch", uint64_t{0});
  std::string file = c.BoltFile(0, 0);
  BOOST_TEST(asked == FileSize(file), "the range was planned to the origin's file end");
  c.Kill(0, SIGKILL);  // the origin's host dies with the range not yet shipped
  for (int peer : {1, 2}) ::kill(c.Pid(peer), SIGCONT);

  BOOST_REQUIRE_MESSAGE(c.WaitDoc("/recoveries/1", [](const auto& d) { return StateIs(d, "recovered"); }, 30, &rec),
                        rec.dump() << c.CoordinatorLogTail() << c.LogTail(1) << c.LogTail(2));
  uint64_t held = std::max(FileSize(c.ReplicaFile(1, 0, 0, 1)), FileSize(c.ReplicaFile(2, 0, 0, 1)));
  uint64_t to = rec.value("to", uint64_t{0}), delivered = rec.value("delivered_to", uint64_t{0});
  BOOST_TEST(held < asked, "the survivors hold " << held << " of " << asked << " bytes");
  BOOST_TEST(to == held, rec.dump());
  BOOST_TEST(rec.value("asked_to", uint64_t{0}) == asked, rec.dump());
  BOOST_TEST(rec.value("shrunk", "").find("h1 is dead") != std::string::npos, rec.dump());
  BOOST_TEST(rec.value("epoch", uint64_t{0}) > first_epoch, rec.dump());
  BOOST_TEST(rec["assignments"].size() >= 2u, rec.dump());
  auto runs = HookRuns(c);
  BOOST_REQUIRE_EQUAL(runs.size(), 1u);
  std::string bytes = ReadAll(file);
  uint64_t from = rec.value("from", uint64_t{0});
  BOOST_TEST(runs[0].input == bytes.substr(from, delivered - from), "the hook got " << runs[0].input.size() << " bytes");
  std::string lost = "recovery 1: " + std::to_string(asked - to) + " bytes of h1/bolt-1 generation 1";
  BOOST_TEST(c.CoordinatorLogTail(20000).find(lost) != std::string::npos, c.CoordinatorLogTail());
  BOOST_TEST(CoordinatorCounter(c, "tailsafe_coordinator_recovery_given_up_bytes_total") == double(asked - to));
  for (int peer : {1, 2}) ExpectNothingWaits(c, peer);

  // The host returns with the bytes given up: a follow-up range recovers exactly those.
  BOOST_REQUIRE(c.Start(0).ok());
  BOOST_REQUIRE_MESSAGE(c.WaitDoc("/recoveries/2", [](const auto& d) { return StateIs(d, "recovered"); }, 20, &rec),
                        rec.dump() << c.CoordinatorLogTail() << c.LogTail(0));
  runs = HookRuns(c);
  BOOST_REQUIRE_EQUAL(runs.size(), 2u);
  HookRun follow = runs[0].env["TAILSAFE_RECOVERY"] == "2" ? runs[0] : runs[1];
  BOOST_TEST(follow.env["TAILSAFE_FROM"] == std::to_string(delivered));
  BOOST_TEST(follow.input == bytes.substr(delivered), "the follow-up got " << follow.input.size() << " bytes");
  BOOST_TEST(c.CoordinatorLogTail(20000).find("bytes recovery 1 gave up in [" + std::to_string(to) + ", " +
                                              std::to_string(asked) + ") are held after all") != std::string::npos);
  BOOST_TEST(CoordinatorCounter(c, "tailsafe_coordinator_recovery_found_bytes_total") == double(asked - to));
  c.LetHeartbeatsPass(0);
  BOOST_TEST(Ls(c, "/recoveries") == "1\n2\n");
  BOOST_TEST(c.StopAll().ok());
  BOOST_TEST(c.StopCoordinator().message() == "ok");
}

// As above, but the host returns after the shrink with its bolt running again (a successor,
// which wrote and processed lines of its own): no death is left to plan from, and the bytes
// given up are still followed up, exactly those.
BOOST_AUTO_TEST_CASE(a_host_that_returns_with_its_bolt_running_again_gets_the_given_up_bytes_recovered) {
  TestCluster c("rec-shrink-back", ShrinkCluster());
  Child bolt;
  nlohmann::json rec = KillBoltWithPeersPaused(c, &bolt);
  uint64_t asked = rec.value("to", uint64_t{0});
  c.Kill(0, SIGKILL);
  for (int peer : {1, 2}) ::kill(c.Pid(peer), SIGCONT);
  BOOST_REQUIRE_MESSAGE(c.WaitDoc("/recoveries/1", [](const auto& d) { return StateIs(d, "recovered"); }, 30, &rec),
                        rec.dump() << c.CoordinatorLogTail() << c.LogTail(1) << c.LogTail(2));
  uint64_t to = rec.value("to", uint64_t{0}), delivered = rec.value("delivered_to", uint64_t{0});
  BOOST_REQUIRE_MESSAGE(to < asked, rec.dump());
  std::string bytes = ReadAll(c.BoltFile(0, 0));

  Child successor = StartSuccessor(c, 0, Lines(60000, 60100));
  BOOST_REQUIRE(c.Start(0).ok());
  BOOST_REQUIRE_MESSAGE(c.WaitDoc("/recoveries/2", [](const auto& d) { return StateIs(d, "recovered"); }, 20, &rec),
                        rec.dump() << c.CoordinatorLogTail() << c.LogTail(0));
  BOOST_TEST(rec.value("from", uint64_t{0}) == delivered, rec.dump());
  BOOST_TEST(rec.value("to", uint64_t{0}) == asked, rec.dump());
  auto runs = HookRuns(c);
  BOOST_REQUIRE_EQUAL(runs.size(), 2u);
  HookRun follow = runs[0].env["TAILSAFE_RECOVERY"] == "2" ? runs[0] : runs[1];
  BOOST_TEST(follow.input == bytes.substr(delivered), "the follow-up got " << follow.input.size() << " bytes");
  BOOST_TEST(CoordinatorCounter(c, "tailsafe_coordinator_recovery_found_bytes_total") == double(asked - to));
  c.LetHeartbeatsPass(0);
  BOOST_TEST(Ls(c, "/recoveries") == "1\n2\n", "the successor's lines are its own");
  successor.Signal(SIGKILL);
  successor.Wait();
  BOOST_TEST(c.StopAll().ok());
  BOOST_TEST(c.StopCoordinator().message() == "ok");
}

// As above, but the assignee restarts meanwhile and so holds less than the other survivor: the
// shrunk range goes to the other under a new epoch, and the assignee stops waiting for it.
BOOST_AUTO_TEST_CASE(a_shrunk_range_goes_to_the_survivor_that_holds_it_and_the_assignee_stops_waiting) {
  TestCluster c("rec-shrink-move", ShrinkCluster());
  Child bolt;
  nlohmann::json rec = KillBoltWithPeersPaused(c, &bolt);
  int first = rec.value("agent", "") == "h2" ? 1 : 2, other = 3 - first;
  c.Kill(0, SIGKILL);
  c.Kill(first, SIGKILL);  // what waited in its socket, unread, is gone with it
  BOOST_REQUIRE(c.Start(first).ok());
  ::kill(c.Pid(other), SIGCONT);

  BOOST_REQUIRE_MESSAGE(c.WaitDoc("/recoveries/1", [](const auto& d) { return StateIs(d, "recovered"); }, 30, &rec),
                        rec.dump() << c.CoordinatorLogTail() << c.LogTail(first) << c.LogTail(other));
  BOOST_TEST(rec.value("agent", "") == c.AgentId(other), rec.dump());
  BOOST_TEST(rec.value("to", uint64_t{0}) == FileSize(c.ReplicaFile(other, 0, 0, 1)), rec.dump());
  BOOST_TEST(FileSize(c.ReplicaFile(first, 0, 0, 1)) < rec.value("to", uint64_t{0}));
  auto runs = HookRuns(c);
  BOOST_REQUIRE_EQUAL(runs.size(), 1u);
  BOOST_TEST(runs[0].agent == other);
  uint64_t from = rec.value("from", uint64_t{0}), delivered = rec.value("delivered_to", uint64_t{0});
  BOOST_TEST(runs[0].input == ReadAll(c.BoltFile(0, 0)).substr(from, delivered - from));
  ExpectNothingWaits(c, first);
  BOOST_TEST(c.LogTail(first, 20000).find("recovery 1: no longer waiting for [") != std::string::npos, c.LogTail(first));
  BOOST_TEST(c.Stop(1).ok());
  BOOST_TEST(c.Stop(2).ok());
  BOOST_TEST(c.StopCoordinator().message() == "ok");
}

namespace {

// The two tests below: the hook is defined on h1 and h3 only (h2 runs another); h3 is paused
// while h1's bolt writes about 1.3 MB that h2 takes whole, so h2 holds bytes h3 lacks; the bolt
// dies, its range (to the file end, returned as *size) is assigned to h3, and `meanwhile` runs;
// then h1's host dies and h3 resumes.
void DieWithBytesOnlyTheHooklessSurvivorHolds(TestCluster& c, Child* bolt, uint64_t* size,
                                              const std::function<void()>& meanwhile) {
  BOOST_REQUIRE(c.EditConfig(1, "\ntest = [", "\nother = ["));
  BOOST_REQUIRE(c.EditConfig(1, "hook = \"test\"", "hook = \"other\""));
  StartWithTail(c, bolt, Lines(0, 100), Lines(100, 300));
  ::kill(c.Pid(2), SIGSTOP);
  std::string file = c.BoltFile(0, 0);
  Append(file, Lines(300, 60000));
  *size = FileSize(file);
  BOOST_REQUIRE_MESSAGE(WaitUntil([&] { return FileSize(c.ReplicaFile(1, 0, 0, 1)) == *size; }, 20),
                        "h2 holds " << FileSize(c.ReplicaFile(1, 0, 0, 1)) << " of " << *size << c.LogTail(1));
  bolt->Signal(SIGKILL);
  bolt->Wait();
  nlohmann::json rec;
  BOOST_REQUIRE_MESSAGE(c.WaitDoc("/recoveries/1", [&](const auto& d) {
    return StateIs(d, "assigned") && d.value("agent", "") == "h3" && d.value("to", uint64_t{0}) == *size;
  }, 10, &rec), rec.dump() << c.CoordinatorLogTail());
  meanwhile();
  c.Kill(0, SIGKILL);  // the origin's host dies before h3 has the range
  ::kill(c.Pid(2), SIGCONT);
}

}  // namespace

// Issue 23: bytes held only by a survivor without the hook are pulled from it. The hook is
// defined on h1 (the origin) and h3 only; h3 is paused while h1's bolt writes about 1.3 MB that
// h2 takes whole, so h2 holds bytes h3 lacks; the bolt dies (the range, assigned to h3, runs to
// the file end), then h1's host. The range is shrunk to what h3 holds, and h3 pulls the rest
// from h2 and runs its hook on all of it: nothing lost, nothing twice.
BOOST_AUTO_TEST_CASE(bytes_only_a_survivor_without_the_hook_holds_are_pulled_from_it) {
  TestCluster c("rec-pull", ShrinkCluster());
  Child bolt;
  uint64_t size = 0;
  DieWithBytesOnlyTheHooklessSurvivorHolds(c, &bolt, &size, [] {});
  std::string file = c.BoltFile(0, 0);
  nlohmann::json rec;

  BOOST_REQUIRE_MESSAGE(c.WaitDoc("/recoveries/1", [](const auto& d) { return StateIs(d, "recovered"); }, 30, &rec),
                        rec.dump() << c.CoordinatorLogTail() << c.LogTail(1) << c.LogTail(2));
  uint64_t lacked = FileSize(c.ReplicaFile(2, 0, 0, 1));
  BOOST_TEST(lacked < size, "h3 holds " << lacked << " of " << size << " bytes itself");
  BOOST_TEST(rec.value("agent", "") == "h3", rec.dump());
  BOOST_TEST(rec.value("pull_from", "") == "h2", rec.dump());
  BOOST_TEST(rec.value("pull_to", uint64_t{0}) == size, rec.dump());
  BOOST_TEST(rec.value("pulled", "").find("from h2") != std::string::npos, rec.dump());
  BOOST_TEST(rec.value("delivered_to", uint64_t{0}) == size, rec.dump());
  auto runs = HookRuns(c);
  BOOST_REQUIRE_EQUAL(runs.size(), 1u);
  BOOST_TEST(runs[0].agent == 2);
  uint64_t from = rec.value("from", uint64_t{0});
  BOOST_TEST(from == Lines(0, 100).size());
  BOOST_TEST(runs[0].input == ReadAll(file).substr(from), "the hook got " << runs[0].input.size() << " bytes");
  BOOST_TEST(CoordinatorCounter(c, "tailsafe_coordinator_recovery_given_up_bytes_total") == 0.0);
  ExpectNothingWaits(c, 2);
  c.LetHeartbeatsPass(1);
  BOOST_TEST(Ls(c, "/recoveries") == "1\n", "nothing more to recover");
  BOOST_TEST(c.Stop(1).ok());
  BOOST_TEST(c.Stop(2).ok());
  BOOST_TEST(c.StopCoordinator().message() == "ok");
}

// As above, but the pull fails: h2's replica is cut short behind its back (a lost disk), so it
// cannot ship what it said it held. h3 runs on what it holds itself, the range is recorded with
// why, and the rest is counted as given up.
BOOST_AUTO_TEST_CASE(a_failed_pull_falls_back_to_what_the_assignee_holds_and_says_why) {
  TestCluster c("rec-pull-fail", ShrinkCluster());
  Child bolt;
  uint64_t size = 0;
  DieWithBytesOnlyTheHooklessSurvivorHolds(c, &bolt, &size, [&] {
    BOOST_REQUIRE(::truncate(c.ReplicaFile(1, 0, 0, 1).c_str(), 0) == 0);
  });
  nlohmann::json rec;
  BOOST_REQUIRE_MESSAGE(c.WaitDoc("/recoveries/1", [](const auto& d) { return StateIs(d, "recovered"); }, 40, &rec),
                        rec.dump() << c.CoordinatorLogTail() << c.LogTail(1) << c.LogTail(2));
  uint64_t held = FileSize(c.ReplicaFile(2, 0, 0, 1));
  uint64_t from = rec.value("from", uint64_t{0}), to = rec.value("to", uint64_t{0});
  uint64_t delivered = rec.value("delivered_to", uint64_t{0});
  BOOST_TEST(to == held, rec.dump());
  BOOST_TEST(rec.value("pull_from", "") == "h2", rec.dump());
  BOOST_TEST(rec.value("pulled", "").find("the pull from h2 failed: h2: the replica ends early") != std::string::npos,
             rec.dump());
  auto runs = HookRuns(c);
  BOOST_REQUIRE_EQUAL(runs.size(), 1u);
  BOOST_TEST(runs[0].agent == 2);
  BOOST_TEST(runs[0].input == ReadAll(c.BoltFile(0, 0)).substr(from, delivered - from));
  BOOST_TEST(CoordinatorCounter(c, "tailsafe_coordinator_recovery_given_up_bytes_total") == double(size - to));
  ExpectNothingWaits(c, 2);
  // h2 still says it holds them, but it cannot run the hook and its pull failed: no follow-up.
  c.LetHeartbeatsPass(2);
  BOOST_TEST(Ls(c, "/recoveries") == "1\n", c.CoordinatorLogTail());
  BOOST_TEST(c.Stop(1).ok());
  BOOST_TEST(c.Stop(2).ok());
  BOOST_TEST(c.StopCoordinator().message() == "ok");
}

// Acceptance 3: kill -9 of the coordinator during a recovery, then of the elected agent during
// its hook. The range ends recovered once by the record, under a higher epoch.
BOOST_AUTO_TEST_CASE(coordinator_and_elected_agent_killed_during_the_hook) {
  TestCluster c("rec-fence", HeldHookCluster());
  std::string tail = Lines(0, 200);
  nlohmann::json rec;
  std::string release = KillBoltWithHeldHook(c, tail, &rec);
  int first = rec.value("agent", "") == "h2" ? 1 : 2;
  uint64_t first_epoch = rec.value("epoch", uint64_t{0});
  BOOST_REQUIRE(rec.value("agent", "") != "h1");

  // The coordinator dies mid-recovery and comes back: it neither forgets nor repeats it.
  c.KillCoordinator(SIGKILL);
  BOOST_REQUIRE(c.StartCoordinator().ok());
  BOOST_REQUIRE(c.WaitDoc("/recoveries/1", [&](const auto& d) {
    return d.value("epoch", uint64_t{0}) == first_epoch && d.value("agent", "") == c.AgentId(first);
  }, 10, &rec));

  // The elected agent dies during its hook: after host_timeout_ms the range is reassigned under
  // a higher epoch, to the other survivor.
  c.Kill(first, SIGKILL);
  BOOST_REQUIRE_MESSAGE(c.WaitDoc("/recoveries/1", [&](const auto& d) {
    return d.value("epoch", uint64_t{0}) > first_epoch && d.value("agent", "") != c.AgentId(first);
  }, 20, &rec), rec.dump() << c.CoordinatorLogTail());
  std::string second = rec.value("agent", "");
  BOOST_TEST(second != "h1", "another survivor is preferred to the bolt's own host");
  WriteAtomically(release, "");
  BOOST_REQUIRE_MESSAGE(c.WaitDoc("/recoveries/1", [](const auto& d) { return StateIs(d, "recovered"); }, 20, &rec),
                        rec.dump() << c.CoordinatorLogTail());
  BOOST_TEST(rec.value("agent", "") == second);
  BOOST_TEST(rec["assignments"].size() == 2u, rec.dump());
  BOOST_TEST(rec["assignments"][0].value("epoch", 0) < rec["assignments"][1].value("epoch", 0));
  c.LetHeartbeatsPass(0);
  BOOST_TEST(Ls(c, "/recoveries") == "1\n", "the range was recorded once");
  // The dead agent's orphaned hook may have finished too (hooks run at least once); what
  // counts is the record, which holds the second epoch.
  for (const HookRun& r : HookRuns(c)) BOOST_TEST(r.input == tail, r.name);
  for (int i = 0; i < c.size(); ++i) {
    if (i != first) BOOST_TEST(c.Stop(i).ok());
  }
  BOOST_TEST(c.StopCoordinator().message() == "ok");
}

// Acceptance 5: a bolt found by a match rule (through process events as root, by /proc scans
// otherwise) is tracked, and its death recovered. One bolt starts before its agent (found by the
// start-up scan), the other after (found by its exec).
BOOST_AUTO_TEST_CASE(bolt_found_by_match_rule_is_tracked_and_recovered) {
  ClusterOptions o = RecoveryCluster(2);
  o.pid_files = false;
  o.match_sleep = true;
  o.bolts_per_agent = 2;
  TestCluster c("rec-match", o);
  auto early = Child::Spawn({"/usr/bin/sleep", c.MatchArg(0, 0)}, c.root() + "/early.log");
  BOOST_REQUIRE(early.ok());
  BOOST_REQUIRE(c.StartCoordinator().ok());
  BOOST_REQUIRE(c.StartAll().ok());
  auto late = Child::Spawn({"/usr/bin/sleep", c.MatchArg(0, 1)}, c.root() + "/late.log");
  BOOST_REQUIRE(late.ok());
  // An unrelated sleep with another argument is not taken for either.
  auto other = Child::Spawn({"/usr/bin/sleep", "86399"}, c.root() + "/other.log");
  BOOST_REQUIRE(other.ok());
  nlohmann::json doc;
  for (auto [bolt, pid] : {std::pair{"bolt-1", early->pid()}, std::pair{"bolt-2", late->pid()}}) {
    BOOST_REQUIRE_MESSAGE(c.WaitDoc(std::string("/bolts/h1/") + bolt, [&](const auto& d) {
      return d.contains("process") && d["process"].value("state", "") == "running" && d["process"].value("pid", 0) == pid;
    }, 10, &doc), doc.dump() << c.LogTail(0));
  }
  std::string tail = Lines(0, 80);
  Append(c.BoltFile(0, 1), tail);
  late->Signal(SIGKILL);
  late->Wait();
  nlohmann::json rec;
  BOOST_REQUIRE_MESSAGE(c.WaitDoc("/recoveries/1", [](const auto& d) { return StateIs(d, "recovered"); }, 20, &rec),
                        rec.dump() << c.CoordinatorLogTail() << c.LogTail(0));
  BOOST_TEST(rec.value("bolt", "") == "bolt-2");
  auto runs = HookRuns(c);
  BOOST_REQUIRE_EQUAL(runs.size(), 1u);
  BOOST_TEST(runs[0].agent == 1);
  BOOST_TEST(runs[0].input == tail);
  // The bolt that started early is still running and still tracked.
  auto still = c.CoordinatorGet("/bolts/h1/bolt-1");
  BOOST_REQUIRE(still.ok());
  BOOST_TEST((*still)["process"].value("state", "") == "running", still->dump());
  other->Signal(SIGKILL);
  early->Signal(SIGKILL);
  BOOST_TEST(c.StopAll().ok());
  BOOST_TEST(c.StopCoordinator().message() == "ok");
}

// A result under a stale epoch is refused: the elected agent is stopped (SIGSTOP) during its
// hook, declared dead and replaced; when it resumes and reports, the record already holds the
// replacement's result under the higher epoch.
BOOST_AUTO_TEST_CASE(stale_epoch_result_is_refused) {
  TestCluster c("rec-stale", HeldHookCluster());
  nlohmann::json rec;
  std::string release = KillBoltWithHeldHook(c, Lines(0, 20), &rec);
  int first = rec.value("agent", "") == "h2" ? 1 : 2;
  uint64_t first_epoch = rec.value("epoch", uint64_t{0});
  ::kill(c.Pid(first), SIGSTOP);
  BOOST_REQUIRE_MESSAGE(c.WaitDoc("/recoveries/1", [&](const auto& d) {
    return d.value("epoch", uint64_t{0}) > first_epoch && StateIs(d, "running");
  }, 20, &rec), rec.dump() << c.CoordinatorLogTail());
  WriteAtomically(release, "");
  BOOST_REQUIRE_MESSAGE(c.WaitDoc("/recoveries/1", [](const auto& d) { return StateIs(d, "recovered"); }, 20, &rec),
                        rec.dump() << c.CoordinatorLogTail());
  std::string winner = rec.value("agent", "");
  ::kill(c.Pid(first), SIGCONT);
  std::string refused = "recovery 1: refused recovered from " + c.AgentId(first) + " under epoch " +
                        std::to_string(first_epoch);
  BOOST_TEST(WaitUntil([&] { return c.CoordinatorLogTail(20000).find(refused) != std::string::npos; }, 20),
             c.CoordinatorLogTail());
  BOOST_TEST(WaitUntil([&] {
    return c.LogTail(first, 20000).find("the coordinator refused the result under epoch " +
                                        std::to_string(first_epoch)) != std::string::npos;
  }, 10), c.LogTail(first));
  auto after = c.CoordinatorGet("/recoveries/1");
  BOOST_REQUIRE(after.ok());
  BOOST_TEST(after->value("agent", "") == winner);
  BOOST_TEST(after->value("epoch", uint64_t{0}) == rec.value("epoch", uint64_t{0}));
  BOOST_TEST(Ls(c, "/recoveries") == "1\n");
  BOOST_TEST(c.StopAll().ok());
  BOOST_TEST(c.StopCoordinator().message() == "ok");
}

boost::test_tools::assertion_result RootWithNobody(boost::unit_test::test_unit_id) {
  boost::test_tools::assertion_result r(::geteuid() == 0 && ::getpwnam("nobody") != nullptr);
  if (!r) r.message() << "skipped: needs root and a user 'nobody' to switch a hook to";
  return r;
}

// A hook given as { command = [...], user = "nobody" } runs as that user, with no supplementary
// groups; an agent whose hook names a user that does not exist refuses to start, naming both.
BOOST_AUTO_TEST_CASE(hook_runs_as_its_configured_user, *boost::unit_test::precondition(RootWithNobody)) {
  TestCluster c("rec-user", RecoveryCluster(2));
  passwd* nobody = ::getpwnam("nobody");
  BOOST_REQUIRE(nobody != nullptr);
  // nobody must reach and write the hook directories, and run the hook: a copy of ts-hook in the
  // cluster's directory, since the build tree may sit below a directory only root can enter.
  ::chmod(c.root().c_str(), 0755);
  ::chmod((c.root() + "/hooks").c_str(), 0755);
  std::string hook = c.root() + "/ts-hook";
  fs::copy_file(BinDir() + "/tests/ts-hook", hook);
  ::chmod(hook.c_str(), 0755);
  // The configuration names ts-hook by its real path (TestCluster resolves BinDir()).
  std::string built = fs::canonical(BinDir() + "/tests/ts-hook").string();
  for (int i = 0; i < c.size(); ++i) {
    BOOST_REQUIRE(c.EditConfig(i, built, hook));
    ::mkdir(c.HookDir(i).c_str(), 0777);
    ::chmod(c.HookDir(i).c_str(), 0777);
    BOOST_REQUIRE(c.EditConfig(i, "\ntest = [", "\ntest = { user = \"nobody\", command = ["));
    BOOST_REQUIRE(c.EditConfig(i, c.HookDir(i) + "\"]", c.HookDir(i) + "\"] }"));
  }
  BOOST_REQUIRE(c.StartCoordinator().ok());
  BOOST_REQUIRE(c.StartAll().ok());
  Child bolt = StartBolt(c, 0);
  Append(c.BoltFile(0, 0), Lines(0, 100));
  BOOST_REQUIRE(c.WaitAcked(0, 0, 20));
  bolt.Signal(SIGKILL);
  bolt.Wait();
  nlohmann::json rec;
  BOOST_REQUIRE_MESSAGE(c.WaitDoc("/recoveries/1", [](const auto& d) { return StateIs(d, "recovered"); }, 20, &rec),
                        rec.dump() << c.LogTail(1));
  auto runs = HookRuns(c);
  BOOST_REQUIRE_EQUAL(runs.size(), 1u);
  BOOST_TEST(runs[0].env["HOOK_UID"] == std::to_string(nobody->pw_uid));
  BOOST_TEST(runs[0].env["HOOK_GID"] == std::to_string(nobody->pw_gid));
  BOOST_TEST(runs[0].env["HOOK_GROUPS"] == "0");
  BOOST_TEST(runs[0].input == Lines(0, 100));
  BOOST_TEST(c.StopAll().ok());
  BOOST_TEST(c.StopCoordinator().message() == "ok");

  BOOST_REQUIRE(c.EditConfig(1, "user = \"nobody\"", "user = \"no-such-user-here\""));
  CommandResult r = RunCommand(BinDir() + "/tailsafe-agent -c " + c.ConfigPath(1) + " 2>&1");
  BOOST_TEST(r.code != 0, r.out);
  BOOST_TEST(r.out.find("[hooks] test: user 'no-such-user-here' does not exist") != std::string::npos, r.out);
}

// Deaths nobody saw happen (found by the fault suite, tests/faults/): a bolt killed and restarted
// by its supervisor while the coordinator is down, while its agent is down, or while its agent
// is paused. The successor's checkpoints claim the dead process's tail; the death is still
// reported, with the dead process's own checkpoint, and its tail recovered.
BOOST_AUTO_TEST_CASE(a_bolt_death_while_the_coordinator_is_down_is_recovered) {
  TestCluster c("rec-unseen-coord", RecoveryCluster(3));
  Child bolt;
  std::string processed = Lines(0, 100), unprocessed = Lines(100, 250);
  StartWithTail(c, &bolt, processed, unprocessed);
  c.KillCoordinator();
  bolt.Signal(SIGKILL);
  bolt.Wait();
  Child successor = StartSuccessor(c, 0, Lines(250, 300));
  BOOST_REQUIRE(WaitUntil([&] {
    auto st = c.AgentStatus(0);
    return st.ok() && (*st)["bolts"][0]["process"].value("pid", 0) == successor.pid();
  }, 10));
  BOOST_REQUIRE(c.StartCoordinator().ok());
  ExpectTailRecovered(c, processed.size(), unprocessed);
}

BOOST_AUTO_TEST_CASE(a_bolt_death_while_its_agent_is_down_is_recovered) {
  KillBoltWhileAgentAway("rec-unseen-agent", Away::kDown, false);
}

BOOST_AUTO_TEST_CASE(a_bolt_death_while_its_agent_is_paused_is_recovered) {
  KillBoltWhileAgentAway("rec-unseen-pause", Away::kPaused, false);
}

// A bolt killed twice while nobody watched (found by the fault suite, seed 922028498): its
// successor checkpointed and died too, so the checkpoint file holds a dead successor's offset
// and the pid file names a dead successor. The first process's tail starts at a checkpoint of
// its own (the last one its agent read while it lived), never at the successor's.
BOOST_AUTO_TEST_CASE(a_bolt_killed_twice_while_its_agent_is_down_has_the_first_tail_recovered) {
  KillBoltWhileAgentAway("rec-twice-down", Away::kDown, true);
}

BOOST_AUTO_TEST_CASE(a_bolt_killed_twice_while_its_agent_is_paused_has_the_first_tail_recovered) {
  KillBoltWhileAgentAway("rec-twice-pause", Away::kPaused, true);
}

BOOST_AUTO_TEST_SUITE_END()
