// MergeHeartbeat: what a heartbeat changes in the agent's and its bolts' records
// (coordinator/heartbeat_merge.h).
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <map>
#include <string>

#include "coordinator/heartbeat_merge.h"

using namespace tailsafe;
using nlohmann::json;

namespace {

using Bolts = std::map<std::pair<std::string, std::string>, BoltRecord>;
using Held = std::map<std::pair<std::string, std::string>, std::string>;

AgentRecord Alive() {
  AgentRecord a;
  a.alive = true;
  a.since_unix_ms = 100;
  return a;
}

json Item(const std::string& name) {
  return {{"name", name}, {"process", {{"state", "running"}, {"pid", 77}, {"deaths", 0}, {"since_unix_ns", 1}}}};
}

}  // namespace

BOOST_AUTO_TEST_SUITE(heartbeat_merge)

BOOST_AUTO_TEST_CASE(each_named_bolt_takes_the_report_and_its_registered_hook) {
  Bolts bolts;
  BoltRecord old;
  old.origin = "host-a";
  old.bolt = "web";
  old.host_alive = false;
  old.deaths_done.emplace_back(5, 6);
  bolts[{"host-a", "web"}] = old;
  json msg = {{"bolts", json::array({Item("web"), Item("api")})}};
  auto m = MergeHeartbeat("host-a", Alive(), {{"web", "weblog"}}, bolts, {}, msg, 500);
  BOOST_REQUIRE(m.ok());
  BOOST_REQUIRE_EQUAL(m->bolts.size(), 2u);
  BOOST_TEST(m->bolts[0].hook == "weblog");
  BOOST_TEST(m->bolts[0].host_alive);
  BOOST_TEST(m->bolts[0].process->pid.value_or(0) == 77u);
  BOOST_TEST(m->bolts[0].deaths_done.size() == 1u);  // what was on record stays
  BOOST_TEST(m->bolts[1].bolt == "api");
  BOOST_TEST(m->bolts[1].hook.empty());  // not registered with a hook: replicated only
  BOOST_TEST(!m->revived);
  BOOST_TEST((m->agent == Alive()));
  BOOST_TEST(m->deaths_recorded.empty());
}

BOOST_AUTO_TEST_CASE(a_dead_agent_heard_again_is_revived_and_storage_errors_carry_their_start) {
  AgentRecord dead = Alive();
  dead.alive = false;
  dead.dead_since_unix_ms = 300;
  json msg = {{"bolts", json::array()}, {"storage_error", "disk full"}};
  auto m = MergeHeartbeat("host-a", dead, {}, {}, {}, msg, 900);
  BOOST_REQUIRE(m.ok());
  BOOST_TEST(m->revived);
  BOOST_TEST(m->agent.alive);
  BOOST_TEST(m->agent.since_unix_ms == 900u);
  BOOST_TEST(m->agent.dead_since_unix_ms == 0u);
  BOOST_TEST(m->agent.storage_error == "disk full");
  BOOST_TEST(m->agent.storage_error_since_unix_ms == 900u);
  // Still failing later: the start stays; then cleared.
  auto again = MergeHeartbeat("host-a", m->agent, {}, {}, {}, msg, 950);
  BOOST_TEST(again->agent.storage_error_since_unix_ms == 900u);
  auto cleared = MergeHeartbeat("host-a", m->agent, {}, {}, {}, json{{"bolts", json::array()}}, 990);
  BOOST_TEST(cleared->agent.storage_error.empty());
  BOOST_TEST(cleared->agent.storage_error_since_unix_ms == 0u);
}

BOOST_AUTO_TEST_CASE(reported_deaths_become_pending_and_are_told_back) {
  json item = Item("web");
  item["deaths"] = json::array({{{"pid", 41}, {"start_ns", 9}, {"gen", 2}, {"offset", 70}}});
  json msg = {{"bolts", json::array({item})}};
  auto m = MergeHeartbeat("host-a", Alive(), {{"web", "weblog"}}, {}, {}, msg, 500);
  BOOST_REQUIRE(m.ok());
  BOOST_REQUIRE_EQUAL(m->bolts[0].deaths_pending.size(), 1u);
  BOOST_TEST(m->bolts[0].deaths_pending[0].pid == 41u);
  BOOST_REQUIRE_EQUAL(m->deaths_recorded.size(), 1u);
  BOOST_TEST(m->deaths_recorded[0]["bolt"] == "web");
  BOOST_TEST(m->deaths_recorded[0]["deaths"][0]["pid"] == 41);
}

BOOST_AUTO_TEST_CASE(a_bolt_whose_document_cannot_be_read_is_left_alone) {
  Held held = {{{"host-a", "web"}, "bad json"}};
  json msg = {{"bolts", json::array({Item("web")})}};
  auto m = MergeHeartbeat("host-a", Alive(), {}, {}, held, msg, 500);
  BOOST_REQUIRE(m.ok());
  BOOST_TEST(m->bolts.empty());
}

BOOST_AUTO_TEST_CASE(one_bad_item_refuses_the_whole_heartbeat_naming_it) {
  AgentRecord dead = Alive();
  dead.alive = false;
  json bad = Item("api");
  bad["process"]["pid"] = "x";
  auto m = MergeHeartbeat("host-a", dead, {}, {}, {}, json{{"bolts", json::array({Item("web"), bad})}}, 5);
  BOOST_REQUIRE(!m.ok());
  BOOST_TEST(m.status().message() == "heartbeat: bolt api: process: field 'pid' must be an unsigned integer");
  BOOST_TEST(MergeHeartbeat("h", dead, {}, {}, {}, json{{"bolts", json::array({1})}}, 5).status().message() ==
             "heartbeat: bolts[] must be objects");
  BOOST_TEST(MergeHeartbeat("h", dead, {}, {}, {}, json{{"bolts", json::array({{{"name", "../x"}}})}}, 5)
                 .status()
                 .message() == "heartbeat: bolt name '../x' is invalid");
  BOOST_TEST(!MergeHeartbeat("h", dead, {}, {}, {}, json::object(), 5).ok());
  BOOST_TEST(!MergeHeartbeat("h", dead, {}, {}, {}, json{{"bolts", json::array()}, {"storage_error", 3}}, 5).ok());
}

BOOST_AUTO_TEST_SUITE_END()
