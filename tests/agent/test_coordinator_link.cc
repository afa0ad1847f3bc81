// CoordinatorLink (agent/coordinator_link.h) against a fake coordinator on a real libuv loop and
// TCP (the same secure framing as the real one): registration and heartbeats, messages handed
// to their handlers, a deposed leader's older term refused, a redirect to the leader followed,
// and a malformed, unexpected or refusing message closing the connection (then reconnecting),
// never crashing; a coordinator that stops answering heartbeats is left.
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/coordinator_link.h"
#include "common/cluster_key.h"
#include "common/coord_protocol.h"
#include "common/framed_conn.h"
#include "common/stream_endpoints.h"
#include "common/wire.h"
#include "tests/support/test_loop.h"

using namespace tailsafe;
using nlohmann::json;
using tailsafe::testing::TestLoop;

namespace {

ClusterKeys Keys() {
  uint8_t bytes[kClusterKeyBytes];
  for (size_t i = 0; i < sizeof bytes; ++i) bytes[i] = static_cast<uint8_t>(i * 7 + 1);
  ClusterKeys keys;
  keys.keys.push_back(MakeClusterKey(bytes));
  return keys;
}

// Accepts agents' connections and keeps what each sent; answers only when told to.
class FakeCoordinator {
 public:
  FakeCoordinator(uv_loop_t* loop, const ClusterKeys* keys) : keys_(keys) {
    Status st = listener_.Listen(loop, "127.0.0.1", 0, [this](UvPtr<uv_tcp_t> tcp) { Accept(std::move(tcp)); });
    BOOST_REQUIRE_MESSAGE(st.ok(), st.message());
  }
  ~FakeCoordinator() {
    listener_.Stop();
    for (auto& c : conns_) c->Close("test over");
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(listener_.port()); }
  size_t connections() const { return conns_.size(); }
  size_t closed() const { return closed_; }
  // Messages received on every connection, in order.
  const std::vector<json>& received() const { return received_; }
  size_t Count(const std::string& type) const {
    size_t n = 0;
    for (const json& m : received_) n += m["type"] == type;
    return n;
  }
  // Sends to the newest connection.
  void Send(const json& msg) { conns_.back()->Send(ControlFrame(msg)); }
  void SendRaw(const std::string& frames) { conns_.back()->Send(frames); }

 private:
  void Accept(UvPtr<uv_tcp_t> tcp) {
    auto conn = std::make_shared<FramedConn>(std::move(tcp), SecureChannel::Role::kServer, keys_);
    conns_.push_back(conn);
    Status st = conn->Start(
        [this](const Frame& f) {
          std::string_view text;
          if (Status s = DecodeControl(f, &text); !s) return s;
          Result<json> msg = ParseControl(text);
          if (!msg) return msg.status();
          received_.push_back(*msg);
          return Status::Ok();
        },
        [this](const CloseReason&) { ++closed_; });
    BOOST_REQUIRE(st.ok());
  }

  const ClusterKeys* keys_;
  TcpListener listener_;
  std::vector<std::shared_ptr<FramedConn>> conns_;
  std::vector<json> received_;
  size_t closed_ = 0;
};

struct Fixture {
  TestLoop loop;
  ClusterKeys keys = Keys();
  FakeCoordinator coordinator{loop.get(), &keys};
  Config config;
  int registered = 0;
  std::vector<json> memberships, recoveries, deaths_recorded;
  std::unique_ptr<CoordinatorLink> link;

