#include "agent/bolt_source.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/clock.h"
#include "common/hash.h"
#include "common/log.h"
#include "common/wire.h"

namespace tailsafe {
namespace {

constexpr uint64_t kMaxCachedFrameBytes = 16u << 20;  // encoded bytes per generation
constexpr uint64_t kInlineEncodeBytes = 64u << 10;     // larger frames are encoded off the loop
constexpr size_t kMaxEncodeJobs = 3;                   // per generation, counting prefetch
constexpr size_t kMaxGrowthPoints = 4096;

Fd OpenForReading(const std::string& path, int dirfd = AT_FDCWD) {
  // O_NOATIME spares the disk an inode write per read; only the owner (or root) may use it.
  int fd = ::openat(dirfd, path.c_str(), O_RDONLY | O_CLOEXEC | O_NOATIME | O_NOFOLLOW);
  if (fd < 0 && errno == EPERM) fd = ::openat(dirfd, path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  return Fd(fd);
}

// True if another process has the file open for writing: the kernel refuses a read lease then.
// Without the right to take leases (not the owner, no CAP_LEASE) this cannot be known: false,
// and time alone decides. The lease is dropped at once; SIGIO is ignored by the agent.
bool OpenForWritingElsewhere(int fd) {
  if (::fcntl(fd, F_SETLEASE, F_RDLCK) == 0) {
    ::fcntl(fd, F_SETLEASE, F_UNLCK);
    return false;
  }
  return errno == EAGAIN;
}

bool PreadFull(int fd, char* buf, size_t n, uint64_t offset) {
  size_t done = 0;
  while (done < n) {
    ssize_t r = ::pread(fd, buf + done, n - done, static_cast<off_t>(offset + done));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    done += static_cast<size_t>(r);
  }
  return true;
}

}  // namespace

uint64_t Generation::FirstUnackedNs(uint64_t acked) const {
  for (const auto& [sz, t] : growth) {
    if (sz > acked) return t;
  }
  return 0;
}

BoltSource::BoltSource(uv_loop_t* loop, InotifyWatcher* watcher, const BoltConfig& bolt, const AgentConfig& agent,
                       Hooks hooks, uint32_t* next_stream)
    : loop_(loop),
      bolt_(bolt),
      chunk_bytes_(agent.chunk_bytes),
      window_bytes_(agent.window_bytes),
      compression_level_(agent.compression_level),
      seal_after_ms_(agent.seal_after_ms),
      rescan_ms_(agent.rescan_interval_ms),
      hooks_(std::move(hooks)),
      next_stream_(next_stream),
      watcher_(watcher) {
  SplitPath();
}

BoltSource::~BoltSource() { Stop(); }

void BoltSource::SplitPath() {
  size_t slash = bolt_.file.rfind('/');
  dir_ = slash == 0 ? "/" : bolt_.file.substr(0, slash);
  base_ = bolt_.file.substr(slash + 1);
}

void BoltSource::Reconfigure(const BoltConfig& bolt) {
  if (retiring_ || bolt.file == bolt_.file) {
    bolt_ = bolt;
    return;
  }
  Check();  // the old file's last bytes belong to its generation
  if (Generation* g = Active()) {
    g->state = GenState::kRetired;
    g->last_growth_ns = NowNs();
    g->row_dirty = true;
    ++stats_.rotations;
    LOG_INFO("bolt %s: the configuration moved it from %s to %s; generation %llu continues until it stops growing",
             bolt.name.c_str(), bolt_.file.c_str(), bolt.file.c_str(), static_cast<unsigned long long>(g->gen));
  }
  pending_checkpoint_.reset();  // it was about the old file
  bolt_ = bolt;
  SplitPath();
  dir_watch_.Reset();
  if (events_) {
    Status w = SetUpWatches();
    if (!w) LOG_WARN("bolt %s: %s; retrying every rescan", bolt_.name.c_str(), w.message().c_str());
  }
  Check();  // opens the new path's generation, if the file is there
}

void BoltSource::Retire() {
  if (retiring_) return;
  Check();  // read every generation to the end the files have now
  for (auto& g : gens_) {
    if (g->state != GenState::kActive && g->state != GenState::kRetired) continue;
    g->state = GenState::kSealed;
    g->final_size = g->size;
    g->row_dirty = true;
    LOG_INFO("bolt %s: removed; generation %llu sealed at %llu bytes", bolt_.name.c_str(),
             static_cast<unsigned long long>(g->gen), static_cast<unsigned long long>(g->size));
  }
  retiring_ = true;
  // No more watching; encode jobs in flight (alive_) still deliver, for the peers to catch up.
  inode_watches_.clear();
  dir_watch_.Reset();
  events_.Reset();
  rescan_timer_.Reset();
  seal_timer_.Reset();
  ReleaseAcked();
  hooks_.request_commit();
  hooks_.changed();
}

void BoltSource::Stop() {
  alive_.reset();  // encode jobs still in flight deliver nothing after this
  inode_watches_.clear();
  dir_watch_.Reset();
  events_.Reset();
  rescan_timer_.Reset();
  seal_timer_.Reset();
}

Generation* BoltSource::Active() {
  for (auto& g : gens_) {
    if (g->state == GenState::kActive) return g.get();
  }
  return nullptr;
}

void BoltSource::Restore(const OriginGenRow& row, uint64_t now) {
  next_gen_ = std::max(next_gen_, row.gen + 1);
  if (row.state == GenState::kReleased || row.state == GenState::kLost) return;
  auto g = std::make_shared<Generation>();
  g->bolt = bolt_.name;
  g->gen = row.gen;
  g->stream = (*next_stream_)++;
  g->dev = row.dev;
  g->ino = row.ino;
  g->head_len = row.head_len;
  g->head_hash = row.head_hash;
  g->state = row.state;
  g->final_size = row.final_size;
  g->persisted = true;
  g->row_dirty = false;
  g->last_growth_ns = now;
  // Find the generation's inode again: at the path, or renamed within the directory.
  Fd fd;
  struct stat st;
  if (::stat(bolt_.file.c_str(), &st) == 0 && st.st_dev == row.dev && st.st_ino == row.ino) {
    fd = OpenForReading(bolt_.file);
  } else {
    fd = FindInodeInDir(row.dev, row.ino);
    if (fd && g->state == GenState::kActive) g->state = GenState::kRetired;  // rotated while we were down
  }
  bool head_changed = fd && !HeadMatches(fd.get(), row.head_len, row.head_hash);
  if (head_changed) fd.Reset();
  if (!fd) {
    gens_.push_back(g);
    // copytruncate (or a copy and a delete) while the agent was down: a copy in the directory
    // that begins with the generation's head holds its bytes.
    if (FindCopy(*g)) {
      ++stats_.copies_found;
      return;
    }
    if (head_changed) {
      ++stats_.divergences;
      LOG_WARN("bolt %s: generation %llu: the file's first %u bytes changed while the agent was down and "
               "no copy of it was found; it is treated as a new generation", bolt_.name.c_str(),
               static_cast<unsigned long long>(row.gen), row.head_len);
    }
    MarkLost(*g, "its file is gone from " + dir_ + " (rotated away or deleted while the agent was down)");
    return;
  }
  struct stat fst;
  if (::fstat(fd.get(), &fst) == 0) g->size = static_cast<uint64_t>(fst.st_size);
  if (g->state == GenState::kSealed) g->size = std::min(g->size, g->final_size);
  g->fd = std::make_shared<Fd>(std::move(fd));
  if (g->size > 0) g->growth.emplace_back(g->size, now);
  gens_.push_back(g);
}

Status BoltSource::Start(const std::vector<OriginGenRow>& rows) {
  uint64_t now = NowNs();
  for (const OriginGenRow& row : rows) Restore(row, now);

  auto timer = MakeUv<uv_timer_t>(uv_timer_init, loop_);
  if (!timer) return timer.status();
  rescan_timer_ = std::move(timer.value());
  rescan_timer_->data = this;
  uv_timer_start(rescan_timer_.get(), [](uv_timer_t* t) {
    auto* self = static_cast<BoltSource*>(t->data);
    if (!self) return;
    ++self->stats_.rescans_timer;
    if (!self->dir_watch_) (void)self->SetUpWatches();
    self->Check();
    // The safety net also retries shipping that stopped on an error (a failed read or encode)
    // while the file itself did not change.
    self->hooks_.changed();
  }, rescan_ms_, rescan_ms_);

  auto seal = MakeUv<uv_timer_t>(uv_timer_init, loop_);
  if (!seal) return seal.status();
  seal_timer_ = std::move(seal.value());
  seal_timer_->data = this;

  events_ = watcher_->Subscribe([this](std::span<const InotifyWatcher::Event> events) { OnEvents(events); });
  Status w = SetUpWatches();
  if (!w) LOG_WARN("bolt %s: %s; retrying every rescan", bolt_.name.c_str(), w.message().c_str());
  for (auto& g : gens_) {
    if (g->fd) WatchInode(*g);
  }
  Check();
  return Status::Ok();
}

Status BoltSource::SetUpWatches() {
  // Only this bolt's entry: the other files of the directory (other bolts', checkpoints) are noise.
  Result<InotifyWatcher::Watch> w = events_.Add(
      dir_, IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_ATTRIB | IN_ONLYDIR, base_);
  if (!w) return w.status();
  dir_watch_ = std::move(w.value());
  return Status::Ok();
}

void BoltSource::WatchInode(const Generation& g) {
  // The /proc/self/fd link resolves to the open inode even after a rename or unlink, so a
  // rotated-away generation keeps producing events while it is read to its end.
  if (!events_ || !g.fd) return;  // Start() watches every open generation once it subscribes
  auto key = std::make_pair(g.dev, g.ino);
  if (inode_watches_.count(key)) return;
  std::string proc = "/proc/self/fd/" + std::to_string(g.fd->get());
  Result<InotifyWatcher::Watch> w = events_.Add(proc, IN_MODIFY | IN_ATTRIB | IN_MOVE_SELF | IN_DELETE_SELF);
  if (!w) {
    LOG_DEBUG("bolt %s: %s", bolt_.name.c_str(), w.status().message().c_str());
    return;
  }
  inode_watches_.emplace(key, std::move(w.value()));
}

void BoltSource::ForgetClosedInodes() {
  std::erase_if(inode_watches_, [this](const auto& entry) {
    for (const auto& g : gens_) {
      if (g->fd && g->dev == entry.first.first && g->ino == entry.first.second) return false;
    }
    return true;
  });
}

void BoltSource::OnEvents(std::span<const InotifyWatcher::Event> events) {
  bool overflow = false;
  bool relevant = false;
  for (const InotifyWatcher::Event& ev : events) {
    ++stats_.events;
    if (ev.mask & IN_Q_OVERFLOW) {
      overflow = true;
    } else if (dir_watch_ && ev.watch == dir_watch_.id()) {
      if (ev.mask & IN_IGNORED) dir_watch_.Reset();  // directory gone; the timer watches it again
      // An event about the bolt's entry (the watch asked for no other); not the directory's own.
      if (!ev.name.empty()) relevant = true;
    } else {
      relevant = true;
    }
  }
  if (overflow) {
    // Events were dropped: count it, make it visible, and reconcile everything once.
    ++stats_.rescans_overflow;
    LOG_NOTICE("bolt %s: inotify queue overflowed; rescanning", bolt_.name.c_str());
  }
  if (overflow || relevant) Check();
}

void BoltSource::SetCheckpoint(uint64_t offset) {
  Generation* g = Active();
  if (g == nullptr) {
    // The bolt's file is not seen yet (its checkpoint's event came first): the checkpoint is
    // for the file about to be found.
    pending_checkpoint_ = offset;
    return;
  }
  g->has_checkpoint = true;
  g->checkpoint = offset;
  hooks_.changed();
}

void BoltSource::Check() {
  if (retiring_) {  // sealed: only acknowledgements matter now
    ReleaseAcked();
    return;
  }
  uint64_t now = NowNs();
  bool changed = false;

  // 1. Sizes of every open generation (fstat is the truth, events only hints).
  for (size_t i = 0; i < gens_.size(); ++i) {
    Generation& g = *gens_[i];
    if (!g.fd || g.state == GenState::kLost) continue;
    struct stat st;
    if (::fstat(g.fd->get(), &st) != 0) continue;
    if (g.state == GenState::kSealed) {
      // Nothing should write to a sealed generation; if something does, say so loudly.
      uint64_t sz = static_cast<uint64_t>(st.st_size);
      if (sz > g.size) {
        stats_.bytes_after_seal += sz - g.size;
        LOG_ERROR("bolt %s: %llu bytes were appended to generation %llu after it was sealed at %llu bytes; "
                  "they are not replicated (a process wrote to the rotated file long after rotation)",
                  bolt_.name.c_str(), static_cast<unsigned long long>(sz - g.size),
                  static_cast<unsigned long long>(g.gen), static_cast<unsigned long long>(g.final_size));
        g.size = sz;
      }
      continue;
    }
    uint64_t sz = static_cast<uint64_t>(st.st_size);
    // A file truncated and refilled past its old size between two checks looks like growth to
    // fstat; its first bytes give it away, so they are compared on every growth.
    bool rewritten = sz > g.size && g.head_len > 0 && !HeadMatches(g.fd->get(), g.head_len, g.head_hash);
    if (sz < g.size || rewritten) {
      HandleShrink(g, sz);
      changed = true;
    } else if (sz > g.size) {
      g.size = sz;
      g.last_growth_ns = now;
      if (!g.growth.empty() && now - g.growth.back().second < 1000000) {
        g.growth.back().first = sz;  // coalesce points within 1 ms
      } else {
        if (g.growth.size() >= kMaxGrowthPoints) g.growth.erase(g.growth.begin() + 1);
        g.growth.emplace_back(sz, now);
      }
      if (g.head_len < kHeadBytes) UpdateHead(g);
      changed = true;
    }
  }

  // 2. Does the path still name the active generation?
  struct stat pst;
  if (::stat(bolt_.file.c_str(), &pst) == 0 && S_ISREG(pst.st_mode)) {
    Generation* active = Active();
    if (active == nullptr || active->dev != pst.st_dev || active->ino != pst.st_ino) {
      if (active != nullptr) {
        // Rotated (renamed or deleted, and a new file created): read the old one to its end.
        active->state = GenState::kRetired;
        active->last_growth_ns = now;
        active->row_dirty = true;
        ++stats_.rotations;
        LOG_INFO("bolt %s: %s names a new file; generation %llu continues until it stops growing",
                 bolt_.name.c_str(), bolt_.file.c_str(), static_cast<unsigned long long>(active->gen));
      }
      OpenNewGeneration(active ? "rotation" : "file appeared");
      changed = true;
    }
  }

  // 3. Seal rotated-away generations that stopped growing and that nobody holds open for
  //    writing any more (a bolt that has not reopened its file yet may write again later).
  uint64_t seal_ns = uint64_t{seal_after_ms_} * 1000000;
  for (auto& g : gens_) {
    if (g->state == GenState::kRetired && now - g->last_growth_ns >= seal_ns && now >= g->seal_check_ns) {
      if (g->fd && OpenForWritingElsewhere(g->fd->get())) {
        if (g->seal_check_ns == 0) {
          LOG_INFO("bolt %s: generation %llu is quiet but still open for writing by another process; "
                   "it stays open until that process closes it", bolt_.name.c_str(),
                   static_cast<unsigned long long>(g->gen));
        }
        g->seal_check_ns = now + seal_ns;
        continue;
      }
      g->state = GenState::kSealed;
      g->final_size = g->size;
      g->row_dirty = true;
      changed = true;
      LOG_INFO("bolt %s: generation %llu sealed at %llu bytes", bolt_.name.c_str(),
               static_cast<unsigned long long>(g->gen), static_cast<unsigned long long>(g->size));
    }
  }
  ReleaseAcked();
  ArmSealTimer();
  bool dirty = !released_rows_.empty();
  for (auto& g : gens_) dirty = dirty || g->row_dirty;
  if (dirty) hooks_.request_commit();
  if (changed) hooks_.changed();
}

void BoltSource::ArmSealTimer() {
  uint64_t now = NowNs();
  uint64_t soonest = UINT64_MAX;
  for (auto& g : gens_) {
    if (g->state != GenState::kRetired) continue;
    uint64_t due = std::max(g->last_growth_ns + uint64_t{seal_after_ms_} * 1000000, g->seal_check_ns);
    soonest = std::min(soonest, due > now ? due - now : 0);
  }
  if (!seal_timer_) return;  // stopped
  if (soonest == UINT64_MAX) {
    uv_timer_stop(seal_timer_.get());
    return;
  }
  uv_timer_start(seal_timer_.get(), [](uv_timer_t* t) {
    if (auto* self = static_cast<BoltSource*>(t->data)) self->Check();
  }, soonest / 1000000 + 1, 0);
}

void BoltSource::OpenNewGeneration(const char* why) {
  Fd fd = OpenForReading(bolt_.file);
  if (!fd) {
    LOG_WARN("bolt %s: cannot open %s: %s", bolt_.name.c_str(), bolt_.file.c_str(), strerror(errno));
    return;
  }
  Generation* g = AddGeneration(std::make_shared<Fd>(std::move(fd)));
  if (g == nullptr) return;
  WatchInode(*g);
  LOG_INFO("bolt %s: generation %llu starts (%s, %llu bytes already in %s)", bolt_.name.c_str(),
           static_cast<unsigned long long>(g->gen), why, static_cast<unsigned long long>(g->size),
           bolt_.file.c_str());
}

Generation* BoltSource::AddGeneration(std::shared_ptr<Fd> fd) {
  struct stat st;
  if (::fstat(fd->get(), &st) != 0) return nullptr;
  auto g = std::make_shared<Generation>();
  g->bolt = bolt_.name;
  g->gen = next_gen_++;
  g->stream = (*next_stream_)++;
  g->dev = st.st_dev;
  g->ino = st.st_ino;
  g->size = static_cast<uint64_t>(st.st_size);
  g->last_growth_ns = NowNs();
  if (g->size > 0) g->growth.emplace_back(g->size, g->last_growth_ns);
  g->fd = std::move(fd);
  if (pending_checkpoint_) {
    g->has_checkpoint = true;
    g->checkpoint = *pending_checkpoint_;
    pending_checkpoint_.reset();
  }
  UpdateHead(*g);
  gens_.push_back(g);
  hooks_.request_commit();
  return g.get();
}

void BoltSource::HandleShrink(Generation& g, uint64_t new_size) {
  ++stats_.truncations;
  bool at_path = g.state == GenState::kActive;
  LOG_INFO("bolt %s: generation %llu was truncated (%llu bytes before, %llu now)", bolt_.name.c_str(),
           static_cast<unsigned long long>(g.gen), static_cast<unsigned long long>(g.size),
           static_cast<unsigned long long>(new_size));
  if (FindCopy(g)) {
    ++stats_.copies_found;
  } else if (hooks_.min_acked(g) >= g.size) {  // every peer holds every byte: nothing is lost
    LOG_INFO("bolt %s: generation %llu ends at %llu bytes, all held by every peer", bolt_.name.c_str(),
             static_cast<unsigned long long>(g.gen), static_cast<unsigned long long>(g.size));
    g.state = GenState::kSealed;
    g.final_size = g.size;
    g.fd.reset();  // the inode goes on as the next generation
    ClearFrames(g);
    g.row_dirty = true;
  } else {
    MarkLost(g, "the file was truncated in place and no copy of it was found in " + dir_ +
                    "; bytes not yet shipped are lost");
  }
  // The truncated inode itself continues as a new generation from offset 0.
  if (at_path) OpenNewGeneration("truncation");
}

bool BoltSource::FindCopy(Generation& g) {
  // copytruncate copies the file, then truncates it: a copy holds every byte the generation
  // had, and begins with the same head bytes. Take the most recently modified such file.
  DIR* d = opendir(dir_.c_str());
  if (d == nullptr) return false;
  Fd best;
  struct stat best_st {};
  std::string best_name;
  while (struct dirent* e = readdir(d)) {
    if (e->d_name == base_ || e->d_name[0] == '.') continue;
    struct stat st;
    if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode)) continue;
    if (st.st_ino == g.ino && st.st_dev == g.dev) continue;
    if (static_cast<uint64_t>(st.st_size) < g.size || g.head_len == 0) continue;
    if (best && st.st_mtim.tv_sec < best_st.st_mtim.tv_sec) continue;
    Fd fd = OpenForReading(e->d_name, dirfd(d));
    if (!fd || !HeadMatches(fd.get(), g.head_len, g.head_hash)) continue;
    best = std::move(fd);
    best_st = st;
    best_name = e->d_name;
  }
  closedir(d);
  if (!best) return false;
  LOG_INFO("bolt %s: generation %llu continues from its copy %s/%s (%lld bytes)", bolt_.name.c_str(),
           static_cast<unsigned long long>(g.gen), dir_.c_str(), best_name.c_str(),
           static_cast<long long>(best_st.st_size));
  g.fd = std::make_shared<Fd>(std::move(best));
  g.dev = best_st.st_dev;
  g.ino = best_st.st_ino;
  g.size = static_cast<uint64_t>(best_st.st_size);
  g.state = GenState::kRetired;
  g.last_growth_ns = NowNs();
  g.row_dirty = true;
  ClearFrames(g);
  WatchInode(g);
  return true;
}

