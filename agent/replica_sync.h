// ReplicaSync: how a group commit makes its replica files durable, on the committer's worker.
//
// Each file's own fdatasync(2) writes its data, its inode and a device flush; a commit that
// touched many replica files (an agent holding many bolts' streams) pays that many times. One
// syncfs(2) of their filesystem writes them all with one flush: on the project's 2-core VM a
// commit of 10 files cost 130-230 us of the machine's CPU against 530-600, and of 50 files
// 400-470 us against about 2,000 (bench/machine/syncfs-cost.py, docs/performance.md). Its price:
// it also writes whatever else on that filesystem is dirty, so a commit can wait on another
// program's writes, and pages that the kernel would have written later in large batches go out
// in small ones: on the 1,000-bolt stage, where the origin's bolt files share the filesystem,
// the peers used 1.3 CPU s less each but the kernel's flusher threads 5.3 s more. So it is off
// by default (agent.commit_syncfs_files = 0), and from `syncfs_files` files of one commit on one
// filesystem when set: for a data directory on a filesystem of its own.
//
// A failed syncfs may be another file's writeback error on the same filesystem: its files are
// then each fdatasync'd, which reports exactly the errors of our own files (each fd has its own
// error cursor). A failed fdatasync fails the commit, as before.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "common/fd.h"
#include "common/status.h"

namespace tailsafe {

// A file whose filesystem is unknown (its fstat failed) is synced alone.
constexpr uint64_t kUnknownDevice = UINT64_MAX;

struct SyncStep {
  bool syncfs = false;          // one syncfs for all of `files`; else an fdatasync each
  std::vector<size_t> files;    // indices into the commit's files, in their order
};

// The steps for files on devices `devs` (st_dev, or kUnknownDevice): one syncfs step per device
// with at least `syncfs_files` files (0: none), in the order the devices first appear, then one
// fdatasync step for all the others.
std::vector<SyncStep> PlanSync(const std::vector<uint64_t>& devs, uint32_t syncfs_files);

struct SyncCounts {
  uint64_t filesystem_syncs = 0;  // syncfs calls that succeeded
  uint64_t syncfs_fallbacks = 0;  // syncfs calls that failed, their files then fdatasync'd
};

// Makes `fds` durable by PlanSync; the first fdatasync failure is returned.
Status SyncFiles(const std::vector<std::shared_ptr<Fd>>& fds, uint32_t syncfs_files, SyncCounts* counts);

}  // namespace tailsafe
