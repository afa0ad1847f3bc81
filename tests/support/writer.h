// AppendWriter: a bolt stand-in. A thread that appends access-log lines to a file in writes of
// random size (1 byte to max_write, so some end mid-line), optionally paced to a rate.
#pragma once

#include <atomic>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <thread>

#include "tests/support/loglines.h"

namespace tailsafe::testing {

// What an appender writes: access-log lines from a seed, cut into writes of random size.
class WriteChunks {
 public:
  WriteChunks(uint64_t seed, size_t max_write) : lines_(seed), rng_(seed * 31 + 7), max_write_(max_write) {}
  // The next write's bytes, at most `limit` of them; Consumed(n) drops what was written.
  std::string_view Next(uint64_t limit);
  void Consumed(size_t n) { buf_.erase(0, n); }

 private:
  LogLines lines_;
  std::mt19937_64 rng_;
  size_t max_write_;
  std::string buf_;
};

class AppendWriter {
 public:
  // Writes `total` bytes to `path`; `rate_mbps` 0 means as fast as possible.
  AppendWriter(std::string path, uint64_t total, uint64_t seed, double rate_mbps = 0, size_t max_write = 1 << 20);
  ~AppendWriter();
  void Start();
  void Join();
  bool done() const { return done_; }
  uint64_t written() const { return written_; }
  const std::string& error() const { return error_; }

 private:
  void Run();
  std::string path_;
  uint64_t total_;
  uint64_t seed_;
  double rate_;
  size_t max_write_;
  std::thread thread_;
  std::atomic<bool> done_{false};
  std::atomic<uint64_t> written_{0};
  std::string error_;
};

}  // namespace tailsafe::testing