Fd BoltSource::FindInodeInDir(uint64_t dev, uint64_t ino) {
  DIR* d = opendir(dir_.c_str());
  if (d == nullptr) return Fd();
  Fd found;
  while (struct dirent* e = readdir(d)) {
    if (e->d_ino != ino) continue;
    struct stat st;
    if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_dev == dev && st.st_ino == ino &&
        S_ISREG(st.st_mode)) {
      found = OpenForReading(e->d_name, dirfd(d));
      break;
    }
  }
  closedir(d);
  return found;
}

bool BoltSource::HeadMatches(int fd, uint32_t head_len, uint64_t head_hash) {
  if (head_len == 0) return true;
  std::string buf(head_len, '\0');
  return PreadFull(fd, buf.data(), head_len, 0) && Hash64(buf) == head_hash;
}

void BoltSource::UpdateHead(Generation& g) {
  uint32_t want = static_cast<uint32_t>(std::min<uint64_t>(g.size, kHeadBytes));
  if (want <= g.head_len) return;
  std::string buf(want, '\0');
  if (!PreadFull(g.fd->get(), buf.data(), want, 0)) return;
  g.head_len = want;
  g.head_hash = Hash64(buf);
  g.row_dirty = true;
}

void BoltSource::MarkLost(Generation& g, const std::string& why) {
  if (hooks_.lost) hooks_.lost(g);
  ++stats_.generations_lost;
  LOG_WARN("bolt %s: generation %llu can no longer be read: %s", bolt_.name.c_str(),
           static_cast<unsigned long long>(g.gen), why.c_str());
  g.state = GenState::kLost;
  g.fd.reset();
  ClearFrames(g);
  g.row_dirty = true;
}

