// `tailsafectl check`'s verdict on the coordinator's documents (ctl/health_check.h).
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <string>

#include "ctl/health_check.h"

using namespace tailsafe;
using nlohmann::json;

namespace {

json Healthy() {
  return {{"/agents/h1", {{"alive", true}}},
          {"/agents/h2", {{"alive", true}}},
          {"/bolts/h1/web", {{"lag_bytes", 100}, {"holders_filling", 0}}},
          {"/recoveries/1", {{"state", "recovered"}}}};
}

bool Contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

BOOST_AUTO_TEST_SUITE(health_check)

BOOST_AUTO_TEST_CASE(a_healthy_cluster_is_ok_with_its_counts) {
  CheckResult r = CheckDocuments(Healthy(), {});
  BOOST_TEST(r.code == 0);
  BOOST_TEST(Contains(r.line, "TAILSAFE OK - 2 agents alive, 1 bolts, 1 recoveries done, 0 under way |"), r.line);
  BOOST_TEST(Contains(r.line, "'bolts_under_replicated'=0;1;;0;"), r.line);
}

BOOST_AUTO_TEST_CASE(a_stream_whose_new_holder_is_still_filling_is_a_warning) {
  json docs = Healthy();
  docs["/bolts/h1/web"]["holders_filling"] = 1;
  CheckResult r = CheckDocuments(docs, {});
  BOOST_TEST(r.code == 1);
  BOOST_TEST(Contains(r.line, "TAILSAFE WARNING - h1/web is under-replicated: 1 new holder(s) still being filled"), r.line);
  BOOST_TEST(Contains(r.line, "'bolts_under_replicated'=1;1;;0;"), r.line);
  // A documents from a coordinator that does not pass the figure on: nothing to say.
  docs["/bolts/h1/web"].erase("holders_filling");
  BOOST_TEST(CheckDocuments(docs, {}).code == 0);
}

BOOST_AUTO_TEST_CASE(lag_warns_then_turns_critical_and_critical_comes_first) {
  json docs = Healthy();
  CheckThresholds t{1000, 5000};
  docs["/bolts/h1/web"]["lag_bytes"] = 1000;
  BOOST_TEST(CheckDocuments(docs, t).code == 1);
  docs["/bolts/h1/web"]["lag_bytes"] = 5000;
  BOOST_TEST(CheckDocuments(docs, t).code == 2);
  docs["/bolts/h1/web"]["lag_bytes"] = 0;
  docs["/bolts/h1/web"]["holders_filling"] = 2;
  docs["/agents/h2"]["alive"] = false;
  CheckResult r = CheckDocuments(docs, t);
  BOOST_TEST(r.code == 2);
  BOOST_TEST(Contains(r.line, "TAILSAFE CRITICAL - agent h2 is dead; h1/web is under-replicated: 2 new holder(s)"), r.line);
}

BOOST_AUTO_TEST_CASE(a_failed_recovery_and_a_storage_error_are_critical) {
  json docs = Healthy();
  docs["/recoveries/2"] = {{"state", "failed"}, {"origin", "h1"}, {"bolt", "web"}, {"error", "hook exited 3"}};
  CheckResult r = CheckDocuments(docs, {});
  BOOST_TEST(r.code == 2);
  BOOST_TEST(Contains(r.line, "recovery 2 of h1/web failed: hook exited 3"), r.line);
  docs = Healthy();
  docs["/agents/h1"]["storage_error"] = "disk full";
  BOOST_TEST(CheckDocuments(docs, {}).code == 2);
}

BOOST_AUTO_TEST_SUITE_END()
