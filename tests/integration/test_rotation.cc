// Generations under load: rename+create (logrotate `create`), copytruncate, and delete+recreate.
// A writer records exactly what it wrote into each generation; every generation's replica on the
// peer must equal that, byte for byte. Also: divergence (bytes rewritten in place) is detected.
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/cluster.h"
#include "tests/support/loglines.h"

using namespace tailsafe;
using namespace tailsafe::testing;

namespace {

// As logrotate's copytruncate does: copy `path` to `aside`, then truncate `path` in place.
void CopyTruncate(const std::string& path, const std::string& aside) {
  {
    std::ifstream in(path, std::ios::binary);
    std::ofstream out(aside, std::ios::binary);
    out << in.rdbuf();
    out.close();
    BOOST_REQUIRE_MESSAGE(out, "copy " << path << " to " << aside);
  }
  BOOST_REQUIRE(::truncate(path.c_str(), 0) == 0);
}

// Appends `bytes` of `lines` to `path` in one write.
void AppendLines(LogLines* lines, const std::string& path, size_t bytes) {
  std::string text;
  lines->AppendBytes(&text, bytes);
  std::ofstream(path, std::ios::app | std::ios::binary) << text;
}

enum class Rotation { kRenameCreate, kCopyTruncate, kDeleteRecreate };

// A bolt that rotates its own file, remembering every generation's content.
class RotatingWriter {
 public:
  RotatingWriter(std::string path, uint64_t seed) : path_(std::move(path)), lines_(seed), rng_(seed) { Open(); }
  ~RotatingWriter() { ::close(fd_); }

  void Write(uint64_t bytes) {
    uint64_t done = 0;
    while (done < bytes) {
      size_t n = RandomWriteSize(rng_, 256 << 10);
      if (buf_.size() < n) lines_.AppendBytes(&buf_, n - buf_.size() + 4096);
      ssize_t w = ::write(fd_, buf_.data(), n);
      BOOST_REQUIRE(w > 0);
      gens_.back().append(buf_, 0, static_cast<size_t>(w));
      buf_.erase(0, static_cast<size_t>(w));
      done += static_cast<uint64_t>(w);
    }
  }

  void Rotate(Rotation kind, int k) {
    std::string aside = path_ + "." + std::to_string(k);
    switch (kind) {
      case Rotation::kRenameCreate:
        BOOST_REQUIRE(::rename(path_.c_str(), aside.c_str()) == 0);
        Write(100000);  // the bolt keeps writing to the renamed file until it reopens
        ::close(fd_);
        gens_.emplace_back();
        Open();
        break;
      case Rotation::kDeleteRecreate:
        BOOST_REQUIRE(::unlink(path_.c_str()) == 0);
        Write(100000);  // bytes written to the deleted file still count
        ::close(fd_);
        gens_.emplace_back();
        Open();
        break;
      case Rotation::kCopyTruncate:
        CopyTruncate(path_, aside);
        gens_.emplace_back();  // O_APPEND: the next write lands at offset 0 of the same inode
        break;
    }
  }

  const std::vector<std::string>& generations() const { return gens_; }

