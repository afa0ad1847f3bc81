// AgentReport's three renderings: status, heartbeat and Prometheus text (agent/agent_report.h).
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <string>

#include "agent/agent_report.h"

using namespace tailsafe;
using nlohmann::json;

namespace {

BoltReport::Peer PeerLag(const std::string& id, uint64_t bytes, double seconds) {
  BoltReport::Peer p;
  p.peer = id;
  p.connected = true;
  p.lag = {bytes, seconds};
  return p;
}

// Bolt "web": a lost generation 2, a sealed 3 (400 bytes seen, final size 500), the active 4,
// and a 5 not yet in state.db; two peers behind by different amounts.
AgentReport Sample() {
  AgentReport r;
  r.agent = "host-a";
  r.cluster = "weblog";
  r.pid = 42;
  r.uptime_seconds = 7.5;
  BoltReport b;
  b.name = "web";
  b.file = "/var/log/web.log";
  b.gens = {{2, GenState::kLost, 10, 10, true},
            {3, GenState::kSealed, 400, 500, true},
            {4, GenState::kActive, 120, 120, true},
            {5, GenState::kSealed, 0, 0, false}};
  b.peers = {PeerLag("host-b", 100, 0.5), PeerLag("host-c", 30, 2.0)};
  BoltProcess p;
  p.state = ProcState::kRunning;
  p.pid = 99;
  b.process = p;
  BoltCheckpoint ck;
  ck.known = true;
  ck.offset = 60;
  b.checkpoint = ck;
  b.checkpoint_applied = true;
  b.checkpoint_gen = 4;
  b.checkpoint_offset = 60;
  r.bolts.push_back(b);
  BoltReport gone;
  gone.name = "old";
  gone.removed = true;
  r.bolts.push_back(gone);
  for (uint64_t g = 1; g <= 12; ++g) r.replicas.push_back({"host-b", "api", "/r", g, g * 10, g * 10, 0, 0, false, false});
  r.peer_checkpoints.push_back({"host-b", "api", 2, 5});
  PeerReport peer;
  peer.id = "host-b";
  peer.address = "10.0.0.2:7401";
  peer.connected = true;
  peer.stats.bytes_sent = 1234;
  r.peers.push_back(peer);
  return r;
}

bool Has(const std::string& text, const std::string& line) { return text.find(line + "\n") != std::string::npos; }

}  // namespace

BOOST_AUTO_TEST_SUITE(agent_report)

BOOST_AUTO_TEST_CASE(the_heartbeat_tells_persisted_live_generations_at_their_end_and_the_worst_lag) {
  json hb = HeartbeatJson(Sample());
  BOOST_REQUIRE_EQUAL(hb["bolts"].size(), 1u);  // the removed bolt is not this agent's
  const json& b = hb["bolts"][0];
  BOOST_TEST(b["name"] == "web");
  BOOST_REQUIRE_EQUAL(b["gens"].size(), 2u);
  BOOST_TEST(b["gens"][0]["gen"] == 3);
  BOOST_TEST(b["gens"][0]["size"] == 500);  // a sealed generation's final size
  BOOST_TEST(b["gens"][1]["gen"] == 4);
  BOOST_TEST(b["lag_bytes"] == 100);
  BOOST_TEST(b["lag_seconds"] == 2.0);
  BOOST_TEST(b["checkpoint"]["gen"] == 4);
  BOOST_TEST(b["checkpoint"]["offset"] == 60);
  BOOST_TEST(b["process"]["pid"] == 99);
  BOOST_TEST(!b.contains("deaths"));
  BOOST_TEST(!hb.contains("storage_error"));
}

