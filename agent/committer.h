// Committer: group commit of replica bytes and agent state, off the event loop.
//
// Writers mark themselves dirty with Request(). When no commit is in flight, the committer asks
// every collector (on the loop) for what to make durable: files to sync, directories to fsync,
// state rows, and callbacks to run once all of it is on disk. It then syncs the files (an
// fdatasync each, or one syncfs for many on one filesystem: agent/replica_sync.h) and commits
// the rows in one SQLite transaction on a thread of its own (common/work_thread.h). While that runs,
// new writes accumulate for the next batch, so under load each fsync covers many frames.
//
// With a commit interval (agent.commit_interval_ms), a batch starts no sooner than that long
// after the previous one started: at low rates each fdatasync then covers more writes, trading
// up to that much acknowledgement lag for fewer syncs (each costs ~0.1 ms of CPU on a VM).
//
// An fsync failure is fatal for what it covers (PostgreSQL's lesson: after a failed fsync the
// page cache cannot be trusted): the error handler is called and nothing in the batch is ever
// acknowledged. The agent then exits; on restart every replica is cut back to its recorded
// durable size and resumes from there. A state commit that fails because the disk is full is
// different: SQLite rolled it back whole, so the committer keeps the batch, reports itself
// stalled (stall_error(), which health checks turn CRITICAL) and retries it, merged with
// whatever came since, every kFullRetryMs until space returns. Nothing in it is acknowledged
// meanwhile. During a clean stop (Flush) a full disk is an error like any other.
#pragma once

#include <uv.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "agent/state_store.h"
#include "common/fd.h"
#include "common/status.h"
#include "common/uv_handle.h"
#include "common/work_thread.h"

namespace tailsafe {

class Committer {
 public:
  struct Batch {
    StateBatch rows;
    struct File {
      std::shared_ptr<Fd> fd;  // fdatasync
      // After the sync, drop the file's cached pages below this offset (0: keep them). Replicas
      // are written once and read only by a recovery: keeping them cached would crowd the
      // bolts' own pages out of the page cache.
      uint64_t drop_below = 0;
    };
    std::vector<File> files;
    std::vector<std::shared_ptr<Fd>> dirs;   // fsync (new entries)
    std::vector<std::function<void()>> on_durable;
    // Unlinked once the rows are committed (files whose rows this batch deletes: a crash
    // before the unlink leaves a file nothing names, never a row naming no file).
    std::vector<std::string> unlink;
    bool empty() const { return rows.empty() && files.empty() && dirs.empty() && on_durable.empty() && unlink.empty(); }
  };
  using Collector = std::function<void(Batch*)>;

  // `loop` and `store` must outlive this committer.
  Committer(uv_loop_t* loop, StateStore* store, uint32_t interval_ms, std::function<void(const Status&)> on_error);
  void AddCollector(Collector c) { collectors_.push_back(std::move(c)); }
  // Something is dirty: commit as soon as the previous commit (if any) completes and the commit
  // interval since it started has passed.
  void Request();
  bool idle() const { return !in_flight_ && !requested_; }
  // A clean stop: commits now, and from now on without waiting for the interval.
  void Flush();
  // Closes the interval timer and the commit thread's wake-up handle (before the owner's last
  // loop run): later commits do not wait, and a commit still in flight is never completed.
  void CloseHandles() {
    interval_ns_ = 0;
    timer_.Reset();
    worker_.Close();
  }
  // From this many replica files of one commit on one filesystem, one syncfs(2) makes them
  // durable instead of an fdatasync(2) each (agent/replica_sync.h; 0: never).
  void set_syncfs_files(uint32_t n) { syncfs_files_ = n; }
  // Batches committed, files synced, syncfs calls made and failed (then fdatasync'd), for status.
  uint64_t commits() const { return commits_; }
  uint64_t files_synced() const { return files_synced_; }
  uint64_t filesystem_syncs() const { return filesystem_syncs_; }
  uint64_t syncfs_fallbacks() const { return syncfs_fallbacks_; }
  // Why commits are stalled (the disk is full), or empty.
  const std::string& stall_error() const { return stall_error_; }
  uint64_t full_retries() const { return full_retries_; }

  static constexpr uint64_t kFullRetryMs = 1000;

 private:
  struct Work;
  void Submit();
  void SubmitWhenDue();
  void Completed(Work& work);
  static void RunBatch(Work* w);

  uv_loop_t* loop_;
  StateStore* store_;
  std::function<void(const Status&)> on_error_;
  std::vector<Collector> collectors_;
  bool in_flight_ = false;
  bool requested_ = false;
  bool failed_ = false;
  uint64_t interval_ns_ = 0;
  uint64_t last_start_ns_ = 0;
  uint64_t retry_at_ns_ = 0;  // with a stalled batch: no attempt before this
  bool flushing_ = false;
  Batch stalled_;             // a batch that met a full disk, retried first
  std::string stall_error_;
  uint64_t full_retries_ = 0;
  UvPtr<uv_timer_t> timer_;  // armed while a request waits for the interval
  WorkThread worker_;        // runs the commits: libuv's pool costs more per commit (work_thread.h)
  int test_delay_ms_ = 0;  // TAILSAFE_TEST_COMMIT_DELAY_MS, for tests only
  uint64_t commits_ = 0;
  uint64_t files_synced_ = 0;
  uint32_t syncfs_files_ = 0;
  uint64_t filesystem_syncs_ = 0;
  uint64_t syncfs_fallbacks_ = 0;
};

}  // namespace tailsafe
