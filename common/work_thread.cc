#include "common/work_thread.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <system_error>

namespace tailsafe {

WorkThread::~WorkThread() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
  poll_.Reset();
}

Status WorkThread::Start() {
  if (started()) return Status::Ok();
  int fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd < 0) return ErrnoStatus("eventfd for a work thread");
  event_ = Fd(fd);
  auto poll = MakeUv<uv_poll_t>(uv_poll_init, loop_, fd);
  if (!poll) return poll.status();
  poll_ = std::move(poll.value());
  poll_->data = this;
  int rc = uv_poll_start(poll_.get(), UV_READABLE, [](uv_poll_t* p, int, int) {
    if (p->data != nullptr) static_cast<WorkThread*>(p->data)->OnWake();
  });
  if (rc != 0) return UvStatus("poll a work thread's eventfd", rc);
  uv_unref(poll_.handle());  // nothing outstanding yet: let the loop end
  try {
    thread_ = std::thread([this] { Run(); });
  } catch (const std::system_error& e) {
    poll_.Reset();
    return Status::Error(std::string("start a work thread: ") + e.what());
  }
  return Status::Ok();
}

void WorkThread::Post(std::function<void()> work, std::function<void()> done) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    todo_.push_back(Job{std::move(work), std::move(done)});
  }
  cv_.notify_one();
  if (outstanding_++ == 0 && poll_) uv_ref(poll_.handle());
}

void WorkThread::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return stop_ || !todo_.empty(); });
    if (stop_) return;
    Job job = std::move(todo_.front());
    todo_.pop_front();
    lock.unlock();
    job.work();
    lock.lock();
    bool wake = finished_.empty();
    finished_.push_back(std::move(job.done));
    if (!wake) continue;  // a wake-up is on its way, and the loop drains all of finished_
    // Written outside the lock, so the loop, woken by it, does not wait for this thread. If the
    // loop drains finished_ first, this write only causes a wake-up that finds nothing.
    lock.unlock();
    uint64_t one = 1;
    while (::write(event_.get(), &one, sizeof one) < 0 && errno == EINTR) {
    }
    lock.lock();
  }
}

void WorkThread::OnWake() {
  uint64_t count;
  while (::read(event_.get(), &count, sizeof count) < 0 && errno == EINTR) {
  }
  std::vector<std::function<void()>> done;
  {
    std::lock_guard<std::mutex> lock(mu_);
    done.swap(finished_);
  }
  outstanding_ -= done.size();
  if (outstanding_ == 0 && poll_) uv_unref(poll_.handle());
  for (auto& d : done) d();
}

}  // namespace tailsafe
