// state.db: the agent's durable state (SQLite, WAL, synchronous=FULL), in DATA_DIR/state.db.
//
// Tables:
//   origin_gen(bolt, gen, dev, ino, head_len, head_hash, state, final_size)
//       generations of this host's own bolt files. A generation is recorded before any of its
//       bytes are shipped, so generation numbers never repeat after a restart; dev/ino plus the
//       hash of the first head_len bytes recognise the same file again after a restart.
//   peer_ack(peer, bolt, gen, acked)
//       what each peer acknowledged of our generations (status and release; the peer's own
//       POSITION is the truth when resuming).
//   replica(origin, bolt, gen, durable, sealed)
//       replicas of peers' generations held here. `durable` bytes of the replica file were
//       fdatasync'd before the row was committed; bytes past it are discarded at the next open.
//   member(id, address)
//       agents the coordinator named as members: the peer list while the coordinator is away.
//   checkpoint(origin, bolt, gen, offset)
//       the newest checkpoint a peer's bolt reported (via CHECKPOINT): it has processed
//       [0, offset) of generation `gen`; where a recovery of that bolt's tail starts.
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

// What one group commit writes, in one transaction.
struct StateBatch {
  std::vector<OriginGenRow> origin_gens;
  std::vector<PeerAckRow> peer_acks;
  std::vector<ReplicaRow> replicas;
  std::vector<CheckpointRow> checkpoints;
  std::vector<MemberRow> members;
  bool empty() const {
    return origin_gens.empty() && peer_acks.empty() && replicas.empty() && checkpoints.empty() && members.empty();
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
  Status Apply(const StateBatch& batch);

 private:
  Db db_;
  Stmt put_gen_, put_ack_, put_replica_, put_checkpoint_, put_member_;
};

}  // namespace tailsafe
