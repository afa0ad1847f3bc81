// InotifyWatcher: the one inotify instance of a process, on its libuv loop, shared by everything
// that watches files (in the agent: every bolt's source, the pid file tracker, the pattern
// discovery).
//
// Why one: Linux allows 128 instances per user by default (fs.inotify.max_user_instances), so an
// instance per bolt stopped an agent at its 129th bolt; watches are limited per user too, but by
// the thousand (fs.inotify.max_user_watches). This is watchman's model: one instance, a table of
// who watches what (common/watch_table.h, which decides who gets each event), events dispatched
// to each subscriber's callback. The instance is read under a uv_poll until EAGAIN (libuv's
// uv_fs_event would drop IN_Q_OVERFLOW, which every subscriber gets: each rescans and counts it).
//
// With `linger_ms`, events wait that long before they are read: the poll pauses after the first
// one, so the kernel merges the writes of the next linger_ms into one event per file and one
// wake-up serves every file (the agent's linger_ms; docs/performance.md measures it). No event waits longer.
//
// Subscribe() returns a Subscription: its callback gets each burst's events on its watches, one
// call per burst. Subscription::Add() watches a path (a directory, or an open file through
// /proc/self/fd/N, which follows the inode through renames and unlinks) and returns a Watch that
// removes it when destroyed. Both handles may be destroyed anywhere, inside a callback too, and
// after the watcher (they then do nothing). The watcher must not be destroyed in a callback.
#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "common/fd.h"
#include "common/status.h"
#include "common/uv_handle.h"
#include "common/watch_table.h"

namespace tailsafe {

class InotifyWatcher {
 public:
  using Event = WatchTable::Event;
  using Callback = WatchTable::Callback;
  struct Core;  // the instance and its table, shared with the handles (weakly)

  // One path watched for one subscriber.
  class Watch {
   public:
    Watch() = default;
    ~Watch() { Reset(); }
    Watch(Watch&& o) noexcept : core_(std::move(o.core_)), id_(std::exchange(o.id_, 0)) {}
    Watch& operator=(Watch&& o) noexcept;
    Watch(const Watch&) = delete;
    Watch& operator=(const Watch&) = delete;
    // Stops watching (the kernel's watch goes when no other watch shares it).
    void Reset();
    explicit operator bool() const { return id_ != 0; }
    // What this watch's events carry as Event::watch.
    WatchTable::Id id() const { return id_; }

   private:
    friend class InotifyWatcher;
    std::weak_ptr<Core> core_;
    WatchTable::Id id_ = 0;
  };

  class Subscription {
   public:
    Subscription() = default;
    ~Subscription() { Reset(); }
    Subscription(Subscription&& o) noexcept : core_(std::move(o.core_)), id_(std::exchange(o.id_, 0)) {}
    Subscription& operator=(Subscription&& o) noexcept;
    Subscription(const Subscription&) = delete;
    Subscription& operator=(const Subscription&) = delete;
    // Watches `path` for the events in `mask` (IN_ONLYDIR and IN_DONT_FOLLOW apply to the path);
    // with `name`, only a directory's events about that entry and about itself are delivered.
    // On failure the message names the path, and `*err` (if given) is inotify_add_watch's errno.
    Result<Watch> Add(const std::string& path, uint32_t mask, const std::string& name = "", int* err = nullptr);
    // Removes every watch of this subscription; no callback after this.
    void Reset();
    explicit operator bool() const { return id_ != 0; }

   private:
    friend class InotifyWatcher;
    std::weak_ptr<Core> core_;
    WatchTable::Id id_ = 0;
  };

  // `loop` outlives this watcher.
  InotifyWatcher(uv_loop_t* loop, uint32_t linger_ms);
  ~InotifyWatcher();
  InotifyWatcher(const InotifyWatcher&) = delete;
  InotifyWatcher& operator=(const InotifyWatcher&) = delete;

  // Opens the instance and starts reading it. On an error (the user's instances used up by other
  // programs) subscriptions still work but Add fails: watchers then rely on their rescans.
  Status Start();
  // Stops reading and closes the instance (handles then do nothing); the loop may end.
  void Stop();
  bool running() const;
  Subscription Subscribe(Callback callback);

  struct Stats {
    uint64_t reads = 0;      // bursts read
    uint64_t events = 0;     // events read
    uint64_t overflows = 0;  // IN_Q_OVERFLOW seen
  };
  const Stats& stats() const { return stats_; }
  // For tests and status: how many subscribers, watches and kernel watches there are.
  size_t subscribers() const;
  size_t watches() const;
  size_t wds() const;

 private:
  void StartPolling();
  void OnReadable();
  // Reads every queued event and dispatches them.
  void ReadAndDispatch();

  uv_loop_t* loop_;
  uint32_t linger_ms_;
  std::shared_ptr<Core> core_;
  UvPtr<uv_poll_t> poll_;
  UvPtr<uv_timer_t> linger_;
  std::unique_ptr<char[]> buf_;
  size_t buf_size_ = 0;
  std::vector<WatchTable::RawEvent> raw_;
  Stats stats_;
};

}  // namespace tailsafe
