// state.db: the agent's durable state (SQLite, WAL, synchronous=FULL), in DATA_DIR/state.db.
//
// Tables:
//   origin_gen(bolt, gen, dev, ino, head_len, head_hash, state, final_size)
//       generations of this host's own bolt files. A generation is recorded before any of its
//       bytes are shipped, so generation numbers never repeat after a restart; dev/ino plus the
//       hash of the first head_len bytes recognise the same file again after a restart.
//       A batch that closes a generation (released or lost) prunes the bolt's closed rows but
//       its newest one, which keeps the numbering.
//   peer_ack(peer, bolt, gen, acked)
//       what each peer acknowledged of our generations (status and release; the peer's own
//       POSITION is the truth when resuming). Pruned with origin_gen: only open generations'
//       acks are kept.
//   replica(origin, bolt, gen, durable, sealed)
//       replicas of peers' generations held here. `durable` bytes of the replica file were
//       fdatasync'd before the row was committed; bytes past it are kept but unproven until the
//       origin's POSITION hash matches them (else a CUT sets them aside; agent/replica_tail.h).
//       A replica the coordinator's retention plan lets go loses its row, then its file.
//   member(id, address)
//       agents the coordinator named as members: the peer list while the coordinator is away.
//   checkpoint(origin, bolt, gen, offset)
//       the newest checkpoint a peer's bolt reported (via CHECKPOINT): it has processed
//       [0, offset) of generation `gen`; where a recovery of that bolt's tail starts.
//   bolt_process(bolt, pid, start_ns)
//       the process this agent last tracked for each of its bolts. One that is gone when the
//       agent starts died while it was down: a death to report.
//   death(bolt, pid, start_ns, has_checkpoint, gen, offset, unix_ms)
//       deaths of this host's bolts not yet on the coordinator's record; reported in every
//       heartbeat until the coordinator says it has them (deaths_recorded).
//
// Threading: rows are loaded on the loop thread at start-up; after that only the committer's
// worker thread writes, one batch per transaction (see committer.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/sqlite.h"
#include "common/status.h"

namespace tailsafe {

enum class GenState : int { kActive = 0, kRetired = 1, kSealed = 2, kReleased = 3, kLost = 4 };
const char* GenStateName(GenState s);

struct OriginGenRow {
  std::string bolt;
  uint64_t gen = 0;
  uint64_t dev = 0;
  uint64_t ino = 0;
  uint32_t head_len = 0;
  uint64_t head_hash = 0;
  GenState state = GenState::kActive;
  uint64_t final_size = 0;
};

struct PeerAckRow {
  std::string peer;
  std::string bolt;
  uint64_t gen = 0;
  uint64_t acked = 0;
};

struct ReplicaRow {
  std::string origin;
  std::string bolt;
  uint64_t gen = 0;
  uint64_t durable = 0;
  bool sealed = false;
  bool remove = false;  // in a batch: delete the row (the replica is deleted; agent/replica_store.h)
};

struct MemberRow {
  std::string id;
  std::string address;  // "HOST:PORT"
};

struct CheckpointRow {
  std::string origin;
  std::string bolt;
  uint64_t gen = 0;
  uint64_t offset = 0;
};

struct BoltProcessRow {
  std::string bolt;
  uint64_t pid = 0;
  uint64_t start_ns = 0;  // boot-time clock; 0 with pid 0: no process (the row is deleted)
};
struct DeathRow {
  std::string bolt;
  uint64_t pid = 0;
  uint64_t start_ns = 0;
  bool has_checkpoint = false;  // the checkpoint it last wrote, if known
  uint64_t gen = 0;
  uint64_t offset = 0;
  uint64_t unix_ms = 0;  // when the death was seen
  bool remove = false;   // in a batch: delete the row (the coordinator has it)
};
// What one group commit writes, in one transaction.
struct StateBatch {
  std::vector<OriginGenRow> origin_gens;
  std::vector<PeerAckRow> peer_acks;
  std::vector<ReplicaRow> replicas;
  std::vector<CheckpointRow> checkpoints;
  std::vector<MemberRow> members;
  std::vector<BoltProcessRow> bolt_processes;  // in order; the last for a bolt wins
  std::vector<DeathRow> deaths;                // in order
  // Adds `later`'s rows after this batch's: applied in one transaction, later rows win.
  void Append(StateBatch&& later);
  bool empty() const {
    return origin_gens.empty() && peer_acks.empty() && replicas.empty() && checkpoints.empty() && members.empty() &&
           bolt_processes.empty() && deaths.empty();
  }
};

class StateStore {
 public:
  static Result<StateStore> Open(const std::string& path);

  Result<std::vector<OriginGenRow>> LoadOriginGens();
  Result<std::vector<PeerAckRow>> LoadPeerAcks();
  Result<std::vector<ReplicaRow>> LoadReplicas();
  Result<std::vector<CheckpointRow>> LoadCheckpoints();
  Result<std::vector<MemberRow>> LoadMembers();
  Result<std::vector<BoltProcessRow>> LoadBoltProcesses();
  Result<std::vector<DeathRow>> LoadDeaths();
  // One transaction. On failure nothing of it is applied; *full says whether it failed
  // because the disk is full (a state a later retry of the same batch can get past).
  // Closing a generation (released or lost) prunes rows no longer needed (see the top).
  Status Apply(const StateBatch& batch, bool* full = nullptr);

 private:
  Status WriteRows(const StateBatch& batch);
  // For each bolt with a generation closed in `batch`: its closed rows but the newest, and the
  // acks of every generation not open.
  Status PruneClosed(const StateBatch& batch);

  Db db_;
  Stmt put_gen_, put_ack_, put_replica_, del_replica_, put_checkpoint_, put_member_, put_process_, del_process_, put_death_,
      del_death_, prune_acks_, prune_gens_;
};

}  // namespace tailsafe
