// CollectReport (agent/report_collector.h): the walk that takes an AgentReport from the agent's
// owners. Per bolt and peer: the active generation's shipped and acknowledged bytes, and the lag
// over every generation still shipped (lost and released ones are not); the optional owners may
// be null; a removed bolt shows no process. Runs real owners on a libuv loop over a temporary
// directory: BoltSources on bolt files, a PeerSet whose links are not started (what each peer
// acknowledged comes from state.db rows), a ReplicaStore, a ReplicaServer and a Committer.
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "agent/report_collector.h"
#include "common/checkpoint.h"
#include "common/clock.h"
#include "common/hash.h"
#include "tests/support/cluster.h"
#include "tests/support/test_loop.h"

using namespace tailsafe;
using tailsafe::testing::ScopedTempDir;
using tailsafe::testing::TestLoop;

namespace {

struct Fixture {
  ScopedTempDir dir{"report_collector"};
  TestLoop loop;
  InotifyWatcher watcher{loop.get(), 0};
  Config config;
  ClusterKeys keys;
  std::unique_ptr<StateStore> state;
  std::unique_ptr<Committer> committer;
  std::unique_ptr<BoltSources> sources;
  std::unique_ptr<PeerSet> peers;
  std::unique_ptr<ReplicaStore> replicas;
  std::unique_ptr<ReplicaServer> server;
  std::unique_ptr<BoltTracker> tracker;
  uint64_t started_ns = NowNs();

  Fixture() {
    BOOST_REQUIRE(watcher.Start().ok());
    config.agent.id = "h1";
    config.cluster.name = "c1";
    config.agent.data_dir = dir.path + "/data";
    BOOST_REQUIRE(::mkdir(config.agent.data_dir.c_str(), 0755) == 0);
    BOOST_REQUIRE(::mkdir((dir.path + "/bolts").c_str(), 0755) == 0);
    Result<StateStore> s = StateStore::Open(config.agent.data_dir + "/state.db");
    BOOST_REQUIRE(s.ok());
    state = std::make_unique<StateStore>(std::move(s.value()));
    committer = std::make_unique<Committer>(loop.get(), state.get(), 0, [](const Status&) {});
    replicas = std::make_unique<ReplicaStore>(config.agent.data_dir, [] {});
    server = std::make_unique<ReplicaServer>(loop.get(), config, &keys, replicas.get());
  }
  ~Fixture() {
    tracker.reset();
    peers.reset();
    if (sources) sources->Stop();
    sources.reset();
    server.reset();
    watcher.Stop();
  }

  std::string BoltFile(const std::string& name) const { return dir.path + "/bolts/" + name; }
  static void Write(const std::string& path, const std::string& bytes) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
  }
  // Bolt `b` on bolts/b.log, from the state.db rows `rows`, and a link to each of `peer_ids`
  // with what state.db says each acknowledged.
  void Start(std::vector<OriginGenRow> rows, const std::vector<std::string>& peer_ids,
             std::vector<PeerAckRow> acks) {
    BoltConfig b;
    b.name = "b";
    b.file = BoltFile("b.log");
    b.checkpoint_file = BoltFile("b.checkpoint");
    config.bolts = {b};
    BoltSource::Hooks hooks;
    hooks.changed = [](const Generation*) {};
    hooks.min_acked = [](const Generation&) { return uint64_t{0}; };
    hooks.min_cursor = [](const Generation&) { return UINT64_MAX; };
    hooks.lost = [](const Generation&) {};
    hooks.request_commit = [] {};
    sources = std::make_unique<BoltSources>(loop.get(), &watcher, &config.agent, hooks, std::move(rows));
    BOOST_REQUIRE(sources->Start(config.bolts).ok());
    PeerLink::Env env;
    env.loop = loop.get();
    env.cluster = "c1";
    env.self_id = "h1";
    env.keys = &keys;
    env.window_bytes = 1 << 20;
    env.reconnect_max_ms = 1000;
    env.sources = &sources->all();
    env.acks_changed = [](const std::string&) {};
    std::vector<PeerSpec> statics;
    for (const std::string& id : peer_ids) statics.push_back({id, {"127.0.0.1", 9}});
    peers = std::make_unique<PeerSet>(env, "h1", statics, std::move(acks));
    peers->Load({});  // linked, not started: never connected
  }
  void StartTracker() {
    tracker = std::make_unique<BoltTracker>(
        loop.get(), &watcher, config.bolts, 600000, [](const std::string&, const BoltProcess&, bool) {},
        [](const std::string&, uint64_t, BoltTracker::Writer) {});
    BOOST_REQUIRE(tracker->Start().ok());
    BOOST_REQUIRE(loop.RunUntil([&] {
      const BoltCheckpoint* ck = tracker->FindCheckpoint("b");
      return ck && ck->known;
    }));
  }
  ReportInputs Inputs() {
    ReportInputs in;
    in.config = &config;
    in.started_ns = started_ns;
    in.sources = sources.get();
    in.peers = peers.get();
    in.replicas = replicas.get();
    in.server = server.get();
    in.committer = committer.get();
    in.tracker = tracker.get();
    return in;
  }
  const BoltReport::Peer& PeerOf(const BoltReport& b, const std::string& id) {
    for (const auto& p : b.peers) {
      if (p.peer == id) return p;
    }
    BOOST_FAIL("no peer " + id);
    return b.peers.front();
  }
};

}  // namespace

