// WatchTable: who gets which inotify event, for the one inotify instance of a process. It is
// the policy of common/inotify_watcher.h, kept apart as plain data (no descriptor, no system
// call) so that it is unit-tested without the kernel.
//
// The kernel gives one watch descriptor (wd) per inode per instance: watching a directory (or a
// file through /proc/self/fd/N) that is watched already returns the same wd, with the masks
// OR'd together (the watcher adds with IN_MASK_ADD). So one wd serves several watches, of one
// subscriber or of several, and each is counted: a wd leaves the kernel only with its last
// watch, and removing one watch never removes another's.
//
// Routing: an event on a wd goes to each of its watches whose mask has one of the event's bits
// and whose name, if it gave one, is the event's (a directory's events about other entries are
// not its business; events about the directory itself, which carry no name, are). IN_IGNORED
// and IN_UNMOUNT go to every watch of the wd; after IN_IGNORED the kernel has dropped the wd,
// and its watches are dead once it is delivered. IN_Q_OVERFLOW (events were lost) goes once to
// every subscriber, watching or not: each rescans what it watches.
//
// Dispatch: each subscriber gets one call per burst of events, with its events in the order
// read, and subscribers are called in the order of their first event (overflow last). A
// callback may add and remove any watch or subscriber, its own included: nothing is delivered
// to a watch or subscriber after its removal.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace tailsafe {

class WatchTable {
 public:
  using Id = uint64_t;  // subscribers and watches; never 0, never reused
  struct Event {
    Id watch = 0;           // 0 for IN_Q_OVERFLOW
    uint32_t mask = 0;      // the kernel's event mask
    uint32_t cookie = 0;    // pairs IN_MOVED_FROM with IN_MOVED_TO
    std::string_view name;  // the entry, for a directory's events; valid during the call only
  };
  using Callback = std::function<void(std::span<const Event> events)>;
  // An event as read from the instance.
  struct RawEvent {
    int wd = -1;
    uint32_t mask = 0;
    uint32_t cookie = 0;
    std::string_view name;
  };

  Id AddSubscriber(Callback callback);
  // Removes the subscriber and every watch of it. The wds left without a watch go to `*unwatch`
  // (for inotify_rm_watch).
  void RemoveSubscriber(Id subscriber, std::vector<int>* unwatch);
  // The kernel gave `wd` to a watch of `subscriber` for the events in `mask`; with `name`, only
  // the directory's events about that entry (and about the directory itself) are delivered.
  // 0 if there is no such subscriber.
  Id AddWatch(Id subscriber, int wd, uint32_t mask, std::string name = "");
  // Removes one watch: its wd if that was the wd's last watch (for inotify_rm_watch), else -1.
  int RemoveWatch(Id watch);
  // Routes a burst of events and calls each subscriber concerned once (see above).
  void Dispatch(std::span<const RawEvent> events);

  bool HasWatch(Id watch) const { return watches_.count(watch) != 0; }
  size_t subscribers() const { return subscribers_.size(); }
  size_t watches() const { return watches_.size(); }
  size_t wds() const { return wds_.size(); }
  // The events the kernel reports on `wd`: the union of its watches' masks (0: not watched).
  uint32_t MaskOf(int wd) const;

 private:
  struct Watch {
    Id subscriber = 0;
    int wd = -1;
    uint32_t mask = 0;
    std::string name;
  };
  struct Wd {
    std::vector<Id> unnamed;  // watches of every entry
    std::unordered_map<std::string, std::vector<Id>> named;
    size_t count = 0;
  };
  struct Subscriber {
    std::shared_ptr<Callback> callback;  // shared: a callback may remove its own subscriber
    std::vector<Id> watches;
  };
  using Deliveries = std::vector<std::pair<Id, std::vector<Event>>>;

  void Route(const RawEvent& raw, Deliveries* out, std::unordered_map<Id, size_t>* slot) const;
  void Detach(Id watch, const Watch& w);  // from its wd's lists and its subscriber's
  void Forget(int wd);                    // the kernel dropped it

  Id next_id_ = 1;
  std::map<Id, Subscriber> subscribers_;  // ordered: overflow reaches them in a fixed order
  std::unordered_map<Id, Watch> watches_;
  std::unordered_map<int, Wd> wds_;
};

}  // namespace tailsafe
