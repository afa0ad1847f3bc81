// WorkThread: a thread of its own that runs blocking jobs in order, and runs each job's
// completion back on the event loop.
//
// For work that recurs many times a second (the committer's fdatasync, agent/committer.h), where
// libuv's thread pool costs more than the work: libuv 1.44's uv_async_send, which every pool
// completion goes through, makes the loop spin (up to 997 pauses, then sched_yield) whenever it
// wakes while the worker is still inside the wake-up write, and on a VM that happened on most
// commits (docs/performance.md). Here the worker queues the completion under a mutex and then
// writes an eventfd the loop polls: the loop never waits for the worker.
//
// The wake-up handle counts as active (keeps uv_run going) only while a job is outstanding.
// Close() (before the loop's last run) closes it; completions not run by then never run. The
// destructor stops the thread after the job it is running, if any, and drops the rest.
#pragma once

#include <uv.h>

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "common/fd.h"
#include "common/status.h"
#include "common/uv_handle.h"

namespace tailsafe {

class WorkThread {
 public:
  explicit WorkThread(uv_loop_t* loop) : loop_(loop) {}
  ~WorkThread();
  WorkThread(const WorkThread&) = delete;
  WorkThread& operator=(const WorkThread&) = delete;

  // Creates the eventfd, the loop's handle for it, and the thread. Idempotent.
  Status Start();
  bool started() const { return thread_.joinable(); }
  // On the loop thread, after Start(): `work` runs on the thread, then `done` on the loop.
  void Post(std::function<void()> work, std::function<void()> done);
  void Close() { poll_.Reset(); }
  size_t outstanding() const { return outstanding_; }

 private:
  struct Job {
    std::function<void()> work;
    std::function<void()> done;
  };
  void Run();
  void OnWake();

  uv_loop_t* loop_;
  Fd event_;
  UvPtr<uv_poll_t> poll_;
  std::thread thread_;
  size_t outstanding_ = 0;  // loop thread only: posted, completion not yet run

  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;                              // guarded by mu_
  std::deque<Job> todo_;                           // guarded by mu_
  std::vector<std::function<void()>> finished_;   // guarded by mu_
};

}  // namespace tailsafe