BOOST_FIXTURE_TEST_SUITE(report_collector, Fixture)

BOOST_AUTO_TEST_CASE(the_agent_and_each_generation_of_a_bolt_are_reported_as_the_owners_know_them) {
  // gen 1: its file gone (lost, 100 bytes it had); gen 2: renamed to b.log.1 while the agent
  // was down (rotated away, 10 bytes); gen 3: the bolt's file now (18 bytes).
  Write(BoltFile("b.log.1"), "old bytes\n");
  struct stat st;
  BOOST_REQUIRE(::stat(BoltFile("b.log.1").c_str(), &st) == 0);
  Write(BoltFile("b.log"), "line one\nline two\n");
  Start({{"b", 1, 1, 1, 5, Hash64("qqqqq"), GenState::kSealed, 100},
         {"b", 2, st.st_dev, st.st_ino, 0, 0, GenState::kActive, 0}},
        {}, {});
  sources->all().front()->SetCheckpoint(7);

  AgentReport r = CollectReport(Inputs());
  BOOST_TEST(r.agent == "h1");
  BOOST_TEST(r.cluster == "c1");
  BOOST_TEST(r.pid == ::getpid());
  BOOST_TEST(r.uptime_seconds >= 0);
  BOOST_TEST(r.uptime_seconds < static_cast<double>(NowNs() - started_ns) / 1e9 + 1e-9);
  BOOST_REQUIRE_EQUAL(r.bolts.size(), 1u);
  const BoltReport& b = r.bolts[0];
  BOOST_TEST(b.name == "b");
  BOOST_TEST(b.file == BoltFile("b.log"));
  BOOST_TEST(b.pattern.empty());
  BOOST_TEST(!b.removed);
  BOOST_TEST(b.checkpoint_applied);  // to the active generation
  BOOST_TEST(b.checkpoint_gen == 3u);
  BOOST_TEST(b.checkpoint_offset == 7u);
  BOOST_REQUIRE_EQUAL(b.gens.size(), 3u);
  BOOST_TEST(b.gens[0].gen == 1u);
  BOOST_TEST((b.gens[0].state == GenState::kLost));
  BOOST_TEST(b.gens[0].end == 100u);
  BOOST_TEST(b.gens[0].persisted);
  BOOST_TEST((b.gens[1].state == GenState::kRetired));
  BOOST_TEST(b.gens[1].size == 10u);
  BOOST_TEST(b.gens[1].end == 10u);
  BOOST_TEST((b.gens[2].state == GenState::kActive));
  BOOST_TEST(b.gens[2].size == 18u);
  BOOST_TEST(!b.gens[2].persisted);  // new: its row is not yet committed
  BOOST_TEST(b.stats.generations_lost == 1u);
  BOOST_TEST(b.peers.empty());
  BOOST_TEST(!b.process);
  BOOST_TEST(!b.checkpoint);  // no tracker
  BOOST_TEST(b.deaths.empty());
  // The optional owners are null: nothing of theirs, and no crash.
  BOOST_TEST(!r.discovery);
  BOOST_TEST(!r.recoveries);
  BOOST_TEST(!r.recovery_stats);
  BOOST_TEST(!r.coordinator);
  BOOST_TEST(r.storage_error.empty());
  BOOST_TEST(r.commits == 0u);
}

