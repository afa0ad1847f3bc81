#include "agent/bolt_tracker.h"

#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <set>

#include "common/checkpoint.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/proc_events.h"
#include "common/process.h"

namespace tailsafe {

namespace {

void SplitPath(const std::string& path, std::string* dir, std::string* base) {
  size_t slash = path.rfind('/');
  *dir = slash == 0 ? "/" : path.substr(0, slash);
  *base = path.substr(slash + 1);
}


}  // namespace

const char* ProcStateName(ProcState s) {
  switch (s) {
    case ProcState::kUntracked: return "untracked";
    case ProcState::kWaiting: return "waiting";
    case ProcState::kRunning: return "running";
    case ProcState::kDead: return "dead";
  }
  return "?";
}

struct BoltTracker::Tracked {
  BoltTracker* owner = nullptr;
  BoltConfig bolt;
  std::string dir;   // the pid file's directory
  std::string base;  // and its name in it
  std::string ckpt_dir, ckpt_base;  // the same for the checkpoint file
  std::string match_exe;            // a match rule's exe, canonical
  BoltProcess proc;
  BoltCheckpoint ckpt;
  Fd pidfd;
  UvPtr<uv_poll_t> poll;
  // The pid file as last read, so an unchanged file is not re-examined (or re-warned about).
  pid_t file_pid = 0;
  struct timespec file_mtime = {0, 0};
  std::string last_problem;
};

BoltTracker::BoltTracker(uv_loop_t* loop, InotifyWatcher* watcher, const std::vector<BoltConfig>& bolts,
                         uint32_t rescan_ms, OnDeath on_death, OnCheckpoint on_checkpoint)
    : loop_(loop),
      rescan_ms_(rescan_ms),
      on_death_(std::move(on_death)),
      on_checkpoint_(std::move(on_checkpoint)),
      watcher_(watcher) {
  for (const BoltConfig& b : bolts) bolts_.push_back(MakeTracked(b));
  IndexFiles();
}

void BoltTracker::IndexFiles() {
  files_.clear();
  for (auto& t : bolts_) {
    if (!t->dir.empty()) files_[{t->dir, t->base}].emplace_back(t.get(), false);
    if (!t->ckpt_dir.empty()) files_[{t->ckpt_dir, t->ckpt_base}].emplace_back(t.get(), true);
  }
}

std::unique_ptr<BoltTracker::Tracked> BoltTracker::MakeTracked(const BoltConfig& b) {
  auto t = std::make_unique<Tracked>();
  t->owner = this;
  t->bolt = b;
  if (!b.checkpoint_file.empty()) SplitPath(b.checkpoint_file, &t->ckpt_dir, &t->ckpt_base);
  if (!b.pid_file.empty()) {
    SplitPath(b.pid_file, &t->dir, &t->base);
    t->proc.state = ProcState::kWaiting;
    t->proc.detail = "pid file not read yet";
  } else if (b.match) {
    char* real = ::realpath(b.match->exe.c_str(), nullptr);  // /proc/PID/exe is canonical
    t->match_exe = real ? real : b.match->exe;
    ::free(real);
    t->proc.state = ProcState::kWaiting;
    t->proc.detail = "no process runs " + t->match_exe +
                     (b.match->arg.empty() ? "" : " with argument '" + b.match->arg + "'") + " yet";
  } else {
    t->proc.detail = "no pid_file or match configured";
  }
  t->proc.since_unix_ns = UnixNowNs();
  return t;
}

Status BoltTracker::Update(const std::vector<BoltConfig>& bolts) {
  std::vector<std::unique_ptr<Tracked>> next;
  std::vector<Tracked*> fresh;
  for (const BoltConfig& b : bolts) {
    std::unique_ptr<Tracked> kept;
    for (auto& t : bolts_) {
      if (!t || t->bolt.name != b.name) continue;
      bool same_match = t->bolt.match.has_value() == b.match.has_value() &&
                        (!b.match || (t->bolt.match->exe == b.match->exe && t->bolt.match->arg == b.match->arg));
      if (t->bolt.pid_file == b.pid_file && same_match && t->bolt.checkpoint_file == b.checkpoint_file) {
        kept = std::move(t);  // the process held, its deaths and its checkpoint carry over
        kept->bolt = b;
      }
      break;
    }
    if (!kept) {
      kept = MakeTracked(b);
      fresh.push_back(kept.get());
    }
    next.push_back(std::move(kept));
  }
  bolts_ = std::move(next);  // bolts removed or re-ruled: their pidfds and polls close
  IndexFiles();
  if (!started_) return Status::Ok();
  if (!files_events_) return Start();  // nothing needed watching before
  if (!events_ && !proc_events_failed_) {
    for (auto& t : bolts_) {
      if (t->match_exe.empty()) continue;
      if (Status s = OpenProcEvents(); !s) return s;
      break;
    }
  }
  WatchAll();
  for (Tracked* t : fresh) {
    if (!t->dir.empty()) Reconcile(*t);
    if (!t->ckpt_dir.empty()) ReadCheckpoint(*t);
  }
  ScanMatches();
  return Status::Ok();
}

Status BoltTracker::OpenProcEvents() {
  auto events = ProcEventSocket::Open();
  if (!events) {
    LOG_NOTICE("bolts with match rules: %s; scanning /proc every %u ms instead", events.status().message().c_str(),
               rescan_ms_);
    proc_events_failed_ = true;
    return Status::Ok();
  }
  events_.emplace(std::move(events.value()));
  auto poll = MakeUv<uv_poll_t>(uv_poll_init, loop_, events_->fd());
  if (!poll) return poll.status();
  events_poll_ = std::move(poll.value());
  events_poll_->data = this;
  uv_poll_start(events_poll_.get(), UV_READABLE, [](uv_poll_t* p, int status, int) {
    auto* self = static_cast<BoltTracker*>(p->data);
    if (self && status == 0) self->OnProcEvents();
  });
  LOG_INFO("bolts with match rules: found through process events");
  return Status::Ok();
}

BoltTracker::~BoltTracker() { Stop(); }

void BoltTracker::Stop() {
  rescan_.Reset();
  events_poll_.Reset();
  events_.reset();
  dirs_.clear();
  dir_of_watch_.clear();
  files_events_.Reset();
  for (auto& t : bolts_) {
    t->poll.Reset();
    t->pidfd.Reset();
  }
}

const BoltProcess* BoltTracker::Find(const std::string& bolt) const {
  for (const auto& t : bolts_) {
    if (t->bolt.name == bolt) return &t->proc;
  }
  return nullptr;
}

const BoltCheckpoint* BoltTracker::FindCheckpoint(const std::string& bolt) const {
  for (const auto& t : bolts_) {
    if (t->bolt.name == bolt) return t->ckpt_dir.empty() ? nullptr : &t->ckpt;
  }
  return nullptr;
}

Status BoltTracker::Start() {
  started_ = true;
  bool any = false, any_match = false;
  for (auto& t : bolts_) {
    any = any || !t->dir.empty() || !t->ckpt_dir.empty() || !t->match_exe.empty();
    any_match = any_match || !t->match_exe.empty();
  }
  if (!any) return Status::Ok();
  if (any_match) {
    if (Status s = OpenProcEvents(); !s) return s;
  }
  files_events_ = watcher_->Subscribe([this](std::span<const InotifyWatcher::Event> e) { OnFileEvents(e); });
  auto timer = MakeUv<uv_timer_t>(uv_timer_init, loop_);
  if (!timer) return timer.status();
  rescan_ = std::move(timer.value());
  rescan_->data = this;
  uv_timer_start(rescan_.get(), [](uv_timer_t* h) {
    auto* self = static_cast<BoltTracker*>(h->data);
    if (!self) return;
    self->WatchAll();  // a directory created after start is watched from the next rescan
    for (auto& t : self->bolts_) {
      if (!t->dir.empty()) self->Reconcile(*t);
      if (!t->ckpt_dir.empty()) self->ReadCheckpoint(*t);
    }
    if (!self->events_) self->ScanMatches();  // without process events, the scan is how bolts are found
  }, rescan_ms_, rescan_ms_);
  WatchAll();
  for (auto& t : bolts_) {
    if (!t->dir.empty()) Reconcile(*t);
    if (!t->ckpt_dir.empty()) ReadCheckpoint(*t);
  }
  ScanMatches();  // bolts that started before the agent
  return Status::Ok();
}

void BoltTracker::WatchAll() {
  for (auto& t : bolts_) {
    if (!t->dir.empty()) Watch(t->dir);
    if (!t->ckpt_dir.empty()) Watch(t->ckpt_dir);
  }
}

void BoltTracker::Watch(const std::string& dir) {
  if (dirs_.count(dir) || !files_events_) return;
  auto w = files_events_.Add(dir, IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_ATTRIB | IN_ONLYDIR);
  if (!w) {
    LOG_DEBUG("%s (yet)", w.status().message().c_str());
    return;
  }
  dir_of_watch_[w->id()] = dir;
  dirs_.emplace(dir, std::move(w.value()));
}

void BoltTracker::ReadCheckpoint(Tracked& t, bool force) {
  auto offset = ReadCheckpointFile(t.bolt.checkpoint_file);
  if (!offset) {
    // Missing before the bolt's first checkpoint is normal; anything else is worth one line.
    std::string problem = offset.status().message();
    bool missing = ::access(t.bolt.checkpoint_file.c_str(), F_OK) != 0 && errno == ENOENT;
    if (!missing && problem != t.ckpt.problem) LOG_WARN("bolt %s: %s", t.bolt.name.c_str(), problem.c_str());
    t.ckpt.problem = missing ? "no checkpoint file yet" : problem;
    return;
  }
  t.ckpt.problem.clear();
  if (t.ckpt.known && t.ckpt.offset == *offset && !force) return;
  // Alive after the read: no successor can have written what was read (a supervisor starts the
  // next process only once this one is gone).
  Writer writer;
  if (t.proc.state == ProcState::kRunning && t.pidfd && PidfdAlive(t.pidfd.get())) {
    writer = {t.proc.pid, t.proc.start_boottime_ns};
  }
  // An unchanged offset is the same reading: its time stays the first read's (the coordinator
  // tells a reading it knows by the two).
  if (!t.ckpt.known || t.ckpt.offset != *offset) t.ckpt.read_unix_ns = UnixNowNs();
  t.ckpt.known = true;
  t.ckpt.offset = *offset;
  LOG_DEBUG("bolt %s: checkpoint %llu", t.bolt.name.c_str(), static_cast<unsigned long long>(*offset));
  if (on_checkpoint_) on_checkpoint_(t.bolt.name, *offset, writer);
}

void BoltTracker::OnFileEvents(std::span<const InotifyWatcher::Event> events) {
  bool overflow = false;
  std::set<Tracked*> pid_hit, ckpt_hit;
  for (const InotifyWatcher::Event& ev : events) {
    if (ev.mask & IN_Q_OVERFLOW) {
      overflow = true;
      continue;
    }
    auto d = dir_of_watch_.find(ev.watch);
    if (d == dir_of_watch_.end()) continue;
    if (ev.mask & IN_IGNORED) {  // the directory is gone; the rescan watches it again
      dirs_.erase(d->second);
      dir_of_watch_.erase(d);
      continue;
    }
    if (ev.name.empty()) continue;
    auto f = files_.find({d->second, std::string(ev.name)});
    if (f == files_.end()) continue;
    for (auto [t, is_ckpt] : f->second) (is_ckpt ? ckpt_hit : pid_hit).insert(t);
  }
  if (!overflow && pid_hit.empty() && ckpt_hit.empty()) return;
  for (auto& t : bolts_) {
    if ((overflow || pid_hit.count(t.get())) && !t->dir.empty()) Reconcile(*t);
    if ((overflow || ckpt_hit.count(t.get())) && !t->ckpt_dir.empty()) ReadCheckpoint(*t);
  }
}

void BoltTracker::SetState(Tracked& t, ProcState s, std::string detail) {
  if (t.proc.state != s) t.proc.since_unix_ns = UnixNowNs();
  t.proc.state = s;
  t.proc.detail = std::move(detail);
}

void BoltTracker::Reconcile(Tracked& t) {
  const std::string& path = t.bolt.pid_file;
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    // A missing pid file says nothing about a process already held: the pidfd does.
    if (t.proc.state != ProcState::kRunning && t.proc.state != ProcState::kDead) {
      SetState(t, ProcState::kWaiting, "no pid file at " + path);
    }
    return;
  }
  // The file is tiny: read it every time rather than trust its mtime (coarse, and a rewrite in
  // the same tick keeps it).
  auto pid = ReadPidFile(path);
  if (!pid) {
    std::string problem = pid.status().message();
    if (problem != t.last_problem) LOG_WARN("bolt %s: %s", t.bolt.name.c_str(), problem.c_str());
    t.last_problem = problem;
    if (t.proc.state != ProcState::kRunning) SetState(t, ProcState::kWaiting, problem);
    return;  // examined again when it changes; a half-written file is normal
  }
  if (t.proc.state == ProcState::kRunning && t.proc.pid == *pid) return;  // rewritten, same process
  if (*pid == t.file_pid && st.st_mtim.tv_sec == t.file_mtime.tv_sec && st.st_mtim.tv_nsec == t.file_mtime.tv_nsec) {
    return;  // this very file was examined already (and named no live bolt)
  }
  t.file_pid = *pid;
  t.file_mtime = st.st_mtim;

