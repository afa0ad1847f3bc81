// The status page's renderer (coordinator/status_html.h): what each state shows, the commands
// beside what needs an operator, and that nothing from a document reaches the page unescaped.
#include "coordinator/status_html.h"

#include <boost/test/unit_test.hpp>

#include <string>

#include <nlohmann/json.hpp>

namespace tailsafe {
namespace {

using json = nlohmann::json;

json Cluster() {
  return json::parse(R"({
    "cluster": "prod",
    "generated_unix_ms": 1796652000000,
    "coordinator": {"listen": "10.0.0.1:7400", "leading": true, "term": 7},
    "agents": {
      "/agents/h1": {"address": "10.0.0.11:7401", "alive": true, "connected": true, "last_heard_ms_ago": 120},
      "/agents/h2": {"address": "10.0.0.12:7401", "alive": false, "dead_since_unix_ms": 1796651990000}
    },
    "bolts": {
      "/bolts/h1/web": {"origin": "h1", "bolt": "web", "host_alive": true, "process": {"state": "running", "pid": 4242},
                        "checkpoint": {"gen": 3, "offset": 1000}, "file_size": 2048, "lag_bytes": 512,
                        "peer_lag": {"h2": 512, "h3": 0}, "holders_filling": 1},
      "/bolts/h2/api": {"origin": "h2", "bolt": "api", "host_alive": false, "process": {"state": "dead"}}
    },
    "recoveries": {
      "/recoveries/2": {"origin": "h2", "bolt": "api", "generation": 1, "from": 10, "to": 90, "state": "failed",
                        "agent": "h1", "epoch": 4, "cause": "host h2 died", "created_unix_ms": 1796651991000,
                        "assignments": [{"epoch": 4, "agent": "h1", "unix_ms": 1796651991500}],
                        "error": "hook exited with 3"},
      "/recoveries/1": {"origin": "h1", "bolt": "web", "generation": 2, "from": 0, "to": 50, "state": "recovered",
                        "agent": "h3", "epoch": 2, "created_unix_ms": 1796651000000, "finished_unix_ms": 1796651002500}
    },
    "lag_history": {"h1/web": [[1796651900000, 0], [1796651950000, 4096], [1796652000000, 512]]}
  })");
}

bool Has(const std::string& html, const std::string& part) { return html.find(part) != std::string::npos; }

BOOST_AUTO_TEST_SUITE(status_html)

BOOST_AUTO_TEST_CASE(the_page_has_every_section_and_the_script_and_says_who_leads) {
  std::string page = RenderStatusPage(Cluster());
  for (const char* id : {"summary", "agents", "bolts", "recoveries"}) {
    BOOST_TEST(Has(page, "<section id=\"" + std::string(id) + "\""), id);
  }
  BOOST_TEST(Has(page, "<script src=\"app.js\" defer>"));
  BOOST_TEST(Has(page, "leading</span> coordinator 10.0.0.1:7400, term <span data-term>7</span>"));
  BOOST_TEST(Has(page, "<strong>1/2</strong> agents alive"));
  BOOST_TEST(Has(page, "<li class=\"bad\"><strong>1</strong> failed"));
}

BOOST_AUTO_TEST_CASE(a_dead_agent_stands_out_with_the_command_that_forgets_it) {
  std::string agents = RenderSection("agents", Cluster());
  BOOST_TEST(Has(agents, "<tr data-agent=\"h1\" data-state=\"alive\"><th scope=\"row\">h1</th>"));
  BOOST_TEST(Has(agents, "120 ms ago"));
  BOOST_TEST(Has(agents, "<tr data-agent=\"h2\" data-state=\"dead\" class=\"bad\">"));
  BOOST_TEST(Has(agents, "<code>tailsafectl forget-agent h2</code>"));
  BOOST_TEST(!Has(agents, "forget-agent h1"));
}

BOOST_AUTO_TEST_CASE(bolts_show_state_size_checkpoint_lag_per_holder_and_history) {
  std::string bolts = RenderSection("bolts", Cluster());
  BOOST_TEST(Has(bolts, "data-bolt=\"h1/web\" data-state=\"running\""));
  BOOST_TEST(Has(bolts, "running</span> pid 4242"));
  BOOST_TEST(Has(bolts, "2.0 KiB"));
  BOOST_TEST(Has(bolts, "gen 3 @ 1000"));
  BOOST_TEST(Has(bolts, "<li data-peer=\"h2\">"));
  BOOST_TEST(Has(bolts, "value=\"512\""));
  BOOST_TEST(Has(bolts, "under-replicated"));
  BOOST_TEST(Has(bolts, "<svg class=\"spark\""));
  BOOST_TEST(Has(bolts, "peak 4.0 KiB"));
  BOOST_TEST(Has(bolts, "data-bolt=\"h2/api\" data-state=\"dead\" class=\"bad\""));
  BOOST_TEST(Has(bolts, "host dead"));
}

BOOST_AUTO_TEST_CASE(recoveries_are_a_timeline_newest_first_and_a_failed_one_carries_retry) {
  std::string rec = RenderSection("recoveries", Cluster());
  size_t two = rec.find("data-recovery=\"2\""), one = rec.find("data-recovery=\"1\"");
  BOOST_REQUIRE(two != std::string::npos);
  BOOST_REQUIRE(one != std::string::npos);
  BOOST_TEST(two < one);
  BOOST_TEST(Has(rec, "data-recovery=\"2\" data-state=\"failed\" class=\"bad\""));
  BOOST_TEST(Has(rec, "death: host h2 died"));
  BOOST_TEST(Has(rec, "elected h1, epoch 4"));
  BOOST_TEST(Has(rec, "hook exited with 3"));
  BOOST_TEST(Has(rec, "<code>tailsafectl retry /recoveries/2</code>"));
  BOOST_TEST(Has(rec, "data-recovery=\"1\" data-state=\"recovered\""));
  BOOST_TEST(Has(rec, "2.5 s after the death"));
  BOOST_TEST(!Has(rec, "retry /recoveries/1"));
}

BOOST_AUTO_TEST_CASE(text_from_documents_is_escaped_and_bad_fields_render_as_missing) {
  json s = Cluster();
  s["cluster"] = "<script>alert(1)</script>";
  s["agents"]["/agents/h1"]["address"] = "\"><img src=x onerror=alert(1)>";
  s["recoveries"]["/recoveries/2"]["error"] = "<b>&'";
  s["bolts"]["/bolts/h1/web"]["peer_lag"] = json::array({1, 2});
  s["bolts"]["/bolts/h1/web"]["process"] = "running";
  s["lag_history"]["h1/web"] = json::array({json::array({"x", 1}), 3});
  std::string page = RenderStatusPage(s);
  BOOST_TEST(!Has(page, "<script>alert"));
  BOOST_TEST(Has(page, "&lt;script&gt;alert(1)&lt;/script&gt;"));
  BOOST_TEST(!Has(page, "<img src=x"));
  BOOST_TEST(Has(page, "&lt;b&gt;&amp;&#39;"));
  BOOST_TEST(!RenderStatusPage(json::object()).empty());
  BOOST_TEST(!RenderStatusPage(json::array()).empty());
  BOOST_TEST(RenderSection("nothing", s).empty());
}

BOOST_AUTO_TEST_CASE(an_instance_that_does_not_lead_names_the_leader) {
  json s = {{"cluster", "prod"}, {"coordinator", {{"listen", "10.0.0.2:7400"}, {"leading", false}, {"leader", "10.0.0.1:7400"}}}};
  std::string summary = RenderSection("summary", s);
  BOOST_TEST(Has(summary, "not leading"));
  BOOST_TEST(Has(summary, "the leader is at <span data-leader>10.0.0.1:7400</span>"));
}

// With ZooKeeper: the summary says whether this instance leads (the script follows the leader
// when it does not) and links every instance's page; only http(s) pages become links.
BOOST_AUTO_TEST_CASE(a_follower_links_the_leaders_page_and_every_instance) {
  json s = {{"cluster", "prod"},
            {"coordinator", {{"listen", "10.0.0.2:7400"}, {"leading", false}, {"leader", "10.0.0.1:7400"},
                             {"page", "http://10.0.0.2:8080/"}, {"leader_page", "http://10.0.0.1:8080/"},
                             {"instances", json::array({{{"address", "10.0.0.1:7400"}, {"page", "http://10.0.0.1:8080/"}},
                                                        {{"address", "10.0.0.2:7400"}, {"page", "http://10.0.0.2:8080/"}},
                                                        {{"address", "10.0.0.3:7400"}, {"page", "javascript:alert(1)"}}})}}}};
  std::string summary = RenderSection("summary", s);
  BOOST_TEST(Has(summary, "<section id=\"summary\" aria-labelledby=\"summary-h\" data-leading=\"false\">"), summary);
  BOOST_TEST(Has(summary, "its page <a href=\"http://10.0.0.1:8080/\" data-leader-page>http://10.0.0.1:8080/</a>"), summary);
  BOOST_TEST(Has(summary, "Coordinators: <a href=\"http://10.0.0.1:8080/\" data-coordinator-page data-leading=\"true\">"
                          "10.0.0.1:7400</a> (leading), <a href=\"http://10.0.0.2:8080/\" data-coordinator-page "
                          "data-leading=\"false\">10.0.0.2:7400</a>, 10.0.0.3:7400</p>"),
             summary);
  BOOST_TEST(!Has(summary, "javascript:"), summary);

  s["coordinator"]["leading"] = true;
  s["coordinator"]["listen"] = "10.0.0.1:7400";
  summary = RenderSection("summary", s);
  BOOST_TEST(Has(summary, "data-leading=\"true\">"), summary);
  BOOST_TEST(!Has(summary, "data-leader-page"), summary);
  BOOST_TEST(Has(summary, "10.0.0.1:7400</a> (leading)"), summary);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace tailsafe