void BoltSource::Diverged(Generation& g, const std::string& why) {
  if (g.state == GenState::kLost) return;
  ++stats_.divergences;
  LOG_ERROR("bolt %s: generation %llu diverged: %s; the replicas are kept as they are and the file "
            "continues as a new generation", bolt_.name.c_str(), static_cast<unsigned long long>(g.gen), why.c_str());
  bool was_active = g.state == GenState::kActive;
  std::shared_ptr<Fd> fd = g.fd;
  MarkLost(g, "diverged");
  if (!was_active || !fd) return;
  AddGeneration(fd);
  hooks_.changed();
}

void BoltSource::ReleaseAcked() {
  bool erased = false;
  for (auto it = gens_.begin(); it != gens_.end();) {
    Generation& g = **it;
    uint64_t acked = hooks_.min_acked(g);
    uint64_t behind = std::max(acked, hooks_.min_cursor(g));
    while (!g.frames.empty() && g.frames.begin()->first + g.frames.begin()->second.first <= behind) {
      DropFrame(g, g.frames.begin());
    }
    while (g.growth.size() > 1 && g.growth.front().first <= acked) g.growth.pop_front();
    if (!g.growth.empty() && g.growth.front().first <= acked) g.growth.clear();
    bool done = (g.state == GenState::kSealed && g.persisted && !g.row_dirty && acked >= g.final_size &&
                 (!hooks_.seal_held || hooks_.seal_held(g))) ||
                (g.state == GenState::kLost && !g.row_dirty);
    if (!done) {
      ++it;
      continue;
    }
    if (g.state == GenState::kSealed) {
      g.state = GenState::kReleased;
      released_rows_.push_back({g.bolt, g.gen, g.dev, g.ino, g.head_len, g.head_hash, g.state, g.final_size});
      LOG_INFO("bolt %s: generation %llu fully acknowledged by every peer; closed", bolt_.name.c_str(),
               static_cast<unsigned long long>(g.gen));
      // Its row must reach state.db, also when nothing else is committed soon: a removed bolt
      // leaves sources_ only once its rows are written (Drained()).
      hooks_.request_commit();
    }
    g.fd.reset();
    ClearFrames(g);
    it = gens_.erase(it);
    erased = true;
  }
  if (erased) ForgetClosedInodes();
}