 private:
  void Open() {
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    BOOST_REQUIRE(fd_ >= 0);
  }
  std::string path_;
  LogLines lines_;
  std::mt19937_64 rng_;
  std::string buf_;
  int fd_ = -1;
  std::vector<std::string> gens_{1};
};

uint64_t ActiveGeneration(TestCluster& c, int agent) {
  auto s = c.AgentStatus(agent);
  if (!s) return 0;
  return (*s)["bolts"][0]["generation"].get<uint64_t>();
}

void RunRotations(Rotation kind, const char* name) {
  uint64_t seed = static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  BOOST_TEST_MESSAGE(name << ": seed " << seed);
  ClusterOptions opt = TwoAgentsOneBolt();
  opt.seal_after_ms = 300;
  TestCluster c(name, opt);
  BOOST_REQUIRE(c.StartAll().ok());
  RotatingWriter w(c.BoltFile(0, 0), seed);
  constexpr int kRotations = 5;
  for (int k = 1; k <= kRotations; ++k) {
    w.Write(3'000'000);
    // A generation has to exist long enough for the agent to open it: wait until it has.
    BOOST_REQUIRE_MESSAGE(WaitUntil([&] { return ActiveGeneration(c, 0) == static_cast<uint64_t>(k); }, 10),
                          "agent never saw generation " << k << "\n" << c.LogTail(0));
    w.Rotate(kind, k);
  }
  w.Write(3'000'000);

  // Write what each generation should hold, then compare with the peer's replicas.
  const auto& gens = w.generations();
  std::vector<std::string> expected;
  for (size_t g = 0; g < gens.size(); ++g) {
    expected.push_back(c.root() + "/expected-" + std::to_string(g + 1));
    std::ofstream(expected.back(), std::ios::binary) << gens[g];
  }
  std::string why;
  bool ok = WaitUntil([&] {
    for (size_t g = 0; g < gens.size(); ++g) {
      if (!FilesEqual(expected[g], c.ReplicaFile(1, 0, 0, g + 1), &why)) return false;
    }
    return true;
  }, 20, 50);
  if (!ok) c.Keep();
  BOOST_TEST(ok, name << ": " << why << "\n" << c.LogTail(0));
  // Exactly one replica file per generation: nothing extra, nothing missing.
  BOOST_TEST(!FileSize(c.ReplicaFile(1, 0, 0, gens.size() + 1)));
  auto st = c.AgentStatus(0);
  BOOST_REQUIRE(st.ok());
  BOOST_TEST((*st)["bolts"][0]["generations_lost"].get<uint64_t>() == 0u);
  BOOST_TEST((*st)["peers"][0]["lost_bytes"].get<uint64_t>() == 0u);
  BOOST_TEST_MESSAGE(name << ": " << gens.size() << " generations replicated identically");
  BOOST_TEST(c.StopAll().ok());
}

}  // namespace

BOOST_AUTO_TEST_SUITE(rotation)

BOOST_AUTO_TEST_CASE(rename_and_create) { RunRotations(Rotation::kRenameCreate, "rename"); }
BOOST_AUTO_TEST_CASE(copytruncate) { RunRotations(Rotation::kCopyTruncate, "copytruncate"); }
BOOST_AUTO_TEST_CASE(delete_and_recreate) { RunRotations(Rotation::kDeleteRecreate, "delete"); }

