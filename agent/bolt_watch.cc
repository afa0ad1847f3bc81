#include "agent/bolt_watch.h"

#include <sys/inotify.h>

#include <algorithm>

#include "common/log.h"

namespace tailsafe {

BoltWatch::BoltWatch(InotifyWatcher* watcher, std::string bolt, std::function<void(bool)> check)
    : watcher_(watcher), bolt_(std::move(bolt)), check_(std::move(check)) {}

void BoltWatch::Start(const std::string& dir, const std::string& base) {
  events_ = watcher_->Subscribe([this](std::span<const InotifyWatcher::Event> events) { OnEvents(events); });
  MoveTo(dir, base);
}

void BoltWatch::Stop() {
  inode_watches_.clear();
  dir_watch_.Reset();
  events_.Reset();
}

void BoltWatch::MoveTo(const std::string& dir, const std::string& base) {
  dir_ = dir;
  base_ = base;
  dir_watch_.Reset();
  if (!events_) return;
  if (Status w = WatchDir(); !w) LOG_WARN("bolt %s: %s; retrying every rescan", bolt_.c_str(), w.message().c_str());
}

void BoltWatch::Retry() {
  if (events_ && !dir_watch_) (void)WatchDir();
}

Status BoltWatch::WatchDir() {
  Result<InotifyWatcher::Watch> w = events_.Add(
      dir_, IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_ATTRIB | IN_ONLYDIR, base_);
  if (!w) return w.status();
  dir_watch_ = std::move(w.value());
  return Status::Ok();
}

void BoltWatch::WatchInode(const Generation& g) {
  if (!events_ || !g.fd()) return;  // Start()'s caller watches every open generation once started
  auto key = std::make_pair(g.dev(), g.ino());
  if (inode_watches_.count(key)) return;
  std::string proc = "/proc/self/fd/" + std::to_string(g.fd()->get());
  Result<InotifyWatcher::Watch> w = events_.Add(proc, IN_MODIFY | IN_ATTRIB | IN_MOVE_SELF | IN_DELETE_SELF);
  if (!w) {
    LOG_DEBUG("bolt %s: %s", bolt_.c_str(), w.status().message().c_str());
    return;
  }
  inode_watches_.emplace(key, std::move(w.value()));
}

void BoltWatch::ForgetClosedInodes(const std::deque<std::shared_ptr<Generation>>& open) {
  std::erase_if(inode_watches_, [&](const auto& entry) {
    return std::none_of(open.begin(), open.end(), [&](const auto& g) {
      return g->fd() && g->dev() == entry.first.first && g->ino() == entry.first.second;
    });
  });
}

void BoltWatch::OnEvents(std::span<const InotifyWatcher::Event> events) {
  bool overflow = false;
  bool relevant = false;
  bool entry = false;  // something other than a write: the path may name another file
  for (const InotifyWatcher::Event& ev : events) {
    ++events_seen_;
    if (ev.mask & IN_Q_OVERFLOW) {
      overflow = true;
    } else if (dir_watch_ && ev.watch == dir_watch_.id()) {
      if (ev.mask & IN_IGNORED) dir_watch_.Reset();  // directory gone; Retry() watches it again
      // An event about the bolt's entry (the watch asked for no other); not the directory's own.
      if (!ev.name.empty()) relevant = entry = true;
    } else {
      relevant = true;
      if ((ev.mask & ~static_cast<uint32_t>(IN_MODIFY)) != 0) entry = true;
    }
  }
  if (overflow) {
    ++overflows_;
    LOG_NOTICE("bolt %s: inotify queue overflowed; rescanning", bolt_.c_str());
  }
  if (overflow || relevant) check_(overflow || entry || !dir_watch_);
}

}  // namespace tailsafe
