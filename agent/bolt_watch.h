// BoltWatch: one bolt's watches on the agent's one inotify instance (common/inotify_watcher.h):
// its directory, for the bolt's own entry only (the other files there, other bolts' and
// checkpoints, are noise), and the inode of each open generation through /proc/self/fd/N, which
// follows the inode through renames and unlinks, so a rotated-away generation keeps producing
// events while it is read to its end. A burst of events that concerns any of them, or an overflow
// of the queue (counted and logged: events were dropped), calls `check` once. What the events
// mean is the caller's: BoltSource::Check() reads the file system, events are only hints.
// `check`'s argument says whether the path may name another file now: false only when every
// event was a write to a watched inode and the directory is watched (a rename, creation or
// deletion of the bolt's entry would have come as an event about it).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <utility>

#include "agent/generation.h"
#include "common/inotify_watcher.h"

namespace tailsafe {

class BoltWatch {
 public:
  // `watcher` outlives this watch; `bolt` names it in logs.
  BoltWatch(InotifyWatcher* watcher, std::string bolt, std::function<void(bool path_may_differ)> check);

  // Subscribes and watches DIR for the entry BASE (a warning if it cannot: Retry() tries again).
  void Start(const std::string& dir, const std::string& base);
  void Stop();
  bool started() const { return static_cast<bool>(events_); }
  // The bolt's file moved to DIR/BASE (a reconfiguration).
  void MoveTo(const std::string& dir, const std::string& base);
  // Watches the directory again if it is not watched (it was missing, or removed).
  void Retry();
  // Watches the inode `g` has open; once per inode.
  void WatchInode(const Generation& g);
  // Drops the watches of inodes no generation of `open` holds any more.
  void ForgetClosedInodes(const std::deque<std::shared_ptr<Generation>>& open);

  uint64_t events() const { return events_seen_; }
  uint64_t overflows() const { return overflows_; }

 private:
  Status WatchDir();
  void OnEvents(std::span<const InotifyWatcher::Event> events);

  InotifyWatcher* watcher_;
  std::string bolt_;
  std::function<void(bool)> check_;
  std::string dir_, base_;
  InotifyWatcher::Subscription events_;  // while started
  InotifyWatcher::Watch dir_watch_;      // the directory, for entries named base_
  std::map<std::pair<uint64_t, uint64_t>, InotifyWatcher::Watch> inode_watches_;  // by (dev, ino)
  uint64_t events_seen_ = 0;
  uint64_t overflows_ = 0;
};

}  // namespace tailsafe