void BoltSource::Collect(Committer::Batch* batch) {
  for (auto& row : released_rows_) batch->rows.origin_gens.push_back(row);
  released_rows_.clear();
  for (auto& gp : gens_) {
    Generation& g = *gp;
    if (!g.row_dirty) continue;
    g.row_dirty = false;
    batch->rows.origin_gens.push_back(
        {g.bolt, g.gen, g.dev, g.ino, g.head_len, g.head_hash, g.state, g.final_size});
    std::weak_ptr<Generation> weak = gp;
    batch->on_durable.push_back([this, weak] {
      auto locked = weak.lock();
      if (!locked) return;
      bool newly = !locked->persisted;
      locked->persisted = true;
      if (newly) hooks_.changed();
      if (locked->state == GenState::kLost || locked->state == GenState::kSealed) ReleaseAcked();
    });
  }
}

namespace {

// Reads and encodes bytes [offset, offset + n) of a generation: runs on the loop for small
// frames and on a worker thread for large ones, so it touches nothing but its arguments.
Result<std::string> EncodeRange(int fd, uint32_t stream, uint64_t offset, uint64_t n, Compressor* c,
                                std::unique_ptr<char[]>* buf, size_t* buf_size) {
  if (*buf_size < n) {
    buf->reset(new char[n]);  // not zero-filled: pread overwrites it
    *buf_size = n;
  }
  if (!PreadFull(fd, buf->get(), n, offset)) {
    return Status::Error("short read at offset " + std::to_string(offset));
  }
  return EncodeData(stream, offset, std::string_view(buf->get(), n), c);
}

}  // namespace

