// TermState's queries for election and the shrink: what an agent holds of a generation, and how
// many unfinished recoveries it is assigned (coordinator/term_state.h).
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <string>

#include "coordinator/term_state.h"

using namespace tailsafe;

namespace {

RecoveryRecord Record(uint64_t id, const std::string& agent, RecoveryState state) {
  RecoveryRecord r;
  r.id = id;
  r.origin = "host-a";
  r.bolt = "web";
  r.agent = agent;
  r.state = state;
  return r;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(term_state)

BOOST_AUTO_TEST_CASE(coverage_is_the_own_file_or_the_replica_as_last_reported) {
  TermState s;
  TermState::Agent& a = s.agents["host-a"];
  a.id = "host-a";
  a.bolt_ends["web"][3] = 700;
  TermState::Agent& b = s.agents["host-b"];
  b.id = "host-b";
  b.coverage[{"host-a", "web", 3}] = 500;

  BOOST_TEST(s.Coverage("host-a", {"host-a", "web", 3}) == 700u);  // its own bolt: the file
  BOOST_TEST(s.Coverage("host-b", {"host-a", "web", 3}) == 500u);  // a peer's: the replica
  BOOST_TEST(s.Coverage("host-a", {"host-a", "web", 4}) == 0u);    // a generation not reported
  BOOST_TEST(s.Coverage("host-a", {"host-a", "api", 3}) == 0u);    // a bolt not reported
  BOOST_TEST(s.Coverage("host-b", {"host-c", "web", 3}) == 0u);    // no replica
  BOOST_TEST(s.Coverage("host-z", {"host-a", "web", 3}) == 0u);    // an agent not known
}

BOOST_AUTO_TEST_CASE(unfinished_counts_what_an_agent_is_assigned_and_has_not_finished) {
  TermState s;
  s.recoveries[1] = Record(1, "host-b", RecoveryState::kAssigned);
  s.recoveries[2] = Record(2, "host-b", RecoveryState::kRunning);
  s.recoveries[3] = Record(3, "host-b", RecoveryState::kRecovered);
  s.recoveries[4] = Record(4, "host-b", RecoveryState::kFailed);
  s.recoveries[5] = Record(5, "host-c", RecoveryState::kAssigned);
  s.recoveries[6] = Record(6, "", RecoveryState::kWaiting);

  BOOST_TEST(s.Unfinished("host-b") == 2u);
  BOOST_TEST(s.Unfinished("host-c") == 1u);
  BOOST_TEST(s.Unfinished("host-d") == 0u);
}

BOOST_AUTO_TEST_SUITE_END()
