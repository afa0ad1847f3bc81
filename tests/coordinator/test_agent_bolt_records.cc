// The typed /agents/ID and /bolts/ORIGIN/BOLT records (coordinator/agent_record.h,
// coordinator/bolt_record.h): their JSON forms, a heartbeat's reports, and deaths on record.
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include "coordinator/agent_record.h"
#include "coordinator/bolt_record.h"

using namespace tailsafe;
using nlohmann::json;

namespace {

BoltRecord SampleBolt() {
  BoltRecord b;
  b.origin = "h1";
  b.bolt = "b1";
  b.hook = "count";
  b.process = BoltProcessReport{"dead", 4242, 3, "exited with status 1"};
  b.checkpoint = BoltCheckpointReport{2, 1000, 55, ""};
  b.deaths_pending.push_back({4000, 17, 9, TailCheckpoint{1, 800}});
  b.deaths_done.emplace_back(3000, 11);
  return b;
}

template <typename T>
std::string Error(const json& d) {
  Result<T> r = T::FromJson(d);
  return r ? "accepted" : r.status().message();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(agent_bolt_records)

BOOST_AUTO_TEST_CASE(an_agent_record_survives_its_json_form) {
  AgentRecord a{"10.0.0.1:7400", {"count", "sum"}, {"b1", "b2"}, true, 123, 0, "disk full", 124};
  Result<AgentRecord> back = AgentRecord::FromJson(a.ToJson());
  BOOST_REQUIRE(back.ok());
  BOOST_TEST((*back == a));
  a.alive = false;
  a.dead_since_unix_ms = 200;
  a.storage_error.clear();
  a.storage_error_since_unix_ms = 0;
  BOOST_TEST(!a.ToJson().contains("storage_error"));
  BOOST_TEST(!a.ToJson().contains("replicas"), "every peer: not written");
  BOOST_TEST((*AgentRecord::FromJson(a.ToJson()) == a));
  a.replicas = 2;
  BOOST_TEST((*AgentRecord::FromJson(a.ToJson()) == a));
}

BOOST_AUTO_TEST_CASE(a_dead_agent_keeps_its_place_as_a_holder_for_the_grace_period) {
  AgentRecord a{"a:1", {}, {}, true, 1, 0, "", 0};
  BOOST_TEST(a.Placed(1'000'000, 0), "alive: placed whatever the grace");
  a.alive = false;
  a.dead_since_unix_ms = 10'000;
  BOOST_TEST(a.Placed(10'000, 60'000));
  BOOST_TEST(a.Placed(69'999, 60'000));
  BOOST_TEST(!a.Placed(70'000, 60'000), "its grace ended");
  BOOST_TEST(!a.Placed(10'000, 0), "no grace: out at once");
}

BOOST_AUTO_TEST_CASE(a_bad_agent_document_is_refused_naming_the_field) {
  json good = AgentRecord{"a:1", {"h"}, {"b"}, true, 1, 0, "", 0}.ToJson();
  BOOST_TEST(Error<AgentRecord>(good) == "accepted");
  BOOST_TEST(Error<AgentRecord>(json::array()) == "not a JSON object");
  json d = good;
  d.erase("address");
  BOOST_TEST(Error<AgentRecord>(d) == "field 'address' must be a string");
  d = good;
  d["hooks"] = json::array({"h", 3});
  BOOST_TEST(Error<AgentRecord>(d) == "field 'hooks' must hold strings only");
  d = good;
  d["alive"] = "yes";
  BOOST_TEST(Error<AgentRecord>(d) == "field 'alive' must be true or false");
  d = good;
  d["since_unix_ms"] = -5;
  BOOST_TEST(Error<AgentRecord>(d) == "field 'since_unix_ms' must be an unsigned integer");
  d = good;
  d["replicas"] = 1001;
  BOOST_TEST(Error<AgentRecord>(d) == "field 'replicas' must be at most 1000");
}

BOOST_AUTO_TEST_CASE(a_bolt_record_survives_its_json_form) {
  BoltRecord b = SampleBolt();
  Result<BoltRecord> back = BoltRecord::FromJson(b.ToJson());
  BOOST_REQUIRE(back.ok());
  BOOST_TEST((*back == b));
  BOOST_TEST(back->process_dead());
  BOOST_TEST((back->checkpoint->Tail() == TailCheckpoint{2, 1000}));
  // A replicated-only bolt, reported by nothing yet.
  BoltRecord bare;
  bare.origin = "h1";
  bare.bolt = "b2";
  BOOST_TEST(!bare.ToJson().contains("hook"));
  BOOST_TEST((*BoltRecord::FromJson(bare.ToJson()) == bare));
  BOOST_TEST(!bare.process_dead());
}

BOOST_AUTO_TEST_CASE(a_bad_bolt_document_is_refused_naming_the_field) {
  json good = SampleBolt().ToJson();
  json d = good;
  d["process"]["state"] = 3;
  BOOST_TEST(Error<BoltRecord>(d) == "process: field 'state' must be a string");
  d = good;
  d["checkpoint"]["gen"] = "two";
  BOOST_TEST(Error<BoltRecord>(d) == "checkpoint: field 'gen' must be an unsigned integer");
  d = good;
  d["deaths_pending"][0].erase("start_ns");
  BOOST_TEST(Error<BoltRecord>(d) == "deaths_pending[]: field 'start_ns' must be an unsigned integer");
  d = good;
  d["deaths_pending"][0]["checkpoint"] = {{"gen", 1}};
  BOOST_TEST(Error<BoltRecord>(d) == "deaths_pending[]: checkpoint: field 'offset' must be an unsigned integer");
  d = good;
  d["deaths_done"] = json::object();
  BOOST_TEST(Error<BoltRecord>(d) == "field 'deaths_done' must be an array");
  d = good;
  d.erase("bolt");
  BOOST_TEST(Error<BoltRecord>(d) == "field 'bolt' must be a string");
}

BOOST_AUTO_TEST_CASE(a_heartbeat_report_replaces_process_and_checkpoint_whole) {
  BoltRecord b = SampleBolt();
  json item = {{"name", "b1"},
               {"process", {{"state", "running"}, {"pid", 5000}, {"deaths", 4}, {"since_unix_ns", 99}}},
               {"gens", json::array()}};
  BOOST_REQUIRE(BoltRecord::ReadReport(item, &b).ok());
  BOOST_TEST(b.process->state == "running");
  BOOST_TEST(*b.process->pid == 5000u);
  BOOST_TEST(!b.checkpoint);  // not reported: gone
  BOOST_TEST(b.deaths_pending.size() == 1u);  // deaths on record stay
  // The same report twice is the same record: nothing to write.
  BoltRecord again = b;
  BOOST_REQUIRE(BoltRecord::ReadReport(item, &again).ok());
  BOOST_TEST((again == b));
  item["process"]["pid"] = -1;
  BOOST_TEST(BoltRecord::ReadReport(item, &again).message() == "process: field 'pid' must be an unsigned integer");
  item["process"] = {{"state", std::string(40, 'x')}};
  BOOST_TEST(BoltRecord::ReadReport(item, &again).message() == "process: field 'state' must be 1 to 32 characters");
}

BOOST_AUTO_TEST_CASE(a_checkpoint_reported_again_without_its_generation_keeps_the_one_learnt) {
  BoltRecord b;
  json item = {{"name", "b1"}, {"checkpoint", {{"gen", 4}, {"offset", 120}, {"read_unix_ns", 77}}}};
  BOOST_REQUIRE(BoltRecord::ReadReport(item, &b).ok());
  BOOST_TEST(*b.checkpoint->gen == 4u);
  // Generation 4 closed at the origin, which no longer names it: the same reading.
  item["checkpoint"].erase("gen");
  BOOST_REQUIRE(BoltRecord::ReadReport(item, &b).ok());
  BOOST_REQUIRE(b.checkpoint->gen.has_value());
  BOOST_TEST(*b.checkpoint->gen == 4u);
  BOOST_TEST(b.checkpoint->Tail().has_value());
  // Another reading (a new read time, or another offset) without a generation has none.
  item["checkpoint"]["read_unix_ns"] = 78;
  BOOST_REQUIRE(BoltRecord::ReadReport(item, &b).ok());
  BOOST_TEST(!b.checkpoint->gen.has_value());
}

BOOST_AUTO_TEST_CASE(deaths_become_pending_once_and_take_the_dead_processs_checkpoint) {
  BoltRecord before = SampleBolt();  // process 4242 with checkpoint (2, 1000)
  BoltRecord b = before;
  std::vector<std::pair<uint64_t, uint64_t>> ack;
  std::vector<BoltDeath> added;
  json deaths = json::array({{{"pid", 4242}, {"start_ns", 20}},                             // no checkpoint: the doc's
                             {{"pid", 4300}, {"start_ns", 21}, {"gen", 3}, {"offset", 7}},  // its own
                             {{"pid", 4000}, {"start_ns", 17}},                             // pending already
                             {{"pid", 3000}, {"start_ns", 11}},                             // done already
                             {{"pid", 4400}, {"start_ns", 22}}});                           // none known
  BOOST_REQUIRE(b.AddDeaths(deaths, before, 777, &ack, &added).ok());
  BOOST_TEST(ack.size() == 5u);  // every one reported is acknowledged
  BOOST_REQUIRE(added.size() == 3u);
  BOOST_TEST((added[0].checkpoint == TailCheckpoint{2, 1000}));
  BOOST_TEST((added[1].checkpoint == TailCheckpoint{3, 7}));
  BOOST_TEST(!added[2].checkpoint);
  BOOST_TEST(added[0].recorded_unix_ms == 777u);
  BOOST_TEST(b.deaths_pending.size() == 4u);
  // Planned oldest first; deaths_done keeps the newest 16.
  for (int i = 0; i < 4; ++i) b.MarkOldestPlanned();
  BOOST_TEST(b.deaths_pending.empty());
  BOOST_TEST((b.deaths_done.back() == std::pair<uint64_t, uint64_t>{4400, 22}));
  for (uint64_t i = 0; i < 40; ++i) {
    b.deaths_pending.push_back({i + 1, i, 0, std::nullopt});
    b.MarkOldestPlanned();
  }
  BOOST_TEST(b.deaths_done.size() == BoltRecord::kMaxDeathsDone);
  BOOST_TEST(b.deaths_done.front().first == 25u);
}

BOOST_AUTO_TEST_CASE(a_bolt_without_a_hook_keeps_no_deaths_and_bad_reports_are_named) {
  BoltRecord b;
  b.origin = "h1";
  b.bolt = "b1";
  std::vector<std::pair<uint64_t, uint64_t>> ack;
  std::vector<BoltDeath> added;
  BOOST_REQUIRE(b.AddDeaths(json::array({{{"pid", 1}, {"start_ns", 2}}}), b, 0, &ack, &added).ok());
  BOOST_TEST(ack.size() == 1u);
  BOOST_TEST(added.empty());
  BOOST_TEST(b.AddDeaths(json::object(), b, 0, &ack, &added).message() == "deaths must be an array of at most 64");
  BOOST_TEST(b.AddDeaths(json::array({{{"pid", 1}}}), b, 0, &ack, &added).message() ==
             "deaths[]: field 'start_ns' must be an unsigned integer");
  BOOST_TEST(b.AddDeaths(json::array({{{"pid", 1}, {"start_ns", 2}, {"gen", 1}}}), b, 0, &ack, &added).message() ==
             "deaths[]: field 'offset' must be an unsigned integer");
}

BOOST_AUTO_TEST_SUITE_END()
