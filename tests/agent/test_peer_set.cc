// PlanMembership: which members of the coordinator's membership get a new link (agent/peer_set.h).
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <map>
#include <string>

#include "agent/peer_set.h"

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

BOOST_AUTO_TEST_SUITE_END()
