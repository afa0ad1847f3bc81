// The agent under bad input from the network and the kernel: inotify queue overflow, garbage and
// corrupted frames on its replication port. It must count, log, and keep serving real peers,
// and never write a byte it did not verify.
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "common/compress.h"
#include "common/control_client.h"
#include "common/fd.h"
#include "common/wire.h"
#include "tests/support/cluster.h"
#include "tests/support/net.h"
#include "tests/support/writer.h"

using namespace tailsafe;
using namespace tailsafe::testing;
namespace fs = std::filesystem;

namespace {

const char* kQueuedEvents = "/proc/sys/fs/inotify/max_queued_events";

std::string ReadSmall(const char* path) {
  std::ifstream in(path);
  std::string s;
  std::getline(in, s);
  return s;
}

// Lowers the inotify queue limit for the test's lifetime and restores it after.
class QueueLimit {
 public:
  explicit QueueLimit(int limit) : old_(ReadSmall(kQueuedEvents)) { std::ofstream(kQueuedEvents) << limit; }
  ~QueueLimit() { std::ofstream(kQueuedEvents) << old_; }

 private:
  std::string old_;
};

boost::test_tools::assertion_result CanTuneInotify(boost::unit_test::test_unit_id) {
  boost::test_tools::assertion_result r(::geteuid() == 0 && ::access(kQueuedEvents, W_OK) == 0);
  if (!r) r.message() << "skipped: needs root to lower " << kQueuedEvents;
  return r;
}

size_t FilesUnder(const std::string& dir) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) return 0;
  size_t n = 0;
  for (auto& e : fs::recursive_directory_iterator(dir, ec)) n += e.is_regular_file() ? 1 : 0;
  return n;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(hostile)

// Acceptance 5: with a tiny inotify queue, a paused agent misses events; on resuming it sees
// IN_Q_OVERFLOW, rescans (counted in status) and loses nothing.
BOOST_AUTO_TEST_CASE(inotify_overflow_rescans_and_loses_nothing, *boost::unit_test::precondition(CanTuneInotify)) {
  QueueLimit limit(16);
  ClusterOptions opt = TwoAgentsOneBolt();
  opt.rescan_interval_ms = 3600000;  // only the overflow may trigger a rescan
  TestCluster c("overflow", opt);
  BOOST_REQUIRE(c.StartAll().ok());
  AppendWriter first(c.BoltFile(0, 0), 2'000'000, 1);
  first.Start();
  first.Join();
  std::string why;
  BOOST_REQUIRE(WaitUntil([&] { return FilesEqual(c.BoltFile(0, 0), c.ReplicaFile(1, 0, 0, 1), &why); }, 10));

  // Freeze the origin agent and make far more than 16 events in the bolt's directory.
  ::kill(c.Pid(0), SIGSTOP);
  std::string dir = fs::path(c.BoltFile(0, 0)).parent_path();
  for (int i = 0; i < 200; ++i) {
    std::string junk = dir + "/junk-" + std::to_string(i);
    std::ofstream(junk) << i;
    ::unlink(junk.c_str());
  }
  AppendWriter second(c.BoltFile(0, 0), 3'000'000, 2, 0, 4096);
  second.Start();
  second.Join();
  ::kill(c.Pid(0), SIGCONT);

  bool ok = WaitUntil([&] { return FilesEqual(c.BoltFile(0, 0), c.ReplicaFile(1, 0, 0, 1), &why); }, 10);
  BOOST_TEST(ok, why);
  auto st = c.AgentStatus(0);
  BOOST_REQUIRE(st.ok());
  uint64_t overflows = (*st)["bolts"][0]["rescans"]["overflow"].get<uint64_t>();
  BOOST_TEST_MESSAGE("rescans after overflow: " << overflows);
  BOOST_TEST(overflows >= 1u);
  BOOST_TEST(c.StopAll().ok());
}

