// Where a coordinator's status page says it is (StatusPage::PageUrl), for the other instances'
// pages, and the page's Content-Security-Policy, which lets the script ask only those instances
// who leads.
#include "coordinator/status_page.h"

#include <boost/test/unit_test.hpp>

#include <string>

#include <nlohmann/json.hpp>

namespace tailsafe {
namespace {

CoordinatorConfig With(const std::string& http_listen, const std::string& listen = "10.0.0.1:7400") {
  CoordinatorConfig c;
  c.listen = listen;
  if (!http_listen.empty()) c.http_listen = ParseHostPort(http_listen).value();
  return c;
}

BOOST_AUTO_TEST_SUITE(status_page_url)

BOOST_AUTO_TEST_CASE(the_page_is_at_http_listen_and_a_wildcard_takes_the_coordinators_host) {
  BOOST_TEST(StatusPage::PageUrl(With(""), "box").empty());
  BOOST_TEST(StatusPage::PageUrl(With("127.0.0.1:8080"), "box") == "http://127.0.0.1:8080/");
  BOOST_TEST(StatusPage::PageUrl(With("[::1]:8080"), "box") == "http://[::1]:8080/");
  BOOST_TEST(StatusPage::PageUrl(With("0.0.0.0:8080"), "box") == "http://10.0.0.1:8080/");
  BOOST_TEST(StatusPage::PageUrl(With("[::]:8080", "[fd00::7]:7400"), "box") == "http://[fd00::7]:8080/");
  BOOST_TEST(StatusPage::PageUrl(With("0.0.0.0:8080", "0.0.0.0:7400"), "box") == "http://box:8080/");
}

BOOST_AUTO_TEST_CASE(the_policy_connects_to_this_origin_and_the_other_instances_pages_only) {
  nlohmann::json status = {{"coordinator", {{"instances", nlohmann::json::array({
      {{"address", "a:7400"}, {"page", "http://10.0.0.1:8080/"}},
      {{"address", "b:7400"}, {"page", "http://[fd00::2]:8080/"}},
      {{"address", "c:7400"}, {"page", "http://evil; script-src *"}},
      {{"address", "d:7400"}, {"page", "javascript:alert(1)"}},
      {{"address", "e:7400"}}})}}}};
  std::string policy = StatusPage::Policy(status);
  BOOST_TEST(policy == "default-src 'self'; style-src 'self'; img-src 'self' data:; "
                       "connect-src 'self' http://10.0.0.1:8080 http://[fd00::2]:8080");
  BOOST_TEST(StatusPage::Policy(nlohmann::json::object()) ==
             "default-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'");
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace tailsafe
