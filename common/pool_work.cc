#include "common/pool_work.h"

namespace tailsafe {
namespace {

struct Job {
  uv_work_t req;
  std::weak_ptr<void> alive;
  std::function<void()> work;
  std::function<void()> done;
};

}  // namespace

Status QueueWork(uv_loop_t* loop, std::weak_ptr<void> alive, std::function<void()> work, std::function<void()> done) {
  auto* job = new Job{};
  job->req.data = job;
  job->alive = std::move(alive);
  job->work = std::move(work);
  job->done = std::move(done);
  int rc = uv_queue_work(
      loop, &job->req, [](uv_work_t* req) { static_cast<Job*>(req->data)->work(); },
      [](uv_work_t* req, int) {
        std::unique_ptr<Job> j(static_cast<Job*>(req->data));
        if (!j->alive.expired()) j->done();
      });
  if (rc != 0) {
    delete job;
    return UvStatus("queue work on the thread pool", rc);
  }
  return Status::Ok();
}

}  // namespace tailsafe
