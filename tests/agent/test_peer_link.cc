// PeerLink (agent/peer_link.h): the origin side of one peer's replication. Pins that a bolt's
// bytes reach the peer's replica byte for byte and that what the link counts as acknowledged
// is what the peer made durable; that a sealed generation's seal is held only once the peer
// recorded it; that after a dropped connection the link resumes from the peer's POSITION and
// sends again only the bytes the peer no longer holds (resent_bytes); that a listener which is
// not a tailsafe agent, or is another agent, is a counted connect failure whose last_error names
// what was wrong; that a closed generation is forgotten and a late ACK for it records nothing;
// and that while a stream's bytes are being committed, a small growth waits for their ACK and
// leaves as one frame (coalesce_below). Runs a real ReplicaServer, BoltSource and committers
// on one loop (tests/support/link_rig.h).
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "common/stream_endpoints.h"
#include "tests/support/link_rig.h"

using namespace tailsafe;
using tailsafe::testing::LinkRig;
using tailsafe::testing::Lines;

namespace {

struct Fixture {
  LinkRig rig;

  // A bolt "b" whose file holds `bytes`, the peer, and the link to it.
  std::shared_ptr<Generation> Ship(const std::string& bytes) {
    std::ofstream(rig.BoltFile("b"), std::ios::binary) << bytes;
    rig.AddBolt("b");
    rig.StartPeer();
    rig.StartLink();
    return rig.Newest(0);
  }
  // Bolt "b" holding `bytes`, and bolt "m" whose stream RoundTrip can fail; nothing started.
  std::shared_ptr<Generation> AddBoltAndMarker(const std::string& bytes) {
    std::ofstream(rig.BoltFile("b"), std::ios::binary) << bytes;
    rig.AddBolt("b");
    std::ofstream(rig.BoltFile("m"), std::ios::binary) << "marker\n";
    rig.AddBolt("m");
    return rig.Newest(0);
  }
  bool ReplicaIsTheFile(const Generation& g) {
    std::string why;
    bool same = testing::FilesEqual(rig.BoltFile(g.bolt), rig.ReplicaPath(g.bolt, g.gen), &why);
    BOOST_TEST_MESSAGE(why);
    return same;
  }
  bool Closed(uint64_t gen) const {
    const auto& c = rig.closed();
    return std::find(c.begin(), c.end(), gen) != c.end();
  }
};

// A listener that is not a tailsafe agent: it closes each connection at once, or answers it
// with `reply` and keeps it open.
class FakePeer {
 public:
  FakePeer(uv_loop_t* loop, std::string reply) : reply_(std::move(reply)) {
    Status s = listener_.Listen(loop, "127.0.0.1", 0, [this](UvPtr<uv_tcp_t> tcp) { Accept(std::move(tcp)); });
    BOOST_REQUIRE_MESSAGE(s.ok(), s.message());
  }
  PeerSpec spec() const { return {"peer", *ParseHostPort("127.0.0.1:" + std::to_string(listener_.port()))}; }
  int accepted() const { return accepted_; }

 private:
  void Accept(UvPtr<uv_tcp_t> tcp) {
    ++accepted_;
    if (reply_.empty()) return;  // `tcp` closes here
    uv_buf_t buf = uv_buf_init(reply_.data(), static_cast<unsigned>(reply_.size()));
    BOOST_TEST(uv_try_write(reinterpret_cast<uv_stream_t*>(tcp.get()), &buf, 1) == static_cast<int>(reply_.size()));
    kept_.push_back(std::move(tcp));
  }

  std::string reply_;
  TcpListener listener_;
  std::vector<UvPtr<uv_tcp_t>> kept_;
  int accepted_ = 0;
};

}  // namespace

BOOST_FIXTURE_TEST_SUITE(peer_link, Fixture)