  auto proc = OpenBoltProcess(*pid, st.st_mtim);
  if (!proc) {
    std::string problem = "pid file " + path + ": " + proc.status().message();
    if (problem != t.last_problem) LOG_WARN("bolt %s: %s", t.bolt.name.c_str(), problem.c_str());
    t.last_problem = problem;
    if (t.proc.state == ProcState::kRunning) return;  // keep the process already held
    // A pid file naming no live process: the bolt is not running. Whether that was a death
    // while this agent was down is decided by the coordinator, not guessed here.
    t.proc.pid = *pid;
    SetState(t, ProcState::kDead, proc.status().message());
    return;
  }
  t.last_problem.clear();
  if (t.proc.state == ProcState::kRunning && !PidfdAlive(t.pidfd.get())) {
    // The process held exited, and its pidfd's wake-up is still queued behind this event (the
    // agent was paused, or busy): that is its death, told before the successor is tracked.
    OnExit(t, true);
  }
  if (t.proc.state == ProcState::kRunning) {
    LOG_NOTICE("bolt %s: the pid file now names process %d (was %d); tracking it", t.bolt.name.c_str(),
               static_cast<int>(*pid), static_cast<int>(t.proc.pid));
  } else {
    LOG_INFO("bolt %s: tracking process %d", t.bolt.name.c_str(), static_cast<int>(*pid));
  }
  Hold(t, std::move(proc->pidfd), proc->pid, proc->start_boottime_ns);
}

