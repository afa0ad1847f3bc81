#include "agent/encode_slots.h"

#include <algorithm>

namespace tailsafe {

EncodeSlots::Slot EncodeSlots::Take(bool spare) {
  size_t needed = spare ? 2 : 1;
  // Expired waiters hold no place in line.
  while (!waiters_.empty() && waiters_.front().expired()) waiters_.pop_front();
  // A waiter being woken (Give) is handed the slot ahead of the line.
  if (in_use_ + needed > limit_ || (!waiters_.empty() && !(handing_ && !spare))) {
    ++refusals_;
    return Slot();
  }
  if (!spare) handing_ = false;
  ++in_use_;
  peak_ = std::max(peak_, in_use_);
  return Slot(shared_from_this());
}

void EncodeSlots::Wait(std::weak_ptr<std::function<void()>> wake) { waiters_.push_back(std::move(wake)); }

void EncodeSlots::Give(bool wake) {
  --in_use_;
  if (!wake) return;
  // One waiter per free slot; each takes its slot (or not) before the next is woken.
  while (in_use_ < limit_ && !waiters_.empty()) {
    std::shared_ptr<std::function<void()>> w = waiters_.front().lock();
    waiters_.pop_front();
    if (!w) continue;
    handing_ = true;
    (*w)();  // it takes the slot, or needed none after all and the next waiter may
    handing_ = false;
  }
}

}  // namespace tailsafe
