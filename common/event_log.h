// EventLog: events kept for a benchmark that drains them (the agent's `acklog` and `durablelog`
// control requests). Nothing is kept until the first Drain, and from then on at most `max`
// (the oldest go first), so a process nobody measures keeps none.
#pragma once

#include <cstddef>
#include <deque>
#include <iterator>
#include <utility>
#include <vector>

namespace tailsafe {

template <class T>
class EventLog {
 public:
  explicit EventLog(size_t max) : max_(max) {}
  // Whether events are kept: callers skip building one that would be dropped.
  bool on() const { return on_; }
  void Add(T event) {
    if (!on_) return;
    if (events_.size() >= max_) events_.pop_front();
    events_.push_back(std::move(event));
  }
  // The events since the last call, oldest first; keeps events from now on.
  std::vector<T> Drain() {
    on_ = true;
    std::vector<T> out(std::make_move_iterator(events_.begin()), std::make_move_iterator(events_.end()));
    events_.clear();
    return out;
  }

 private:
  size_t max_;
  bool on_ = false;
  std::deque<T> events_;
};

}  // namespace tailsafe