void BoltTracker::Hold(Tracked& t, Fd pidfd, pid_t pid, uint64_t start_boottime_ns) {
  t.poll.Reset();
  t.pidfd = std::move(pidfd);
  t.proc.pid = pid;
  t.proc.start_boottime_ns = start_boottime_ns;
  auto poll = MakeUv<uv_poll_t>(uv_poll_init, loop_, t.pidfd.get());
  if (!poll) {
    LOG_ERROR("bolt %s: cannot poll the pidfd of process %d: %s", t.bolt.name.c_str(), static_cast<int>(pid),
              poll.status().message().c_str());
    t.pidfd.Reset();
    SetState(t, ProcState::kWaiting, poll.status().message());
    return;
  }
  t.poll = std::move(poll.value());
  t.poll->data = &t;
  SetState(t, ProcState::kRunning, "");
  if (on_track_) on_track_(t.bolt.name, pid, start_boottime_ns);
  // A Tracked lives as long as its tracker; the handle's data is cleared when it closes.
  uv_poll_start(t.poll.get(), UV_READABLE, [](uv_poll_t* p, int, int) {
    if (auto* tracked = static_cast<Tracked*>(p->data)) tracked->owner->OnExit(*tracked, tracked->owner->SuccessorSeen(*tracked));
  });
}

