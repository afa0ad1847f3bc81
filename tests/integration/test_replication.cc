// Replication with real agents on loopback: bulk convergence, kill -9 of random agents, and a
// peer down for a minute while the sender's memory stays flat.
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/control_client.h"
#include "tests/support/cluster.h"
#include "tests/support/writer.h"

using namespace tailsafe;
using namespace tailsafe::testing;
using Clock = std::chrono::steady_clock;

namespace {

double Since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

uint64_t Seed() {
  const char* s = std::getenv("TAILSAFE_SEED");
  uint64_t seed = s ? std::strtoull(s, nullptr, 10) : static_cast<uint64_t>(Clock::now().time_since_epoch().count());
  BOOST_TEST_MESSAGE("seed " << seed << " (replay with TAILSAFE_SEED=" << seed << ")");
  return seed;
}

// One writer per bolt file, sharing `total` bytes among them.
std::vector<std::unique_ptr<AppendWriter>> StartWriters(TestCluster& c, int bolts, uint64_t total, uint64_t seed,
                                                        double rate_each_mbps) {
  std::vector<std::unique_ptr<AppendWriter>> writers;
  uint64_t each = total / static_cast<uint64_t>(c.size() * bolts);
  for (int a = 0; a < c.size(); ++a) {
    for (int b = 0; b < bolts; ++b) {
      writers.push_back(std::make_unique<AppendWriter>(c.BoltFile(a, b), each, seed + static_cast<uint64_t>(a * 10 + b),
                                                       rate_each_mbps));
      writers.back()->Start();
    }
  }
  return writers;
}

void JoinWriters(std::vector<std::unique_ptr<AppendWriter>>& writers) {
  for (auto& w : writers) {
    w->Join();
    BOOST_REQUIRE_MESSAGE(w->error().empty(), w->error());
  }
}

// `n` one-line writes, 10 ms apart (the writer's pace, not a wait for anything).
void PacedLines(const std::string& path, int n) {
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  BOOST_REQUIRE(fd >= 0);
  for (int i = 0; i < n; ++i) {
    std::string line = "GET /item/" + std::to_string(i) + " 200\n";
    BOOST_REQUIRE(::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()));
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ::close(fd);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(replication)

// Acceptance 1: three agents, two bolt files each, 200 MB of random-size writes; every replica
// equals its origin within 10 s of the writers stopping.
BOOST_AUTO_TEST_CASE(three_agents_converge_after_200mb) {
  uint64_t seed = Seed();
  TestCluster c("converge", {});
  for (int i = 0; i < c.size(); ++i) {
    Status s = c.Start(i);
    BOOST_REQUIRE_MESSAGE(s.ok(), s.message());
  }
  auto t0 = Clock::now();
  auto writers = StartWriters(c, 2, 200'000'000, seed, 0);
  JoinWriters(writers);
  double write_s = Since(t0);
  auto t1 = Clock::now();
  std::string why;
  bool ok = WaitUntil([&] { return c.AllReplicasMatch(&why); }, 10.0, 50);
  double converge_s = Since(t1);
  BOOST_TEST_MESSAGE("wrote 200 MB in " << write_s << " s; replicas identical " << converge_s
                                        << " s after the writers stopped");
  if (!ok) c.Keep();
  BOOST_TEST(ok, "replicas differ 10 s after the writers stopped: " << why << "\n" << c.LogTail(0));
  BOOST_TEST_MESSAGE("h1/bolt-1 sha256 " << Sha256(c.BoltFile(0, 0)).substr(0, 16) << ", replica on h2 "
                                         << Sha256(c.ReplicaFile(1, 0, 0, 1)).substr(0, 16));
  BOOST_TEST(c.StopAll().ok());
}

// Acceptance 2: kill -9 of a random agent every few seconds while writing; each is restarted.
// Replicas converge, and bytes shipped twice stay within the unacknowledged window per resume.
BOOST_AUTO_TEST_CASE(kill9_random_agents_converge) {
  uint64_t seed = Seed();
  std::mt19937_64 rng(seed);
  ClusterOptions opt;
  opt.window_bytes = 1 << 20;  // a small window makes the resend bound tight
  TestCluster c("kill9", opt);
  BOOST_REQUIRE(c.StartAll().ok());
  // 200 MB at ~10 MB/s overall: about 20 s of writing, so the nemesis gets several kills in.
  auto writers = StartWriters(c, 2, 200'000'000, seed, 10.0 / 6);

  // Bytes each agent process shipped (per lifetime): the last status seen before it died.
  // (Sampled just before each kill, so this cannot see bytes re-sent because the sender itself
  // died; `resent_bytes`, counted inside each sender, covers resumes after a peer's restart.)
  uint64_t shipped_dead = 0, resent_dead = 0;
  std::vector<uint64_t> shipped_live(static_cast<size_t>(c.size()), 0);
  std::vector<uint64_t> resent_live(static_cast<size_t>(c.size()), 0);
  // A stream's unacknowledged bytes stay under the window plus one frame (256 KiB chunks).
  uint64_t window = opt.window_bytes + (256 << 10);
  auto sample = [&](int i) {
    auto s = c.AgentStatus(i);
    if (!s) return;
    uint64_t sum = 0, resent = 0;
    for (const auto& p : (*s)["peers"]) {
      sum += p["bytes_sent"].get<uint64_t>();
      resent += p["resent_bytes"].get<uint64_t>();
    }
    shipped_live[static_cast<size_t>(i)] = sum;
    resent_live[static_cast<size_t>(i)] = resent;
  };
  int kills = 0;
  auto all_done = [&] {
    for (auto& w : writers)
      if (!w->done()) return false;
    return true;
  };
  while (!all_done()) {
    double pause = 1.5 + static_cast<double>(rng() % 2000) / 1000.0;
    WaitUntil(all_done, pause, 100);
    if (all_done()) break;
    int victim = static_cast<int>(rng() % static_cast<uint64_t>(c.size()));
    sample(victim);
    c.Kill(victim, SIGKILL);
    shipped_dead += shipped_live[static_cast<size_t>(victim)];
    resent_dead += resent_live[static_cast<size_t>(victim)];
    shipped_live[static_cast<size_t>(victim)] = 0;
    resent_live[static_cast<size_t>(victim)] = 0;
    ++kills;
    BOOST_REQUIRE_MESSAGE(c.Start(victim).ok(), c.LogTail(victim));
  }
  JoinWriters(writers);
  std::string why;
  bool ok = WaitUntil([&] { return c.AllReplicasMatch(&why); }, 30.0, 100);
  if (!ok) c.Keep();
  BOOST_TEST(ok, "after " << kills << " kills replicas differ: " << why);
  for (int i = 0; i < c.size(); ++i) sample(i);
  uint64_t shipped = shipped_dead, resent = resent_dead;
  for (auto v : shipped_live) shipped += v;
  for (auto v : resent_live) resent += v;
  uint64_t origin_bytes = 0;
  for (int a = 0; a < c.size(); ++a)
    for (int b = 0; b < 2; ++b) origin_bytes += FileSize(c.BoltFile(a, b));
  uint64_t needed = origin_bytes * static_cast<uint64_t>(c.size() - 1);
  uint64_t excess = shipped > needed ? shipped - needed : 0;
  // Each kill interrupts the killed agent's streams to both peers (2 bolts each) and both peers'
  // streams to it: at most 8 streams, each re-sending at most one window (plus one frame).
  uint64_t bound = static_cast<uint64_t>(kills) * 8 * window;
  BOOST_TEST_MESSAGE(kills << " kills; shipped " << shipped << " bytes for " << needed << " needed; re-shipped "
                           << excess << " bytes; senders counted " << resent << " bytes re-sent on resume (bound "
                           << bound << " = kills x 8 streams x window)");
  BOOST_TEST(kills >= 5);
  BOOST_TEST(excess <= bound);
  BOOST_TEST(resent <= bound);
  // The exact count of bytes a peer received twice: at each restart a receiver cuts its replicas
  // back to what it had made durable (and logs it); only those bytes come again. A sender's
  // death re-sends nothing the peer had received, since it resumes at the peer's position.
  uint64_t cut = 0;
  for (int i = 0; i < c.size(); ++i) {
    std::string log = c.LogTail(i, 1 << 30);
    for (size_t at = log.find(": cut "); at != std::string::npos; at = log.find(": cut ", at + 1)) {
      cut += std::strtoull(log.c_str() + at + 6, nullptr, 10);
    }
  }
  // Each restarted receiver holds 4 streams (2 origins x 2 bolts), each at most a window behind.
  uint64_t cut_bound = static_cast<uint64_t>(kills) * 4 * window;
  BOOST_TEST_MESSAGE("bytes received twice (cut back at receiver restarts): " << cut << " (bound " << cut_bound
                                                                             << ")");
  BOOST_TEST(cut <= cut_bound);
  BOOST_TEST(c.StopAll().ok());
}

// Acceptance 3: a peer down for 60 s while 100 MB is appended catches up from its durable
// offset; the sender's RSS stays under 64 MB meanwhile. Under ASan the same 100 MB come in
// 15 s: RSS there is mostly the sanitizer's own (the release pass holds the bound and the 60 s),
// and the catch-up path it checks is the same.
BOOST_AUTO_TEST_CASE(peer_down_60s_catches_up_with_flat_memory) {
#if defined(__SANITIZE_ADDRESS__)
  const double down_s = 15.0;
#else
  const double down_s = 60.0;
#endif
  uint64_t seed = Seed();
  ClusterOptions opt = TwoAgentsOneBolt();
  TestCluster c("peerdown", opt);
  BOOST_REQUIRE(c.StartAll().ok());
  AppendWriter before(c.BoltFile(0, 0), 20'000'000, seed);
  before.Start();
  before.Join();
  std::string why;
  BOOST_REQUIRE(WaitUntil([&] { return FilesEqual(c.BoltFile(0, 0), c.ReplicaFile(1, 0, 0, 1), &why); }, 10));
  uint64_t durable_before = FileSize(c.ReplicaFile(1, 0, 0, 1));
  BOOST_REQUIRE(c.Stop(1).ok());

  AppendWriter during(c.BoltFile(0, 0), 100'000'000, seed + 1, 100.0 / (down_s - 2));  // spread over the outage
  auto t0 = Clock::now();
  during.Start();
  uint64_t max_rss = 0;
  while (Since(t0) < down_s) {
    max_rss = std::max(max_rss, RssBytes(c.Pid(0)));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // sampling interval while the peer is down
  }
  during.Join();
  BOOST_REQUIRE(during.error().empty());
  max_rss = std::max(max_rss, RssBytes(c.Pid(0)));
  BOOST_TEST_MESSAGE("sender RSS peaked at " << max_rss / (1 << 20) << " MiB while its peer was down for " << down_s << " s");
#if defined(__SANITIZE_ADDRESS__)
  // Under ASan the agent's RSS is mostly shadow memory and the free-memory quarantine (60 to 66
  // MiB here); the acceptance bound of 64 MiB is held by the release build of this same test.
  uint64_t bound = 256u << 20;
#else
  uint64_t bound = 64u << 20;
#endif
  BOOST_TEST(max_rss < bound, "sender RSS peaked at " << max_rss << " bytes, bound " << bound);

  BOOST_REQUIRE(c.Start(1).ok());
  auto t1 = Clock::now();
  bool ok = WaitUntil([&] { return FilesEqual(c.BoltFile(0, 0), c.ReplicaFile(1, 0, 0, 1), &why); }, 30, 50);
  BOOST_TEST(ok, why);
  BOOST_TEST_MESSAGE("caught up 100 MB in " << Since(t1) << " s");
  auto st = c.AgentStatus(1);
  BOOST_REQUIRE(st.ok());
  uint64_t received = (*st)["receiver"]["bytes_received"].get<uint64_t>();
  uint64_t appended = FileSize(c.BoltFile(0, 0)) - durable_before;
  // It resumed from its durable offset: it received what was appended, not the whole file.
  BOOST_TEST(received == appended, "received " << received << " bytes after restart; " << appended
                                               << " were appended while it was down");
  BOOST_TEST(c.StopAll().ok());
}

// Two peers pulling one fast-growing file through a window barely larger than a frame: the
// shared frame cache is under constant pressure while large frames are encoded off the loop and
// prefetched. (A first version evicted the very frame a cursor had asked for and livelocked.)
BOOST_AUTO_TEST_CASE(small_window_under_cache_pressure_converges) {
  uint64_t seed = Seed();
  ClusterOptions opt;
  opt.bolts_per_agent = 1;
  opt.window_bytes = 300000;
  TestCluster c("pressure", opt);
  BOOST_REQUIRE(c.StartAll().ok());
  AppendWriter w(c.BoltFile(0, 0), 100'000'000, seed);
  w.Start();
  w.Join();
  std::string why;
  bool ok = WaitUntil([&] {
    return FilesEqual(c.BoltFile(0, 0), c.ReplicaFile(1, 0, 0, 1), &why) &&
           FilesEqual(c.BoltFile(0, 0), c.ReplicaFile(2, 0, 0, 1), &why);
  }, 30, 100);
  if (!ok) c.Keep();
  BOOST_TEST(ok, why);
  auto st = c.AgentStatus(0);
  BOOST_REQUIRE(st.ok());
  uint64_t encoded = (*st)["bolts"][0]["frames_encoded"].get<uint64_t>();
  uint64_t hits = (*st)["bolts"][0]["frame_cache_hits"].get<uint64_t>();
  BOOST_TEST_MESSAGE("frames encoded " << encoded << ", served from the cache " << hits);
  BOOST_TEST(c.StopAll().ok());
}

// POSITION promises durability: an origin that reconnects while the peer still has written but
// uncommitted bytes must not count them as acknowledged (the peer could still lose them).
BOOST_AUTO_TEST_CASE(position_never_reports_uncommitted_bytes) {
  ClusterOptions opt = TwoAgentsOneBolt();
  TestCluster c("position", opt);
  BOOST_REQUIRE(c.Start(0).ok());
  ::setenv("TAILSAFE_TEST_COMMIT_DELAY_MS", "2000", 1);
  Status started = c.Start(1);
  ::unsetenv("TAILSAFE_TEST_COMMIT_DELAY_MS");
  BOOST_REQUIRE(started.ok());
  AppendWriter w(c.BoltFile(0, 0), 2'000'000, 11);
  w.Start();
  w.Join();
  auto replica_sizes = [&](uint64_t* durable, uint64_t* written) {
    auto st = c.AgentStatus(1);
    if (!st || (*st)["replicas"].empty()) return false;
    *durable = (*st)["replicas"][0]["durable"].get<uint64_t>();
    *written = (*st)["replicas"][0]["written"].get<uint64_t>();
    return true;
  };
  uint64_t durable = 0, written = 0;
  // Wait until the peer holds bytes it has not made durable yet, then restart the origin.
  BOOST_REQUIRE(WaitUntil([&] { return replica_sizes(&durable, &written) && written > durable; }, 10, 5));
  c.Kill(0, SIGKILL);
  BOOST_REQUIRE(c.Start(0).ok());
  // Until everything is durable, what the origin counts as acknowledged never exceeds it.
  bool settled = WaitUntil([&] {
    auto a = c.AgentStatus(0);
    if (!a) return false;
    uint64_t acked = (*a)["bolts"][0]["peers"][0]["acked"].get<uint64_t>();
    uint64_t d = 0, wr = 0;
    if (!replica_sizes(&d, &wr)) return false;
    BOOST_TEST(acked <= d, "origin counts " << acked << " bytes acknowledged; the peer holds " << d << " durable");
    return acked == FileSize(c.BoltFile(0, 0));
  }, 30, 20);
  BOOST_TEST(settled);
  std::string why;
  BOOST_TEST(FilesEqual(c.BoltFile(0, 0), c.ReplicaFile(1, 0, 0, 1), &why), why);
  BOOST_TEST(c.StopAll().ok());
}

// The peers' durable log (the `durablelog` control request, what bench/replicate times tailsafe's
// lag with): nothing is kept until the first request; from then on every ACK the peer sends is
// there once, in order, naming the origin, bolt and generation, ending at the durable size.
BOOST_AUTO_TEST_CASE(a_peer_logs_each_ack_it_sends_once_asked) {
  TestCluster c("durablelog", TwoAgentsOneBolt());
  BOOST_REQUIRE(c.StartAll().ok());
  auto drain = [&] {
    Result<std::string> r = ControlRequest(c.ControlSocket(1), "durablelog", 5000);
    BOOST_REQUIRE_MESSAGE(r.ok(), r.status().message());
    nlohmann::json doc = nlohmann::json::parse(*r, nullptr, false);
    BOOST_REQUIRE_MESSAGE(doc.is_object(), *r);
    return doc;
  };
  AppendWriter before(c.BoltFile(0, 0), 300'000, 21);
  before.Start();
  before.Join();
  BOOST_REQUIRE(c.WaitAcked(0, 0, 20));
  BOOST_TEST(drain().empty(), "ACKs sent before the first request are not kept");
  AppendWriter after(c.BoltFile(0, 0), 300'000, 22);
  after.Start();
  after.Join();
  BOOST_REQUIRE(c.WaitAcked(0, 0, 20));
  nlohmann::json doc = drain();
  BOOST_REQUIRE_MESSAGE(doc.contains(c.AgentId(0)), doc.dump());
  const nlohmann::json& events = doc[c.AgentId(0)];
  BOOST_REQUIRE(!events.empty());
  uint64_t last_t = 0, last_size = 300'000;  // all of `before` was acknowledged already
  for (const auto& e : events) {
    BOOST_REQUIRE_MESSAGE(e.is_array() && e.size() == 4u, e.dump());
    BOOST_TEST(e[1].get<std::string>() == c.BoltName(0));
    BOOST_TEST(e[2].get<uint64_t>() == 1u);
    BOOST_TEST(e[0].get<uint64_t>() >= last_t, "in time order");
    BOOST_TEST(e[3].get<uint64_t>() >= last_size, "no ACK covers less than the one before");
    last_t = e[0].get<uint64_t>();
    last_size = e[3].get<uint64_t>();
  }
  BOOST_TEST(last_size == FileSize(c.BoltFile(0, 0)));
  BOOST_TEST(drain().empty(), "each event is drained once");
  BOOST_TEST(c.StopAll().ok());
}

// The batched profile (linger_ms on the origin, commit_interval_ms on the peer) changes when
// bytes travel and sync, never which: small writes made within one linger travel together, a
// paced writer's bytes all arrive, and a clean stop does not wait out the interval.
BOOST_AUTO_TEST_CASE(linger_and_commit_interval_batch_without_losing_bytes) {
  ClusterOptions opt = TwoAgentsOneBolt();
  opt.linger_ms = 1000;
  opt.commit_interval_ms = 300;
  TestCluster c("linger", opt);
  BOOST_REQUIRE(c.StartAll().ok());
  PacedLines(c.BoltFile(0, 0), 20);  // without a linger, each line is its own frame
  BOOST_REQUIRE(c.WaitAcked(0, 0, 20));
  auto st = c.AgentStatus(0);
  BOOST_REQUIRE(st.ok());
  uint64_t frames = (*st)["peers"][0]["frames_sent"].get<uint64_t>();
  BOOST_TEST_MESSAGE("20 writes travelled in " << frames << " frames");
  BOOST_TEST(frames < 10u, "20 writes within 0.2 s took " << frames << " frames despite a 1 s linger");

  AppendWriter w(c.BoltFile(0, 0), 5'000'000, Seed(), 5.0);
  w.Start();
  w.Join();
  BOOST_REQUIRE_MESSAGE(w.error().empty(), w.error());
  BOOST_REQUIRE(c.WaitAcked(0, 0, 20));
  std::string why;
  bool ok = FilesEqual(c.BoltFile(0, 0), c.ReplicaFile(1, 0, 0, 1), &why);
  if (!ok) c.Keep();
  BOOST_TEST(ok, why);
  auto before = Clock::now();
  BOOST_TEST(c.Stop(1).ok());
  BOOST_TEST_MESSAGE("the peer stopped in " << Since(before) << " s");
  BOOST_TEST(c.Stop(0).ok());
}

BOOST_AUTO_TEST_CASE(commit_interval_spaces_the_syncs) {
  ClusterOptions opt = TwoAgentsOneBolt();
  opt.commit_interval_ms = 1000;
  TestCluster c("interval", opt);
  BOOST_REQUIRE(c.StartAll().ok());
  PacedLines(c.BoltFile(0, 0), 20);  // 20 frames; without the interval, about 20 commits
  BOOST_REQUIRE(c.WaitAcked(0, 0, 20));
  auto st = c.AgentStatus(1);
  BOOST_REQUIRE(st.ok());
  uint64_t commits = (*st)["commits"]["batches"].get<uint64_t>();
  BOOST_TEST_MESSAGE("20 frames made durable in " << commits << " commits");
  BOOST_TEST(commits < 10u, "20 frames within 0.2 s took " << commits << " commits despite a 1 s commit interval");
  std::string why;
  BOOST_TEST(FilesEqual(c.BoltFile(0, 0), c.ReplicaFile(1, 0, 0, 1), &why), why);
  BOOST_TEST(c.StopAll().ok());
}

BOOST_AUTO_TEST_SUITE_END()