// Garbage, truncated and bit-flipped frames on the replication port, from a client that holds the
// cluster key (so they reach the frame layer): each connection is closed, nothing is written, and
// a real peer keeps replicating meanwhile. (tests/integration/test_security.cc: without the key.)
BOOST_AUTO_TEST_CASE(bad_frames_are_refused_and_write_nothing) {
  ClusterOptions opt = TwoAgentsOneBolt();
  TestCluster c("badframes", opt);
  BOOST_REQUIRE(c.StartAll().ok());
  uint16_t port = ListenPort(c, 1);
  BOOST_REQUIRE(port != 0);
  std::string replicas = c.DataDir(1) + "/replicas";
  size_t files_before = FilesUnder(replicas);
  ClusterKeys keys = KeysOf(c);
  auto send_and_expect_close = [&](const std::string& plain) { return SecureSendAndExpectClose(port, &keys, plain); };

  Compressor comp(1);
  std::string hello = EncodeHello({kWireVersionMin, kWireVersionMax, "test", "intruder"});
  std::string open = EncodeOpen({1, 1, "bolt-x"});
  std::string data = EncodeData(1, 0, "a line that must never land on disk\n", &comp).value();
  // 1. Garbage.
  BOOST_TEST(send_and_expect_close(std::string(1000, '\x7f')));
  // 2. An oversized length.
  std::string huge = data;
  huge[3] = '\x7f';
  BOOST_TEST(send_and_expect_close(hello + huge));
  // 3. Every single-bit flip of a DATA frame after a valid handshake and OPEN.
  int closed = 0;
  for (size_t bit = 0; bit < data.size() * 8; bit += 7) {
    std::string bad = data;
    bad[bit / 8] = static_cast<char>(bad[bit / 8] ^ (1 << (bit % 8)));
    closed += send_and_expect_close(hello + open + bad) ? 1 : 0;
  }
  BOOST_TEST(closed > 0);
  // 4. Truncated: the connection ends inside the DATA frame.
  BOOST_TEST(send_and_expect_close(hello + open + data.substr(0, data.size() - 3)));
  // 5. A wrong cluster name is rejected before anything else is read.
  BOOST_TEST(send_and_expect_close(EncodeHello({kWireVersionMin, kWireVersionMax, "other-cluster", "intruder"}) + open + data));
  // 6. DATA at an offset other than the expected one.
  std::string misplaced = EncodeData(1, 5, "misplaced\n", &comp).value();
  BOOST_TEST(send_and_expect_close(hello + open + misplaced));

  // No replica got a byte: files may exist (OPEN creates an empty one) but are all empty.
  std::error_code ec;
  for (auto& e : fs::recursive_directory_iterator(replicas, ec)) {
    if (e.is_regular_file() && e.path().string().find("/intruder/") != std::string::npos) {
      BOOST_TEST(fs::file_size(e.path()) == 0u, e.path() << " received bytes from a bad frame");
    }
  }
  BOOST_TEST_MESSAGE("files in replicas before " << files_before << ", after " << FilesUnder(replicas));

  // The real peer still replicates.
  AppendWriter w(c.BoltFile(0, 0), 1'000'000, 3);
  w.Start();
  w.Join();
  std::string why;
  BOOST_TEST(WaitUntil([&] { return FilesEqual(c.BoltFile(0, 0), c.ReplicaFile(1, 0, 0, 1), &why); }, 10), why);
  auto st = c.AgentStatus(1);
  BOOST_REQUIRE(st.ok());
  BOOST_TEST((*st)["receiver"]["protocol_errors"].get<uint64_t>() > 0u);
  BOOST_TEST(c.Running(1));
  BOOST_TEST(c.StopAll().ok());
}

// An origin that connects again while its old session is still open replaces it (this happens
// after a partition heals). With another origin's session in between, replacing used to walk a
// map it was erasing from.
BOOST_AUTO_TEST_CASE(repeated_hello_from_one_origin_replaces_its_session) {
  ClusterOptions opt = TwoAgentsOneBolt();
  TestCluster c("rehello", opt);
  BOOST_REQUIRE(c.Start(1).ok());
  uint16_t port = ListenPort(c, 1);
  ClusterKeys keys = KeysOf(c);
  std::vector<std::unique_ptr<SecureClient>> conns;
  for (const char* origin : {"x1", "y1", "x1", "y1", "x1"}) {
    std::string why;
    auto s = SecureTo(port, &keys, &why);
    BOOST_REQUIRE_MESSAGE(s, why);
    BOOST_REQUIRE(s->Send(EncodeHello({kWireVersionMin, kWireVersionMax, "test", origin})).ok());
    Frame welcome;
    Status got = s->ReadFrame(&welcome, 5000);
    BOOST_TEST(got.ok(), got.message());
    BOOST_TEST((welcome.type == MessageType::kWelcome));
    conns.push_back(std::move(s));
  }
  BOOST_TEST(c.Running(1));
  auto st = c.AgentStatus(1);
  BOOST_TEST(st.ok());
  BOOST_TEST(c.Stop(1).ok());
}

