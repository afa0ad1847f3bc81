// The cluster boundary (issue 5): without the cluster key nobody can make an agent write a byte or
// run a hook; every refusal is logged with the remote address; real peers keep being served;
// hostile names, oversized frames and a zstd bomb from a key holder write nothing, and nothing
// outside data_dir; keys rotate without downtime. The channel's own rules (tamper, replay,
// reorder, truncation) are pinned by tests/common/test_secure_channel.cc.
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include <filesystem>
#include <functional>
#include <map>
#include <fstream>
#include <string>
#include <vector>

#include "common/compress.h"
#include "common/coord_protocol.h"
#include "common/hash.h"
#include "common/names.h"
#include "common/wire.h"
#include "tests/support/cluster.h"
#include "tests/support/net.h"
#include "tests/support/writer.h"

using namespace tailsafe;
using namespace tailsafe::testing;
namespace fs = std::filesystem;

namespace {

bool Contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// Every regular file below `dir` with its size, to prove nothing was written.
std::map<std::string, uintmax_t> Snapshot(const std::string& dir) {
  std::map<std::string, uintmax_t> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (it->is_symlink()) continue;
    if (it->is_regular_file()) out[it->path().string()] = it->file_size();
  }
  return out;
}

// Files below `dir` whose path contains `part`, with a nonzero size.
std::vector<std::string> NonEmptyFilesWith(const std::string& dir, const std::string& part) {
  std::vector<std::string> out;
  for (const auto& [path, size] : Snapshot(dir)) {
    if (size > 0 && Contains(path, part)) out.push_back(path);
  }
  return out;
}

uint64_t ReplicaCounter(TestCluster& c, int agent, const char* name) {
  auto st = c.AgentStatus(agent);
  if (!st.ok() || !(*st)["receiver"].contains(name)) return 0;
  return (*st)["receiver"][name].get<uint64_t>();
}

