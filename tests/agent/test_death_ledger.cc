// DeathLedger: which checkpoint a dead process gets, deaths while the agent was down, the cap,
// and the rows each commit carries (agent/death_ledger.h).
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <map>
#include <string>

#include "agent/death_ledger.h"

using namespace tailsafe;

namespace {

using P = DeathLedger::ProcessId;

StateBatch Rows(DeathLedger& l) {
  StateBatch b;
  l.Collect(&b);
  return b;
}

BoltProcess Running(pid_t pid, uint64_t start) {
  BoltProcess p;
  p.state = ProcState::kRunning;
  p.pid = pid;
  p.start_boottime_ns = start;
  return p;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(death_ledger)

BOOST_AUTO_TEST_CASE(without_a_successor_the_newest_reading_is_the_dead_processs_even_after_it_died) {
  DeathLedger l(true, {});
  l.NoteCheckpoint("b", 1, 100, {7, 70});
  l.NoteCheckpoint("b", 1, 200, {0, 0});  // read at the death, nobody alive
  l.NoteDeath("b", {7, 70}, /*successor=*/false, 1000);
  BOOST_REQUIRE_EQUAL(l.deaths().size(), 1u);
  BOOST_TEST(l.deaths()[0].has_checkpoint);
  BOOST_TEST(l.deaths()[0].offset == 200u);
  BOOST_TEST(l.deaths()[0].unix_ms == 1000u);
}

BOOST_AUTO_TEST_CASE(with_a_successor_only_a_reading_taken_while_the_dead_process_lived_counts) {
  DeathLedger l(true, {});
  l.NoteCheckpoint("b", 1, 100, {7, 70});
  l.NoteCheckpoint("b", 1, 150, {7, 70});
  l.NoteCheckpoint("b", 1, 900, {8, 80});  // the successor's
  l.NoteDeath("b", {7, 70}, /*successor=*/true, 1);
  BOOST_TEST(l.deaths()[0].offset == 150u);
  // The same pid with another start time is another process: no reading of it.
  auto none = l.DeadProcessCheckpoint("b", {7, 71}, true);
  BOOST_TEST(!none.has_value());
  l.NoteDeath("b", {7, 71}, true, 2);
  BOOST_TEST(!l.deaths()[1].has_checkpoint);
}

BOOST_AUTO_TEST_CASE(readings_are_kept_per_bolt_and_only_the_last_few) {
  DeathLedger l(true, {});
  l.NoteCheckpoint("a", 1, 5, {1, 1});
  for (uint64_t i = 0; i < DeathLedger::kCheckpointHistory; ++i) l.NoteCheckpoint("b", 1, i, {2, 2});
  l.NoteCheckpoint("b", 2, 99, {3, 3});
  BOOST_TEST(l.DeadProcessCheckpoint("a", {1, 1}, true)->offset == 5u);
  // b's oldest reading of process 2 fell out; its newest is still there.
  BOOST_TEST(l.DeadProcessCheckpoint("b", {2, 2}, true)->offset == DeathLedger::kCheckpointHistory - 1);
  BOOST_TEST(l.DeadProcessCheckpoint("b", {2, 2}, false)->gen == 2u);
}

BOOST_AUTO_TEST_CASE(a_death_is_a_row_until_the_coordinator_has_it_then_its_removal_is_one) {
  DeathLedger l(true, {});
  l.NoteDeath("b", {7, 70}, false, 1);
  StateBatch first = Rows(l);
  BOOST_REQUIRE_EQUAL(first.deaths.size(), 1u);
  BOOST_TEST(!first.deaths[0].remove);
  BOOST_REQUIRE_EQUAL(first.bolt_processes.size(), 1u);  // no process recorded until the next
  BOOST_TEST(first.bolt_processes[0].pid == 0u);
  BOOST_TEST(!l.dirty());
  BOOST_TEST(l.HasDeaths("b"));
  BOOST_TEST(l.Json("b").size() == 1u);
  l.Recorded("b", {{7, 69}});  // another process: nothing changes
  BOOST_TEST(l.HasDeaths("b"));
  l.Recorded("b", {{7, 70}});
  BOOST_TEST(!l.HasDeaths("b"));
  StateBatch second = Rows(l);
  BOOST_REQUIRE_EQUAL(second.deaths.size(), 1u);
  BOOST_TEST(second.deaths[0].remove);
}

BOOST_AUTO_TEST_CASE(without_a_coordinator_deaths_are_not_kept_but_processes_are) {
  DeathLedger l(false, {});
  l.NoteTracked("b", {7, 70});
  l.NoteDeath("b", {7, 70}, false, 1);
  BOOST_TEST(l.deaths().empty());
  StateBatch b = Rows(l);
  BOOST_TEST(b.deaths.empty());
  BOOST_TEST(b.bolt_processes.size() == 2u);
}

BOOST_AUTO_TEST_CASE(at_the_cap_the_oldest_unrecorded_death_of_that_bolt_goes) {
  DeathLedger l(true, {});
  l.NoteDeath("other", {1, 1}, false, 1);
  for (uint64_t i = 0; i < DeathLedger::kMaxDeathsPerBolt + 1; ++i) l.NoteDeath("b", {100 + i, 1}, false, 1);
  size_t mine = 0;
  for (const DeathRow& d : l.deaths()) mine += d.bolt == "b";
  BOOST_TEST(mine == DeathLedger::kMaxDeathsPerBolt);
  BOOST_TEST(l.HasDeaths("other"));
  bool oldest_left = true;
  for (const DeathRow& d : l.deaths()) oldest_left &= !(d.bolt == "b" && d.pid == 100);
  BOOST_TEST(oldest_left);
  StateBatch b = Rows(l);
  size_t removals = 0;
  for (const DeathRow& d : b.deaths) removals += d.remove;
  BOOST_TEST(removals == 1u);
}

BOOST_AUTO_TEST_CASE(deaths_while_down_are_the_recorded_processes_not_running_now) {
  std::map<std::string, BoltProcess> now;
  now["same"] = Running(10, 100);       // the recorded process still runs: no death
  now["successor"] = Running(11, 111);  // another process runs: a death, with a successor
  now["restarted"] = Running(12, 999);  // the same pid, a later start: another process
  BoltProcess dead;
  dead.state = ProcState::kDead;
  dead.pid = 13;
  dead.start_boottime_ns = 130;
  now["dead"] = dead;  // the pid file still names it: no successor
  std::vector<BoltProcessRow> recorded = {
      {"same", 10, 100}, {"successor", 20, 200}, {"restarted", 12, 120}, {"dead", 13, 130}, {"gone", 14, 140}};
  DeathLedger l(true, {DeathRow{"known", 15, 150}});
  recorded.push_back({"known", 15, 150});  // already a death on file: not twice
  l.NoteCheckpoint("successor", 1, 40, {20, 200});
  l.NoteCheckpoint("successor", 1, 90, {11, 111});
  l.NoteCheckpoint("dead", 3, 70, {0, 0});
  size_t noted = l.NoteDeathsWhileDown(
      recorded, [](const std::string& b) { return b != "gone"; },
      [&](const std::string& b) -> const BoltProcess* {
        auto it = now.find(b);
        return it == now.end() ? nullptr : &it->second;
      },
      5);
  BOOST_TEST(noted == 3u);
  std::map<std::string, DeathRow> by_bolt;
  for (const DeathRow& d : l.deaths()) by_bolt[d.bolt] = d;
  BOOST_TEST(!by_bolt.count("same"));
  BOOST_TEST(by_bolt.count("known"));
  BOOST_TEST(!by_bolt.count("gone"));
  BOOST_TEST(by_bolt["successor"].offset == 40u);  // its own reading, not the successor's
  BOOST_TEST(!by_bolt["restarted"].has_checkpoint);
  BOOST_TEST(by_bolt["dead"].offset == 70u);  // no successor: the newest reading
  BOOST_TEST(by_bolt["dead"].gen == 3u);
  // A bolt no longer run loses its process row; a dead one with no successor too.
  StateBatch b = Rows(l);
  size_t cleared = 0;
  for (const BoltProcessRow& r : b.bolt_processes) cleared += r.pid == 0;
  BOOST_TEST(cleared == 2u);  // "gone" and "dead"
}

BOOST_AUTO_TEST_CASE(the_coordinators_deaths_recorded_message_forgets_what_it_names_and_a_bad_one_nothing) {
  DeathLedger l(true, {});
  l.NoteDeath("b", {7, 70}, false, 1);
  l.NoteDeath("b", {8, 80}, false, 2);
  auto bad = l.RecordedMessage(nlohmann::json::parse(R"({"bolt": "b", "deaths": [{"pid": 7}]})"));
  BOOST_TEST(!bad.ok());
  BOOST_TEST(bad.message().find("start_ns") != std::string::npos, bad.message());
  BOOST_TEST(!l.RecordedMessage(nlohmann::json::parse(R"({"bolt": "b", "deaths": [7]})")).ok());
  BOOST_TEST(!l.RecordedMessage(nlohmann::json::parse(R"({"deaths": []})")).ok());
  BOOST_TEST(l.deaths().size() == 2u);
  BOOST_REQUIRE(l.RecordedMessage(nlohmann::json::parse(R"({"bolt": "b", "deaths": [{"pid": 7, "start_ns": 70}]})")).ok());
  BOOST_REQUIRE_EQUAL(l.deaths().size(), 1u);
  BOOST_TEST(l.deaths()[0].pid == 8u);
  BOOST_TEST(l.HasDeaths("b"));
}

BOOST_AUTO_TEST_SUITE_END()
