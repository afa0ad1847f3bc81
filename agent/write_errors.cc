#include "agent/write_errors.h"

#include <utility>

namespace tailsafe {

void WriteErrors::Failed(const std::string& replica, std::string error, uint64_t now_ns) {
  std::erase_if(errors_, [&](const auto& e) { return now_ns >= e.second.at_ns + kHoldNs; });
  errors_[replica] = {std::move(error), now_ns};
}

std::string WriteErrors::Summary(uint64_t now_ns) const {
  const Entry* newest = nullptr;
  size_t held = 0;
  for (const auto& [replica, e] : errors_) {
    if (now_ns >= e.at_ns + kHoldNs) continue;
    ++held;
    if (newest == nullptr || e.at_ns > newest->at_ns) newest = &e;
  }
  if (newest == nullptr) return "";
  std::string out = newest->error;
  if (size_t others = held - 1; others > 0) {
    out += " (and " + std::to_string(others) + " other replica" + (others > 1 ? "s" : "") + " failing)";
  }
  return out;
}

}  // namespace tailsafe