struct BoltSource::EncodeJob {
  uv_work_t req;
  std::weak_ptr<int> alive;  // of the BoltSource
  BoltSource* source;
  std::shared_ptr<Generation> gen;
  std::shared_ptr<Fd> fd;
  uint32_t stream;
  uint64_t offset;
  uint64_t n;
  std::unique_ptr<Compressor> compressor;
  std::unique_ptr<char[]> buf;
  size_t buf_size = 0;
  Result<std::string> out = Status::Error("not run");
};

std::unique_ptr<Compressor> BoltSource::TakeCompressor() {
  if (compressors_.empty()) return std::make_unique<Compressor>(compression_level_);
  auto c = std::move(compressors_.back());
  compressors_.pop_back();
  return c;
}

BoltSource::FrameStatus BoltSource::GetFrame(Generation& g, uint64_t offset, uint64_t max_len, uint32_t* raw_len,
                                             std::shared_ptr<const std::string>* frame, Status* error) {
  auto it = g.frames.find(offset);
  if (it != g.frames.end() && it->second.first <= max_len) {
    ++stats_.frame_cache_hits;
    *raw_len = it->second.first;
    *frame = it->second.second;
    return FrameStatus::kReady;
  }
  if (g.encoding.count(offset)) return FrameStatus::kPending;
  if (!g.fd) {
    *error = Status::Error("generation " + std::to_string(g.gen) + " is closed");
    return FrameStatus::kError;
  }
  uint64_t n = std::min<uint64_t>({max_len, chunk_bytes_, kMaxDataRaw});
  if (n == 0) {
    *error = Status::Error("empty read");
    return FrameStatus::kError;
  }
  if (n <= kInlineEncodeBytes) {
    // Small frames (the common case at low rates: one write, one frame) cost less inline than a
    // round trip through the thread pool, and bound the loop's pause to ~0.1 ms.
    if (!inline_compressor_) inline_compressor_ = TakeCompressor();
    Result<std::string> encoded = EncodeRange(g.fd->get(), g.stream, offset, n, inline_compressor_.get(), &read_buf_,
                                              &read_buf_size_);
    if (!encoded) {
      *error = encoded.status().Context("bolt " + bolt_.name + " generation " + std::to_string(g.gen));
      return FrameStatus::kError;
    }
    *frame = CacheFrame(g, offset, n, std::move(encoded.value()));
    *raw_len = static_cast<uint32_t>(n);
    return FrameStatus::kReady;
  }
  // Large frames: encode on the thread pool, and prefetch the next full chunks while at it.
  std::shared_ptr<Generation> gp;
  for (auto& candidate : gens_) {
    if (candidate.get() == &g) gp = candidate;
  }
  if (!gp) {
    *error = Status::Error("generation is gone");
    return FrameStatus::kError;
  }
  StartEncode(gp, offset, n);
  // Prefetch only within one window of cached frames: the budget limits reading ahead, never
  // what a cursor asked for.
  for (uint64_t next = offset + n; g.encoding.size() < kMaxEncodeJobs && next + chunk_bytes_ <= g.size &&
                                   g.frame_raw_bytes + chunk_bytes_ * g.encoding.size() < window_bytes_;
       next += chunk_bytes_) {
    if (!g.frames.count(next) && !g.encoding.count(next)) StartEncode(gp, next, chunk_bytes_);
  }
  return FrameStatus::kPending;
}

