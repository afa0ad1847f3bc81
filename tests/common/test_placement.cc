// Placement (common/placement.h): N holders per stream, never the origin, the same on every
// caller for the same membership, and stable under churn: a member that joins or leaves moves
// about replicas/members of the streams, and only those it gains or held.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/placement.h"

namespace tailsafe {
namespace {

std::vector<std::string> Hosts(int n, int first = 1) {
  std::vector<std::string> v;
  for (int i = first; i < first + n; ++i) v.push_back("h" + std::to_string(i));
  return v;
}

struct Stream {
  std::string origin, bolt;
  bool operator<(const Stream& o) const { return origin != o.origin ? origin < o.origin : bolt < o.bolt; }
};

// Every bolt of every origin of `members`, `bolts` each.
std::vector<Stream> Streams(const std::vector<std::string>& members, int bolts) {
  std::vector<Stream> v;
  for (const auto& o : members) {
    for (int b = 0; b < bolts; ++b) v.push_back({o, "bolt-" + std::to_string(b)});
  }
  return v;
}

std::map<Stream, std::set<std::string>> PlaceAll(const std::vector<Stream>& streams,
                                                 const std::vector<std::string>& members, uint32_t n) {
  std::map<Stream, std::set<std::string>> out;
  for (const auto& s : streams) {
    auto h = PlaceStream(s.origin, s.bolt, members, n);
    out[s] = std::set<std::string>(h.begin(), h.end());
  }
  return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(placement)

BOOST_AUTO_TEST_CASE(each_stream_gets_n_distinct_holders_never_its_origin) {
  auto members = Hosts(32);
  for (uint32_t n : {1u, 2u, 3u}) {
    for (const auto& s : Streams(members, 20)) {
      auto h = PlaceStream(s.origin, s.bolt, members, n);
      BOOST_REQUIRE_EQUAL(h.size(), n);
      BOOST_TEST(std::set<std::string>(h.begin(), h.end()).size() == n);
      BOOST_TEST((std::find(h.begin(), h.end(), s.origin) == h.end()));
    }
  }
}

BOOST_AUTO_TEST_CASE(every_peer_when_replicas_is_absent_or_not_fewer_than_the_peers) {
  auto members = Hosts(5);
  for (uint32_t n : {kEveryPeer, 4u, 7u}) {
    auto h = PlaceStream("h3", "b", members, n);
    BOOST_TEST((std::set<std::string>(h.begin(), h.end()) == std::set<std::string>{"h1", "h2", "h4", "h5"}));
  }
  BOOST_TEST(PlaceStream("h1", "b", {"h1"}, 2).empty(), "an origin alone has no holder");
  BOOST_TEST(PlaceStream("h1", "b", {}, 2).empty());
}

BOOST_AUTO_TEST_CASE(the_same_on_every_caller_whatever_the_order_of_the_membership) {
  auto members = Hosts(12);
  auto shuffled = members;
  std::reverse(shuffled.begin(), shuffled.end());
  std::rotate(shuffled.begin(), shuffled.begin() + 5, shuffled.end());
  shuffled.push_back("h4");  // a name given twice counts once
  for (const auto& s : Streams(members, 10)) {
    BOOST_TEST(PlaceStream(s.origin, s.bolt, members, 3) == PlaceStream(s.origin, s.bolt, shuffled, 3));
  }
  // Pinned: a change of hash or of the key's layout moves every stream of every cluster.
  BOOST_TEST(PlacementWeight("h1", "bolt-0", "h2") == PlacementWeight("h1", "bolt-0", "h2"));
  BOOST_TEST(PlacementWeight("h1", "bolt-0", "h2") != PlacementWeight("h1", "bolt-0h2", ""));
  BOOST_TEST(PlacementWeight("h1", "bolt", "0h2") != PlacementWeight("h1", "bolt0", "h2"));
}

BOOST_AUTO_TEST_CASE(holders_are_spread_evenly_over_the_members) {
  auto members = Hosts(32);
  std::map<std::string, int> held;
  auto streams = Streams(members, 50);  // 1,600 streams, 2 holders each: 100 per member on average
  for (const auto& s : streams) {
    for (const auto& h : PlaceStream(s.origin, s.bolt, members, 2)) ++held[h];
  }
  for (const auto& m : members) {
    BOOST_TEST(held[m] > 60, m << " holds " << held[m]);
    BOOST_TEST(held[m] < 145, m << " holds " << held[m]);
  }
}

BOOST_AUTO_TEST_CASE(a_member_leaving_moves_only_the_streams_it_held) {
  auto members = Hosts(32);
  auto streams = Streams(Hosts(31, 2), 30);  // the origins stay; h1 leaves
  auto before = PlaceAll(streams, members, 2);
  auto after = PlaceAll(streams, Hosts(31, 2), 2);
  size_t moved = 0;
  for (const auto& s : streams) {
    const auto& b = before[s];
    const auto& a = after[s];
    if (b.count("h1") == 0) {
      BOOST_TEST((a == b), s.origin << "/" << s.bolt << " moved without h1 holding it");
    } else {
      ++moved;
      std::set<std::string> kept = b;
      kept.erase("h1");
      BOOST_TEST(std::includes(a.begin(), a.end(), kept.begin(), kept.end()), "the other holder stays");
      BOOST_TEST(a.size() == 2u);
    }
  }
  // About replicas/members = 2/32 of 930 streams: 58 on average.
  BOOST_TEST(moved > 25u);
  BOOST_TEST(moved < 100u);
}

BOOST_AUTO_TEST_CASE(a_member_joining_takes_about_its_share_and_moves_nothing_else) {
  auto members = Hosts(31);
  auto grown = Hosts(32);
  auto streams = Streams(members, 30);
  auto before = PlaceAll(streams, members, 2);
  auto after = PlaceAll(streams, grown, 2);
  size_t moved = 0;
  for (const auto& s : streams) {
    const auto& b = before[s];
    const auto& a = after[s];
    if (a == b) continue;
    ++moved;
    BOOST_TEST(a.count("h32") == 1u, "a stream moved to someone other than the newcomer");
    std::set<std::string> lost;
    std::set_difference(b.begin(), b.end(), a.begin(), a.end(), std::inserter(lost, lost.end()));
    BOOST_TEST(lost.size() == 1u, "the newcomer takes one holder's place");
  }
  BOOST_TEST(moved > 25u);
  BOOST_TEST(moved < 100u);
}

BOOST_AUTO_TEST_CASE(holds_stream_agrees_with_the_placement) {
  auto members = Hosts(8);
  for (const auto& s : Streams(members, 5)) {
    auto h = PlaceStream(s.origin, s.bolt, members, 2);
    for (const auto& m : members) {
      bool placed = std::find(h.begin(), h.end(), m) != h.end();
      BOOST_TEST(HoldsStream(m, s.origin, s.bolt, members, 2) == placed);
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace tailsafe