// The control socket takes arbitrary bytes; the agent answers with a JSON error and lives on.
BOOST_AUTO_TEST_CASE(garbage_on_the_control_socket_is_answered_not_fatal) {
  ClusterOptions opt;
  opt.agents = 1;
  opt.bolts_per_agent = 1;
  TestCluster c("ctlgarbage", opt);
  BOOST_REQUIRE(c.Start(0).ok());
  for (std::string req : {std::string("st\xff" "atus"), std::string("\xc3\x28"), std::string(5000, 'x'), std::string("")}) {
    Result<std::string> r = ControlRequest(c.ControlSocket(0), req, 5000);
    BOOST_REQUIRE_MESSAGE(r.ok(), r.status().message());
    BOOST_TEST(r->find("\"error\"") != std::string::npos, *r);
  }
  BOOST_TEST(c.Running(0));
  BOOST_TEST(c.AgentStatus(0).ok());
  BOOST_TEST(c.Stop(0).ok());
}

// A peer that cannot hold a stream (here: its replica directory for the bolt is a plain file)
// fails that stream alone: the session stays up, the origin's status names the reason the peer
// gave, and the stream is retried with a growing backoff, not 20 times a second.
BOOST_AUTO_TEST_CASE(failing_stream_is_retried_with_backoff_and_named) {
  ClusterOptions opt = TwoAgentsOneBolt();
  TestCluster c("storm", opt);
  std::string blocker = c.DataDir(1) + "/replicas/h1";
  BOOST_REQUIRE(fs::create_directories(blocker));
  std::ofstream(blocker + "/bolt-1") << "not a directory";
  BOOST_REQUIRE(c.Start(1).ok());
  BOOST_REQUIRE(c.Start(0).ok());
  std::ofstream(c.BoltFile(0, 0)) << "a line\n";
  std::string error;
  BOOST_REQUIRE(WaitUntil([&] {
    auto st = c.AgentStatus(0);
    if (!st) return false;
    const auto& failed = (*st)["peers"][0]["failed_streams"];
    if (failed.empty()) return false;
    error = failed[0]["error"].get<std::string>();
    return error.find("cannot open the replica") != std::string::npos;
  }, 10));
  BOOST_TEST_MESSAGE("the peer's reason: " << error);
  auto before = c.AgentStatus(0);
  BOOST_REQUIRE(before.ok());
  uint64_t c0 = (*before)["peers"][0]["connects"].get<uint64_t>();
  uint64_t e0 = (*before)["peers"][0]["stream_errors"].get<uint64_t>();
  // Over 3 s the stream's backoff (1 s, then 2 s, ...) allows 2 or 3 attempts.
  auto t0 = std::chrono::steady_clock::now();
  WaitUntil([] { return false; }, 3.0, 100);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  auto after = c.AgentStatus(0);
  BOOST_REQUIRE(after.ok());
  uint64_t c1 = (*after)["peers"][0]["connects"].get<uint64_t>();
  uint64_t e1 = (*after)["peers"][0]["stream_errors"].get<uint64_t>();
  BOOST_TEST_MESSAGE((e1 - e0) << " stream failures in " << secs << " s");
  BOOST_TEST(c1 == c0, "the session was ended");
  BOOST_TEST(e1 - e0 <= 4u);
  BOOST_TEST((*after)["peers"][0]["connected"].get<bool>());
  BOOST_TEST(c.Running(0));
  BOOST_TEST(c.Running(1));
  BOOST_TEST(c.StopAll().ok());
}

