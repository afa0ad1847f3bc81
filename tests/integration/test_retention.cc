// Replica retention (coordinator/retention_plan.h, agent/replica_store.h): peers delete the
// replicas of generations their bolt has processed past, keep what a recovery may still run on,
// and delete nothing without a coordinator. Real agents, a real coordinator and ts-hook, on
// loopback.
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <map>
#include <string>

#include "tests/support/cluster.h"
#include "tests/support/hook_runs.h"
#include "tests/support/prometheus_check.h"

using namespace tailsafe;
using namespace tailsafe::testing;

namespace {

constexpr int kOrigin = 0;
constexpr int kPeers[] = {1, 2};

void WriteAtomically(const std::string& path, const std::string& text) {
  std::ofstream(path + ".tmp") << text;
  BOOST_REQUIRE(::rename((path + ".tmp").c_str(), path.c_str()) == 0);
}

void Append(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary | std::ios::app) << text;
}

// Lines of generation `gen`, numbered [from, to).
std::string Lines(uint64_t gen, int from, int to) {
  std::string s;
  for (int i = from; i < to; ++i) s += "gen " + std::to_string(gen) + " GET /page/" + std::to_string(i) + "\n";
  return s;
}

uint64_t ActiveGeneration(TestCluster& c) {
  auto s = c.AgentStatus(kOrigin);
  if (!s) return 0;
  return (*s)["bolts"][0]["generation"].get<uint64_t>();
}

// The bolt's file as generation `gen` left it: rotated away to FILE.GEN, or the file itself.
std::string GenerationFile(const TestCluster& c, uint64_t gen, uint64_t active) {
  return gen == active ? c.BoltFile(kOrigin, 0) : c.BoltFile(kOrigin, 0) + "." + std::to_string(gen);
}

// Appends `text` to the bolt's file as generation `gen` and waits until the origin has taken it
// up as its active generation.
void WriteGeneration(TestCluster& c, uint64_t gen, const std::string& text) {
  Append(c.BoltFile(kOrigin, 0), text);
  BOOST_REQUIRE_MESSAGE(WaitUntil([&] { return ActiveGeneration(c) == gen; }, 10),
                        "the origin never saw generation " << gen << "\n" << c.LogTail(kOrigin));
}

// Rotates the bolt's file (rename + create, logrotate's `create`): generation `gen` goes to
// FILE.GEN and generation gen + 1 starts with `text`.
void Rotate(TestCluster& c, uint64_t gen, const std::string& text) {
  std::string file = c.BoltFile(kOrigin, 0);
  BOOST_REQUIRE(::rename(file.c_str(), (file + "." + std::to_string(gen)).c_str()) == 0);
  WriteGeneration(c, gen + 1, text);
}

// The origin holds only its active generation: every rotated one is sealed, acknowledged by
// every peer (with its seal) and closed.
bool OnlyActiveOpen(TestCluster& c) {
  auto st = c.AgentStatus(kOrigin);
  return st.ok() && (*st)["bolts"][0]["generations"].size() == 1u;
}

bool ReplicaExists(const TestCluster& c, int peer, uint64_t gen) {
  return ::access(c.ReplicaFile(peer, kOrigin, 0, gen).c_str(), F_OK) == 0;
}

// Waits until on both peers the replicas of generations [1, below) are gone.
bool WaitDeletedBelow(TestCluster& c, uint64_t below, double seconds) {
  return WaitUntil([&] {
    for (int p : kPeers) {
      for (uint64_t g = 1; g < below; ++g) {
        if (ReplicaExists(c, p, g)) return false;
      }
    }
    return true;
  }, seconds);
}

// Each peer's replica of generation `gen` exists and equals the bolt's file of it.
void ExpectKept(TestCluster& c, uint64_t gen, uint64_t active, const std::string& when) {
  for (int p : kPeers) {
    std::string why;
    BOOST_TEST(FilesEqual(GenerationFile(c, gen, active), c.ReplicaFile(p, kOrigin, 0, gen), &why),
               c.AgentId(p) << "'s replica of generation " << gen << " " << when << ": " << why);
  }
}