  Fixture() {
    config.cluster.name = "c1";
    config.cluster.coordinators = {coordinator.address()};
    config.agent.id = "a1";
    config.agent.listen = *ParseHostPort("127.0.0.1:7401");
    config.agent.reconnect_max_ms = 50;
    config.hooks["replay"] = {"/bin/true"};
    BoltConfig b;
    b.name = "b1";
    b.hook = "replay";
    config.bolts.push_back(b);
  }
  ~Fixture() { link.reset(); }
  void Start() {
    CoordinatorLink::Handlers h;
    h.report = [] { return json{{"bolts", json::array({json{{"name", "b1"}}})}}; };
    h.on_membership = [this](const json& agents) { memberships.push_back(agents); };
    h.on_recovery = [this](const json& m) {
      recoveries.push_back(m);
      return Status::Ok();
    };
    h.on_registered = [this] { ++registered; };
    h.on_deaths_recorded = [this](const json& m) {
      deaths_recorded.push_back(m);
      return Status::Ok();
    };
    link = std::make_unique<CoordinatorLink>(loop.get(), config, &keys, std::move(h));
    Status st = link->Start();
    BOOST_REQUIRE_MESSAGE(st.ok(), st.message());
  }
  // Starts the link and welcomes it (term 1 unless told).
  void Register(uint64_t term = 1, bool acks = false) {
    Start();
    BOOST_REQUIRE(loop.RunUntil([&] { return coordinator.Count("register") == 1; }));
    coordinator.Send({{"type", "welcome"}, {"heartbeat_ms", 20}, {"term", term}, {"acks", acks}});
    BOOST_REQUIRE(loop.RunUntil([&] { return link->registered(); }));
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(coordinator_link)

BOOST_AUTO_TEST_CASE(registers_heartbeats_and_hands_messages_to_their_handlers) {
  Fixture f;
  f.Register();
  const json& reg = f.coordinator.received()[0];
  BOOST_TEST(reg["cluster"] == "c1");
  BOOST_TEST(reg["agent"] == "a1");
  BOOST_TEST(reg["address"] == "127.0.0.1:7401");
  BOOST_TEST(reg["hooks"] == json::array({"replay"}));
  BOOST_TEST(reg["bolts"] == json::array({json{{"name", "b1"}, {"hook", "replay"}}}));
  BOOST_TEST(reg["acks"] == true);
  BOOST_TEST(f.registered == 1);
  BOOST_TEST(f.link->term() == 1u);
  BOOST_REQUIRE(f.loop.RunUntil([&] { return f.coordinator.Count("heartbeat") >= 2; }));
  for (const json& m : f.coordinator.received()) {
    if (m["type"] == "heartbeat") BOOST_TEST(m["bolts"][0]["name"] == "b1");
  }

  f.coordinator.Send({{"type", "membership"}, {"term", 1}, {"agents", json::array({json{{"id", "a2"}}})}});
  f.coordinator.Send({{"type", "assign"}, {"term", 1}, {"recovery", 4}});
  f.coordinator.Send({{"type", "deaths_recorded"}, {"term", 1}});
  f.coordinator.Send({{"type", "heartbeat_ack"}});
  BOOST_REQUIRE(f.loop.RunUntil([&] { return !f.deaths_recorded.empty(); }));
  BOOST_REQUIRE(f.memberships.size() == 1u);
  BOOST_TEST(f.memberships[0][0]["id"] == "a2");
  BOOST_TEST(f.link->membership()[0]["id"] == "a2");
  BOOST_REQUIRE(f.recoveries.size() == 1u);
  BOOST_TEST(f.recoveries[0]["recovery"] == 4);

  BOOST_TEST(f.link->Send({{"type", "hook_done"}}));
  f.config.bolts[0].name = "b2";  // a reload
  f.link->ConfigChanged();
  BOOST_REQUIRE(f.loop.RunUntil([&] { return f.coordinator.Count("reconfigure") == 1; }));
  BOOST_TEST(f.coordinator.Count("hook_done") == 1u);
  BOOST_TEST(f.coordinator.connections() == 1u);

  // A clean stop is not a lost connection: no error to report, no reconnection.
  f.link->Stop();
  BOOST_TEST(!f.link->registered());
  BOOST_TEST(f.link->last_error().empty(), f.link->last_error());
  BOOST_TEST(!f.link->Send({{"type", "hook_done"}}));
  BOOST_REQUIRE(f.loop.RunUntil([&] { return f.coordinator.closed() == 1u; }));
  BOOST_TEST(f.coordinator.connections() == 1u);
}

BOOST_AUTO_TEST_CASE(a_message_of_an_older_term_closes_the_connection_and_counts_for_nothing) {
  Fixture f;
  f.Register(5);
  f.coordinator.Send({{"type", "membership"}, {"term", 4}, {"agents", json::array()}});
  BOOST_REQUIRE(f.loop.RunUntil([&] { return !f.link->registered(); }));
  BOOST_TEST(f.memberships.empty());
  BOOST_TEST(f.link->last_error().find("a coordinator of an older term") != std::string::npos, f.link->last_error());
  BOOST_TEST(f.link->term() == 5u);
  // And it comes back, registering anew.
  BOOST_REQUIRE(f.loop.RunUntil([&] { return f.coordinator.Count("register") == 2; }));
  BOOST_TEST(f.coordinator.connections() == 2u);
}

BOOST_AUTO_TEST_CASE(malformed_unexpected_and_refusing_messages_close_the_connection) {
  Fixture f;
  f.Register();
  f.coordinator.SendRaw(EncodeControl("this is not json"));
  BOOST_REQUIRE(f.loop.RunUntil([&] { return !f.link->registered(); }));
  BOOST_TEST(f.link->last_error().find("not valid JSON") != std::string::npos, f.link->last_error());

  BOOST_REQUIRE(f.loop.RunUntil([&] { return f.coordinator.Count("register") == 2; }));
  f.coordinator.Send({{"type", "bogus"}});
  BOOST_REQUIRE(f.loop.RunUntil([&] { return f.coordinator.closed() == 2; }));
  BOOST_TEST(f.link->last_error().find("unexpected message 'bogus' from the coordinator") != std::string::npos,
             f.link->last_error());

  BOOST_REQUIRE(f.loop.RunUntil([&] { return f.coordinator.Count("register") == 3; }));
  f.coordinator.Send({{"type", "welcome"}, {"heartbeat_ms", "soon"}});  // a field of the wrong type
  BOOST_REQUIRE(f.loop.RunUntil([&] { return f.coordinator.closed() == 3; }));
  BOOST_TEST(!f.link->registered());

  BOOST_REQUIRE(f.loop.RunUntil([&] { return f.coordinator.Count("register") == 4; }));
  f.coordinator.Send({{"type", "reject"}, {"reason", "unknown cluster"}});
  BOOST_REQUIRE(f.loop.RunUntil([&] { return f.coordinator.closed() == 4; }));
  BOOST_TEST(f.link->last_error().find("refused: unknown cluster") != std::string::npos, f.link->last_error());
  BOOST_TEST(f.registered == 1);
}

BOOST_AUTO_TEST_CASE(not_leader_naming_the_leader_sends_the_agent_there) {
  Fixture f;
  FakeCoordinator leader(f.loop.get(), &f.keys);
  f.Start();
  BOOST_REQUIRE(f.loop.RunUntil([&] { return f.coordinator.Count("register") == 1; }));
  f.coordinator.Send({{"type", "not_leader"}, {"term", 2}, {"leader", leader.address()}});
  BOOST_REQUIRE(f.loop.RunUntil([&] { return leader.Count("register") == 1; }));
  BOOST_TEST(f.link->address() == leader.address());
  BOOST_TEST(f.link->last_error().find("does not lead; the leader is " + leader.address()) != std::string::npos,
             f.link->last_error());
  leader.Send({{"type", "welcome"}, {"heartbeat_ms", 20}, {"term", 2}});
  BOOST_REQUIRE(f.loop.RunUntil([&] { return f.link->registered(); }));
  BOOST_TEST(f.coordinator.connections() == 1u);
  f.link.reset();  // before `leader` goes
}

BOOST_AUTO_TEST_CASE(a_coordinator_that_stops_answering_heartbeats_is_left) {
  Fixture f;
  f.Register(1, true);  // it promised to answer every heartbeat, and answers none
  BOOST_REQUIRE(f.loop.RunUntil([&] { return !f.link->registered(); }));
  BOOST_TEST(f.link->last_error().find("answered nothing for") != std::string::npos, f.link->last_error());
  BOOST_REQUIRE(f.loop.RunUntil([&] { return f.coordinator.Count("register") == 2; }));
}

BOOST_AUTO_TEST_CASE(no_coordinator_address_is_a_clear_error) {
  Fixture f;
  f.config.cluster.coordinators = {"no port here"};
  CoordinatorLink link(f.loop.get(), f.config, &f.keys, {});
  Status st = link.Start();
  BOOST_REQUIRE(!st.ok());
  BOOST_TEST(st.message().find("cluster.coordinator") != std::string::npos, st.message());
  f.config.cluster.coordinators.clear();
  CoordinatorLink none(f.loop.get(), f.config, &f.keys, {});
  BOOST_TEST(none.Start().message() == "cluster.coordinator: no address");
  BOOST_TEST(!none.Send({{"type", "x"}}));
}

BOOST_AUTO_TEST_SUITE_END()
