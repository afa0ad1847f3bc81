// Prometheus text exposition (format 0.0.4), written by the daemons at GET /metrics.
//
// MetricsText builds one scrape: each family gets its # HELP and # TYPE lines, then its samples.
// Names follow the Prometheus conventions the BRIEF asks for: a tailsafe_ prefix, base units
// (_bytes, _seconds), counters ending in _total. Label values are escaped (\\, \", \n), so a
// bolt or peer name can never break the format.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tailsafe {

using MetricLabels = std::vector<std::pair<std::string, std::string>>;

// A histogram with fixed upper bounds (le), cumulative when written.
struct Histogram {
  explicit Histogram(std::vector<double> upper_bounds);
  void Observe(double value);
  std::vector<double> bounds;
  std::vector<uint64_t> counts;  // per bucket, not cumulative; one more for +Inf
  double sum = 0;
  uint64_t count = 0;
};

class MetricsText {
 public:
  // Starts a family. `type`: counter, gauge or histogram.
  void Family(std::string_view name, std::string_view type, std::string_view help);
  // A sample of the current family.
  void Sample(double value, const MetricLabels& labels = {});
  // The current family (a histogram) as _bucket, _sum and _count samples.
  void Samples(const Histogram& h, const MetricLabels& labels = {});
  const std::string& text() const { return out_; }
  std::string Take() { return std::move(out_); }

 private:
  void Line(std::string_view name, const MetricLabels& labels, double value);
  std::string family_;
  std::string out_;
};

// "1", "0.25", "1e+21", "NaN", "+Inf": the shortest text that reads back as `value`.
std::string FormatMetricValue(double value);
// A label value escaped for the text format.
std::string EscapeLabelValue(std::string_view value);

}  // namespace tailsafe