BOOST_AUTO_TEST_CASE(a_bolts_bytes_reach_the_replica_byte_for_byte_and_the_link_counts_them_acknowledged) {
  std::string bytes = Lines(300000);
  auto g = Ship(bytes);
  BOOST_REQUIRE(rig.WaitAcked(*g, bytes.size()));
  BOOST_TEST(ReplicaIsTheFile(*g));
  const PeerLink::Stats& st = rig.link().stats();
  BOOST_TEST(rig.link().Acked(*g) == bytes.size());
  BOOST_TEST(st.bytes_sent == bytes.size());
  BOOST_TEST(st.bytes_acked == bytes.size());
  // 16 KiB frames through a 64 KiB window: many frames, each one the server received.
  BOOST_TEST(st.frames_sent >= (bytes.size() + rig.origin.chunk_bytes - 1) / rig.origin.chunk_bytes);
  BOOST_TEST(st.frames_sent == rig.server()->stats().frames_received);
  BOOST_TEST(rig.server()->stats().bytes_received == bytes.size());
  BOOST_TEST(st.connects == 1u);
  BOOST_TEST(st.connect_failures == 0u);
  BOOST_TEST(st.opens == 1u);
  BOOST_TEST(rig.link().last_error().empty());
  BOOST_TEST(rig.commit_error.empty());

  std::string more = Lines(5000, 2);  // growth is shipped as it comes
  rig.Append(0, more);
  BOOST_REQUIRE(rig.WaitAcked(*g, bytes.size() + more.size()));
  BOOST_TEST(ReplicaIsTheFile(*g));
  BOOST_TEST(st.bytes_sent == bytes.size() + more.size());
}

BOOST_AUTO_TEST_CASE(a_retired_generation_gets_its_seal_held_only_once_the_peer_recorded_it) {
  std::string bytes = Lines(40000);
  auto g = AddBoltAndMarker(bytes);
  bool seal_seen = false;  // SealHeld as the acknowledgement that changed it is reported
  auto released = rig.link_env.acks_changed;
  rig.link_env.acks_changed = [&](const std::string& bolt) {
    seal_seen = seal_seen || rig.link().SealHeld(*g);
    released(bolt);
  };
  rig.HoldPeerCommits(true);
  rig.StartPeer();
  rig.StartLink();
  rig.Source(0).Retire();
  BOOST_REQUIRE(g->sealed());
  // The peer has every byte and the SEAL, but nothing is durable there yet.
  BOOST_REQUIRE(rig.loop.RunUntil([&] {
    const Replica* r = rig.ReplicaOf("b", g->gen);
    return r != nullptr && r->sealed;
  }));
  BOOST_TEST(rig.ReplicaOf("b", g->gen)->written == bytes.size());
  BOOST_REQUIRE(rig.RoundTrip(*rig.Newest(1)));  // an ACK or SEALED sent meanwhile has arrived
  BOOST_TEST(!rig.link().SealHeld(*g));
  BOOST_TEST(!seal_seen);
  BOOST_TEST(rig.link().Acked(*g) == 0u);
  BOOST_TEST(!Closed(g->gen));

  rig.HoldPeerCommits(false);
  BOOST_REQUIRE(rig.loop.RunUntil([&] { return Closed(g->gen); }));
  BOOST_TEST(seal_seen);
  BOOST_TEST(rig.ReplicaOf("b", g->gen)->sealed_durable);
  BOOST_TEST(ReplicaIsTheFile(*g));
  BOOST_TEST(rig.link().stats().bytes_acked == bytes.size());
}

BOOST_AUTO_TEST_CASE(small_growth_waits_for_the_ack_of_the_bytes_in_flight_and_leaves_as_one_frame) {
  std::string first = Lines(1000);
  auto g = AddBoltAndMarker(first);
  rig.HoldPeerCommits(true);
  rig.StartPeer();
  rig.StartLink();
  BOOST_REQUIRE(rig.loop.RunUntil([&] {
    const Replica* r = rig.ReplicaOf("b", g->gen);
    return r != nullptr && r->written == first.size();
  }));
  uint64_t frames_before = rig.link().stats().frames_sent;
  std::string more;
  for (unsigned i = 0; i < 3; ++i) {  // three writes while the first bytes are being committed
    std::string piece = Lines(700, 10 + i);
    rig.Append(0, piece);
    more += piece;
  }
  BOOST_REQUIRE(rig.RoundTrip(*rig.Newest(1)));  // anything sent meanwhile has arrived
  BOOST_TEST(rig.ReplicaOf("b", g->gen)->written == first.size());
  BOOST_TEST(rig.link().stats().frames_sent == frames_before);

  rig.HoldPeerCommits(false);  // the ACK of the first bytes brings the rest, in one frame
  BOOST_REQUIRE(rig.WaitAcked(*g, first.size() + more.size()));
  BOOST_TEST(rig.link().stats().frames_sent == frames_before + 1);
  BOOST_TEST(ReplicaIsTheFile(*g));
}

