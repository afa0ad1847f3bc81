// WorkThread: jobs run in order on one thread of their own, completions on the loop, and the
// loop is kept running only while a job is outstanding.
#include "common/work_thread.h"

#include <boost/test/unit_test.hpp>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>
#include <vector>

#include "tests/support/test_loop.h"

using tailsafe::WorkThread;
using tailsafe::testing::TestLoop;

BOOST_AUTO_TEST_SUITE(work_thread)

BOOST_AUTO_TEST_CASE(jobs_run_in_order_on_one_other_thread_and_complete_on_the_loop) {
  TestLoop loop;
  const std::thread::id loop_thread = std::this_thread::get_id();
  std::vector<int> ran;  // written by the work thread only, read after every completion
  std::vector<int> completed;
  std::vector<std::thread::id> workers;
  bool completions_on_loop = true;
  {
    WorkThread w(loop.get());
    BOOST_REQUIRE(w.Start().ok());
    BOOST_REQUIRE(w.Start().ok());  // idempotent
    for (int i = 0; i < 50; ++i) {
      w.Post([&, i] {
        ran.push_back(i);
        workers.push_back(std::this_thread::get_id());
      },
             [&, i] {
               completed.push_back(i);
               completions_on_loop = completions_on_loop && std::this_thread::get_id() == loop_thread;
             });
    }
    BOOST_TEST(w.outstanding() == 50u);
    BOOST_REQUIRE(loop.RunUntil([&] { return completed.size() == 50; }));
    BOOST_TEST(w.outstanding() == 0u);
  }
  std::vector<int> in_order;
  for (int i = 0; i < 50; ++i) in_order.push_back(i);
  BOOST_TEST(ran == in_order);
  BOOST_TEST(completed == in_order);
  BOOST_TEST(completions_on_loop);
  BOOST_REQUIRE(!workers.empty());
  BOOST_TEST(workers.front() != loop_thread);
  bool one_worker = true;
  for (auto id : workers) one_worker = one_worker && id == workers.front();
  BOOST_TEST(one_worker);
}

BOOST_AUTO_TEST_CASE(the_loop_runs_while_a_job_is_outstanding_and_not_after) {
  TestLoop loop;
  WorkThread w(loop.get());
  BOOST_REQUIRE(w.Start().ok());
  // Idle: nothing keeps the loop alive, so a default run returns at once.
  BOOST_TEST(uv_run(loop.get(), UV_RUN_DEFAULT) == 0);
  bool done = false;
  w.Post([] {}, [&] { done = true; });
  // Outstanding: a default run returns only when nothing is left, i.e. after the completion.
  BOOST_TEST(uv_run(loop.get(), UV_RUN_DEFAULT) == 0);
  BOOST_TEST(done);
  BOOST_TEST(w.outstanding() == 0u);
}

BOOST_AUTO_TEST_CASE(a_completion_after_close_never_runs_and_the_job_still_finishes) {
  TestLoop loop;
  std::promise<void> release, start;
  std::shared_future<void> released = release.get_future().share();
  std::future<void> started = start.get_future();
  std::atomic<bool> worked{false};
  bool done = false;
  {
    WorkThread w(loop.get());
    BOOST_REQUIRE(w.Start().ok());
    w.Post([&] {
      start.set_value();
      released.wait();
      worked = true;
    },
           [&] { done = true; });
    w.Close();
    uv_run(loop.get(), UV_RUN_NOWAIT);  // the close callback
    // A job the thread has begun ends before the destructor returns (one not yet begun is dropped).
    BOOST_REQUIRE(started.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
    release.set_value();
  }
  BOOST_TEST(worked.load());
  BOOST_TEST(!done);
  BOOST_TEST(uv_run(loop.get(), UV_RUN_NOWAIT) == 0);
}

BOOST_AUTO_TEST_SUITE_END()