// Agent i's status "retention" object; null if the status cannot be read.
nlohmann::json Retention(TestCluster& c, int agent) {
  auto st = c.AgentStatus(agent);
  if (!st.ok() || !st->contains("retention")) return nullptr;
  return (*st)["retention"];
}

uint64_t DeletedOn(TestCluster& c, int agent) {
  nlohmann::json r = Retention(c, agent);
  return r.is_object() ? r.value("replicas_deleted", uint64_t{0}) : UINT64_MAX;
}

double Metric(const TestCluster& c, int agent, const std::string& name) {
  auto text = HttpGet(c.MetricsPort(agent), "/metrics");
  if (!text) return -1;
  auto samples = ParsePrometheusText(*text);
  if (!samples) return -1;
  auto it = samples->find(name);
  return it == samples->end() ? -1 : it->second;
}

// A stand-in bolt process: the test writes its file and checkpoints; the process is what dies.
Child StartBoltProcess(TestCluster& c) {
  auto p = Child::Spawn({"/bin/sleep", "600"}, c.root() + "/bolt-" + c.AgentId(kOrigin) + ".log");
  BOOST_REQUIRE(p.ok());
  WriteAtomically(c.PidFile(kOrigin, 0), std::to_string(p->pid()) + "\n");
  nlohmann::json doc;
  BOOST_REQUIRE_MESSAGE(c.WaitDoc("/bolts/h1/bolt-1", [&](const auto& d) {
    return d.contains("process") && d["process"].value("state", "") == "running" &&
           d["process"].value("pid", 0) == p->pid();
  }, 10, &doc), doc.dump() << c.CoordinatorLogTail());
  return std::move(p.value());
}

// Writes the bolt's checkpoint (an offset into its current file) and waits until the
// coordinator has it for generation `gen`.
void Checkpoint(TestCluster& c, uint64_t gen, uint64_t offset) {
  WriteAtomically(c.CheckpointFile(kOrigin, 0), std::to_string(offset) + "\n");
  nlohmann::json doc;
  BOOST_REQUIRE_MESSAGE(c.WaitDoc("/bolts/h1/bolt-1", [&](const auto& d) {
    return d.contains("checkpoint") && d["checkpoint"].value("gen", uint64_t{0}) == gen &&
           d["checkpoint"].value("offset", uint64_t{0}) == offset;
  }, 10, &doc), doc.dump() << c.CoordinatorLogTail());
}

