// The Prometheus text writer (common/prometheus.h) and the HTTP request parser the /metrics
// server uses (common/metrics_server.h).
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <string>

#include "common/http_daemon.h"
#include "common/prometheus.h"
#include "tests/support/prometheus_check.h"

using namespace tailsafe;
using tailsafe::testing::ParsePrometheusText;

BOOST_AUTO_TEST_SUITE(prometheus)

BOOST_AUTO_TEST_CASE(values_print_exactly) {
  BOOST_TEST(FormatMetricValue(0) == "0");
  BOOST_TEST(FormatMetricValue(123456789012) == "123456789012");
  BOOST_TEST(FormatMetricValue(0.25) == "0.25");
  BOOST_TEST(std::stod(FormatMetricValue(1.0 / 3)) == 1.0 / 3);
  BOOST_TEST(FormatMetricValue(NAN) == "NaN");
  BOOST_TEST(FormatMetricValue(INFINITY) == "+Inf");
  BOOST_TEST(FormatMetricValue(-INFINITY) == "-Inf");
  BOOST_TEST(std::stod(FormatMetricValue(1e300)) == 1e300);
}

BOOST_AUTO_TEST_CASE(label_values_cannot_break_the_format) {
  MetricsText m;
  m.Family("tailsafe_test_total", "counter", "A help\nwith a newline and a \\ backslash.");
  m.Sample(1, {{"bolt", "a\"b\\c\nd"}});
  std::string text = m.text();
  BOOST_TEST(text ==
             "# HELP tailsafe_test_total A help\\nwith a newline and a \\\\ backslash.\n"
             "# TYPE tailsafe_test_total counter\n"
             "tailsafe_test_total{bolt=\"a\\\"b\\\\c\\nd\"} 1\n");
  auto parsed = ParsePrometheusText(text);
  BOOST_REQUIRE_MESSAGE(parsed, parsed.status().message());
  BOOST_TEST(parsed->size() == 1u);
}

BOOST_AUTO_TEST_CASE(histograms_are_cumulative_with_sum_and_count) {
  Histogram h({0.1, 1, 10});
  for (double v : {0.05, 0.1, 0.5, 5.0, 50.0}) h.Observe(v);
  MetricsText m;
  m.Family("tailsafe_hook_duration_seconds", "histogram", "Durations.");
  m.Samples(h, {{"hook", "x"}});
  BOOST_TEST(m.text() ==
             "# HELP tailsafe_hook_duration_seconds Durations.\n"
             "# TYPE tailsafe_hook_duration_seconds histogram\n"
             "tailsafe_hook_duration_seconds_bucket{hook=\"x\",le=\"0.1\"} 2\n"
             "tailsafe_hook_duration_seconds_bucket{hook=\"x\",le=\"1\"} 3\n"
             "tailsafe_hook_duration_seconds_bucket{hook=\"x\",le=\"10\"} 4\n"
             "tailsafe_hook_duration_seconds_bucket{hook=\"x\",le=\"+Inf\"} 5\n"
             "tailsafe_hook_duration_seconds_sum{hook=\"x\"} 55.65\n"
             "tailsafe_hook_duration_seconds_count{hook=\"x\"} 5\n");
  auto parsed = ParsePrometheusText(m.text());
  BOOST_TEST(parsed.ok(), parsed.status().message());
}

BOOST_AUTO_TEST_CASE(the_checker_rejects_what_prometheus_would) {
  for (const char* bad : {
           "tailsafe_x 1\n",                                                              // no HELP/TYPE
           "# HELP tailsafe_x h\n# TYPE tailsafe_x counter\ntailsafe_x 1\n",             // counter without _total
           "# HELP tailsafe_x_total h\n# TYPE tailsafe_x_total gauge\ntailsafe_x_total 1\n",  // gauge with _total
           "# HELP tailsafe_x h\n# TYPE tailsafe_x gauge\ntailsafe_x{a=\"b} 1\n",       // unterminated
           "# HELP tailsafe_x h\n# TYPE tailsafe_x gauge\ntailsafe_x{a=\"\\q\"} 1\n",   // bad escape
           "# HELP tailsafe_x h\n# TYPE tailsafe_x gauge\ntailsafe_x 1\ntailsafe_x 2\n",  // repeated series
           "# HELP tailsafe_x h\n# TYPE tailsafe_x gauge\ntailsafe_x one\n",             // not a number
           "# HELP other_x h\n# TYPE other_x gauge\nother_x 1\n",                        // no prefix
           "# HELP tailsafe_x_bytes_sent h\n# TYPE tailsafe_x_bytes_sent gauge\ntailsafe_x_bytes_sent 1\n",  // unit inside
           "# HELP tailsafe_x h\n# TYPE tailsafe_x gauge\ntailsafe_x 1",                 // no final newline
       }) {
    BOOST_TEST(!ParsePrometheusText(bad).ok(), bad);
  }
}

BOOST_AUTO_TEST_SUITE_END()

