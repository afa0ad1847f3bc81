// Time. NowNs: monotonic (CLOCK_MONOTONIC), for lags, timeouts and backoff. UnixNowNs/Ms: wall
// clock (CLOCK_REALTIME), for timestamps people and other hosts read.
#pragma once

#include <cstdint>
#include <ctime>

namespace tailsafe {

inline uint64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

inline uint64_t UnixNowNs() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

inline uint64_t UnixNowMs() { return UnixNowNs() / 1000000; }

}  // namespace tailsafe
