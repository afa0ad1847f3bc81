// Realistic access-log text for tests, the demo and benchmarks: nginx "combined" lines with
// Zipf-popular hosts and URLs, thousands of client IPs and real user agents. Deterministic for
// a seed, so a failing run can be replayed.
#pragma once

#include <cstdint>
#include <random>
#include <string>

namespace tailsafe::testing {

class LogLines {
 public:
  explicit LogLines(uint64_t seed);
  // Appends one newline-terminated line to `out`.
  void AppendLine(std::string* out);
  // Appends lines until `out` holds at least `bytes` more bytes (whole lines).
  void AppendBytes(std::string* out, size_t bytes);

 private:
  size_t Zipf(size_t n);
  std::mt19937_64 rng_;
  uint64_t seconds_ = 1795000000;  // 2026-11-18
  uint64_t count_ = 0;
};

// A write size between 1 byte and `max` (log-uniform: most writes small, some large).
size_t RandomWriteSize(std::mt19937_64& rng, size_t max);

}  // namespace tailsafe::testing
