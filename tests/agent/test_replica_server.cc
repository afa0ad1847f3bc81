// ReplicaServer (agent/replica_server.h): the receiving side of replication. Pins that a
// replica which cannot be created fails its stream alone (STREAM_ERROR: the origin's link
// shows it, the other streams of the session complete, the stream resumes once the replica can
// be created); that ACKs leave only from the committer's durable callback; that HELLO is refused
// with a reason the origin can show for a foreign cluster and for this agent's own id; that a
// new session from the same origin replaces the old one; and that after a restart an unverified
// tail that differs from the origin's bytes is cut, set aside in PATH.cut-*, and sent again.
// The origin is a real PeerLink over a real BoltSource on the same loop
// (tests/support/link_rig.h).
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "tests/support/link_rig.h"

using namespace tailsafe;
using tailsafe::testing::LinkRig;
using tailsafe::testing::Lines;

namespace {

struct Fixture {
  LinkRig rig;

  // Bolt `name` whose file holds `bytes` (added as the next source), its newest generation.
  std::shared_ptr<Generation> Bolt(const std::string& name, const std::string& bytes) {
    std::ofstream(rig.BoltFile(name), std::ios::binary) << bytes;
    rig.AddBolt(name);
    return rig.Newest(rig_sources++);
  }
  bool ReplicaIsTheFile(const Generation& g) {
    std::string why;
    bool same = testing::FilesEqual(rig.BoltFile(g.bolt), rig.ReplicaPath(g.bolt, g.gen), &why);
    BOOST_TEST_MESSAGE(why);
    return same;
  }
  // The files next to `path` whose names begin with its own and ".cut-".
  static std::vector<std::string> CutAside(const std::string& path) {
    std::string dir = path.substr(0, path.rfind('/'));
    std::string prefix = path.substr(path.rfind('/') + 1) + ".cut-";
    std::vector<std::string> out;
    if (DIR* d = ::opendir(dir.c_str())) {
      while (dirent* e = ::readdir(d)) {
        if (std::string(e->d_name).rfind(prefix, 0) == 0) out.push_back(dir + "/" + e->d_name);
      }
      ::closedir(d);
    }
    return out;
  }

  size_t rig_sources = 0;
};

}  // namespace

BOOST_FIXTURE_TEST_SUITE(replica_server, Fixture)

BOOST_AUTO_TEST_CASE(a_replica_that_cannot_be_created_fails_its_stream_alone_and_resumes_once_it_can) {
  std::string bad_bytes = Lines(20000, 5), good_bytes = Lines(50000, 6);
  auto bad = Bolt("bad", bad_bytes);
  auto good = Bolt("good", good_bytes);
  rig.StartPeer();
  // Where the bolt's directory of replicas should be, a regular file.
  std::string origin_dir = rig.peer_config.agent.data_dir + "/replicas/origin";
  BOOST_REQUIRE(::mkdir(origin_dir.c_str(), 0755) == 0);
  std::ofstream(origin_dir + "/bad") << "in the way\n";
  rig.StartLink();

  BOOST_REQUIRE(rig.WaitAcked(*good, good_bytes.size()));
  BOOST_REQUIRE(rig.loop.RunUntil([&] { return !rig.link().FailedStreams().empty(); }));
  BOOST_TEST(ReplicaIsTheFile(*good));
  std::vector<PeerLink::StreamFailure> failed = rig.link().FailedStreams();
  BOOST_REQUIRE_EQUAL(failed.size(), 1u);
  BOOST_TEST(failed[0].bolt == "bad");
  BOOST_TEST(failed[0].gen == bad->gen);
  BOOST_TEST(failed[0].error == "cannot open the replica: open " + origin_dir + "/bad: Not a directory");
  BOOST_TEST(rig.link().stats().stream_errors >= 1u);
  BOOST_TEST(rig.server()->stats().stream_errors >= 1u);
  // The server's storage error names it, although the good stream's writes succeed.
  BOOST_TEST(rig.server()->write_error() ==
             "cannot open the replica origin/bad/" + std::to_string(bad->gen) + ": open " + origin_dir + "/bad: Not a directory");
  // One session throughout: the failure did not end it.
  BOOST_TEST(rig.link().stats().connects == 1u);
  BOOST_TEST(rig.link().stats().disconnects == 0u);
  BOOST_TEST(rig.server()->stats().sessions == 1u);
  BOOST_TEST(rig.server()->stats().protocol_errors == 0u);
  BOOST_TEST(rig.link().Acked(*bad) == 0u);

  // Once the replica can be created, the stream OPENed again after its backoff completes.
  BOOST_REQUIRE(::unlink((origin_dir + "/bad").c_str()) == 0);
  BOOST_REQUIRE(rig.WaitAcked(*bad, bad_bytes.size()));
  BOOST_TEST(ReplicaIsTheFile(*bad));
  BOOST_TEST(rig.link().FailedStreams().empty());
  BOOST_TEST(rig.server()->write_error().empty());
  BOOST_TEST(rig.link().stats().disconnects == 0u);
}

