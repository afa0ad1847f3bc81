// A generator of realistic web access logs (vhost_combined), so the demo, the tests and the
// benchmark need nothing from outside: Zipf-popular hosts and URLs, thousands of client
// addresses (some very busy), real user agents, a mix of methods and statuses, and a diurnal
// curve of requests per minute. Deterministic for a seed.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace weblog {

struct GeneratorOptions {
  uint64_t requests = 100000;
  int64_t start_minute = 0;     // UTC minutes since the epoch of the first minute
  uint32_t minutes = 60;        // the span the requests are spread over
  uint64_t seed = 1;
  uint64_t malformed_every = 0;  // 0: none; else every Nth line is a hostile one instead
};

class Generator {
 public:
  explicit Generator(const GeneratorOptions& o);
  // The next line with its newline; false when all are out.
  bool Next(std::string* line);
  // Requests per minute the generator plans (the diurnal curve), for tests.
  const std::vector<uint64_t>& per_minute() const { return per_minute_; }

 private:
  struct Zipf {
    std::vector<double> cdf;
    size_t Sample(std::mt19937_64& rng) const;
  };
  static Zipf MakeZipf(size_t n, double s);
  std::string Request();
  std::string Hostile();

  GeneratorOptions o_;
  std::mt19937_64 rng_;
  std::vector<uint64_t> per_minute_;
  size_t minute_index_ = 0;
  size_t next_minute_ = 0;
  uint64_t left_in_minute_ = 0;
  std::vector<uint32_t> seconds_;  // the current minute's request seconds, sorted
  uint64_t emitted_ = 0, lines_ = 0;
  std::vector<std::string> hosts_;
  std::vector<std::vector<std::string>> paths_;  // per host
  std::vector<std::string> clients_;
  Zipf host_zipf_, path_zipf_, client_zipf_, agent_zipf_;
};

}  // namespace weblog