// A coordinator, h1 the origin of one bolt with a hook, h2 and h3 its peers; rotated
// generations seal quickly.
ClusterOptions RetentionCluster() {
  ClusterOptions o = RecoveryCluster(3);
  o.pid_files = false;  // no process: no death, no recovery (the second test adds one)
  o.seal_after_ms = 200;
  o.metrics = true;
  return o;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(retention)

// Generations 1..5; the checkpoint names generation 4, which is then rotated away too. Once the
// plan is in force, both peers have deleted generations 1..3 and keep 4 (sealed and idle, but
// not below the checkpoint's generation) and 5, byte for byte; their status and metrics count
// the three deleted.
BOOST_AUTO_TEST_CASE(a_processed_rotated_generation_is_deleted_from_every_peer) {
  TestCluster c("ret-delete", RetentionCluster());
  BOOST_REQUIRE(c.StartCoordinator().ok());
  BOOST_REQUIRE(c.StartAll().ok());
  WriteGeneration(c, 1, Lines(1, 0, 500));
  for (uint64_t g = 1; g <= 3; ++g) Rotate(c, g, Lines(g + 1, 0, 500));
  Checkpoint(c, 4, Lines(4, 0, 300).size());
  Rotate(c, 4, Lines(5, 0, 100));
  constexpr uint64_t kActive = 5;

  BOOST_REQUIRE_MESSAGE(WaitUntil([&] { return OnlyActiveOpen(c); }, 15), "rotated generations never closed\n" << c.LogTail(kOrigin));
  bool deleted = WaitDeletedBelow(c, 4, 15);
  if (!deleted) c.Keep();
  BOOST_REQUIRE_MESSAGE(deleted, "generations 1..3 are still on a peer: " << Retention(c, 1).dump() << "\n"
                                     << c.LogTail(1) << c.CoordinatorLogTail());
  uint64_t bytes = 0;
  for (uint64_t g = 1; g <= 3; ++g) bytes += FileSize(GenerationFile(c, g, kActive));
  for (int p : kPeers) {
    BOOST_TEST(WaitUntil([&] { return DeletedOn(c, p) == 3u; }, 10), c.AgentId(p) << ": " << Retention(c, p).dump());
    nlohmann::json r = Retention(c, p);
    BOOST_REQUIRE_MESSAGE(r.is_object(), c.AgentId(p) << "'s status has no retention");
    BOOST_TEST(r.value("bytes_deleted", uint64_t{0}) == bytes, c.AgentId(p) << ": " << r.dump());
    BOOST_TEST(r.value("bolts_planned", uint64_t{0}) >= 1u, c.AgentId(p) << ": " << r.dump());
    BOOST_TEST(Metric(c, p, "tailsafe_replicas_deleted_total") == 3.0);
  }
  // More plans go out (one a second at most): still nothing at or after the checkpoint's
  // generation is deleted.
  c.LetHeartbeatsPass(kOrigin, 8);
  for (uint64_t g = 4; g <= kActive; ++g) ExpectKept(c, g, kActive, "after retention");
  for (int p : kPeers) BOOST_TEST(DeletedOn(c, p) == 3u);
  BOOST_TEST(DeletedOn(c, kOrigin) == 0u);  // the origin holds no replica of its own bolt
  BOOST_TEST(c.StopAll().ok());
  BOOST_TEST(c.StopCoordinator().message() == "ok");
}

// The bolt dies with a tail in generation 4 (its checkpoint's): 1..3 go, 4 stays. While the
// recovery of the tail is unfinished (the hook holds), a successor rotates to generation 5 and
// checkpoints there, and 4 is closed at the origin: nothing but the recovery needs 4 now, and it
// stays. Once the recovery is recorded, 4 goes too.
BOOST_AUTO_TEST_CASE(a_dead_bolts_tail_is_kept_until_its_recovery_is_recorded) {
  ClusterOptions o = RetentionCluster();
  o.pid_files = true;
  o.hook_args = {"--hold", "RELEASE"};
  TestCluster c("ret-recovery", o);
  std::string release = c.root() + "/release";
  for (int i = 0; i < c.size(); ++i) BOOST_REQUIRE(c.EditConfig(i, "RELEASE", release));
  BOOST_REQUIRE(c.StartCoordinator().ok());
  BOOST_REQUIRE(c.StartAll().ok());
  Child bolt = StartBoltProcess(c);
  WriteGeneration(c, 1, Lines(1, 0, 200));
  for (uint64_t g = 1; g <= 3; ++g) Rotate(c, g, Lines(g + 1, 0, 200));
  std::string processed = Lines(4, 0, 50), tail = Lines(4, 50, 200);
  Checkpoint(c, 4, processed.size());
  BOOST_REQUIRE(c.WaitAcked(kOrigin, 0, 20));
  BOOST_REQUIRE_MESSAGE(WaitUntil([&] { return OnlyActiveOpen(c); }, 15), "rotated generations never closed\n" << c.LogTail(kOrigin));
  bool deleted = WaitDeletedBelow(c, 4, 15);
  if (!deleted) c.Keep();
  BOOST_REQUIRE_MESSAGE(deleted, "generations 1..3 are still on a peer\n" << c.CoordinatorLogTail());
  ExpectKept(c, 4, 4, "before the death");

  bolt.Signal(SIGKILL);
  bolt.Wait();
  nlohmann::json rec;
  auto running = [](const nlohmann::json& d) { return d.value("state", "") == "running"; };
  BOOST_REQUIRE_MESSAGE(c.WaitDoc("/recoveries/1", running, 20, &rec), rec.dump() << c.CoordinatorLogTail());
  BOOST_TEST(rec.value("generation", uint64_t{0}) == 4u, rec.dump());
  ExpectKept(c, 4, 4, "while its recovery runs");

  // A successor: a new process, a new file (generation 5), a checkpoint in it. Generation 4 is
  // then behind the checkpoint and closed at the origin; only the unfinished recovery needs it.
  std::string file = c.BoltFile(kOrigin, 0);
  BOOST_REQUIRE(::rename(file.c_str(), (file + ".4").c_str()) == 0);
  Child successor = StartBoltProcess(c);
  WriteGeneration(c, 5, Lines(5, 0, 80));
  Checkpoint(c, 5, Lines(5, 0, 60).size());  // not the dead process's offset: a new reading
  BOOST_REQUIRE_MESSAGE(WaitUntil([&] { return OnlyActiveOpen(c); }, 15), "generation 4 never closed\n" << c.LogTail(kOrigin));
  c.LetHeartbeatsPass(kOrigin, 8);  // two seconds: plans made since (one a second at most) are in force
  BOOST_REQUIRE_MESSAGE(c.WaitDoc("/recoveries/1", running, 1, &rec), rec.dump());
  ExpectKept(c, 4, 5, "while its recovery is unfinished");
  for (int p : kPeers) BOOST_TEST(DeletedOn(c, p) == 3u, c.AgentId(p) << ": " << Retention(c, p).dump());

  std::ofstream(release) << "go\n";
  BOOST_REQUIRE_MESSAGE(c.WaitDoc("/recoveries/1", [](const auto& d) { return d.value("state", "") == "recovered"; }, 20, &rec),
                        rec.dump() << c.CoordinatorLogTail());
  auto runs = HookRuns(c);
  BOOST_REQUIRE_EQUAL(runs.size(), 1u);
  BOOST_TEST(runs[0].agent != kOrigin);
  BOOST_TEST(runs[0].env["TAILSAFE_GENERATION"] == "4");
  BOOST_TEST(runs[0].env["TAILSAFE_FROM"] == std::to_string(processed.size()));
  BOOST_TEST(runs[0].input == tail, "the hook got " << runs[0].input.size() << " bytes, expected " << tail.size());

  // Recorded: generation 4 is no longer needed.
  deleted = WaitDeletedBelow(c, 5, 15);
  if (!deleted) c.Keep();
  BOOST_TEST(deleted, "generation 4 is still on a peer after its recovery\n" << c.CoordinatorLogTail());
  ExpectKept(c, 5, 5, "after the recovery");
  for (int p : kPeers) BOOST_TEST(WaitUntil([&] { return DeletedOn(c, p) == 4u; }, 10), c.AgentId(p) << ": " << Retention(c, p).dump());
  successor.Signal(SIGKILL);
  successor.Wait();
  BOOST_TEST(c.StopAll().ok());
  BOOST_TEST(c.StopCoordinator().message() == "ok");
}

// The bolt checkpoints in generation 1, its file is rotated (generation 2, closed at the origin
// once every peer holds 1 whole), and it dies before checkpointing in the new file. Its tail is
// generation 1 past the checkpoint (on the peers only) and all of generation 2: both are
// recovered, once; the unchanged checkpoint re-read at the death stays generation 1's. Then
// generation 1 is no longer needed and goes.
BOOST_AUTO_TEST_CASE(a_bolt_that_dies_after_a_rotation_it_had_not_checkpointed_past_has_both_tails_recovered) {
  ClusterOptions o = RetentionCluster();
  o.pid_files = true;
  TestCluster c("ret-rotated-tail", o);
  BOOST_REQUIRE(c.StartCoordinator().ok());
  BOOST_REQUIRE(c.StartAll().ok());
  Child bolt = StartBoltProcess(c);
  std::string processed = Lines(1, 0, 50), tail1 = Lines(1, 50, 200), gen2 = Lines(2, 0, 120);
  WriteGeneration(c, 1, processed + tail1);
  Checkpoint(c, 1, processed.size());
  Rotate(c, 1, gen2);
  BOOST_REQUIRE(c.WaitAcked(kOrigin, 0, 20));
  BOOST_REQUIRE_MESSAGE(WaitUntil([&] { return OnlyActiveOpen(c); }, 15), "generation 1 never closed\n" << c.LogTail(kOrigin));
  c.LetHeartbeatsPass(kOrigin, 8);  // plans made since are in force: generation 1 is still needed
  ExpectKept(c, 1, 2, "before the death");

  bolt.Signal(SIGKILL);
  bolt.Wait();
  auto recovered = [](const nlohmann::json& d) { return d.value("state", "") == "recovered"; };
  nlohmann::json rec;
  for (const char* path : {"/recoveries/1", "/recoveries/2"}) {
    BOOST_REQUIRE_MESSAGE(c.WaitDoc(path, recovered, 20, &rec), path << ": " << rec.dump() << c.CoordinatorLogTail());
  }
  auto runs = HookRuns(c);
  BOOST_REQUIRE_EQUAL(runs.size(), 2u);
  std::map<std::string, std::pair<std::string, std::string>> by_gen;  // generation -> (from, input)
  for (const auto& r : runs) by_gen[r.env.at("TAILSAFE_GENERATION")] = {r.env.at("TAILSAFE_FROM"), r.input};
  BOOST_TEST(by_gen["1"].first == std::to_string(processed.size()));
  BOOST_TEST(by_gen["1"].second == tail1, "generation 1's tail: " << by_gen["1"].second.size() << " bytes");
  BOOST_TEST(by_gen["2"].first == "0");
  BOOST_TEST(by_gen["2"].second == gen2, "generation 2: " << by_gen["2"].second.size() << " bytes");

  // Recorded; once the bolt checkpoints in generation 2, generation 1 goes.
  Child successor = StartBoltProcess(c);
  Checkpoint(c, 2, gen2.size());
  bool deleted = WaitDeletedBelow(c, 2, 15);
  if (!deleted) c.Keep();
  BOOST_TEST(deleted, "generation 1 is still on a peer\n" << c.CoordinatorLogTail());
  ExpectKept(c, 2, 2, "after the recovery");
  successor.Signal(SIGKILL);
  successor.Wait();
  BOOST_TEST(c.StopAll().ok());
  BOOST_TEST(c.StopCoordinator().message() == "ok");
}

// No coordinator, no plan: every generation's replica stays on every peer once replicated,
// sealed and closed at the origin, checkpoint or not.
BOOST_AUTO_TEST_CASE(without_a_coordinator_nothing_is_deleted) {
  ClusterOptions o;
  o.agents = 3;
  o.bolts_per_agent = 1;
  o.checkpoint_files = true;
  o.seal_after_ms = 200;
  TestCluster c("ret-none", o);
  BOOST_REQUIRE(c.StartAll().ok());
  WriteGeneration(c, 1, Lines(1, 0, 500));
  for (uint64_t g = 1; g <= 3; ++g) Rotate(c, g, Lines(g + 1, 0, 500));
  WriteAtomically(c.CheckpointFile(kOrigin, 0), std::to_string(Lines(4, 0, 500).size()) + "\n");
  BOOST_REQUIRE(c.WaitAcked(kOrigin, 0, 20));
  BOOST_REQUIRE_MESSAGE(WaitUntil([&] { return OnlyActiveOpen(c); }, 15), "rotated generations never closed\n" << c.LogTail(kOrigin));
  // The peers have the checkpoint: everything they could act on has arrived.
  for (int p : kPeers) {
    BOOST_TEST(WaitUntil([&] {
      auto st = c.AgentStatus(p);
      if (!st.ok()) return false;
      for (const auto& ck : (*st)["peer_checkpoints"]) {
        if (ck.value("generation", uint64_t{0}) == 4u) return true;
      }
      return false;
    }, 10), c.AgentId(p) << " never got the checkpoint");
  }
  for (uint64_t g = 1; g <= 4; ++g) ExpectKept(c, g, 4, "without a coordinator");
  for (int p : kPeers) {
    nlohmann::json r = Retention(c, p);
    BOOST_REQUIRE_MESSAGE(r.is_object(), c.AgentId(p) << "'s status has no retention");
    BOOST_TEST(r.value("bolts_planned", uint64_t{1}) == 0u, r.dump());
    BOOST_TEST(r.value("replicas_deleted", uint64_t{1}) == 0u, r.dump());
  }
  BOOST_TEST(c.StopAll().ok());
}

BOOST_AUTO_TEST_SUITE_END()
