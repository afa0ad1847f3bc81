// The receiving side of the tail proof and of CUT (common/wire.h explains both): what a POSITION
// says about a replica, and the blocking work behind it (hashing the window, setting a cut tail
// aside), which ReplicaServer runs on libuv's thread pool, never on the loop.
//
// While a job runs its replica is `busy`, and its sizes are frozen: a POSITION is owed
// (position_pending), so no DATA, SEAL or CUT for it is accepted, and its file stays open. What
// the job computed is therefore still true when it completes. A commit that raced a CUT is fenced
// by the replica's `epoch`, which the CUT bumps when its job completes.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "agent/replica_store.h"
#include "common/fd.h"
#include "common/status.h"
#include "common/wire.h"

namespace tailsafe {

// The POSITION for `r` as it stands, but for its window hash: its durable and verified sizes,
// and a window of every unverified byte plus up to kWindowHashBytes of verified ones before them.
PositionMsg PositionOf(const Replica& r, uint32_t stream);

// The POSITION a CUT at `offset` leads to (the file then ends there, every byte proven).
PositionMsg PositionAfterCut(uint64_t offset, uint32_t stream);

// One job for the thread pool. Inputs are copies; the worker touches nothing else.
struct TailJob {
  std::shared_ptr<Fd> fd;  // the replica's file, held open for the job
  std::string path;        // the replica's path, for messages
  // A CUT: [cut_at, cut_at + cut_len) is copied into `aside` (synced, with its directory), then
  // the file is truncated at cut_at.
  bool cut = false;
  uint64_t cut_at = 0;
  uint64_t cut_len = 0;
  std::string aside;
  PositionMsg position;  // its window is hashed into position.window_hash
  // Results: cut_status is ok when the tail is set aside and cut (or there was no CUT).
  Status cut_status;
  Status hash_status;
};

// Runs `job` (on a worker thread).
void RunTailJob(TailJob* job);

// Copies [offset, offset + len) of `fd` into a new file at `path`, fdatasync'd, and fsyncs the
// directory that holds it.
Status CopyTailAside(int fd, uint64_t offset, uint64_t len, const std::string& path);

}  // namespace tailsafe
