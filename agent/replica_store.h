// ReplicaStore: the replicas of peers' bolt generations held on this host.
//
// On disk: DATA_DIR/replicas/ORIGIN/BOLT/GENERATION, GENERATION zero-padded to 20 digits so
// that name order is generation order. Each file is a plain byte-identical prefix of that
// generation on its origin: cat, grep and sha256sum work on it.
//
// In memory, each replica knows four sizes:
//   written   pwritten, in the page cache;
//   durable   fdatasync'd: what has been acknowledged, and the only size POSITION reports;
//   recorded  the durable size last written to state.db. Recording costs a SQLite transaction
//             and its fsync (about as much CPU as the fdatasync itself), so it happens only every
//             kRecordEveryBytes, at a seal, and at a clean stop; ACKs never wait for it;
//   verified  bytes known to equal the origin's: everything received in this run, and after a
//             restart what was recorded.
// After a restart the bytes between `recorded` and the file's end are on disk but unproven (a
// power loss may have left anything there). They are kept, synced, and proven against the
// origin's bytes by the POSITION window, or cut when the origin answers CUT (see common/wire.h).
// Names are validated before they get here, so a path can never leave DATA_DIR/replicas.
//
// Retention: the coordinator's plan (coordinator/retention_plan.h) says, per origin and bolt,
// the generation below which replicas are no longer needed. A replica below it is deleted once
// it is Deletable (sealed and recorded so, idle): its row goes in a commit, and its file once
// that commit is durable (Committer::Batch::unlink). Until then an OPEN of it is refused, and
// the origin retries. Without a plan (no coordinator, or an older one) nothing is deleted.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "agent/committer.h"
#include "agent/state_store.h"
#include "common/fd.h"
#include "common/status.h"

namespace tailsafe {

class ReplicaSession;

// A replica's cached pages are dropped once this many more bytes of it are durable.
constexpr uint64_t kDropCacheBytes = 1 << 20;
// A replica's durable size is recorded in state.db once it is this far past the recorded one.
constexpr uint64_t kRecordEveryBytes = 4 << 20;

struct Replica {
  std::string origin;
  std::string bolt;
  uint64_t gen = 0;
  std::string path;
  std::shared_ptr<Fd> fd;  // open for writing once opened
  uint64_t written = 0;
  uint64_t durable = 0;
  uint64_t recorded = 0;
  uint64_t verified = 0;
  bool in_db = false;           // state.db has a row for it
  bool sealed = false;
  bool sealed_durable = false;  // the seal is recorded
  bool dirty = false;
  // The session's OPEN (or CUT) is owed a POSITION: sent once `written` is durable and no job
  // runs; until then nothing may change the replica's sizes (agent/replica_tail.h).
  bool position_pending = false;
  bool busy = false;  // a thread-pool job (window hash, CUT) works on the file
  uint64_t dropped = 0;  // cached pages below this offset were (or are being) dropped
  uint64_t epoch = 0;    // bumped by a CUT: commits collected before it must not raise `durable`
  uint32_t cuts = 0;     // tails set aside (PATH.cut-SECONDS-N) by this run
  // The session currently streaming into this replica, and its stream id there.
  ReplicaSession* session = nullptr;
  uint32_t stream = 0;
};

// Whether `r` may be deleted under a plan keeping generations from `from` on: below it,
// sealed with the seal recorded, everything written durable, and nothing using it (no session,
// no job, no POSITION owed).
bool Deletable(const Replica& r, uint64_t from);

class ReplicaStore {
 public:
  using Key = std::tuple<std::string, std::string, uint64_t>;  // (origin, bolt, generation)
  using BoltKey = std::pair<std::string, std::string>;         // (origin, bolt)
  struct RetentionStats {
    uint64_t deleted = 0;        // replicas deleted (their rows committed away)
    uint64_t bytes_deleted = 0;  // their durable bytes
    size_t bolts_planned = 0;    // bolts in the plan in force
  };

  ReplicaStore(std::string data_dir, std::function<void()> request_commit);
  // Creates DATA_DIR/replicas if needed and takes the rows recorded in state.db.
  Status Init(const std::vector<ReplicaRow>& rows, const std::vector<CheckpointRow>& checkpoints);
  // The replica of (origin, bolt, gen), opened; bytes past its verified size are kept, to be
  // proven by POSITION (more than kMaxUnverifiedBytes of them are cut).
  Result<std::shared_ptr<Replica>> Open(const std::string& origin, const std::string& bolt, uint64_t gen);
  // Bytes were written or the replica was sealed: include it in the next commit.
  void MarkDirty(Replica& r);
  // The next commit records every replica's durable size (a clean stop: nothing to prove later).
  void RecordAll();
  // Closes the replica's file if no session streams into it, no job works on it and everything
  // written is durable (so reopening it later cuts nothing): one descriptor per live stream, not
  // per replica ever.
  void MaybeClose(Replica& r);
  void Collect(Committer::Batch* batch);
  const std::map<Key, std::shared_ptr<Replica>>& replicas() const { return replicas_; }
  // The newest checkpoint of a peer's bolt (one per origin and bolt; an older generation's
  // arriving late is ignored). Recorded with the next commit.
  void SetCheckpoint(const std::string& origin, const std::string& bolt, uint64_t gen, uint64_t offset);
  const std::map<std::pair<std::string, std::string>, CheckpointRow>& checkpoints() const { return checkpoints_; }
  // The coordinator's retention plan, whole: it replaces the previous one. What is Deletable
  // under it now goes with the next commit; what becomes so later, with the commit after.
  void Retain(std::map<BoltKey, uint64_t> from);
  const RetentionStats& retention_stats() const { return retention_stats_; }
  // Called on the loop after a commit made `durable` bytes of `r` durable.
  std::function<void(Replica&)> on_durable;

 private:
  Result<std::shared_ptr<Fd>> OpenDir(const std::string& rel, std::vector<std::shared_ptr<Fd>>* created_parents);
  // Moves every Deletable replica under the plan into `batch` (row removal, file unlink).
  void CollectDeletions(Committer::Batch* batch);

  std::string data_dir_;
  std::string root_;  // DATA_DIR/replicas
  std::function<void()> request_commit_;
  std::map<Key, std::shared_ptr<Replica>> replicas_;
  std::map<std::string, std::shared_ptr<Fd>> dirs_;  // relative path -> open directory
  std::vector<std::shared_ptr<Fd>> dirs_to_sync_;
  std::vector<std::shared_ptr<Replica>> dirty_;
  std::map<std::pair<std::string, std::string>, CheckpointRow> checkpoints_;
  std::vector<CheckpointRow> dirty_checkpoints_;
  bool record_all_ = false;
  std::map<BoltKey, uint64_t> retain_from_;  // the plan in force
  bool sweep_ = false;                       // the next Collect looks for deletable replicas
  std::set<Key> deleting_;                   // rows being deleted: their files are not reopened
  RetentionStats retention_stats_;
};

// Zero-padded generation file name.
std::string GenerationFileName(uint64_t gen);

}  // namespace tailsafe
