// Which new holders of this agent's streams are still being filled (agent/holder_fill.h).
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include "agent/holder_fill.h"

using namespace tailsafe;

BOOST_AUTO_TEST_SUITE(holder_fill)

BOOST_AUTO_TEST_CASE(a_new_holder_gets_the_files_size_then_as_its_target_and_a_kept_one_none) {
  HolderFill f;
  f.Placed("web", {"h2", "h3"}, {"h3", "h4"}, {3, 700});
  BOOST_TEST(f.Find("web", "h2") == nullptr);  // no longer a holder
  BOOST_TEST(f.Find("web", "h3") == nullptr);  // kept: never a new holder
  const HolderFill::Target* t = f.Find("web", "h4");
  BOOST_REQUIRE(t != nullptr);
  BOOST_TEST(t->gen == 3u);
  BOOST_TEST(t->size == 700u);
  BOOST_TEST(f.Find("api", "h4") == nullptr);  // another bolt
  // A later change that keeps h4 keeps its first target; one that drops it forgets it.
  f.Placed("web", {"h3", "h4"}, {"h4", "h5"}, {3, 900});
  BOOST_TEST(f.Find("web", "h4")->size == 700u);
  BOOST_TEST(f.Find("web", "h5")->size == 900u);
  f.Placed("web", {"h4", "h5"}, {"h5", "h6"}, {4, 10});
  BOOST_TEST(f.Find("web", "h4") == nullptr);
  BOOST_TEST(f.size() == 2u);
  f.Forget("web");
  BOOST_TEST(f.size() == 0u);
}

BOOST_AUTO_TEST_SUITE_END()