BOOST_AUTO_TEST_CASE(the_heartbeat_names_the_newest_eight_replicas_from_the_checkpoints_generation) {
  AgentReport r = Sample();
  json hb = HeartbeatJson(r);
  BOOST_REQUIRE_EQUAL(hb["replicas"].size(), 8u);
  BOOST_TEST(hb["replicas"][0]["gen"] == 12);
  BOOST_TEST(hb["replicas"][7]["gen"] == 5);
  r.peer_checkpoints[0].gen = 10;
  hb = HeartbeatJson(r);
  BOOST_REQUIRE_EQUAL(hb["replicas"].size(), 3u);  // 12, 11, 10: a tail cannot lie before 10
  BOOST_TEST(hb["peer_checkpoints"][0]["gen"] == 10);
  r.storage_error = "disk full";
  BOOST_TEST(HeartbeatJson(r)["storage_error"] == "disk full");
}

BOOST_AUTO_TEST_CASE(status_shows_every_bolt_its_active_generation_and_each_peers_view) {
  json st = json::parse(StatusJson(Sample()));
  BOOST_TEST(st["agent"] == "host-a");
  BOOST_TEST(st["pid"] == 42);
  BOOST_REQUIRE_EQUAL(st["bolts"].size(), 2u);
  const json& b = st["bolts"][0];
  BOOST_TEST(b["generation"] == 4);
  BOOST_TEST(b["origin_size"] == 120);
  BOOST_TEST(b["generations"].size() == 4u);
  BOOST_TEST(b["peers"][1]["lag_bytes"] == 30);
  BOOST_TEST(st["bolts"][1]["removed"] == true);
  BOOST_TEST(!st["bolts"][1].contains("process"));
  BOOST_TEST(st["peers"][0]["bytes_sent"] == 1234);
  BOOST_TEST(st["replicas"].size() == 12u);
  BOOST_TEST(!st.contains("coordinator"));
}

BOOST_AUTO_TEST_CASE(metrics_show_the_same_figures_as_status) {
  std::string m = PrometheusText(Sample());
  BOOST_TEST(Has(m, "tailsafe_agent_uptime_seconds 7.5"));
  BOOST_TEST(Has(m, "tailsafe_bolt_generation{bolt=\"web\"} 4"));
  BOOST_TEST(Has(m, "tailsafe_bolt_origin_bytes{bolt=\"web\"} 120"));
  BOOST_TEST(Has(m, "tailsafe_bolt_lag_bytes{bolt=\"web\",peer=\"host-c\"} 30"));
  BOOST_TEST(Has(m, "tailsafe_bolt_process_up{bolt=\"web\"} 1"));
  BOOST_TEST(m.find("tailsafe_bolt_process_up{bolt=\"old\"}") == std::string::npos);  // not tracked here
  BOOST_TEST(Has(m, "tailsafe_peer_shipped_bytes_total{peer=\"host-b\"} 1234"));
  BOOST_TEST(Has(m, "tailsafe_replica_generations 12"));
  BOOST_TEST(m.find("tailsafe_coordinator_up") == std::string::npos);
  BOOST_TEST(m.find("tailsafe_recoveries_total") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_new_holder_still_filling_makes_the_stream_under_replicated_in_all_three) {
  AgentReport r = Sample();
  BOOST_TEST(HeartbeatJson(r)["bolts"][0]["holders_filling"] == 0);
  BOOST_TEST(json::parse(StatusJson(r))["bolts"][0]["under_replicated"] == false);
  BOOST_TEST(Has(PrometheusText(r), "tailsafe_bolt_holders_filling{bolt=\"web\"} 0"));
  r.bolts[0].peers[1].filling = true;
  r.bolts[0].peers[1].fill_remaining = 70;
  BOOST_TEST(HeartbeatJson(r)["bolts"][0]["holders_filling"] == 1);
  json st = json::parse(StatusJson(r));
  BOOST_TEST(st["bolts"][0]["under_replicated"] == true);
  BOOST_TEST(st["bolts"][0]["peers"][1]["filling"] == true);
  BOOST_TEST(st["bolts"][0]["peers"][1]["fill_remaining_bytes"] == 70);
  BOOST_TEST(st["bolts"][0]["peers"][0]["filling"] == false);
  BOOST_TEST(Has(PrometheusText(r), "tailsafe_bolt_holders_filling{bolt=\"web\"} 1"));
}

BOOST_AUTO_TEST_SUITE_END()
