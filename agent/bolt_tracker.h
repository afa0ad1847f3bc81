// BoltTracker: is each bolt's process alive? (liveness, the trigger of recovery)
//
// A bolt with `pid_file` is tracked like this: the pid file's directory is watched through the
// agent's inotify instance (common/inotify_watcher.h), and on every change of the file, or a
// rescan, the file is read. A pid is taken only if its process started no later than the file was written
// (common/process.h: a reused pid is refused, with a warning), and is then held as a pidfd polled
// on the loop, so the death is seen the moment it happens and never confused with a later
// process under the same number. A new pid in the file starts tracking anew; a pid file that
// disappears changes nothing (the pidfd is the truth for death).
//
// A bolt with a `match` rule is found among the host's processes (common/proc_events.h): through
// the kernel's process events (every exec, as it happens) when the agent has CAP_NET_ADMIN, with
// a /proc scan at start and after lost events; by a /proc scan every rescan interval otherwise.
// Once found, it is held by a pidfd like a pid file's process; after it dies, the next matching
// process is tracked anew. A bolt with neither rule is "untracked".
//
// A bolt's `checkpoint_file` is watched the same way (its directory, plus the rescan) and read
// on every change: the last valid offset is kept, a bad file is logged once and keeps it.
//
// Every death of a tracked process is told (OnDeath) exactly once, however it is noticed: its
// pidfd, or a pid file that names a new process while the old one is already gone (a pause of
// the agent can deliver both at once). OnDeath says whether the pid file names another process
// by then (running or not): the checkpoint file may then hold a successor's checkpoint, even
// one of several successors that came and went while the agent was paused. So every
// checkpoint reading says which process was alive, and tracked, right after it was read: a
// reading taken while the process lived was written by it (or before it), never by a successor.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/config.h"
#include "common/fd.h"
#include "common/inotify_watcher.h"
#include "common/proc_events.h"
#include "common/status.h"
#include "common/uv_handle.h"

namespace tailsafe {

enum class ProcState {
  kUntracked,  // neither pid_file nor match
  kWaiting,    // no usable pid file yet (missing, unreadable, or a pid that is not the bolt)
  kRunning,    // the process is alive and held by a pidfd
  kDead,       // the tracked process exited (or the pid file names no process)
};
const char* ProcStateName(ProcState s);

struct BoltProcess {
  ProcState state = ProcState::kUntracked;
  pid_t pid = 0;                 // the tracked (or last tracked) process
  uint64_t start_boottime_ns = 0;
  uint64_t since_unix_ns = 0;    // when the state last changed (wall clock, for people)
  std::string detail;            // why waiting, or how it ended
  uint64_t deaths = 0;           // exits seen while tracking
};

struct BoltCheckpoint {
  bool known = false;          // a valid checkpoint has been read
  uint64_t offset = 0;
  uint64_t read_unix_ns = 0;   // when it was read
  std::string problem;         // why the file could not be used, if it could not
};

class BoltTracker {
 public:
  // Called on the loop when a tracked process exits. `successor` is true when the pid file names
  // another process by then, alive or not (a match rule never knows: false).
  using OnDeath = std::function<void(const std::string& bolt, const BoltProcess& p, bool successor)>;
  // Called on the loop when a bolt's checkpoint file holds a new valid offset. `writer` is the
  // tracked process if it was alive right after the read (pid 0 otherwise): the checkpoint is
  // then its own or an older one.
  struct Writer {
    pid_t pid = 0;
    uint64_t start_ns = 0;  // boot-time clock
  };
  using OnCheckpoint = std::function<void(const std::string& bolt, uint64_t offset, Writer writer)>;
  // Called on the loop when a process starts being tracked (pid, start time on the boot-time clock).
  using OnTrack = std::function<void(const std::string& bolt, pid_t pid, uint64_t start_ns)>;
  void set_on_track(OnTrack f) { on_track_ = std::move(f); }

  // `loop` and `watcher` outlive this tracker.
  BoltTracker(uv_loop_t* loop, InotifyWatcher* watcher, const std::vector<BoltConfig>& bolts, uint32_t rescan_ms,
              OnDeath on_death, OnCheckpoint on_checkpoint);
  ~BoltTracker();
  BoltTracker(const BoltTracker&) = delete;
  BoltTracker& operator=(const BoltTracker&) = delete;

  // Sets up watches and reads every pid file once. An error only if libuv cannot make a handle.
  Status Start();
  void Stop();
  // A reloaded configuration: bolts whose pid_file, match and checkpoint_file are unchanged keep
  // their tracked process and checkpoint; new or re-ruled ones start afresh; removed ones go.
  Status Update(const std::vector<BoltConfig>& bolts);
  const BoltProcess* Find(const std::string& bolt) const;
  const BoltCheckpoint* FindCheckpoint(const std::string& bolt) const;

 private:
  struct Tracked;
  std::unique_ptr<Tracked> MakeTracked(const BoltConfig& b);
  // Process events for match rules; without them (no CAP_NET_ADMIN) the rescan scans /proc.
  Status OpenProcEvents();
  void Reconcile(Tracked& t);
  // `force`: tell the reading even if the offset is the one already known (at a death).
  void ReadCheckpoint(Tracked& t, bool force = false);
  void Watch(const std::string& dir);
  void WatchAll();
  void OnExit(Tracked& t, bool successor);
  // Whether the pid file names a process other than `t`'s, alive or not.
  bool SuccessorSeen(const Tracked& t) const;
  void SetState(Tracked& t, ProcState s, std::string detail);
  // Which bolts' pid and checkpoint files each watched directory holds (after bolts_ changed).
  void IndexFiles();
  void OnFileEvents(std::span<const InotifyWatcher::Event> events);
  // Holds `pidfd` as the bolt's process and polls it on the loop.
  void Hold(Tracked& t, Fd pidfd, pid_t pid, uint64_t start_boottime_ns);
  void OnProcEvents();
  void ScanMatches();
  void TrackMatch(Tracked& t, pid_t pid);

  uv_loop_t* loop_;
  uint32_t rescan_ms_;
  OnDeath on_death_;
  OnCheckpoint on_checkpoint_;
  OnTrack on_track_;
  std::vector<std::unique_ptr<Tracked>> bolts_;
  InotifyWatcher* watcher_;
  InotifyWatcher::Subscription files_events_;  // once there is anything to watch
  std::map<std::string, InotifyWatcher::Watch> dirs_;  // watched pid file and checkpoint directories
  std::map<WatchTable::Id, std::string> dir_of_watch_;
  // (directory, name) -> the bolts whose pid file (false) or checkpoint file (true) it is.
  std::map<std::pair<std::string, std::string>, std::vector<std::pair<Tracked*, bool>>> files_;
  UvPtr<uv_timer_t> rescan_;
  std::optional<ProcEventSocket> events_;  // with match rules and CAP_NET_ADMIN
  UvPtr<uv_poll_t> events_poll_;
  bool started_ = false;
  bool proc_events_failed_ = false;  // said once; the rescan scans /proc instead
};

}  // namespace tailsafe
