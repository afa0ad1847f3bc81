// TermState's queries for election and the shrink: what an agent holds of a generation, and how
// many unfinished recoveries it is assigned; and a bolt's history as stored (coordinator/term_state.h).
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <string>

#include "common/placement.h"
#include "coordinator/namespace_store.h"
#include "coordinator/term_state.h"
#include "tests/support/cluster.h"

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

BOOST_AUTO_TEST_CASE(a_live_origins_ends_are_its_open_generations_and_its_peers_replicas_of_closed_ones) {
  TermState s;
  TermState::Agent& a = s.agents["host-a"];
  a.id = "host-a";
  a.record.alive = true;
  a.bolt_ends["web"] = {{3, 700}, {4, 20}};
  BOOST_TEST(!s.LiveEnds({"host-a", "web"}, "").has_value(), "not reported on this connection");
  a.reported = true;
  BOOST_TEST(!s.LiveEnds({"host-a", "api"}, "").has_value(), "a bolt it did not report");
  TermState::Agent& b = s.agents["host-b"];
  b.id = "host-b";
  b.record.alive = true;
  b.reported = true;
  b.coverage[{"host-a", "web", 2}] = 900;  // closed at the origin: on the peer
  b.coverage[{"host-a", "web", 3}] = 650;  // still open: the origin's file decides
  auto ends = s.LiveEnds({"host-a", "web"}, "");
  BOOST_REQUIRE(ends.has_value());
  BOOST_TEST((*ends == std::map<uint64_t, uint64_t>{{2, 900}, {3, 700}, {4, 20}}));
}

// Found by the fault suite with replicas = 2 (seed 3990361): a range of h4/bolt-1 went to h1,
// which does not hold the stream, while h5, a holder, was between registrations; h1 waited for
// bytes h4 never sends it.
BOOST_AUTO_TEST_CASE(only_the_origin_and_the_streams_holders_may_hold_it) {
  TermState s;
  std::vector<std::string> placed = {"h1", "h2", "h3", "h4", "h5"};
  s.agents["h4"].record.replicas = 2;
  std::vector<std::string> holders = PlaceStream("h4", "bolt-1", placed, 2);
  BOOST_REQUIRE(holders.size() == 2u);
  for (const std::string& id : placed) {
    bool holder = std::find(holders.begin(), holders.end(), id) != holders.end();
    BOOST_TEST(s.MayHold(id, {"h4", "bolt-1"}, placed) == (holder || id == "h4"), id);
  }
  // The origin places on every peer (or is not known): anyone may hold it.
  s.agents["h4"].record.replicas = 0;
  for (const std::string& id : placed) BOOST_TEST(s.MayHold(id, {"h4", "bolt-1"}, placed), id);
  BOOST_TEST(s.MayHold("h1", {"h9", "bolt-1"}, placed));
}

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

// What the survivors hold of a bolt: the most any live, connected, reported agent (defining the
// hook, when one is named) holds of each generation above the history's floor.
BOOST_AUTO_TEST_CASE(replicated_is_the_most_a_live_reported_agent_holds_above_the_floor) {
  TermState s;
  auto agent = [&](const std::string& id, bool alive, bool reported, const std::string& hook) -> TermState::Agent& {
    TermState::Agent& a = s.agents[id];
    a.id = id;
    a.record.alive = alive;
    a.reported = reported;
    // Only whether a connection is there counts here: a stand-in, never used as one.
    static std::shared_ptr<int> owner = std::make_shared<int>(0);
    if (alive) a.conn = std::shared_ptr<FramedConn>(owner, reinterpret_cast<FramedConn*>(owner.get()));
    a.record.hooks = {hook};
    return a;
  };
  agent("b", true, true, "h").coverage = {{{"a", "web", 1}, 300}, {{"a", "web", 2}, 40}, {{"a", "api", 2}, 900}};
  agent("c", true, true, "other").coverage = {{{"a", "web", 2}, 70}};
  agent("d", false, true, "h").coverage = {{{"a", "web", 2}, 500}};   // dead
  agent("e", true, false, "h").coverage = {{{"a", "web", 2}, 600}};   // not reported yet
  using Ends = std::map<uint64_t, uint64_t>;
  BOOST_TEST((s.Replicated({"a", "web"}, "h") == Ends{{1, 300}, {2, 40}}));
  BOOST_TEST((s.Replicated({"a", "web"}, "") == Ends{{1, 300}, {2, 70}}));
  s.history[{"a", "web"}].floor = 1;
  BOOST_TEST((s.Replicated({"a", "web"}, "") == Ends{{2, 70}}));
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

// A folded span keeps the bytes a shrink gave up (PlanGivenUp still follows them up), and a
// history whose given-up end is not past its span's end holds the bolt, saying why.
BOOST_AUTO_TEST_CASE(a_history_keeps_what_a_shrink_gave_up) {
  auto store = SqliteNamespaceStore::Open(testing::MakeTempDir("term-state") + "/namespace.db");
  BOOST_REQUIRE(store.ok());
  TermState::BoltKey key{"host-a", "web"};
  TermState::History h;
  h.folded = 2;
  FoldRecovered(&h.spans, {1, 100, 200, 180, RangeRecord::State::kRecovered, 400});
  FoldRecovered(&h.spans, {2, 0, 50, 50, RangeRecord::State::kRecovered});
  BOOST_REQUIRE((*store)->Commit({TermState::HistoryWrite(key, h)}).ok());
  TermState loaded;
  loaded.Load(**store);
  const TermState::History& back = loaded.history[key];
  BOOST_TEST(back.unreadable == "");
  BOOST_REQUIRE(back.spans.size() == 2u);
  BOOST_TEST(back.spans[0].given_up_to == 400u);
  BOOST_TEST(back.spans[1].given_up_to == 0u);
  BOOST_TEST((PlanGivenUp({{1, 400}}, back.spans) == std::vector<PlannedRange>{{1, 180, 400}}));

  std::string doc = *(*store)->Get(TermState::HistoryPath(key));
  const std::string was = "\"given_up_to\":400";
  auto at = doc.find(was);
  BOOST_REQUIRE(at != std::string::npos);
  BOOST_REQUIRE((*store)->Commit({{TermState::HistoryPath(key), doc.replace(at, was.size(), "\"given_up_to\":150")}}).ok());
  TermState bad;
  bad.Load(**store);
  BOOST_TEST(bad.history[key].unreadable == "spans[].given_up_to must be an unsigned integer past 'to'");
}

BOOST_AUTO_TEST_SUITE_END()