void BoltSource::StartEncode(const std::shared_ptr<Generation>& g, uint64_t offset, uint64_t n) {
  auto* job = new EncodeJob{};
  job->req.data = job;
  job->alive = alive_;
  job->source = this;
  job->gen = g;
  job->fd = g->fd;
  job->stream = g->stream;
  job->offset = offset;
  job->n = n;
  job->compressor = TakeCompressor();
  g->encoding.insert(offset);
  int rc = uv_queue_work(
      loop_, &job->req,
      [](uv_work_t* req) {
        auto* j = static_cast<EncodeJob*>(req->data);
        j->out = EncodeRange(j->fd->get(), j->stream, j->offset, j->n, j->compressor.get(), &j->buf, &j->buf_size);
      },
      [](uv_work_t* req, int) {
        std::unique_ptr<EncodeJob> j(static_cast<EncodeJob*>(req->data));
        if (j->alive.expired()) return;  // the source is gone; nothing to deliver
        j->source->FinishEncode(*j);
      });
  if (rc != 0) {
    g->encoding.erase(offset);
    compressors_.push_back(std::move(job->compressor));
    delete job;
  }
}

void BoltSource::FinishEncode(EncodeJob& j) {
  compressors_.push_back(std::move(j.compressor));
  Generation& g = *j.gen;
  g.encoding.erase(j.offset);
  if (!j.out) {
    LOG_WARN("bolt %s: generation %llu: %s", bolt_.name.c_str(), static_cast<unsigned long long>(g.gen),
             j.out.status().message().c_str());
    Check();  // a short read means the file changed under us
    return;
  }
  // A generation that switched files meanwhile (continued from a copytruncate copy) or was
  // lost must not receive bytes read from the file it had before.
  if (g.shippable() && g.fd && g.fd == j.fd) CacheFrame(g, j.offset, j.n, std::move(j.out.value()));
  hooks_.changed();
}