void BoltTracker::OnProcEvents() {
  std::vector<pid_t> execs;
  bool overflow = false;
  events_->Drain(&execs, &overflow);
  if (overflow) {
    LOG_INFO("process events were lost (ENOBUFS); scanning /proc");
    ScanMatches();
  }
  for (pid_t pid : execs) {
    for (auto& t : bolts_) {
      if (!t->match_exe.empty() && t->proc.state != ProcState::kRunning) TrackMatch(*t, pid);
    }
  }
}

void BoltTracker::ScanMatches() {
  std::vector<Tracked*> wanted;
  for (auto& t : bolts_) {
    if (!t->match_exe.empty() && t->proc.state != ProcState::kRunning) wanted.push_back(t.get());
  }
  if (wanted.empty()) return;
  // Several matches (a bolt that forks keeps its command line): the oldest is the bolt.
  std::vector<std::pair<uint64_t, pid_t>> best(wanted.size(), {UINT64_MAX, 0});
  for (pid_t pid : ListProcesses()) {
    for (size_t i = 0; i < wanted.size(); ++i) {
      if (!ProcessMatches(pid, wanted[i]->match_exe, wanted[i]->bolt.match->arg)) continue;
      auto start = ProcessStartBoottimeNs(pid);
      if (start && *start < best[i].first) best[i] = {*start, pid};
    }
  }
  for (size_t i = 0; i < wanted.size(); ++i) {
    if (best[i].second != 0) TrackMatch(*wanted[i], best[i].second);
  }
}

