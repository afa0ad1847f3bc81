// TestLoop: a libuv loop for unit tests that drive a module on a real loop. RunUntil runs it
// until a condition holds or a deadline passes (never a fixed sleep); the destructor closes
// whatever handles are left and runs their close callbacks, so objects on the loop must be
// destroyed before it.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>

#include "common/uv_handle.h"

namespace tailsafe::testing {

class TestLoop {
 public:
  TestLoop() { uv_loop_init(&loop_); }
  ~TestLoop() {
    uv_walk(&loop_, [](uv_handle_t* h, void*) {
      if (!uv_is_closing(h)) uv_close(h, nullptr);
    }, nullptr);
    uv_run(&loop_, UV_RUN_DEFAULT);
    uv_loop_close(&loop_);
  }
  TestLoop(const TestLoop&) = delete;
  TestLoop& operator=(const TestLoop&) = delete;

  uv_loop_t* get() { return &loop_; }
  // Runs the loop until `done()` or `ms` have passed; whether `done()` came true.
  bool RunUntil(const std::function<bool()>& done, uint64_t ms = 10000) {
    auto tick = MakeUv<uv_timer_t>(uv_timer_init, &loop_);  // wakes the loop to look at `done`
    uv_timer_start(tick->get(), [](uv_timer_t*) {}, 5, 5);
    uv_update_time(&loop_);
    uint64_t until = uv_now(&loop_) + ms;
    while (!done() && uv_now(&loop_) < until) uv_run(&loop_, UV_RUN_ONCE);
    return done();
  }

 private:
  uv_loop_t loop_;
};

}  // namespace tailsafe::testing
