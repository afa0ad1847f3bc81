// WriteErrors: the replicas this agent failed to open or write, for status and `tailsafectl
// check` (the agent's storage_error). Each replica ("ORIGIN/BOLT/GENERATION") keeps its newest
// error until that replica is written again, or until kHoldNs pass without a new failure: the
// origin retries a failed stream at least once a minute, so a replica that keeps failing stays
// shown while the other streams write, and one whose origin gave up stops being shown.
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace tailsafe {

class WriteErrors {
 public:
  static constexpr uint64_t kHoldNs = 120ull * 1000000000;

  void Failed(const std::string& replica, std::string error, uint64_t now_ns);
  // True if `replica` had an error (it is dropped).
  bool Succeeded(const std::string& replica) { return errors_.erase(replica) > 0; }
  // The newest error still held, and how many other replicas have one; empty if none.
  std::string Summary(uint64_t now_ns) const;

 private:
  struct Entry {
    std::string error;
    uint64_t at_ns = 0;
  };
  std::map<std::string, Entry> errors_;
};

}  // namespace tailsafe