BOOST_AUTO_TEST_CASE(each_peer_shows_the_active_generations_bytes_and_its_lag_over_every_generation_shipped) {
  Write(BoltFile("b.log.1"), "old bytes\n");
  struct stat st;
  BOOST_REQUIRE(::stat(BoltFile("b.log.1").c_str(), &st) == 0);
  Write(BoltFile("b.log"), "line one\nline two\n");
  uint64_t before = NowNs();
  Start({{"b", 1, 1, 1, 5, Hash64("qqqqq"), GenState::kSealed, 100},
         {"b", 2, st.st_dev, st.st_ino, 0, 0, GenState::kActive, 0}},
        {"p1", "p2", "p3"},
        {{"p1", "b", 2, 4}, {"p1", "b", 3, 20}, {"p3", "b", 2, 10}, {"p3", "b", 3, 18}, {"p3", "b", 1, 0}});
  AgentReport r = CollectReport(Inputs());
  double elapsed = static_cast<double>(NowNs() - before) / 1e9;
  BOOST_REQUIRE_EQUAL(r.bolts.size(), 1u);
  const BoltReport& b = r.bolts[0];
  BOOST_REQUIRE_EQUAL(b.peers.size(), 3u);

  // p1 acknowledged more of the active generation than this agent saw (it was rewritten
  // shorter): acked is capped at the size; no cursor, so shipped is what it acknowledged.
  const BoltReport::Peer& p1 = PeerOf(b, "p1");
  BOOST_TEST(!p1.connected);
  BOOST_TEST(p1.acked == 18u);
  BOOST_TEST(p1.shipped == 18u);
  // 6 bytes of the rotated-away generation; the lost generation's 100 count for nothing.
  BOOST_TEST(p1.lag.bytes == 6u);
  BOOST_TEST(p1.lag.seconds >= 0);
  BOOST_TEST(p1.lag.seconds <= elapsed);

  const BoltReport::Peer& p2 = PeerOf(b, "p2");  // acknowledged nothing
  BOOST_TEST(p2.acked == 0u);
  BOOST_TEST(p2.shipped == 0u);
  BOOST_TEST(p2.lag.bytes == 28u);
  BOOST_TEST(p2.lag.seconds > 0);  // since the oldest unacknowledged byte was seen
  BOOST_TEST(p2.lag.seconds <= elapsed);

  const BoltReport::Peer& p3 = PeerOf(b, "p3");  // has everything
  BOOST_TEST(p3.acked == 18u);
  BOOST_TEST(p3.lag.bytes == 0u);
  BOOST_TEST(p3.lag.seconds == 0);  // no bytes behind: no age either

  BOOST_REQUIRE_EQUAL(r.peers.size(), 3u);
  BOOST_TEST(r.peers[0].id == "p1");
  BOOST_TEST(r.peers[0].address == "127.0.0.1:9");
  BOOST_TEST(!r.peers[0].connected);
  BOOST_TEST(r.peers[0].failed_streams.empty());
}

BOOST_AUTO_TEST_CASE(a_bolt_without_a_file_has_no_active_bytes_for_its_peers) {
  Start({}, {"p1"}, {{"p1", "b", 1, 50}});
  AgentReport r = CollectReport(Inputs());
  BOOST_REQUIRE_EQUAL(r.bolts.size(), 1u);
  BOOST_TEST(r.bolts[0].gens.empty());
  BOOST_TEST(!r.bolts[0].checkpoint_applied);
  BOOST_REQUIRE_EQUAL(r.bolts[0].peers.size(), 1u);
  BOOST_TEST(r.bolts[0].peers[0].acked == 0u);
  BOOST_TEST(r.bolts[0].peers[0].shipped == 0u);
  BOOST_TEST(r.bolts[0].peers[0].lag.bytes == 0u);
}

BOOST_AUTO_TEST_CASE(the_trackers_checkpoint_is_shown_until_the_bolt_is_removed) {
  Write(BoltFile("b.log"), "line one\n");
  BOOST_REQUIRE(WriteCheckpointFile(BoltFile("b.checkpoint"), 5).ok());
  Start({}, {}, {});
  StartTracker();
  AgentReport running = CollectReport(Inputs());
  BOOST_REQUIRE_EQUAL(running.bolts.size(), 1u);
  BOOST_REQUIRE(running.bolts[0].checkpoint);
  BOOST_TEST(running.bolts[0].checkpoint->offset == 5u);

  sources->Apply({}, {});  // the bolt left the configuration: it drains
  AgentReport removed = CollectReport(Inputs());
  BOOST_REQUIRE_EQUAL(removed.bolts.size(), 1u);
  BOOST_TEST(removed.bolts[0].removed);
  BOOST_TEST(!removed.bolts[0].checkpoint);  // its process is not this agent's any more
  BOOST_TEST(!removed.bolts[0].process);
}

BOOST_AUTO_TEST_CASE(replicas_and_peers_checkpoints_are_reported_in_key_order) {
  BOOST_REQUIRE(replicas->Init({{"h3", "x", 2, 70, false}, {"h2", "x", 1, 50, true}},
                               {{"h2", "x", 1, 30}}).ok());
  Start({}, {}, {});
  AgentReport r = CollectReport(Inputs());
  BOOST_REQUIRE_EQUAL(r.replicas.size(), 2u);
  const ReplicaReport& a = r.replicas[0];
  BOOST_TEST(a.origin == "h2");
  BOOST_TEST(a.bolt == "x");
  BOOST_TEST(a.gen == 1u);
  BOOST_TEST(a.path == config.agent.data_dir + "/replicas/h2/x/" + GenerationFileName(1));
  BOOST_TEST(a.durable == 50u);
  BOOST_TEST(a.written == 50u);
  BOOST_TEST(a.verified == 50u);
  BOOST_TEST(a.recorded == 50u);
  BOOST_TEST(a.sealed);
  BOOST_TEST(!a.streaming);
  BOOST_TEST(r.replicas[1].origin == "h3");
  BOOST_TEST(!r.replicas[1].sealed);
  BOOST_REQUIRE_EQUAL(r.peer_checkpoints.size(), 1u);
  BOOST_TEST(r.peer_checkpoints[0].origin == "h2");
  BOOST_TEST(r.peer_checkpoints[0].gen == 1u);
  BOOST_TEST(r.peer_checkpoints[0].offset == 30u);
}

BOOST_AUTO_TEST_SUITE_END()
