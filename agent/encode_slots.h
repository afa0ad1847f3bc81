// EncodeSlots: the agent-wide cap on frames being encoded off the loop at once.
//
// Every bolt's FrameCache encodes its large frames on libuv's thread pool, each job with its
// own read buffer and compressor. Without a cap shared by all of them, a peer that comes back
// to hundreds of generations asks for hundreds of jobs at once (memory: a chunk, its encoding
// and a compressor each). A job holds a Slot while it runs; a cache refused one waits in line
// (Wait) and is woken, first come first served, when a slot is free. Prefetching takes only a
// spare slot: one nobody waits for, so reading ahead never delays what a cursor asked for.
//
// A Slot gives itself back when destroyed (also when the job's owner is gone and its result
// is dropped), and wakes the first waiter then; Drop() gives it back without waking anyone,
// for a release inside the caller's own Get.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>

namespace tailsafe {

// An agent's cap: twice libuv's default thread pool, so that the workers never idle while
// jobs wait for the loop to take their frames.
constexpr size_t kAgentEncodeJobs = 8;

class EncodeSlots : public std::enable_shared_from_this<EncodeSlots> {
 public:
  class Slot {
   public:
    Slot() = default;
    explicit Slot(std::shared_ptr<EncodeSlots> owner) : owner_(std::move(owner)) {}
    Slot(Slot&& o) noexcept = default;
    Slot& operator=(Slot&& o) noexcept {
      if (this != &o) {
        Release(true);
        owner_ = std::move(o.owner_);
      }
      return *this;
    }
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;
    ~Slot() { Release(true); }
    explicit operator bool() const { return owner_ != nullptr; }
    void Drop() { Release(false); }

   private:
    void Release(bool wake) {
      if (auto owner = std::move(owner_)) owner->Give(wake);
    }
    std::shared_ptr<EncodeSlots> owner_;
  };

  // Created through std::make_shared (a Slot holds its owner).
  explicit EncodeSlots(size_t limit) : limit_(limit == 0 ? 1 : limit) {}

  // A slot if one is free and nobody waits for one (waiters go first); an empty Slot if not.
  // `spare`: only if, after it, one is still free (prefetch never takes the last).
  Slot Take(bool spare = false);
  // `wake` runs once, on the loop, when a slot is free for it; an expired one is skipped.
  void Wait(std::weak_ptr<std::function<void()>> wake);

  size_t limit() const { return limit_; }
  size_t in_use() const { return in_use_; }
  size_t waiting() const { return waiters_.size(); }
  size_t peak() const { return peak_; }
  uint64_t refusals() const { return refusals_; }

 private:
  void Give(bool wake);

  size_t limit_;
  size_t in_use_ = 0;
  size_t peak_ = 0;
  uint64_t refusals_ = 0;
  bool handing_ = false;  // Give is waking a waiter: its Take goes ahead of the line
  std::deque<std::weak_ptr<std::function<void()>>> waiters_;
};

}  // namespace tailsafe