BOOST_AUTO_TEST_CASE(without_coalescing_each_growth_is_sent_while_the_first_bytes_are_committed) {
  rig.link_env.coalesce_below = 0;
  std::string first = Lines(1000);
  std::ofstream(rig.BoltFile("b"), std::ios::binary) << first;
  rig.AddBolt("b");
  auto g = rig.Newest(0);
  rig.HoldPeerCommits(true);
  rig.StartPeer();
  rig.StartLink();
  std::string more = Lines(700, 10);
  rig.Append(0, more);
  BOOST_REQUIRE(rig.loop.RunUntil([&] {
    const Replica* r = rig.ReplicaOf("b", g->gen);
    return r != nullptr && r->written == first.size() + more.size();
  }));
  BOOST_TEST(rig.link().Acked(*g) == 0u);
  rig.HoldPeerCommits(false);
  BOOST_REQUIRE(rig.WaitAcked(*g, first.size() + more.size()));
  BOOST_TEST(ReplicaIsTheFile(*g));
}

BOOST_AUTO_TEST_CASE(after_a_dropped_connection_the_link_resumes_from_the_peers_position_and_resends_nothing) {
  std::string bytes = Lines(100000);
  auto g = Ship(bytes);
  BOOST_REQUIRE(rig.WaitAcked(*g, bytes.size()));
  rig.StopPeer();  // its sessions close, the replica stays as it is
  BOOST_REQUIRE(rig.loop.RunUntil([&] { return rig.link().stats().disconnects == 1u; }));
  BOOST_TEST(!rig.link().connected());
  BOOST_TEST(!rig.link().last_error().empty());
  std::string more = Lines(50000, 3);
  rig.Append(0, more);
  rig.StartPeer();
  BOOST_REQUIRE(rig.WaitAcked(*g, bytes.size() + more.size()));
  const PeerLink::Stats& st = rig.link().stats();
  BOOST_TEST(st.connects == 2u);
  BOOST_TEST(ReplicaIsTheFile(*g));
  BOOST_TEST(st.resent_bytes == 0u);  // every byte sent before the drop was durable there
  BOOST_TEST(st.bytes_sent == bytes.size() + more.size());
  BOOST_TEST(rig.server()->stats().bytes_received == bytes.size() + more.size());
}

BOOST_AUTO_TEST_CASE(bytes_a_restarted_peer_no_longer_holds_are_sent_again_and_counted_as_resent) {
  std::string bytes = Lines(100000);
  auto g = Ship(bytes);
  BOOST_REQUIRE(rig.WaitAcked(*g, bytes.size()));
  rig.StopPeer(true);
  BOOST_REQUIRE(rig.loop.RunUntil([&] { return rig.link().stats().disconnects == 1u; }));
  // The peer's disk kept only the first `kept` bytes (a power loss, say).
  const uint64_t kept = 60000;
  BOOST_REQUIRE(::truncate(rig.ReplicaPath("b", g->gen).c_str(), kept) == 0);
  std::string more = Lines(20000, 4);
  rig.Append(0, more);
  rig.StartPeer();
  BOOST_REQUIRE(rig.loop.RunUntil([&] { return rig.link().stats().connects == 2u; }));
  BOOST_REQUIRE(rig.WaitAcked(*g, bytes.size() + more.size()));
  const PeerLink::Stats& st = rig.link().stats();
  BOOST_TEST(ReplicaIsTheFile(*g));
  BOOST_TEST(st.resent_bytes == bytes.size() - kept);
  BOOST_TEST(st.bytes_sent == bytes.size() + more.size() + (bytes.size() - kept));
  BOOST_TEST(st.divergences == 0u);
}

