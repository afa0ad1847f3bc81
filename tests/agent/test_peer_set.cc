// PlanMembership: which members of the coordinator's membership get a new link; PlacedMembers:
// which it places streams over; and a PeerSet with `replicas` asks its questions of a
// generation's holders only (agent/peer_set.h).
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <map>
#include <string>

#include "agent/peer_set.h"
#include "common/placement.h"

using namespace tailsafe;
using nlohmann::json;

namespace {

std::vector<PeerSpec> Statics() {
  PeerSpec b;
  b.id = "host-b";
  b.address = *ParseHostPort("10.0.0.2:7401");
  return {b};
}

std::vector<std::string> Ids(const std::vector<MemberChange>& changes) {
  std::vector<std::string> out;
  for (const auto& c : changes) out.push_back(c.id);
  return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(peer_set)

BOOST_AUTO_TEST_CASE(new_members_are_linked_but_never_this_agent_or_a_static_peer) {
  json agents = json::array({{{"id", "host-a"}, {"address", "10.0.0.1:7401"}},
                             {{"id", "host-b"}, {"address", "10.9.9.9:7401"}},
                             {{"id", "host-c"}, {"address", "10.0.0.3:7401"}}});
  auto changes = PlanMembership(agents, "host-a", Statics(), {});
  BOOST_TEST(Ids(changes) == std::vector<std::string>{"host-c"}, boost::test_tools::per_element());
  BOOST_TEST(changes[0].address_text == "10.0.0.3:7401");
  BOOST_TEST(changes[0].address.port == 7401);
}

BOOST_AUTO_TEST_CASE(a_known_member_at_the_same_address_changes_nothing_and_a_moved_one_is_linked_again) {
  json agents = json::array({{{"id", "host-c"}, {"address", "10.0.0.3:7401"}},
                             {{"id", "host-d"}, {"address", "10.0.0.44:7401"}}});
  std::map<std::string, std::string> linked = {{"host-c", "10.0.0.3:7401"}, {"host-d", "10.0.0.4:7401"}};
  BOOST_TEST(Ids(PlanMembership(agents, "host-a", Statics(), linked)) == std::vector<std::string>{"host-d"},
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(malformed_entries_bad_names_and_bad_addresses_are_skipped) {
  json agents = json::array({"host-x",
                             {{"id", 7}, {"address", "10.0.0.7:7401"}},
                             {{"id", "host-e"}},
                             {{"id", "../etc"}, {"address", "10.0.0.8:7401"}},
                             {{"id", "host-f"}, {"address", "no port"}},
                             {{"id", "host-g"}, {"address", "10.0.0.9:7401"}}});
  BOOST_TEST(Ids(PlanMembership(agents, "host-a", Statics(), {})) == std::vector<std::string>{"host-g"},
             boost::test_tools::per_element());
  BOOST_TEST(PlanMembership(json::object(), "host-a", Statics(), {}).empty());
}

BOOST_AUTO_TEST_CASE(streams_are_placed_over_the_placed_agents_or_the_living_ones_of_an_older_coordinator) {
  json agents = json::array({{{"id", "host-a"}, {"address", "10.0.0.1:7401"}, {"alive", true}, {"placed", true}},
                             {{"id", "host-b"}, {"address", "10.0.0.2:7401"}, {"alive", false}, {"placed", true}},
                             {{"id", "host-c"}, {"address", "10.0.0.3:7401"}, {"alive", false}, {"placed", false}},
                             {{"id", "host-d"}, {"address", "10.0.0.4:7401"}, {"placed", "yes"}},
                             {{"id", "../x"}, {"address", "10.0.0.5:7401"}, {"placed", true}},
                             {{"id", "host-e"}, {"address", "10.0.0.6:7401"}, {"alive", false}},
                             {{"id", "host-f"}, {"address", "10.0.0.7:7401"}}});
  BOOST_TEST(PlacedMembers(agents) == (std::vector<std::string>{"host-a", "host-b", "host-f"}),
             boost::test_tools::per_element());
  BOOST_TEST(PlacedMembers(json::object()).empty());
}

BOOST_AUTO_TEST_CASE(with_replicas_only_a_generation_s_holders_are_waited_for) {
  std::vector<PeerSpec> statics;
  std::vector<PeerAckRow> acks;
  for (int i = 1; i <= 5; ++i) {
    std::string id = "peer-" + std::to_string(i);
    statics.push_back({id, *ParseHostPort("10.0.0." + std::to_string(i) + ":7401")});
    acks.push_back({id, "bolt-1", 1, static_cast<uint64_t>(100 * i)});
  }
  PeerSet every({}, "origin", statics, acks);
  every.Load({});
  PeerSet two({}, "origin", statics, acks, 2);
  two.Load({});
  Generation g("bolt-1", 1, 1);
  BOOST_TEST(every.MinAcked(g) == 100u, "without replicas, every peer is waited for");

  std::vector<std::string> members;
  for (const auto& p : statics) members.push_back(p.id);
  std::vector<std::string> holders = PlaceStream("origin", "bolt-1", members, 2);
  BOOST_REQUIRE_EQUAL(holders.size(), 2u);
  uint64_t least = UINT64_MAX;
  for (const auto& h : holders) least = std::min<uint64_t>(least, 100 * std::stoul(h.substr(5)));
  BOOST_TEST(two.MinAcked(g) == least, "the least of its two holders");
  for (const auto& link : two.links()) {
    bool placed = std::find(holders.begin(), holders.end(), link->peer().id) != holders.end();
    BOOST_TEST(link->Holds("bolt-1") == placed, link->peer().id);
  }

  // A coordinator that places nobody: links remain, no holder, nothing counts as acknowledged.
  two.placement().SetMembers({});
  BOOST_TEST(two.MinAcked(g) == 0u);
}

BOOST_AUTO_TEST_SUITE_END()
