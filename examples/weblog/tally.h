// Tally: the weblog analysis of a set of requests, in memory. Requests per minute by target
// host (with status classes and response bytes), by URL (host and path) and by client address.
// The bolt, the hook and the expected-result check all count through this one class, so "the
// database equals the analysis of the input" compares like with like.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "examples/weblog/log_format.h"

namespace weblog {

struct HostCounts {
  uint64_t requests = 0;
  uint64_t bytes = 0;
  std::array<uint64_t, 5> status{};  // 1xx .. 5xx
  bool operator==(const HostCounts&) const = default;
};
struct Counts {
  uint64_t requests = 0;
  uint64_t bytes = 0;
  bool operator==(const Counts&) const = default;
};

class Tally {
 public:
  void Add(const Request& r);
  void Merge(const Tally& other);
  bool empty() const { return by_host_.empty(); }
  uint64_t requests() const;
  // Describes up to `max_lines` differences from `other` (this = "got", other = "want"), or
  // returns an empty string if the two are equal.
  std::string Diff(const Tally& want, size_t max_lines = 10) const;

  using HostKey = std::pair<int64_t, std::string>;                // minute, host
  using UrlKey = std::tuple<int64_t, std::string, std::string>;   // minute, host, path
  using IpKey = std::pair<int64_t, std::string>;                  // minute, ip
  std::map<HostKey, HostCounts>& by_host() { return by_host_; }
  std::map<UrlKey, Counts>& by_url() { return by_url_; }
  std::map<IpKey, Counts>& by_ip() { return by_ip_; }
  const std::map<HostKey, HostCounts>& by_host() const { return by_host_; }
  const std::map<UrlKey, Counts>& by_url() const { return by_url_; }
  const std::map<IpKey, Counts>& by_ip() const { return by_ip_; }
  // Requests per minute, all hosts together.
  std::map<int64_t, uint64_t> PerMinute() const;

 private:
  std::map<HostKey, HostCounts> by_host_;
  std::map<UrlKey, Counts> by_url_;
  std::map<IpKey, Counts> by_ip_;
};

// Counts of what a stream of lines held besides requests.
struct LineCounts {
  uint64_t requests = 0;
  uint64_t malformed = 0;
  uint64_t markers = 0;
  uint64_t other = 0;  // comments and blank lines
};

}  // namespace weblog