BOOST_AUTO_TEST_CASE(a_listener_that_closes_at_once_is_a_counted_connect_failure) {
  FakePeer closer(rig.loop.get(), "");
  rig.AddBolt("b");
  rig.StartLink(closer.spec());
  BOOST_REQUIRE(rig.loop.RunUntil([&] { return rig.link().stats().connect_failures >= 2u; }));  // and retried
  const PeerLink::Stats& st = rig.link().stats();
  BOOST_TEST(closer.accepted() >= 2);
  BOOST_TEST(st.connects == 0u);
  BOOST_TEST(st.disconnects == 0u);
  BOOST_TEST(!rig.link().connected());
  BOOST_TEST(rig.link().last_error().find("the connection ended during the secure handshake") == 0u,
             rig.link().last_error());
}

BOOST_AUTO_TEST_CASE(a_listener_that_answers_garbage_is_a_connect_failure_named_in_last_error) {
  FakePeer web(rig.loop.get(), "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
  rig.AddBolt("b");
  rig.StartLink(web.spec());
  BOOST_REQUIRE(rig.loop.RunUntil([&] { return rig.link().stats().connect_failures >= 1u; }));
  BOOST_TEST(rig.link().stats().connects == 0u);
  BOOST_TEST(!rig.link().connected());
  // The first bytes it sent, and what that means.
  BOOST_TEST(rig.link().last_error().find("first bytes (48545450) are not a tailsafe handshake") != std::string::npos,
             rig.link().last_error());
}

BOOST_AUTO_TEST_CASE(an_agent_that_is_not_the_peer_named_is_refused_with_both_names) {
  rig.AddBolt("b");
  rig.StartPeer();
  PeerSpec spec{"someone", rig.peer_config.agent.listen};
  rig.StartLink(spec);
  BOOST_REQUIRE(rig.loop.RunUntil([&] { return rig.link().stats().connect_failures >= 1u; }));
  BOOST_TEST(rig.link().stats().connects == 0u);
  BOOST_TEST(rig.link().last_error() == "the agent at 127.0.0.1:" + std::to_string(rig.peer_port()) +
                                            " is 'peer', not 'someone'");
}

BOOST_AUTO_TEST_CASE(a_closed_generation_is_forgotten_and_a_late_ack_for_it_records_nothing) {
  std::string bytes = Lines(30000);
  auto g = Ship(bytes);
  std::ofstream(rig.BoltFile("m"), std::ios::binary) << "marker\n";
  rig.AddBolt("m");
  auto m = rig.Newest(1);
  BOOST_REQUIRE(rig.WaitAcked(*g, bytes.size()));
  BOOST_REQUIRE(rig.WaitAcked(*m, 7));
  BOOST_TEST(rig.link().generations_tracked() == 2u);
  rig.Source(0).Retire();  // sealed, held by the peer, released: closed on this host
  BOOST_REQUIRE(rig.loop.RunUntil([&] { return Closed(g->gen); }));
  BOOST_TEST(g->gone());
  BOOST_TEST(rig.link().generations_tracked() == 1u);
  BOOST_TEST(rig.link().Acked(*g) == 0u);

  // The peer acknowledges the closed generation again; the marker's round trip shows it handled.
  BOOST_REQUIRE_EQUAL(rig.server()->sessions().size(), 1u);
  rig.server()->sessions().begin()->second->SendAck(g->stream, bytes.size());
  BOOST_REQUIRE(rig.RoundTrip(*m));
  BOOST_TEST(rig.link().generations_tracked() == 1u);
  BOOST_TEST(rig.link().Acked(*g) == 0u);
  BOOST_TEST(rig.link().stats().disconnects == 0u);  // nothing about it is an error either
}

BOOST_AUTO_TEST_SUITE_END()
