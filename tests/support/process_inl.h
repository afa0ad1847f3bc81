#pragma once

#include <chrono>
#include <thread>

namespace tailsafe::testing {

template <typename Pred>
bool WaitUntil(Pred pred, double seconds, int poll_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  for (;;) {
    if (pred()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return pred();
    std::this_thread::sleep_for(std::chrono::milliseconds(poll_ms));  // polling interval of a deadline wait
  }
}

}  // namespace tailsafe::testing
