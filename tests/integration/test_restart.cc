// A receiver that restarts keeps the bytes it had synced but not yet recorded in state.db, and
// proves them against the origin's (POSITION window); bytes that differ (what a power loss can
// leave past the last fdatasync) are cut at the origin's CUT and fetched again. Never a merge.
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "common/compress.h"
#include "common/control_client.h"
#include "common/wire.h"
#include "tests/support/cluster.h"
#include "tests/support/net.h"
#include "tests/support/process.h"
#include "tests/support/writer.h"

using namespace tailsafe;
using namespace tailsafe::testing;

namespace {

enum class Damage { kNone, kFlipInTail, kGarbageAppended, kOriginRewritten };

std::string ReadRange(const std::string& path, uint64_t offset, uint64_t len) {
  std::string out(len, '\0');
  int fd = ::open(path.c_str(), O_RDONLY);
  ssize_t n = fd >= 0 ? ::pread(fd, out.data(), len, static_cast<off_t>(offset)) : -1;
  if (fd >= 0) ::close(fd);
  out.resize(n > 0 ? static_cast<size_t>(n) : 0);
  return out;
}

// Overwrites 4 KiB of `path` at `offset` with zeros: what a power loss can leave in unsynced bytes,
// or a rewrite of the origin's file.
void ZeroPage(const std::string& path, uint64_t offset) {
  int fd = ::open(path.c_str(), O_WRONLY);
  BOOST_REQUIRE(fd >= 0);
  std::string zeros(4096, '\0');
  BOOST_REQUIRE(::pwrite(fd, zeros.data(), zeros.size(), static_cast<off_t>(offset)) == 4096);
  ::close(fd);
}

// The files a CUT set aside next to `replica` (REPLICA.cut-*).
std::vector<std::string> SetAside(const std::string& replica) {
  std::vector<std::string> out;
  std::string dir = replica.substr(0, replica.rfind('/'));
  std::string prefix = replica.substr(replica.rfind('/') + 1) + ".cut-";
  if (DIR* d = ::opendir(dir.c_str())) {
    while (struct dirent* e = ::readdir(d)) {
      if (std::string(e->d_name).rfind(prefix, 0) == 0) out.push_back(dir + "/" + e->d_name);
    }
    ::closedir(d);
  }
  return out;
}

struct Sizes {
  uint64_t recorded = 0, durable = 0;
};

void Append(TestCluster& c, uint64_t bytes, uint64_t seed) {
  AppendWriter w(c.BoltFile(0, 0), bytes, seed);
  w.Start();
  w.Join();
  BOOST_REQUIRE_MESSAGE(w.error().empty(), w.error());
}

bool AllAcked(TestCluster& c) { return c.WaitAcked(0, 0, 20); }

uint64_t Counter(TestCluster& c, int agent, const char* section, const char* key) {
  auto st = c.AgentStatus(agent);
  BOOST_REQUIRE(st.ok());
  const auto& sec = std::string(section) == "peer" ? (*st)["peers"][0] : (*st)["receiver"];
  return sec[key].get<uint64_t>();
}

void RunRestart(Damage damage) {
  TestCluster c("restart", TwoAgentsOneBolt());
  BOOST_REQUIRE(c.StartAll().ok());
  // Sizes are recorded once 4 MiB past the last record: after 5 MB one record lies in
  // [4 MiB, 5 MB], and after 2 MB more at least 2 MB are durable and acknowledged but unrecorded.
  Append(c, 5'000'000, 21);
  BOOST_REQUIRE(AllAcked(c));
  Append(c, 2'000'000, 22);
  BOOST_REQUIRE(AllAcked(c));
  auto st = c.AgentStatus(1);
  BOOST_REQUIRE(st.ok());
  Sizes s{(*st)["replicas"][0]["recorded"].get<uint64_t>(), (*st)["replicas"][0]["durable"].get<uint64_t>()};
  BOOST_TEST_MESSAGE("replica durable " << s.durable << ", recorded " << s.recorded);
  BOOST_REQUIRE(s.durable == 7'000'000u);
  BOOST_REQUIRE(s.recorded >= (4u << 20));
  BOOST_REQUIRE(s.recorded <= s.durable - 2'000'000);

  c.Kill(1, SIGKILL);
  std::string replica = c.ReplicaFile(1, 0, 0, 1);
  uint64_t expect_cut = 0;
  std::string tail_before = ReadRange(replica, s.recorded, s.durable - s.recorded);
  if (damage == Damage::kOriginRewritten) {
    // The origin's file changed past the peer's recorded size while both were down: the peer's
    // bytes are the good ones. They must survive, set aside, not be thrown away.
    c.Kill(0, SIGKILL);
    ZeroPage(c.BoltFile(0, 0), s.durable - 10000);
    expect_cut = s.durable - s.recorded;
    BOOST_REQUIRE(c.Start(0).ok());
  } else if (damage == Damage::kFlipInTail) {
    ZeroPage(replica, (s.recorded + s.durable) / 2);  // in the unrecorded part
    expect_cut = s.durable - s.recorded;
  } else if (damage == Damage::kGarbageAppended) {
    std::string junk(1000, 'Z');
    int fd = ::open(replica.c_str(), O_WRONLY);
    BOOST_REQUIRE(fd >= 0);
    BOOST_REQUIRE(::pwrite(fd, junk.data(), junk.size(), static_cast<off_t>(s.durable)) == 1000);
    ::close(fd);
    expect_cut = s.durable + 1000 - s.recorded;
  }
  if (damage != Damage::kNone) tail_before = ReadRange(replica, s.recorded, expect_cut);
  BOOST_REQUIRE(c.Start(1).ok());
  // More bytes after the restart, so the stream moves on past the proven (or cut) tail.
  Append(c, 100'000, 23);
  BOOST_REQUIRE_MESSAGE(AllAcked(c), c.LogTail(1));
  std::string why;
  BOOST_TEST(FilesEqual(c.BoltFile(0, 0), replica, &why), why);
  BOOST_TEST(Counter(c, 0, "peer", "tail_cuts") == (damage == Damage::kNone ? 0u : 1u));
  BOOST_TEST(Counter(c, 0, "peer", "divergences") == 0u);
  BOOST_TEST(Counter(c, 1, "receiver", "bytes_cut") == expect_cut);
  std::string log = c.LogTail(1, 1 << 20);
  BOOST_TEST(log.find("to be verified with the origin") != std::string::npos);
  BOOST_TEST((log.find("that differ from the origin's") != std::string::npos) == (damage != Damage::kNone));
  // Whatever was cut is set aside byte for byte.
  std::vector<std::string> aside = SetAside(replica);
  BOOST_REQUIRE(aside.size() == (damage == Damage::kNone ? 0u : 1u));
  if (!aside.empty()) BOOST_TEST((ReadRange(aside[0], 0, expect_cut + 1) == tail_before), "set-aside bytes differ");
  BOOST_TEST(c.StopAll().ok());
}

boost::test_tools::assertion_result CanFreeze(boost::unit_test::test_unit_id) {
  boost::test_tools::assertion_result r(::geteuid() == 0 && ::access("/dev/loop-control", F_OK) == 0 &&
                                        RunCommand("command -v fsfreeze mkfs.ext4 >/dev/null").code == 0);
  if (!r) r.message() << "skipped: needs root, loop devices, mkfs.ext4 and fsfreeze";
  return r;
}

// Freezes the file system mounted at `dir` (every write to it waits) until destroyed.
class Frozen {
 public:
  explicit Frozen(std::string dir) : dir_(std::move(dir)) {
    ok_ = RunCommand("fsfreeze -f '" + dir_ + "'").code == 0;
  }
  ~Frozen() { Thaw(); }
  void Thaw() {
    if (ok_) RunCommand("fsfreeze -u '" + dir_ + "'");
    ok_ = false;
  }
  bool ok() const { return ok_; }

 private:
  std::string dir_;
  bool ok_ = false;
};

// The scheduler state of each thread of process `pid` ('R', 'S', 'D', ...), the main thread (the
// event loop's) first.
std::vector<char> ThreadStates(pid_t pid) {
  std::string task = "/proc/" + std::to_string(pid) + "/task/";
  auto state = [&](const std::string& tid) {
    std::ifstream in(task + tid + "/stat");
    std::string line;
    std::getline(in, line);
    size_t paren = line.rfind(')');  // the command name may hold anything
    return paren != std::string::npos && paren + 2 < line.size() ? line[paren + 2] : '?';
  };
  std::vector<char> out{state(std::to_string(pid))};
  std::error_code ec;
  for (auto& e : std::filesystem::directory_iterator(task, ec)) {
    if (e.path().filename() != std::to_string(pid)) out.push_back(state(e.path().filename().string()));
  }
  return out;
}

// Reads frames until one of `type` comes (5 s at most each).
Status AwaitFrame(SecureClient& s, MessageType type, Frame* f) {
  for (;;) {
    if (Status st = s.ReadFrame(f, 5000); !st) return st;
    if (f->type == type) return Status::Ok();
  }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(restart)

BOOST_AUTO_TEST_CASE(unrecorded_tail_is_proven_and_kept) { RunRestart(Damage::kNone); }

BOOST_AUTO_TEST_CASE(damaged_unrecorded_tail_is_cut_and_fetched_again) { RunRestart(Damage::kFlipInTail); }

BOOST_AUTO_TEST_CASE(garbage_past_the_origin_size_is_cut) { RunRestart(Damage::kGarbageAppended); }

BOOST_AUTO_TEST_CASE(origin_rewritten_keeps_the_peers_bytes_aside) { RunRestart(Damage::kOriginRewritten); }

// The origin reconnects while the restarted peer's first commit is still running, so a second
// commit holding the pre-CUT size is in flight when the CUT arrives. That commit must not raise
// the replica's durable size back over bytes the CUT removed (found by review: the stream then
// failed for good with "the file ends at offset ...").
BOOST_AUTO_TEST_CASE(cut_while_a_commit_is_in_flight_converges) {
  ClusterOptions opt = TwoAgentsOneBolt();
  opt.window_bytes = 1 << 20;  // small enough that the stale ACK overtakes what was re-sent
  TestCluster c("restart-race", opt);
  BOOST_REQUIRE(c.StartAll().ok());
  Append(c, 1'000'000, 41);
  BOOST_REQUIRE(AllAcked(c));
  Append(c, 2'000'000, 42);
  BOOST_REQUIRE(AllAcked(c));
  auto st = c.AgentStatus(1);
  BOOST_REQUIRE(st.ok());
  uint64_t recorded = (*st)["replicas"][0]["recorded"].get<uint64_t>();
  uint64_t durable = (*st)["replicas"][0]["durable"].get<uint64_t>();
  BOOST_REQUIRE(recorded + 1'000'000 < durable);
  c.Kill(1, SIGKILL);
  std::string replica = c.ReplicaFile(1, 0, 0, 1);
  ZeroPage(replica, (recorded + durable) / 2);
  ::setenv("TAILSAFE_TEST_COMMIT_DELAY_MS", "1500", 1);
  Status started = c.Start(1);
  ::unsetenv("TAILSAFE_TEST_COMMIT_DELAY_MS");
  BOOST_REQUIRE(started.ok());
  // The origin's OPEN reopened the replica and started its first commit (1.5 s); the origin
  // comes back while it runs.
  BOOST_REQUIRE(WaitUntil([&] { return c.LogTail(1, 1 << 20).find("to be verified") != std::string::npos; }, 10, 5));
  c.Kill(0, SIGKILL);
  BOOST_REQUIRE(c.Start(0).ok());
  BOOST_REQUIRE_MESSAGE(AllAcked(c), c.LogTail(1));
  std::string why;
  BOOST_TEST(FilesEqual(c.BoltFile(0, 0), replica, &why), why);
  BOOST_TEST(Counter(c, 1, "receiver", "protocol_errors") == 0u, c.LogTail(1));
  BOOST_TEST(c.StopAll().ok());
}

// A clean stop records everything: the restart has nothing to prove.
BOOST_AUTO_TEST_CASE(clean_stop_records_every_durable_byte) {
  TestCluster c("restart-clean", TwoAgentsOneBolt());
  BOOST_REQUIRE(c.StartAll().ok());
  Append(c, 1'000'000, 31);
  BOOST_REQUIRE(AllAcked(c));
  Append(c, 2'000'000, 32);
  BOOST_REQUIRE(AllAcked(c));
  BOOST_REQUIRE(c.Stop(1).ok());
  BOOST_REQUIRE(c.Start(1).ok());
  auto st = c.AgentStatus(1);
  BOOST_REQUIRE(st.ok());
  BOOST_TEST((*st)["replicas"][0]["recorded"].get<uint64_t>() == 3'000'000u);
  BOOST_TEST(c.LogTail(1, 1 << 20).find("to be verified") == std::string::npos);
  BOOST_TEST(c.StopAll().ok());
}

// A CUT's copy, fdatasync and directory fsync run on the thread pool, not on the loop: with the
// receiver's file system frozen mid-CUT (so the copy waits in the kernel), the receiver still
// answers its control socket, and the cut completes once the file system thaws. Played by hand
// from the origin's side, so the freeze falls between POSITION and CUT.
BOOST_AUTO_TEST_CASE(cut_waits_for_the_disk_off_the_loop, *boost::unit_test::precondition(CanFreeze)) {
  ClusterOptions opt = TwoAgentsOneBolt();
  opt.data_dir_ext4_bytes = 64 << 20;
  TestCluster c("restart-frozen", opt);
  BOOST_REQUIRE(c.Start(1).ok());
  ClusterKeys keys = KeysOf(c);
  Compressor comp(1);
  const std::string hello = EncodeHello({kWireVersionMin, kWireVersionMax, "test", c.AgentId(0)});
  const std::string open = EncodeOpen({1, 1, c.BoltName(0)});
  const uint64_t size = 1'000'000;
  Frame f;
  {  // 1 MB durable and acknowledged, never recorded (recording waits for 4 MiB)
    auto s = SecureTo(ListenPort(c, 1), &keys);
    BOOST_REQUIRE(s);
    BOOST_REQUIRE(s->Send(hello + open).ok());
    BOOST_REQUIRE(AwaitFrame(*s, MessageType::kPosition, &f).ok());
    std::string data;
    for (uint64_t off = 0; off < size; off += 100'000) data += EncodeData(1, off, std::string(100'000, static_cast<char>('a' + off / 100'000)), &comp).value();
    BOOST_REQUIRE(s->Send(data).ok());
    AckMsg ack;
    while (ack.durable < size) {
      BOOST_REQUIRE(AwaitFrame(*s, MessageType::kAck, &f).ok());
      BOOST_REQUIRE(DecodeAck(f, &ack).ok());
    }
  }
  c.Kill(1, SIGKILL);
  BOOST_REQUIRE(c.Start(1).ok());
  auto s = SecureTo(ListenPort(c, 1), &keys);
  BOOST_REQUIRE(s);
  BOOST_REQUIRE(s->Send(hello + open).ok());
  PositionMsg pos;
  BOOST_REQUIRE(AwaitFrame(*s, MessageType::kPosition, &f).ok());
  BOOST_REQUIRE(DecodePosition(f, &pos).ok());
  BOOST_TEST_MESSAGE("after the restart: durable " << pos.durable << ", verified " << pos.verified);
  BOOST_REQUIRE(pos.durable == size);
  BOOST_REQUIRE(pos.verified == 0u);

  Frozen frozen(c.DataDir(1));
  BOOST_REQUIRE(frozen.ok());
  BOOST_REQUIRE(s->Send(EncodeCut({1, 0})).ok());
  // The cut has begun: some thread of the receiver waits on the frozen file system.
  BOOST_REQUIRE(WaitUntil([&] {
    std::vector<char> states = ThreadStates(c.Pid(1));
    return std::find(states.begin(), states.end(), 'D') != states.end();
  }, 10, 5));
  std::vector<char> states = ThreadStates(c.Pid(1));
  BOOST_TEST((!states.empty() && states[0] != 'D'), "the event loop's thread waits on the disk");
  Result<std::string> status = ControlRequest(c.ControlSocket(1), "status", 3000);
  BOOST_TEST(status.ok(), "the receiver did not answer while the CUT waited for the disk: " << status.status().message());
  frozen.Thaw();

  // The cut completes: the next POSITION is at the cut, every byte set aside.
  BOOST_REQUIRE(AwaitFrame(*s, MessageType::kPosition, &f).ok());
  BOOST_REQUIRE(DecodePosition(f, &pos).ok());
  BOOST_TEST(pos.durable == 0u);
  BOOST_TEST(Counter(c, 1, "receiver", "tail_cuts") == 1u);
  BOOST_TEST(Counter(c, 1, "receiver", "bytes_cut") == size);
  BOOST_TEST(c.Stop(1).ok());
}

BOOST_AUTO_TEST_SUITE_END()