BOOST_AUTO_TEST_CASE(acks_leave_only_once_the_peers_commit_made_the_bytes_durable) {
  std::string bytes = Lines(80000, 7);
  auto g = Bolt("b", bytes);
  auto marker = Bolt("m", "marker\n");
  rig.HoldPeerCommits(true);
  rig.StartPeer();
  rig.StartLink();
  // Without ACKs the origin sends one window (64 KiB, four whole frames) and waits.
  const uint64_t window = rig.origin.window_bytes;
  BOOST_REQUIRE(rig.loop.RunUntil([&] { return rig.server()->stats().bytes_received >= window; }));
  const Replica* r = rig.ReplicaOf("b", g->gen);
  BOOST_REQUIRE(r != nullptr);
  BOOST_TEST(r->written == window);
  BOOST_REQUIRE(rig.RoundTrip(*marker));  // an ACK sent meanwhile has arrived
  const PeerLink::Cursor* c = rig.link().CursorOf(*g);
  BOOST_REQUIRE(c != nullptr);
  BOOST_TEST(c->sent == window);
  BOOST_TEST(r->durable == 0u);
  BOOST_TEST(rig.link().Acked(*g) == 0u);
  BOOST_TEST(rig.link().stats().bytes_acked == 0u);
  rig.HoldPeerCommits(false);
  BOOST_REQUIRE(rig.WaitAcked(*g, bytes.size()));
  BOOST_TEST(r->durable == bytes.size());
  BOOST_TEST(ReplicaIsTheFile(*g));
}

BOOST_AUTO_TEST_CASE(hello_from_another_cluster_is_refused_with_a_reason_the_origin_shows) {
  Bolt("b", "x\n");
  rig.StartPeer();
  rig.link_env.cluster = "c2";
  rig.StartLink();
  BOOST_REQUIRE(rig.loop.RunUntil([&] { return rig.link().stats().connect_failures >= 1u; }));
  BOOST_TEST(rig.link().last_error() == "peer refused us: cluster 'c2' is not this agent's cluster 'c1'");
  BOOST_TEST(rig.server()->stats().rejected >= 1u);
  BOOST_TEST(rig.link().stats().connects == 0u);
  BOOST_TEST(rig.server()->store()->replicas().empty());
}

BOOST_AUTO_TEST_CASE(hello_naming_this_agent_as_its_origin_is_refused) {
  Bolt("b", "x\n");
  rig.StartPeer();
  rig.link_env.self_id = rig.peer_config.agent.id;
  rig.StartLink();
  BOOST_REQUIRE(rig.loop.RunUntil([&] { return rig.link().stats().connect_failures >= 1u; }));
  BOOST_TEST(rig.link().last_error() == "peer refused us: origin id 'peer' is this agent's own id");
  BOOST_TEST(rig.server()->stats().rejected >= 1u);
}

BOOST_AUTO_TEST_CASE(a_new_session_from_the_same_origin_replaces_the_old_one) {
  std::string bytes = Lines(10000, 8);
  auto g = Bolt("b", bytes);
  rig.StartPeer();
  PeerLink& first = rig.StartLink();
  BOOST_REQUIRE(rig.WaitAcked(*g, bytes.size()));
  PeerLink second(rig.link_env, {rig.peer_config.agent.id, rig.peer_config.agent.listen}, {});
  second.Start();
  BOOST_REQUIRE(rig.loop.RunUntil([&] { return first.stats().disconnects >= 1u && second.stats().connects >= 1u; }));
  BOOST_TEST(first.last_error() == "the other side closed the connection");
  BOOST_TEST(rig.server()->stats().sessions >= 2u);
  BOOST_TEST(rig.server()->stats().protocol_errors == 0u);
  rig.StopLink();  // the first one would take the session back
  BOOST_REQUIRE(rig.loop.RunUntil([&] { return second.Acked(*g) == bytes.size(); }));
  BOOST_TEST(rig.server()->sessions().size() == 1u);
  second.Stop();
}

BOOST_AUTO_TEST_CASE(an_unverified_tail_that_differs_after_a_restart_is_cut_set_aside_and_sent_again) {
  std::string bytes = Lines(100000, 9);
  auto g = Bolt("b", bytes);
  rig.StartPeer();
  rig.StartLink();
  BOOST_REQUIRE(rig.WaitAcked(*g, bytes.size()));
  rig.StopPeer(true);
  BOOST_REQUIRE(rig.loop.RunUntil([&] { return rig.link().stats().disconnects == 1u; }));
  // Garbage in the part of the replica its state.db does not vouch for (a crash mid-write).
  std::string path = rig.ReplicaPath("b", g->gen);
  {
    std::fstream f(path, std::ios::binary | std::ios::in | std::ios::out);
    f.seekp(90000);
    f << "GARBAGE";
  }
  rig.StartPeer();
  BOOST_REQUIRE(rig.loop.RunUntil([&] { return rig.link().stats().connects == 2u; }));
  std::string more = Lines(3000, 10);
  rig.Append(0, more);
  BOOST_REQUIRE(rig.WaitAcked(*g, bytes.size() + more.size()));
  BOOST_TEST(ReplicaIsTheFile(*g));
  BOOST_TEST(rig.link().stats().tail_cuts == 1u);
  BOOST_TEST(rig.link().stats().divergences == 0u);
  BOOST_TEST(rig.server()->stats().tail_cuts == 1u);
  const Replica* r = rig.ReplicaOf("b", g->gen);
  BOOST_REQUIRE(r != nullptr);
  uint64_t cut_at = rig.server()->stats().bytes_cut <= bytes.size() ? bytes.size() - rig.server()->stats().bytes_cut : 0;
  BOOST_TEST(cut_at <= 90000u);  // the garbage was in what was cut
  std::vector<std::string> aside = CutAside(path);
  BOOST_REQUIRE_EQUAL(aside.size(), 1u);
  BOOST_TEST(testing::ReadAll(aside[0]).find("GARBAGE") != std::string::npos);
  BOOST_TEST(testing::FileSize(aside[0]) == rig.server()->stats().bytes_cut);
}

BOOST_AUTO_TEST_SUITE_END()