// The real peer still replicates: `bytes` more appended to agent 0's bolt reach agent 1.
void RealPeerStillReplicates(TestCluster& c, size_t bytes, uint32_t seed) {
  AppendWriter w(c.BoltFile(0, 0), bytes, seed);
  w.Start();
  w.Join();
  std::string why;
  BOOST_TEST(WaitUntil([&] { return FilesEqual(c.BoltFile(0, 0), c.ReplicaFile(1, 0, 0, 1), &why); }, 15), why);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(security)

// Acceptance 1, the replication port: a plaintext client (the protocol without encryption), a
// client with a wrong key, and one that knows the key's id but not the key each get nothing
// written; each attempt is logged with the remote address; the real peer keeps replicating.
BOOST_AUTO_TEST_CASE(clients_without_the_key_cannot_make_an_agent_write) {
  TestCluster c("sec-nokey", TwoAgentsOneBolt());
  BOOST_REQUIRE(c.StartAll().ok());
  RealPeerStillReplicates(c, 200'000, 1);
  uint16_t port = ListenPort(c, 1);
  std::string data_dir = c.DataDir(1);
  auto before = Snapshot(data_dir + "/replicas");

  Compressor comp(1);
  std::string frames = EncodeHello({kWireVersionMin, kWireVersionMax, "test", "intruder"}) +
                       EncodeOpen({1, 1, "bolt-1"}) +
                       EncodeData(1, 0, "a line that must never land on disk\n", &comp).value();
  // 1. The unencrypted protocol, as an older tailsafe or a hand-made client would speak it.
  BOOST_TEST(SendAndExpectClose(port, frames));
  // 2. A wrong key: the handshake fails, naming the mismatch.
  ClusterKeys foreign = ForeignKeys();
  std::string why;
  BOOST_TEST(!SecureTo(port, &foreign, &why));
  BOOST_TEST_MESSAGE("client with a wrong key: " << why);
  BOOST_TEST(Contains(why, "cluster key"), why);
  // 3. The right key id (ids are not secret) with a made-up proof, then the frames in clear.
  ClusterKeys keys = KeysOf(c);
  {
    Fd s = ConnectTo(port);
    BOOST_REQUIRE(s.valid());
    std::string hello = "TSX1";
    hello += '\x01';
    for (int b = 0; b < 8; ++b) hello += static_cast<char>(keys.keys[0].id >> (8 * b));
    hello += std::string(32, '\x09');  // an ephemeral public key
    BOOST_REQUIRE(::send(s.get(), hello.data(), hello.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(hello.size()));
    std::string attack = std::string(32, '\x42') + frames;  // a forged proof, then plaintext frames
    (void)::send(s.get(), attack.data(), attack.size(), MSG_NOSIGNAL);
    ::shutdown(s.get(), SHUT_WR);
    char buf[256];
    timeval tv{10, 0};
    ::setsockopt(s.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ssize_t n;
    while ((n = ::recv(s.get(), buf, sizeof buf, 0)) > 0) {
    }
    BOOST_TEST(n == 0);  // closed by the agent
  }
  // 4. Garbage and an idle client: the idle one is closed at the handshake deadline.
  BOOST_TEST(SendAndExpectClose(port, std::string(5000, 'G')));

  BOOST_TEST(NonEmptyFilesWith(data_dir, "intruder").empty());
  BOOST_TEST(!fs::exists(data_dir + "/replicas/intruder"));
  auto after = Snapshot(data_dir + "/replicas");
  BOOST_TEST((after == before), "the replica tree changed");
  std::string log = ReadAll(c.LogPath(1));
  BOOST_TEST(Contains(log, "refused a connection from 127.0.0.1:"), c.LogTail(1));
  BOOST_TEST(Contains(log, "unencrypted protocol"), c.LogTail(1));
  BOOST_TEST(Contains(log, "different cluster keys"), c.LogTail(1));
  BOOST_TEST(Contains(log, "proof is wrong"), c.LogTail(1));
  BOOST_TEST(ReplicaCounter(c, 1, "auth_failures") >= 4u);
  BOOST_TEST(c.Running(1));
  RealPeerStillReplicates(c, 300'000, 2);
  BOOST_TEST(c.StopAll().ok());
}

// Acceptance 1, hooks: hooks run only on an assignment from the coordinator, over a connection
// the agent authenticated. An impostor coordinator at the configured address (it does not hold
// the key, so it forges the handshake and sends an assignment in clear) runs nothing; the agent
// logs why. A real coordinator with another cluster's key is refused the same way.
BOOST_AUTO_TEST_CASE(an_impostor_coordinator_cannot_make_an_agent_run_a_hook) {
  ClusterOptions opt = RecoveryCluster(1);
  TestCluster c("sec-hook", opt);
  // The impostor listens where the agent looks for its coordinator.
  uint16_t cport = static_cast<uint16_t>(std::stoi(c.CoordinatorAddress().substr(10)));
  Fd listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  int one = 1;
  ::setsockopt(listener.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(cport);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  BOOST_REQUIRE(::bind(listener.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  BOOST_REQUIRE(::listen(listener.get(), 8) == 0);
  BOOST_REQUIRE(c.Start(0).ok());

  nlohmann::json assign = {{"type", "assign"}, {"recovery", 1}, {"epoch", 1}, {"origin", "h9"}, {"bolt", "bolt-1"},
                           {"hook", "test"}, {"generation", 1}, {"from", 0}, {"to", 100}};
  for (int attempt = 0; attempt < 3; ++attempt) {
    pollfd p{listener.get(), POLLIN, 0};
    BOOST_REQUIRE_MESSAGE(::poll(&p, 1, 10000) == 1, "the agent did not connect to its coordinator");
    Fd conn(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
    BOOST_REQUIRE(conn.valid());
    char hello[128];
    (void)::recv(conn.get(), hello, sizeof hello, 0);
    std::string forged = "TSX1";
    forged += '\0';                     // "your first key"
    forged += std::string(32, '\x07');  // an ephemeral key
    forged += std::string(32, '\x5a');  // a proof it cannot compute
    forged += ControlFrame({{"type", "welcome"}, {"heartbeat_ms", 100}}) + ControlFrame(assign);
    (void)::send(conn.get(), forged.data(), forged.size(), MSG_NOSIGNAL);
    char b;
    timeval tv{10, 0};
    ::setsockopt(conn.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    BOOST_TEST(::recv(conn.get(), &b, 1, 0) <= 0);  // the agent hangs up
  }
  listener.Reset();
  bool no_hook_ran = !fs::exists(c.HookDir(0)) || fs::is_empty(c.HookDir(0));
  BOOST_TEST(no_hook_ran, "a hook ran");
  BOOST_TEST(Contains(ReadAll(c.LogPath(0)), "proof is wrong"), c.LogTail(0));
  BOOST_TEST(c.Running(0));

  // A real coordinator holding another key: refused on both sides, logged with the address.
  BOOST_REQUIRE(WriteNewClusterKey(c.root() + "/other.key", false).ok());
  std::string conf = ReadAll(c.CoordinatorConfigPath());
  conf.replace(conf.find(c.KeyPath()), c.KeyPath().size(), c.root() + "/other.key");
  std::ofstream(c.CoordinatorConfigPath(), std::ios::trunc) << conf;
  Result<Child> coord = Child::Spawn({BinDir() + "/tailsafe-coordinator", "-c", c.CoordinatorConfigPath()},
                                     c.CoordinatorLogPath());
  BOOST_REQUIRE(coord.ok());
  BOOST_TEST(WaitUntil([&] { return Contains(ReadAll(c.CoordinatorLogPath()), "different cluster keys"); }, 15),
             c.CoordinatorLogTail());
  BOOST_TEST(Contains(ReadAll(c.CoordinatorLogPath()), "refused a connection from 127.0.0.1:"));
  BOOST_TEST(!Contains(ReadAll(c.CoordinatorLogPath()), "registered"));
  coord->Signal(SIGTERM);
  coord->Wait();
  BOOST_TEST(c.Running(0));
  BOOST_TEST(c.Stop(0).ok());
}

// Acceptance 3: from a client that holds the key (so the frames are read): names that climb out
// of data_dir, overlong names, a symlink planted in the replica tree, an oversized frame and a
// zstd bomb are each refused; nothing is written outside data_dir, nor into the bomb's replica.
BOOST_AUTO_TEST_CASE(hostile_names_oversized_frames_and_a_zstd_bomb_write_nothing) {
  TestCluster c("sec-names", TwoAgentsOneBolt());
  std::string outside = c.root() + "/outside";
  fs::create_directories(outside);
  // A symlink where a replica directory would be: following it would write into `outside`.
  std::string replicas = c.DataDir(1) + "/replicas";
  fs::create_directories(replicas + "/linked");
  fs::create_symlink(outside, replicas + "/linked/bolt-1");
  BOOST_REQUIRE(c.StartAll().ok());
  uint16_t port = ListenPort(c, 1);
  ClusterKeys keys = KeysOf(c);
  auto before_root = Snapshot(c.root());
  Compressor comp(1);
  auto hello = [](const std::string& origin) { return EncodeHello({kWireVersionMin, kWireVersionMax, "test", origin}); };
  std::string data = EncodeData(1, 0, "must not land\n", &comp).value();

  // Names that are not names: refused at HELLO (origin) or OPEN (bolt).
  for (const std::string& origin : std::vector<std::string>{"..", ".", "../../etc", "a/b", std::string(129, 'o'), std::string("nul\0x", 5), ""}) {
    BOOST_TEST(SecureSendAndExpectClose(port, &keys, hello(origin) + EncodeOpen({1, 1, "bolt-1"}) + data),
               "origin '" << Printable(origin, 40) << "'");
  }
  for (const std::string& bolt : std::vector<std::string>{"..", ".", "../../../outside", "/etc/passwd", std::string(129, 'b'), "bolt 1"}) {
    BOOST_TEST(SecureSendAndExpectClose(port, &keys, hello("intruder") + EncodeOpen({1, 1, bolt}) + data),
               "bolt '" << Printable(bolt, 40) << "'");
  }
  // The planted symlink is refused, not followed.
  BOOST_TEST(SecureSendAndExpectClose(port, &keys, hello("linked") + EncodeOpen({1, 1, "bolt-1"}) + data));
  BOOST_TEST(fs::is_empty(outside));
  BOOST_TEST(Contains(ReadAll(c.LogPath(1)), "session with linked (127.0.0.1:"), c.LogTail(1));
  BOOST_TEST(Contains(ReadAll(c.LogPath(1)), "cannot open the replica"), c.LogTail(1));

  // An oversized frame: the length is refused before anything is buffered.
  std::string huge = EncodeOpen({1, 1, "bolt-1"});
  huge[0] = huge[1] = huge[2] = '\xff';
  huge[3] = '\x00';
  BOOST_TEST(SecureSendAndExpectClose(port, &keys, hello("bomber") + huge));

  // A zstd bomb: 1 GiB of zeros compress to about 32 KiB; the frame claims 1 MiB (the most a
  // DATA frame may carry). Decompression stops at the claimed size and the frame is refused.
  {
    std::string zeros(64 << 20, '\0');
    std::string bomb(ZSTD_compressBound(zeros.size()), '\0');
    size_t n = ZSTD_compress(bomb.data(), bomb.size(), zeros.data(), zeros.size(), 19);
    BOOST_REQUIRE(!ZSTD_isError(n));
    bomb.resize(n);
    BOOST_TEST_MESSAGE("zstd bomb: " << n << " bytes inflate to " << zeros.size());
    FrameWriter w(MessageType::kData, kFlagCompressed);
    w.U32(1).U64(0).U32(kMaxDataRaw).U64(Hash64(zeros.data(), kMaxDataRaw)).Bytes(bomb);
    BOOST_TEST(SecureSendAndExpectClose(port, &keys, hello("bomber") + EncodeOpen({1, 1, "bolt-1"}) + w.Finish()));
    // A frame whose raw length claims more than a DATA frame may carry.
    FrameWriter big(MessageType::kData, kFlagCompressed);
    big.U32(1).U64(0).U32(kMaxDataRaw + 1).U64(0).Bytes(bomb);
    BOOST_TEST(SecureSendAndExpectClose(port, &keys, hello("bomber") + EncodeOpen({1, 1, "bolt-1"}) + big.Finish()));
  }
  BOOST_TEST(NonEmptyFilesWith(replicas, "bomber").empty());

  // Nothing outside data_dir changed: every file under the test's root that is not below the
  // two agents' data directories or their logs has the size it had.
  auto after_root = Snapshot(c.root());
  for (const auto& [path, size] : after_root) {
    if (Contains(path, "/data/") || Contains(path, ".log") || Contains(path, "/spool/")) continue;
    auto it = before_root.find(path);
    bool same = it != before_root.end() && it->second == size;
    BOOST_TEST(same, path << " appeared or changed");
  }
  BOOST_TEST(ReplicaCounter(c, 1, "protocol_errors") + ReplicaCounter(c, 1, "rejected") >= 14u);
  BOOST_TEST(c.Running(1));
  RealPeerStillReplicates(c, 200'000, 3);
  BOOST_TEST(c.StopAll().ok());
}

// Limits: a flood of connections that never complete the handshake is capped and closed at the
// deadline; an established peer keeps replicating throughout.
BOOST_AUTO_TEST_CASE(a_flood_of_idle_connections_is_capped_and_does_not_stop_real_peers) {
  TestCluster c("sec-flood", TwoAgentsOneBolt());
  BOOST_REQUIRE(c.StartAll().ok());
  RealPeerStillReplicates(c, 100'000, 4);
  uint16_t port = ListenPort(c, 1);
  std::vector<Fd> idle;
  for (int i = 0; i < 100; ++i) {
    Fd s = ConnectTo(port);
    if (s.valid()) idle.push_back(std::move(s));
  }
  BOOST_TEST(idle.size() >= 64u);
  RealPeerStillReplicates(c, 500'000, 5);  // during the flood
  BOOST_TEST(WaitUntil([&] { return Contains(ReadAll(c.LogPath(1)), "not yet authenticated (limits"); }, 10),
             c.LogTail(1));
  // Every idle connection is closed: the excess at once, the rest at the handshake deadline.
  size_t closed = 0;
  for (Fd& s : idle) {
    timeval tv{15, 0};
    ::setsockopt(s.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char b;
    ssize_t n = ::recv(s.get(), &b, 1, 0);
    bool was_closed = n == 0 || (n < 0 && errno == ECONNRESET);
    closed += was_closed ? 1 : 0;
  }
  BOOST_TEST(closed == idle.size());
  BOOST_TEST(Contains(ReadAll(c.LogPath(1)), "no secure handshake within"), c.LogTail(1));
  BOOST_TEST(c.Running(1));
  RealPeerStillReplicates(c, 100'000, 6);
  BOOST_TEST(c.StopAll().ok());
}

// A node refuses to start without a usable key, saying how to make one.
BOOST_AUTO_TEST_CASE(daemons_refuse_to_start_without_a_usable_key) {
  TestCluster c("sec-start", TwoAgentsOneBolt());
  std::string key = c.KeyPath();
  struct Case {
    std::function<void()> spoil;
    std::string expect;
  } cases[] = {
      {[&] { ::unlink(key.c_str()); }, "tailsafectl keygen"},
      {[&] { std::ofstream(key, std::ios::trunc); ::chmod(key.c_str(), 0600); }, "is empty"},
      {[&] { std::ofstream(key, std::ios::trunc) << std::string(32, 'k'); ::chmod(key.c_str(), 0644); }, "mode 0644"},
      {[&] { std::ofstream(key, std::ios::trunc) << "short"; ::chmod(key.c_str(), 0600); }, "holds 5 bytes"},
  };
  for (const Case& k : cases) {
    k.spoil();
    for (const std::string& cmd : {BinDir() + "/tailsafe-agent -c " + c.ConfigPath(0),
                                   BinDir() + "/tailsafe-agent --check-config -c " + c.ConfigPath(0),
                                   BinDir() + "/tailsafe-coordinator -c " + c.ConfigPath(0)}) {
      CommandResult r = RunCommand(cmd + " 2>&1");
      BOOST_TEST(r.code == 2, cmd << ": " << r.out);
      BOOST_TEST(Contains(r.out, k.expect), r.out);
      BOOST_TEST(Contains(r.out, key), r.out);
    }
  }
  // tailsafectl without a key for the coordinator says where to give one.
  CommandResult ctl = RunCommand(BinDir() + "/tailsafectl -c /nonexistent.conf ls / --coordinator 127.0.0.1:9 2>&1");
  BOOST_TEST(ctl.code == 2, ctl.out);
  BOOST_TEST(Contains(ctl.out, "--key-file"), ctl.out);
}

// Rotation without downtime: every node gets the new key as key_file with the old one in
// previous_key_files, one at a time while the other keeps replicating; then the old key is
// dropped. Replication never stops and the replicas stay identical.
BOOST_AUTO_TEST_CASE(the_cluster_key_rotates_without_downtime) {
  TestCluster c("sec-rotate", TwoAgentsOneBolt());
  BOOST_REQUIRE(c.StartAll().ok());
  RealPeerStillReplicates(c, 100'000, 7);
  std::string old_key = c.KeyPath(), new_key = c.root() + "/cluster-2.key";
  BOOST_REQUIRE(WriteNewClusterKey(new_key, false).ok());
  std::string old_line = "key_file = \"" + old_key + "\"";
  std::string rotating = "key_file = \"" + new_key + "\"\nprevious_key_files = [\"" + old_key + "\"]";
  uint32_t seed = 8;
  for (int i : {1, 0}) {  // the receiver first, then the origin
    BOOST_REQUIRE(c.Stop(i).ok());
    BOOST_REQUIRE(c.EditConfig(i, old_line, rotating));
    BOOST_REQUIRE(c.Start(i).ok());
    RealPeerStillReplicates(c, 200'000, seed++);
  }
  // Both hold the new key now: drop the old one, one node at a time.
  for (int i : {0, 1}) {
    BOOST_REQUIRE(c.Stop(i).ok());
    BOOST_REQUIRE(c.EditConfig(i, "\nprevious_key_files = [\"" + old_key + "\"]", ""));
    BOOST_REQUIRE(c.Start(i).ok());
    RealPeerStillReplicates(c, 200'000, seed++);
  }
  // A node still on the old key alone is now refused.
  ClusterKeys old_keys;
  Result<ClusterKey> k = LoadClusterKey(old_key, "old key");
  BOOST_REQUIRE(k.ok());
  old_keys.keys.push_back(std::move(k.value()));
  std::string why;
  BOOST_TEST(!SecureTo(ListenPort(c, 1), &old_keys, &why));
  BOOST_TEST(Contains(why, "cluster key"), why);
  BOOST_TEST(c.StopAll().ok());
}

// A client that completes the handshake and then never asks anything holds a coordinator's
// connection for the handshake deadline, not for ever; the agents stay registered meanwhile.
BOOST_AUTO_TEST_CASE(a_coordinator_client_that_never_asks_is_closed) {
  TestCluster c("sec-silent", RecoveryCluster(1));
  BOOST_REQUIRE(c.StartCoordinator().ok());
  BOOST_REQUIRE(c.Start(0).ok());
  ClusterKeys keys = KeysOf(c);
  auto silent = SecureClient::Connect(c.CoordinatorInstance(0), &keys, 10000, "the coordinator");
  BOOST_REQUIRE_MESSAGE(silent.ok(), silent.status().message());
  Frame f;
  Status got = (*silent)->ReadFrame(&f, 20000);
  BOOST_TEST(Contains(got.message(), "closed the connection"), got.message());
  BOOST_TEST(Contains(ReadAll(c.CoordinatorLogPath()), "no request within"), c.CoordinatorLogTail());
  c.LetHeartbeatsPass(0);
  BOOST_TEST(c.Running(0));
  BOOST_TEST(c.StopAll().ok());
}

BOOST_AUTO_TEST_SUITE_END()
