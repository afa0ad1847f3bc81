#include "agent/stream_retries.h"

#include "common/clock.h"

namespace tailsafe {

Status StreamRetries::Start() {
  auto t = MakeUv<uv_timer_t>(uv_timer_init, loop_);
  if (!t) return t.status();
  timer_ = std::move(t.value());
  timer_->data = this;
  return Status::Ok();
}

void StreamRetries::Stop() {
  timer_.Reset();
  due_ns_ = UINT64_MAX;
}

void StreamRetries::Failed(uint64_t at_ns) {
  if (at_ns >= due_ns_) return;  // the timer is armed for one sooner
  due_ns_ = at_ns;
  uint64_t now = NowNs();
  Arm(at_ns > now ? at_ns - now : 0);
}

std::vector<uint32_t> StreamRetries::TakeDue(std::map<uint32_t, PeerCursor>* cursors) {
  uint64_t now = NowNs();
  if (due_ns_ == UINT64_MAX || due_ns_ > now) return {};
  uint64_t soonest = UINT64_MAX;
  std::vector<uint32_t> due = TakeDueRetries(cursors, now, &soonest);
  due_ns_ = soonest == UINT64_MAX ? UINT64_MAX : now + soonest;
  if (soonest != UINT64_MAX) Arm(soonest);
  return due;
}

void StreamRetries::Arm(uint64_t in_ns) {
  if (!timer_) return;
  uv_timer_start(timer_.get(), [](uv_timer_t* t) {
    auto* self = static_cast<StreamRetries*>(t->data);
    if (!self) return;
    // The loop's clock may lag NowNs(): a timer can fire before the retry is due. Wait the rest.
    uint64_t now = NowNs();
    if (self->due_ns_ != UINT64_MAX && now < self->due_ns_) return self->Arm(self->due_ns_ - now);
    if (self->wake_) self->wake_();
  }, in_ns / 1000000 + 1, 0);
}

}  // namespace tailsafe
