// The typed /recoveries/N record and its JSON form (coordinator/recovery_record.h).
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include "coordinator/recovery_record.h"

using namespace tailsafe;
using nlohmann::json;

namespace {

RecoveryRecord Sample() {
  RecoveryRecord r;
  r.id = 7;
  r.origin = "h1";
  r.bolt = "b1";
  r.hook = "count";
  r.gen = 3;
  r.from = 100;
  r.to = 900;
  r.state = RecoveryState::kRecovered;
  r.delivered_to = 880;
  r.agent = "h2";
  r.epoch = 12;
  r.attempts = 2;
  r.cause = "process died";
  r.created_unix_ms = 1000;
  r.assigned_unix_ms = 1001;
  r.finished_unix_ms = 1500;
  r.AddAssignment({12, "h2", 1001});
  return r;
}

std::string FromJsonError(json d) {
  Result<RecoveryRecord> r = RecoveryRecord::FromJson(1, d);
  return r ? "accepted" : r.status().message();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(recovery_record)

BOOST_AUTO_TEST_CASE(state_names_round_trip_and_nothing_else_parses) {
  for (RecoveryState s : {RecoveryState::kWaiting, RecoveryState::kAssigned, RecoveryState::kRunning,
                          RecoveryState::kRecovered, RecoveryState::kFailed}) {
    BOOST_TEST((ParseRecoveryState(RecoveryStateName(s)) == s));
  }
  BOOST_TEST(!ParseRecoveryState("Recovered"));
  BOOST_TEST(!ParseRecoveryState(""));
}

BOOST_AUTO_TEST_CASE(a_record_survives_its_json_form) {
  RecoveryRecord r = Sample();
  Result<RecoveryRecord> back = RecoveryRecord::FromJson(7, r.ToJson());
  BOOST_REQUIRE(back.ok());
  BOOST_TEST(back->ToJson() == r.ToJson());
  BOOST_TEST((back->state == RecoveryState::kRecovered));
  BOOST_TEST(back->delivered_to == 880u);
  BOOST_TEST(back->assignments.size() == 1u);
  BOOST_TEST(r.ToJson()["state"] == "recovered");
}

// Issue 23: a shrunk range keeps the end first asked and why; planning sees the new end.
BOOST_AUTO_TEST_CASE(a_shrunk_record_keeps_the_end_first_asked_and_why) {
  RecoveryRecord r = Sample();
  BOOST_TEST(!r.ToJson().contains("asked_to"), "never shrunk: no such fields");
  BOOST_TEST(!r.ToJson().contains("shrunk"));
  r.asked_to = 5000;
  r.shrunk = "h1 is dead and its survivors hold up to 900 (the most: h2)";
  Result<RecoveryRecord> back = RecoveryRecord::FromJson(7, r.ToJson());
  BOOST_REQUIRE(back.ok());
  BOOST_TEST(back->asked_to == 5000u);
  BOOST_TEST(back->shrunk == r.shrunk);
  BOOST_TEST(back->ToJson() == r.ToJson());
  BOOST_TEST(back->Range().to == 900u);
  json d = r.ToJson();
  d["asked_to"] = 899;
  BOOST_TEST(FromJsonError(d) == "asked_to 899 is before to 900");
  d["asked_to"] = "x";
  BOOST_TEST(FromJsonError(d) == "field 'asked_to' must be an unsigned integer");
}

// Issue 23: a shrunk range whose bytes past `to` a survivor without the hook holds names it,
// the end to pull, and what the assignee said of the pull.
BOOST_AUTO_TEST_CASE(a_record_keeps_whom_the_assignee_pulls_from_and_how_it_went) {
  RecoveryRecord r = Sample();
  BOOST_TEST(!r.ToJson().contains("pull_from"), "no pull: no such fields");
  BOOST_TEST(!r.ToJson().contains("pulled"));
  r.asked_to = 5000;
  r.shrunk = "h1 is dead";
  r.pull_from = "h2";
  r.pull_to = 4000;
  r.pulled = "pulled [100, 4000) from h2";
  Result<RecoveryRecord> back = RecoveryRecord::FromJson(7, r.ToJson());
  BOOST_REQUIRE(back.ok());
  BOOST_TEST(back->pull_from == "h2");
  BOOST_TEST(back->pull_to == 4000u);
  BOOST_TEST(back->pulled == r.pulled);
  BOOST_TEST(back->ToJson() == r.ToJson());
  json d = r.ToJson();
  d["pull_to"] = 5001;
  BOOST_TEST(FromJsonError(d) == "pull_to 5001 is outside (from, asked_to]");
  d["pull_to"] = "x";
  BOOST_TEST(FromJsonError(d) == "field 'pull_to' must be an unsigned integer");
}

BOOST_AUTO_TEST_CASE(planning_sees_delivered_bytes_only_of_recovered_records) {
  RecoveryRecord r = Sample();
  RangeRecord range = r.Range();
  BOOST_TEST((range.state == RangeRecord::State::kRecovered));
  BOOST_TEST(range.delivered_to == 880u);
  r.state = RecoveryState::kRunning;
  BOOST_TEST((r.Range().state == RangeRecord::State::kUnfinished));
  BOOST_TEST(r.Range().delivered_to == 0u);
  BOOST_TEST(r.held());
  r.state = RecoveryState::kFailed;
  BOOST_TEST((r.Range().state == RangeRecord::State::kFailed));
  BOOST_TEST(r.finished());
  BOOST_TEST(!r.held());
}

BOOST_AUTO_TEST_CASE(the_assignment_history_keeps_the_newest_only) {
  RecoveryRecord r;
  for (uint64_t e = 1; e <= 40; ++e) r.AddAssignment({e, "h" + std::to_string(e % 3), e * 10});
  BOOST_TEST(r.assignments.size() == RecoveryRecord::kMaxAssignments);
  BOOST_TEST(r.assignments.front().epoch == 40 - RecoveryRecord::kMaxAssignments + 1);
  BOOST_TEST(r.assignments.back().epoch == 40u);
}

BOOST_AUTO_TEST_CASE(a_bad_document_is_refused_naming_the_field) {
  json good = Sample().ToJson();
  BOOST_TEST(FromJsonError(json::array()) == "not a JSON object");
  json d = good;
  d.erase("origin");
  BOOST_TEST(FromJsonError(d) == "field 'origin' must be a string");
  d = good;
  d["from"] = -1;
  BOOST_TEST(FromJsonError(d) == "field 'from' must be an unsigned integer");
  d = good;
  d["state"] = "done";
  BOOST_TEST(FromJsonError(d) == "field 'state': 'done' is not a recovery state");
  d = good;
  d["from"] = 1000;
  BOOST_TEST(FromJsonError(d) == "from 1000 is past to 900");
  d = good;
  d["delivered_to"] = 901;
  BOOST_TEST(FromJsonError(d) == "delivered_to 901 is outside [from, to]");
  d = good;
  d["assignments"] = json::array({{{"epoch", 1}, {"agent", 3}, {"unix_ms", 1}}});
  BOOST_TEST(FromJsonError(d) == "assignments[]: field 'agent' must be a string");
  d = good;
  d["assignments"] = "none";
  BOOST_TEST(FromJsonError(d) == "field 'assignments' must be an array");
}

BOOST_AUTO_TEST_SUITE_END()
