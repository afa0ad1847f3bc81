#include "agent/committer.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <thread>

#include "agent/replica_sync.h"
#include "common/clock.h"
#include "common/log.h"

namespace tailsafe {

struct Committer::Work {
  Batch batch;
  StateStore* store;
  int delay_ms;
  uint32_t syncfs_files;
  SyncCounts sync_counts;
  Status result;
  bool full = false;  // the state commit failed on a full disk: retryable
  std::vector<std::string> unlink_errors;  // files left behind (their rows are gone)
};

// On the commit thread: syncs the files, drops their clean pages, fsyncs the directories, then
// commits the rows and unlinks the files they no longer name. Touches only `w`.
void Committer::RunBatch(Work* w) {
  if (w->delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(w->delay_ms));
  std::vector<std::shared_ptr<Fd>> fds;
  fds.reserve(w->batch.files.size());
  for (const auto& f : w->batch.files) fds.push_back(f.fd);
  if (Status s = SyncFiles(fds, w->syncfs_files, &w->sync_counts); !s) {
    w->result = s;
    return;
  }
  for (const auto& f : w->batch.files) {
    // Clean pages now; dropping them is advice, and its failure costs only cache.
    if (f.drop_below > 0) (void)::posix_fadvise(f.fd->get(), 0, static_cast<off_t>(f.drop_below), POSIX_FADV_DONTNEED);
  }
  for (const auto& d : w->batch.dirs) {
    if (::fsync(d->get()) != 0) {
      w->result = ErrnoStatus("fsync of a replica directory");
      return;
    }
  }
  w->result = w->store->Apply(w->batch.rows, &w->full);
  if (!w->result.ok()) return;
  for (const auto& path : w->batch.unlink) {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) w->unlink_errors.push_back(ErrnoStatus("unlink " + path).message());
  }
}

Committer::Committer(uv_loop_t* loop, StateStore* store, uint32_t interval_ms,
                     std::function<void(const Status&)> on_error)
    : loop_(loop), store_(store), on_error_(std::move(on_error)), interval_ns_(uint64_t{interval_ms} * 1000000), worker_(loop) {
  // Test hook: slow every commit down, to open the window between "written" and "durable".
  if (const char* d = std::getenv("TAILSAFE_TEST_COMMIT_DELAY_MS")) test_delay_ms_ = std::atoi(d);
}

void Committer::Request() {
  requested_ = true;
  if (!in_flight_ && !failed_) SubmitWhenDue();
}

void Committer::Flush() {
  flushing_ = true;
  interval_ns_ = 0;
  timer_.Reset();  // closed while the loop still runs, so its memory is freed
  Request();
}

void Committer::SubmitWhenDue() {
  uint64_t now = NowNs();
  uint64_t due = std::max(interval_ns_ == 0 ? 0 : last_start_ns_ + interval_ns_, retry_at_ns_);
  if (flushing_) due = 0;
  if (now >= due) {
    if (timer_) uv_timer_stop(timer_.get());
    Submit();
    return;
  }
  if (!timer_) {
    auto t = MakeUv<uv_timer_t>(uv_timer_init, loop_);
    if (!t) {  // no timer, no interval: commit now rather than never
      Submit();
      return;
    }
    timer_ = std::move(t.value());
    timer_->data = this;
  }
  if (uv_is_active(timer_.handle())) return;
  uint64_t wait_ms = (due - now + 999999) / 1000000;
  uv_timer_start(
      timer_.get(),
      [](uv_timer_t* t) {
        auto* self = static_cast<Committer*>(t->data);
        if (self && self->requested_ && !self->in_flight_ && !self->failed_) self->Submit();
      },
      wait_ms, 0);
}

void Committer::Submit() {
  requested_ = false;
  auto* w = new Work();
  w->store = store_;
  w->delay_ms = test_delay_ms_;
  w->syncfs_files = syncfs_files_;
  // A stalled batch goes first: rows are upserts applied in order, so the newer ones win.
  w->batch = std::move(stalled_);
  stalled_ = Batch();
  Batch fresh;
  for (auto& c : collectors_) c(&fresh);
  w->batch.rows.Append(std::move(fresh.rows));
  // Each file and directory once, however many retries a stall takes.
  for (auto& f : fresh.files) {
    auto same = [&](const Batch::File& have) { return have.fd == f.fd; };
    auto it = std::find_if(w->batch.files.begin(), w->batch.files.end(), same);
    if (it == w->batch.files.end()) {
      w->batch.files.push_back(std::move(f));
    } else {
      it->drop_below = std::max(it->drop_below, f.drop_below);
    }
  }
  for (auto& d : fresh.dirs) {
    if (std::find(w->batch.dirs.begin(), w->batch.dirs.end(), d) == w->batch.dirs.end()) w->batch.dirs.push_back(std::move(d));
  }
  for (auto& cb : fresh.on_durable) w->batch.on_durable.push_back(std::move(cb));
  for (auto& path : fresh.unlink) w->batch.unlink.push_back(std::move(path));
  if (w->batch.empty()) {
    delete w;
    return;
  }
  if (Status st = worker_.Start(); !st.ok()) {
    failed_ = true;
    delete w;
    on_error_(st.Context("start the commit thread"));
    return;
  }
  in_flight_ = true;
  last_start_ns_ = NowNs();
  // The thread touches only the batch and the store; the completion runs on the loop. A
  // completion that never runs (the handles closed at exit) frees the work all the same.
  std::shared_ptr<Work> work(w);
  worker_.Post([work] { RunBatch(work.get()); }, [this, work] { Completed(*work); });
}

void Committer::Completed(Work& work) {
  in_flight_ = false;
  filesystem_syncs_ += work.sync_counts.filesystem_syncs;
  for (uint64_t i = 0; i < work.sync_counts.syncfs_fallbacks; ++i) {
    if (std::has_single_bit(++syncfs_fallbacks_)) {  // logged at the 1st, 2nd, 4th... failure
      LOG_WARN("syncfs of the replicas' filesystem failed (failure %llu); its files were each fdatasync'd instead",
               static_cast<unsigned long long>(syncfs_fallbacks_));
    }
  }
  Status st = work.result;
  if (!st.ok() && work.full && !flushing_) {
    // Rolled back whole: keep it, say so, try again when space may have returned.
    if (stall_error_.empty()) {
      LOG_ERROR("commit stalled, nothing is acknowledged until it succeeds (retrying every %llu ms): %s",
                static_cast<unsigned long long>(kFullRetryMs), st.message().c_str());
    }
    stall_error_ = st.message();
    ++full_retries_;
    stalled_ = std::move(work.batch);
    retry_at_ns_ = NowNs() + kFullRetryMs * 1000000;
    requested_ = true;
    SubmitWhenDue();
    return;
  }
  if (!st.ok()) {
    failed_ = true;
    LOG_ERROR("commit failed, nothing in it will be acknowledged: %s", st.message().c_str());
    on_error_(st);
    return;
  }
  if (!stall_error_.empty()) {
    LOG_NOTICE("commits resumed after %llu retries on a full disk", static_cast<unsigned long long>(full_retries_));
    stall_error_.clear();
  }
  retry_at_ns_ = 0;
  ++commits_;
  files_synced_ += work.batch.files.size();
  for (const std::string& e : work.unlink_errors) LOG_WARN("a deleted replica's file is left behind: %s", e.c_str());
  for (auto& cb : work.batch.on_durable) cb();
  if (requested_) SubmitWhenDue();
}

}  // namespace tailsafe
