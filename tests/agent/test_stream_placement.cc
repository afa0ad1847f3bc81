// StreamPlacement (agent/stream_placement.h): every peer without replicas; with them, the
// holders common/placement.h gives over the members, whatever their order, kept until the
// members change.
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

#include "agent/stream_placement.h"
#include "common/placement.h"

using namespace tailsafe;

BOOST_AUTO_TEST_SUITE(stream_placement)

BOOST_AUTO_TEST_CASE(without_replicas_every_peer_holds_every_stream) {
  StreamPlacement p("h1", 0);
  BOOST_TEST(p.every_peer());
  BOOST_TEST(p.Holds("anyone", "bolt"), "members or not");
  p.SetMembers({"h1", "h2"});
  BOOST_TEST(p.Holds("h9", "bolt"));
  BOOST_TEST(p.Holders("bolt").empty());
}

BOOST_AUTO_TEST_CASE(with_replicas_the_holders_are_the_placement_s) {
  std::vector<std::string> members = {"h1", "h2", "h3", "h4", "h5", "h6"};
  StreamPlacement p("h1", 2);
  BOOST_TEST(p.SetMembers({"h6", "h3", "h1", "h5", "h2", "h4", "h3"}));
  BOOST_TEST(p.members() == members, boost::test_tools::per_element());
  for (const std::string bolt : {"a", "b", "c", "d"}) {
    std::vector<std::string> want = PlaceStream("h1", bolt, members, 2);
    BOOST_TEST(p.Holders(bolt) == want, boost::test_tools::per_element());
    for (const auto& m : members) {
      BOOST_TEST(p.Holds(m, bolt) == (m == want[0] || m == want[1]), bolt << " on " << m);
    }
  }
  BOOST_TEST(!p.Holds("h1", "a"), "never the origin");
  BOOST_TEST(!p.Holds("h7", "a"), "never a stranger");
}

BOOST_AUTO_TEST_CASE(a_change_of_members_is_reported_and_replaces_the_holders) {
  StreamPlacement p("h1", 1);
  p.SetMembers({"h1", "h2", "h3"});
  uint64_t v = p.version();
  BOOST_TEST(!p.SetMembers({"h3", "h2", "h1"}), "the same members in another order change nothing");
  BOOST_TEST(p.version() == v);
  std::string holder = p.Holders("a").at(0);
  std::string other = holder == "h2" ? "h3" : "h2";
  BOOST_TEST(p.SetMembers({"h1", other}), "its holder left");
  BOOST_TEST(p.version() == v + 1);
  BOOST_TEST(p.Holders("a") == std::vector<std::string>{other}, boost::test_tools::per_element());
  BOOST_TEST(p.SetMembers({"h1"}));
  BOOST_TEST(p.Holders("a").empty(), "nobody left to hold it");
}

BOOST_AUTO_TEST_SUITE_END()