std::shared_ptr<const std::string> BoltSource::CacheFrame(Generation& g, uint64_t offset, uint64_t n, std::string encoded) {
  auto shared = std::make_shared<const std::string>(std::move(encoded));
  ++stats_.frames_encoded;
  // Keep the frames of one window, so peers anywhere within a window of each other share one
  // compression; frames every peer has acknowledged are dropped in ReleaseAcked.
  if (auto old = g.frames.find(offset); old != g.frames.end()) DropFrame(g, old);
  // Frames every connected peer has already sent are of no more use.
  uint64_t behind = hooks_.min_cursor(g);
  while (!g.frames.empty() && g.frames.begin()->first + g.frames.begin()->second.first <= behind) {
    DropFrame(g, g.frames.begin());
  }
  g.frames[offset] = {static_cast<uint32_t>(n), shared};
  g.frame_bytes += shared->size();
  g.frame_raw_bytes += n;
  // Over the memory cap (peers far apart), shed the oldest frames, or the furthest prefetch when
  // the oldest is this one: the frame just asked for must survive, or its cursor would ask again
  // forever.
  while (g.frames.size() > 1 && g.frame_bytes > kMaxCachedFrameBytes) {
    auto victim = g.frames.begin()->first != offset ? g.frames.begin() : std::prev(g.frames.end());
    DropFrame(g, victim);
  }
  return shared;
}

void BoltSource::ClearFrames(Generation& g) {
  g.frames.clear();
  g.encoding.clear();  // jobs still running are dropped on return (their fd no longer matches)
  g.frame_bytes = g.frame_raw_bytes = 0;
}

void BoltSource::DropFrame(Generation& g, std::map<uint64_t, std::pair<uint32_t, std::shared_ptr<const std::string>>>::iterator it) {
  g.frame_bytes -= it->second.second->size();
  g.frame_raw_bytes -= it->second.first;
  g.frames.erase(it);
}

}  // namespace tailsafe