// The receiver holds a file descriptor per streaming replica, not per replica it ever saw:
// after an origin opened 300 generations and left, the descriptors go back.
BOOST_AUTO_TEST_CASE(receiver_closes_replicas_nobody_streams_into) {
  ClusterOptions opt = TwoAgentsOneBolt();
  TestCluster c("fds", opt);
  BOOST_REQUIRE(c.Start(1).ok());
  auto open_fds = [&] {
    std::error_code ec;
    size_t n = 0;
    for (auto it = fs::directory_iterator("/proc/" + std::to_string(c.Pid(1)) + "/fd", ec);
         !ec && it != fs::directory_iterator(); it.increment(ec)) ++n;
    return n;
  };
  size_t baseline = open_fds();
  {
    ClusterKeys keys = KeysOf(c);
    auto s = SecureTo(ListenPort(c, 1), &keys);
    BOOST_REQUIRE(s);
    std::string out = EncodeHello({kWireVersionMin, kWireVersionMax, "test", "many"});
    for (uint32_t g = 1; g <= 300; ++g) out += EncodeOpen({g, g, "bolt-1"});
    BOOST_REQUIRE(s->Send(out).ok());
    // Wait until all 300 replicas exist, then hang up.
    BOOST_REQUIRE(WaitUntil([&] {
      auto st = c.AgentStatus(1);
      return st.ok() && (*st)["replicas"].size() == 300u;
    }, 20));
  }
  BOOST_TEST(WaitUntil([&] { return open_fds() <= baseline + 5; }, 10),
             "descriptors: " << open_fds() << ", baseline " << baseline);
  BOOST_TEST(c.Stop(1).ok());
}

// A control client that connects and never finishes its request line is closed (after
// ControlServer::kTimeoutMs), without an answer; others are served meanwhile.
BOOST_AUTO_TEST_CASE(a_control_client_that_never_finishes_its_request_is_closed) {
  ClusterOptions opt;
  opt.agents = 1;
  opt.bolts_per_agent = 1;
  TestCluster c("ctlidle", opt);
  BOOST_REQUIRE(c.Start(0).ok());
  Fd s(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::string path = c.ControlSocket(0);
  BOOST_REQUIRE(path.size() < sizeof a.sun_path);
  std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
  BOOST_REQUIRE(::connect(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  BOOST_REQUIRE(::send(s.get(), "sta", 3, MSG_NOSIGNAL) == 3);
  BOOST_TEST(c.AgentStatus(0).ok());  // served while the idle client holds its connection
  timeval tv{20, 0};
  ::setsockopt(s.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char b;
  ssize_t n = ::recv(s.get(), &b, 1, 0);
  BOOST_TEST(n == 0, "the agent did not close an idle control client (recv: " << n << ", " << strerror(errno) << ")");
  BOOST_TEST(c.LogTail(0, 1 << 20).find("control socket: closed a client") != std::string::npos, c.LogTail(0));
  BOOST_TEST(c.Running(0));
  BOOST_TEST(c.Stop(0).ok());
}

// An origin that completes the handshake, opens streams and never reads what it is sent
// (POSITIONs here) is closed once the transport's queue limit is reached, logged and counted;
// the receiver does not buffer for it without bound.
BOOST_AUTO_TEST_CASE(an_origin_that_never_reads_is_closed_not_buffered) {
  ClusterOptions opt = TwoAgentsOneBolt();
  TestCluster c("unread", opt);
  BOOST_REQUIRE(c.Start(1).ok());
  ClusterKeys keys = KeysOf(c);
  auto s = SecureTo(ListenPort(c, 1), &keys);
  BOOST_REQUIRE(s);
  BOOST_REQUIRE(s->Send(EncodeHello({kWireVersionMin, kWireVersionMax, "test", "deaf"})).ok());
  Frame f;
  BOOST_REQUIRE(s->ReadFrame(&f, 5000).ok());  // WELCOME; nothing is read after it
  // Each OPEN of the (empty) replica is answered by a POSITION: 500k of them are about 30 MB of
  // answers, well past the limit plus what the kernel's socket buffers hold.
  std::string opens;
  for (int i = 0; i < 5000; ++i) opens += EncodeOpen({1, 1, "bolt-1"});
  int sent = 0;
  while (sent < 100 && s->Send(opens).ok()) ++sent;
  BOOST_TEST_MESSAGE("sent " << sent * 5000 << " OPENs before the receiver hung up");
  BOOST_TEST(WaitUntil([&] {
    auto st = c.AgentStatus(1);
    return st.ok() && (*st)["receiver"].value("slow_readers", uint64_t{0}) == 1u;
  }, 20), c.LogTail(1));
  BOOST_TEST(c.LogTail(1, 1 << 20).find("which does not read them") != std::string::npos, c.LogTail(1));
  BOOST_TEST(c.Running(1));
  BOOST_TEST(c.Stop(1).ok());
}

BOOST_AUTO_TEST_SUITE_END()