// Bytes rewritten in place while a peer is away: the peer's replica no longer matches the file.
// The replica is kept as it was, the divergence is counted, and the file continues as a new
// generation that the peer receives whole.
BOOST_AUTO_TEST_CASE(rewrite_in_place_is_divergence_not_merge) {
  ClusterOptions opt = TwoAgentsOneBolt();
  TestCluster c("diverge", opt);
  BOOST_REQUIRE(c.StartAll().ok());
  RotatingWriter w(c.BoltFile(0, 0), 42);
  w.Write(1'000'000);
  std::string why;
  std::string replica1 = c.ReplicaFile(1, 0, 0, 1);
  BOOST_REQUIRE(WaitUntil([&] { return FilesEqual(c.BoltFile(0, 0), replica1, &why); }, 10));
  // Acknowledged too: the peer's restart trusts only what its loop had taken in (see peer_isolation).
  BOOST_REQUIRE(c.WaitAcked(0, 0, 10));
  BOOST_REQUIRE(c.Stop(1).ok());
  std::string before;
  {
    std::ifstream in(replica1, std::ios::binary);
    before.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  // Rewrite 100 bytes just before the end, where the peer's resume window covers them.
  int fd = ::open(c.BoltFile(0, 0).c_str(), O_WRONLY | O_CLOEXEC);
  BOOST_REQUIRE(fd >= 0);
  std::string junk(100, '#');
  BOOST_REQUIRE(::pwrite(fd, junk.data(), junk.size(), static_cast<off_t>(before.size() - 500)) == 100);
  ::close(fd);
  BOOST_REQUIRE(c.Start(1).ok());
  bool ok = WaitUntil([&] { return FilesEqual(c.BoltFile(0, 0), c.ReplicaFile(1, 0, 0, 2), &why); }, 10);
  BOOST_TEST(ok, why);
  std::string after;
  {
    std::ifstream in(replica1, std::ios::binary);
    after.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  BOOST_TEST((after == before), "the diverged replica was modified");
  auto st = c.AgentStatus(0);
  BOOST_REQUIRE(st.ok());
  BOOST_TEST((*st)["bolts"][0]["divergences"].get<uint64_t>() == 1u);
  BOOST_TEST(c.StopAll().ok());
}

// Every closed generation is forgotten by the peer links: what a link keeps per generation
// (acknowledgements, seals, divergences, what it sent, read errors) is about open generations
// only, so an agent whose bolts rotate for months keeps a bounded amount. Before, every entry
// stayed until the agent restarted: 21 after 20 rotations.
BOOST_AUTO_TEST_CASE(closed_generations_leave_nothing_behind_on_the_links) {
  ClusterOptions opt = TwoAgentsOneBolt();
  opt.seal_after_ms = 100;
  TestCluster c("forget", opt);
  BOOST_REQUIRE(c.StartAll().ok());
  RotatingWriter w(c.BoltFile(0, 0), 7);
  constexpr int kRotations = 20;
  for (int k = 1; k <= kRotations; ++k) {
    w.Write(20'000);
    BOOST_REQUIRE_MESSAGE(WaitUntil([&] { return ActiveGeneration(c, 0) == static_cast<uint64_t>(k); }, 10),
                          "agent never saw generation " << k << "\n" << c.LogTail(0));
    w.Rotate(Rotation::kRenameCreate, k);
  }
  w.Write(20'000);
  // Every rotated generation sealed, acknowledged and closed: only the bolt's file is open.
  nlohmann::json st;
  bool closed = WaitUntil([&] {
    auto s = c.AgentStatus(0);
    if (!s) return false;
    st = *s;
    return st["bolts"][0]["generations"].size() == 1u;
  }, 20);
  BOOST_REQUIRE_MESSAGE(closed, "rotated generations never closed: " << st["bolts"][0]["generations"].dump());
  BOOST_TEST(st["bolts"][0]["generation"].get<uint64_t>() == uint64_t{kRotations + 1});
  BOOST_TEST(st["peers"][0]["generations_tracked"].get<uint64_t>() <= 1u, st["peers"][0].dump());
  BOOST_TEST(c.WaitAcked(0, 0, 10));
  BOOST_TEST(c.StopAll().ok());
}

// A peer that is down when a generation is sealed learns of the seal when it comes back: the
// origin keeps the generation until every peer has its seal, not only its bytes.
BOOST_AUTO_TEST_CASE(seal_reaches_a_peer_that_was_down_at_the_seal) {
  ClusterOptions opt = TwoAgentsOneBolt();
  opt.seal_after_ms = 200;
  TestCluster c("seal-late", opt);
  BOOST_REQUIRE(c.StartAll().ok());
  LogLines lines(7);
  std::string bytes;
  lines.AppendBytes(&bytes, 300'000);
  std::ofstream(c.BoltFile(0, 0), std::ios::binary) << bytes;
  std::string why;
  BOOST_REQUIRE(WaitUntil([&] { return FilesEqual(c.BoltFile(0, 0), c.ReplicaFile(1, 0, 0, 1), &why); }, 10));
  BOOST_REQUIRE(c.Stop(1).ok());

  std::string rotated = c.BoltFile(0, 0) + ".1";
  BOOST_REQUIRE(std::rename(c.BoltFile(0, 0).c_str(), rotated.c_str()) == 0);
  std::ofstream(c.BoltFile(0, 0), std::ios::binary) << bytes.substr(0, 10'000);
  // The origin seals generation 1 while the peer is away (it has every byte of it already).
  auto gen1_state = [&] {
    auto st = c.AgentStatus(0);
    if (!st.ok()) return std::string("?");
    for (const auto& g : (*st)["bolts"][0]["generations"]) {
      if (g["generation"] == 1) return g["state"].get<std::string>();
    }
    return std::string("gone");
  };
  BOOST_REQUIRE(WaitUntil([&] { std::string s = gen1_state(); return s == "sealed" || s == "gone"; }, 10));

  BOOST_REQUIRE(c.Start(1).ok());
  auto replica_sealed = [&] {
    auto st = c.AgentStatus(1);
    if (!st.ok()) return false;
    for (const auto& r : (*st)["replicas"]) {
      if (r["origin"] == c.AgentId(0) && r["bolt"] == c.BoltName(0) && r["generation"] == 1) return r["sealed"].get<bool>();
    }
    return false;
  };
  bool ok = WaitUntil(replica_sealed, 10);
  BOOST_TEST(ok, "the peer's replica of generation 1 is still unsealed\n" << c.LogTail(0));
  BOOST_TEST(FilesEqual(rotated, c.ReplicaFile(1, 0, 0, 1), &why), why);
  // With the seal held everywhere, the origin lets the generation go.
  BOOST_TEST(WaitUntil([&] { return gen1_state() == "gone"; }, 10));
  BOOST_TEST(c.StopAll().ok());
}

// Bytes a truncation in place takes before they reached a peer are lost for that peer, and are
// counted for it also when it is down at the time.
BOOST_AUTO_TEST_CASE(lost_bytes_are_counted_for_a_peer_that_is_down) {
  TestCluster c("lost-down", TwoAgentsOneBolt());
  BOOST_REQUIRE(c.StartAll().ok());
  LogLines lines(8);
  std::string bytes;
  lines.AppendBytes(&bytes, 150'000);
  std::ofstream(c.BoltFile(0, 0), std::ios::binary) << bytes.substr(0, 100'000);
  BOOST_REQUIRE(c.WaitAcked(0, 0, 10));
  BOOST_REQUIRE(c.Stop(1).ok());
  std::ofstream(c.BoltFile(0, 0), std::ios::binary | std::ios::app) << bytes.substr(100'000);
  auto bolt = [&] {
    auto st = c.AgentStatus(0);
    return st.ok() ? (*st)["bolts"][0] : nlohmann::json();
  };
  BOOST_REQUIRE_MESSAGE(WaitUntil([&] { return bolt().value("origin_size", uint64_t{0}) == bytes.size(); }, 10), bolt().dump());
  BOOST_REQUIRE(::truncate(c.BoltFile(0, 0).c_str(), 0) == 0);
  BOOST_REQUIRE(WaitUntil([&] { return bolt().value("generations_lost", uint64_t{0}) == 1u; }, 10));
  auto st = c.AgentStatus(0);
  BOOST_REQUIRE(st.ok());
  BOOST_TEST((*st)["peers"][0]["lost_bytes"].get<uint64_t>() == bytes.size() - 100'000u);
  BOOST_TEST(c.StopAll().ok());
}

// A truncation in place after every peer acknowledged every byte loses nothing: the generation
// is sealed where it was, not counted lost, and the file goes on as the next generation.
BOOST_AUTO_TEST_CASE(a_truncation_after_every_peer_has_everything_loses_nothing) {
  TestCluster c("harmless-truncation", TwoAgentsOneBolt());
  BOOST_REQUIRE(c.StartAll().ok());
  LogLines lines(9);
  std::string bytes;
  lines.AppendBytes(&bytes, 120'000);
  std::ofstream(c.BoltFile(0, 0), std::ios::binary) << bytes.substr(0, 100'000);
  BOOST_REQUIRE(c.WaitAcked(0, 0, 10));
  BOOST_REQUIRE(::truncate(c.BoltFile(0, 0).c_str(), 0) == 0);
  std::ofstream(c.BoltFile(0, 0), std::ios::binary | std::ios::app) << bytes.substr(100'000);
  std::string why;
  bool ok = WaitUntil([&] { return FilesEqual(c.BoltFile(0, 0), c.ReplicaFile(1, 0, 0, 2), &why); }, 10);
  BOOST_TEST(ok, why);
  auto st = c.AgentStatus(0);
  BOOST_REQUIRE(st.ok());
  const auto& b = (*st)["bolts"][0];
  BOOST_TEST(b["truncations"].get<uint64_t>() == 1u);
  BOOST_TEST(b["generations_lost"].get<uint64_t>() == 0u);
  BOOST_TEST((*st)["peers"][0]["lost_bytes"].get<uint64_t>() == 0u);
  BOOST_TEST(FileSize(c.ReplicaFile(1, 0, 0, 1)) == 100'000u);
  BOOST_TEST(c.StopAll().ok());
}

BOOST_AUTO_TEST_SUITE_END()

// Things that arrive late: writes to a rotated file after a long pause, a bolt directory that
// appears after the agent started.
BOOST_AUTO_TEST_SUITE(late)

// A bolt that keeps writing to its renamed file after a pause longer than seal_after_ms (it has
// not reopened yet): the generation must not be sealed while the bolt holds it open for writing,
// so the late bytes are replicated too.
BOOST_AUTO_TEST_CASE(rotated_file_still_open_for_writing_is_not_sealed) {
  ClusterOptions opt = TwoAgentsOneBolt();
  opt.seal_after_ms = 200;
  TestCluster c("notsealed", opt);
  BOOST_REQUIRE(c.StartAll().ok());
  std::string path = c.BoltFile(0, 0);
  int old_fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  BOOST_REQUIRE(old_fd >= 0);
  std::string first(100000, 'a');
  first += "\n";
  BOOST_REQUIRE(::write(old_fd, first.data(), first.size()) == static_cast<ssize_t>(first.size()));
  BOOST_REQUIRE(WaitUntil([&] { return ActiveGeneration(c, 0) == 1; }, 10));
  BOOST_REQUIRE(::rename(path.c_str(), (path + ".1").c_str()) == 0);
  std::ofstream(path) << "new generation\n";
  BOOST_REQUIRE(WaitUntil([&] { return ActiveGeneration(c, 0) == 2; }, 10));
  // The scenario itself is a quiet spell longer than seal_after_ms: this sleep is the workload.
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  std::string late = "written after a long pause through the old descriptor\n";
  BOOST_REQUIRE(::write(old_fd, late.data(), late.size()) == static_cast<ssize_t>(late.size()));
  ::close(old_fd);
  std::string why;
  BOOST_TEST(WaitUntil([&] { return FilesEqual(path + ".1", c.ReplicaFile(1, 0, 0, 1), &why); }, 10), why);
  // Once the bolt has closed it, the generation is sealed and released.
  BOOST_TEST(WaitUntil([&] {
    auto st = c.AgentStatus(0);
    return st.ok() && (*st)["bolts"][0]["generations"].size() == 1u;
  }, 10));
  auto st = c.AgentStatus(0);
  BOOST_REQUIRE(st.ok());
  BOOST_TEST((*st)["bolts"][0]["bytes_after_seal"].get<uint64_t>() == 0u);
  BOOST_TEST(c.StopAll().ok());
}


// copytruncate while the origin agent is down: at start the generation's inode holds other
// bytes, but the copy holds the generation's, including those never shipped. The generation
// continues from the copy; nothing is reported lost.
BOOST_AUTO_TEST_CASE(copytruncate_while_agent_down_continues_from_the_copy) {
  ClusterOptions opt = TwoAgentsOneBolt();
  opt.seal_after_ms = 300;
  TestCluster c("copytrunc-down", opt);
  BOOST_REQUIRE(c.StartAll().ok());
  std::string path = c.BoltFile(0, 0);
  LogLines lines(7);
  AppendLines(&lines, path, 300000);
  BOOST_REQUIRE(c.WaitAcked(0, 0, 10));
  BOOST_REQUIRE(c.Stop(0).ok());
  AppendLines(&lines, path, 200000);  // never shipped before the rotation
  CopyTruncate(path, path + ".1");
  AppendLines(&lines, path, 50000);  // the next generation, written before the agent is back
  BOOST_REQUIRE(c.Start(0).ok());
  std::string why;
  BOOST_TEST(WaitUntil([&] { return FilesEqual(path + ".1", c.ReplicaFile(1, 0, 0, 1), &why); }, 10), why);
  BOOST_TEST(WaitUntil([&] { return FilesEqual(path, c.ReplicaFile(1, 0, 0, 2), &why); }, 10), why);
  auto st = c.AgentStatus(0);
  BOOST_REQUIRE(st.ok());
  BOOST_TEST((*st)["bolts"][0]["generations_lost"].get<uint64_t>() == 0u, (*st)["bolts"][0].dump());
  BOOST_TEST((*st)["bolts"][0]["copies_found"].get<uint64_t>() == 1u);
  BOOST_TEST(c.StopAll().ok());
}

// copytruncate twice in a row, the second while the agent is stopped and the file regrowing past
// the size the agent last read: the agent knew the generation's first bytes, so the regrown file
// does not pass for growth (its head differs) and the second copy is found. The contract the
// fault suite's rotation storms rely on (a generation whose first bytes the agent never read is
// beyond it: docs/reliability.md).
BOOST_AUTO_TEST_CASE(copytruncate_again_while_agent_stopped_is_told_apart_from_growth) {
  ClusterOptions opt = TwoAgentsOneBolt();
  opt.seal_after_ms = 300;
  TestCluster c("copytrunc-twice", opt);
  BOOST_REQUIRE(c.StartAll().ok());
  std::string path = c.BoltFile(0, 0);
  LogLines lines(11);
  AppendLines(&lines, path, 200000);
  BOOST_REQUIRE(c.WaitAcked(0, 0, 10));
  CopyTruncate(path, path + ".1");
  BOOST_REQUIRE_MESSAGE(WaitUntil([&] { return ActiveGeneration(c, 0) == 2; }, 10),
                        "agent never saw generation 2\n" << c.LogTail(0));
  AppendLines(&lines, path, 3000);  // generation 2's first bytes, read by the agent
  BOOST_REQUIRE(c.WaitAcked(0, 0, 10));
  BOOST_REQUIRE(::kill(c.Pid(0), SIGSTOP) == 0);
  CopyTruncate(path, path + ".2");
  AppendLines(&lines, path, 50000);  // generation 3, already past generation 2's size when the agent looks again
  BOOST_REQUIRE(::kill(c.Pid(0), SIGCONT) == 0);
  std::string why;
  BOOST_TEST(WaitUntil([&] { return FilesEqual(path + ".1", c.ReplicaFile(1, 0, 0, 1), &why); }, 10), why);
  BOOST_TEST(WaitUntil([&] { return FilesEqual(path + ".2", c.ReplicaFile(1, 0, 0, 2), &why); }, 10), why);
  BOOST_TEST(WaitUntil([&] { return FilesEqual(path, c.ReplicaFile(1, 0, 0, 3), &why); }, 10), why);
  auto st = c.AgentStatus(0);
  BOOST_REQUIRE(st.ok());
  BOOST_TEST((*st)["bolts"][0]["generations_lost"].get<uint64_t>() == 0u, (*st)["bolts"][0].dump());
  BOOST_TEST((*st)["bolts"][0]["copies_found"].get<uint64_t>() == 2u, (*st)["bolts"][0].dump());
  BOOST_TEST(c.StopAll().ok());
}

// A bolt whose file, and even whose directory, does not exist when the agent starts is picked
// up once it appears (the directory by the rescan timer, the file by the directory watch).
BOOST_AUTO_TEST_CASE(missing_directory_and_file_are_picked_up_later) {
  ClusterOptions opt = TwoAgentsOneBolt();
  opt.rescan_interval_ms = 100;
  TestCluster c("late", opt);
  std::string spool = c.root() + "/h1/spool";
  BOOST_REQUIRE(::rmdir(spool.c_str()) == 0);
  BOOST_REQUIRE(c.StartAll().ok());
  BOOST_REQUIRE(::mkdir(spool.c_str(), 0755) == 0);
  RotatingWriter w(c.BoltFile(0, 0), 7);
  w.Write(200000);
  std::string why;
  BOOST_TEST(WaitUntil([&] { return FilesEqual(c.BoltFile(0, 0), c.ReplicaFile(1, 0, 0, 1), &why); }, 10), why);
  BOOST_TEST(c.StopAll().ok());
}

BOOST_AUTO_TEST_SUITE_END()