void BoltTracker::TrackMatch(Tracked& t, pid_t pid) {
  const std::string& arg = t.bolt.match->arg;
  if (!ProcessMatches(pid, t.match_exe, arg)) return;
  auto pidfd = OpenPidfd(pid);
  if (!pidfd) return;  // gone already
  // Checked again through the pidfd's process: the pid may have been reused in between.
  auto start = ProcessStartBoottimeNs(pid);
  if (!start || !PidfdAlive(pidfd->get()) || !ProcessMatches(pid, t.match_exe, arg)) return;
  LOG_INFO("bolt %s: tracking process %d (runs %s%s)", t.bolt.name.c_str(), static_cast<int>(pid), t.match_exe.c_str(),
           arg.empty() ? "" : (" with argument '" + arg + "'").c_str());
  Hold(t, std::move(pidfd.value()), pid, *start);
}

bool BoltTracker::SuccessorSeen(const Tracked& t) const {
  if (t.bolt.pid_file.empty()) return false;
  auto pid = ReadPidFile(t.bolt.pid_file);
  return pid && *pid != t.proc.pid;
}

void BoltTracker::OnExit(Tracked& t, bool successor) {
  t.poll.Reset();
  t.pidfd.Reset();
  ++t.proc.deaths;
  SetState(t, ProcState::kDead, "process " + std::to_string(t.proc.pid) + " exited");
  LOG_NOTICE("bolt %s: process %d exited", t.bolt.name.c_str(), static_cast<int>(t.proc.pid));
  // Its last checkpoint may still wait in the inotify queue: read it now, before the death is
  // told (without a successor it is the dead process's last word). Told even when unchanged: a
  // checkpoint read before the bolt's file was opened reached no generation, so the agent may
  // hold no reading of it yet.
  if (!t.bolt.checkpoint_file.empty()) ReadCheckpoint(t, true);
  if (on_death_) on_death_(t.bolt.name, t.proc, successor);
}

}  // namespace tailsafe
