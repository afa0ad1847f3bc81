#include "common/inotify_watcher.h"

#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace tailsafe {

struct InotifyWatcher::Core {
  Fd fd;
  WatchTable table;

  void Unwatch(int wd) {
    // The kernel may have dropped it already (IN_IGNORED not yet read): EINVAL, harmless.
    if (wd >= 0 && fd) ::inotify_rm_watch(fd.get(), wd);
  }
};

InotifyWatcher::Watch& InotifyWatcher::Watch::operator=(Watch&& o) noexcept {
  if (this != &o) {
    Reset();
    core_ = std::move(o.core_);
    id_ = std::exchange(o.id_, 0);
  }
  return *this;
}

void InotifyWatcher::Watch::Reset() {
  WatchTable::Id id = std::exchange(id_, 0);
  std::shared_ptr<Core> core = core_.lock();
  core_.reset();
  if (id != 0 && core) core->Unwatch(core->table.RemoveWatch(id));
}

InotifyWatcher::Subscription& InotifyWatcher::Subscription::operator=(Subscription&& o) noexcept {
  if (this != &o) {
    Reset();
    core_ = std::move(o.core_);
    id_ = std::exchange(o.id_, 0);
  }
  return *this;
}

void InotifyWatcher::Subscription::Reset() {
  WatchTable::Id id = std::exchange(id_, 0);
  std::shared_ptr<Core> core = core_.lock();
  core_.reset();
  if (id == 0 || !core) return;
  std::vector<int> unwatch;
  core->table.RemoveSubscriber(id, &unwatch);
  for (int wd : unwatch) core->Unwatch(wd);
}

Result<InotifyWatcher::Watch> InotifyWatcher::Subscription::Add(const std::string& path, uint32_t mask,
                                                                const std::string& name, int* err) {
  std::shared_ptr<Core> core = core_.lock();
  if (id_ == 0 || !core || !core->fd) {
    if (err) *err = EBADF;
    return Status::Error("cannot watch " + path + ": no inotify instance");
  }
  // IN_MASK_ADD: another watch of the same inode keeps the events it asked for.
  int wd = ::inotify_add_watch(core->fd.get(), path.c_str(), mask | IN_MASK_ADD);
  if (wd < 0) {
    int e = errno;
    if (err) *err = e;
    return ErrnoStatus("cannot watch " + path, e);
  }
  Watch w;
  w.core_ = core;
  w.id_ = core->table.AddWatch(id_, wd, mask, name);
  return w;
}

InotifyWatcher::InotifyWatcher(uv_loop_t* loop, uint32_t linger_ms)
    : loop_(loop), linger_ms_(linger_ms), core_(std::make_shared<Core>()) {}

InotifyWatcher::~InotifyWatcher() { Stop(); }

Status InotifyWatcher::Start() {
  if (core_->fd) return Status::Ok();
  int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0) return ErrnoStatus("inotify_init1");
  core_->fd.Reset(fd);
  auto poll = MakeUv<uv_poll_t>(uv_poll_init, loop_, fd);
  if (!poll) {
    core_->fd.Reset();
    return poll.status();
  }
  poll_ = std::move(poll.value());
  poll_->data = this;
  if (linger_ms_ > 0) {
    auto timer = MakeUv<uv_timer_t>(uv_timer_init, loop_);
    if (!timer) {
      Stop();
      return timer.status();
    }
    linger_ = std::move(timer.value());
    linger_->data = this;
  }
  StartPolling();
  return Status::Ok();
}

void InotifyWatcher::Stop() {
  poll_.Reset();
  linger_.Reset();
  core_->fd.Reset();  // every kernel watch goes with it
}

bool InotifyWatcher::running() const { return static_cast<bool>(core_->fd); }

InotifyWatcher::Subscription InotifyWatcher::Subscribe(Callback callback) {
  Subscription s;
  s.core_ = core_;
  s.id_ = core_->table.AddSubscriber(std::move(callback));
  return s;
}

size_t InotifyWatcher::subscribers() const { return core_->table.subscribers(); }
size_t InotifyWatcher::watches() const { return core_->table.watches(); }
size_t InotifyWatcher::wds() const { return core_->table.wds(); }

void InotifyWatcher::StartPolling() {
  uv_poll_start(poll_.get(), UV_READABLE, [](uv_poll_t* p, int status, int) {
    auto* self = static_cast<InotifyWatcher*>(p->data);
    if (self && status == 0) self->OnReadable();
  });
}

void InotifyWatcher::OnReadable() {
  if (!linger_) {
    ReadAndDispatch();
    return;
  }
  // Linger: leave the kernel to merge the events of the next linger_ms (it merges an event
  // identical to the one at its queue's tail), then read them all at once.
  uv_poll_stop(poll_.get());
  uv_timer_start(linger_.get(), [](uv_timer_t* t) {
    auto* self = static_cast<InotifyWatcher*>(t->data);
    if (!self) return;
    self->ReadAndDispatch();
    if (self->poll_) self->StartPolling();
  }, linger_ms_, 0);
}

void InotifyWatcher::ReadAndDispatch() {
  constexpr size_t kMinRoom = 64 * 1024;  // many events, and always one with the longest name
  size_t used = 0;
  for (;;) {
    if (buf_size_ - used < kMinRoom) {  // a long burst: grow, keeping what was read
      size_t size = std::max(buf_size_ * 2, kMinRoom);
      auto bigger = std::make_unique<char[]>(size);
      if (used > 0) std::memcpy(bigger.get(), buf_.get(), used);
      buf_ = std::move(bigger);
      buf_size_ = size;
    }
    ssize_t n = ::read(core_->fd.get(), buf_.get() + used, buf_size_ - used);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // EAGAIN: the queue is empty
    used += static_cast<size_t>(n);
  }
  if (used == 0) return;
  raw_.clear();
  for (size_t off = 0; off + sizeof(struct inotify_event) <= used;) {
    struct inotify_event ev;
    std::memcpy(&ev, buf_.get() + off, sizeof ev);
    const char* name = buf_.get() + off + sizeof ev;
    size_t len = std::min<size_t>(ev.len, used - off - sizeof ev);
    raw_.push_back({ev.wd, ev.mask, ev.cookie, std::string_view(name, strnlen(name, len))});
    off += sizeof ev + ev.len;
    if (ev.mask & IN_Q_OVERFLOW) ++stats_.overflows;
  }
  ++stats_.reads;
  stats_.events += raw_.size();
  // The table may change under the callbacks, and a callback may stop this watcher: hold the core.
  std::shared_ptr<Core> core = core_;
  core->table.Dispatch(raw_);
}

}  // namespace tailsafe
