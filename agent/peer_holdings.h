// PeerHoldings: what one peer holds of this host's generations, as the link has learnt it:
// the bytes it acknowledged durable (remembered across reconnects, and in state.db's peer_ack
// rows across restarts), the seals it answered with SEALED, and the generations its replica
// diverged on while the file stayed intact (its divergence alone); and what the link did with
// each: the most it ever sent (what a resume sends again is counted as resent) and the reads
// that failed in a row while judging the peer's POSITION. Seals and divergences live in this
// process only: after a restart every peer is sent the seal again, and a divergence is found
// again. A generation's entry goes when the generation closes on this host (Forget), so the
// entries are those of open generations only. The newest ACKs with their arrival time are kept
// for latency measurement (`acklog` control request, used by bench/replicate), bounded,
// drained by the reader.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "agent/committer.h"
#include "agent/state_store.h"
#include "common/event_log.h"

namespace tailsafe {

class PeerHoldings {
 public:
  struct AckEvent {
    uint64_t t_ns;
    std::string bolt;
    uint64_t gen;
    uint64_t durable;
  };

  // `acks`: state.db's rows; only those of `peer` are taken.
  PeerHoldings(std::string peer, const std::vector<PeerAckRow>& acks);

  uint64_t Acked(const std::string& bolt, uint64_t gen) const;
  // The peer's POSITION says it holds `durable` bytes: what it acknowledged is that, even if less.
  void Resumed(const std::string& bolt, uint64_t gen, uint64_t durable);
  // An ACK of `durable` bytes arrived at `t_ns` (more than before: the caller checks).
  void Acknowledged(const std::string& bolt, uint64_t gen, uint64_t durable, uint64_t t_ns);
  // SEALED for the generation; true the first time.
  bool HoldSeal(const std::string& bolt, uint64_t gen);
  bool SealHeld(const std::string& bolt, uint64_t gen) const { return Find(bolt, gen).seal_held; }
  void MarkDiverged(const std::string& bolt, uint64_t gen) { gens_[{bolt, gen}].diverged = true; }
  bool Diverged(const std::string& bolt, uint64_t gen) const { return Find(bolt, gen).diverged; }
  // Bytes up to `upto` were sent.
  void Sent(const std::string& bolt, uint64_t gen, uint64_t upto);
  // A resume from `from`: how many bytes past it were sent before (to be sent again).
  uint64_t Resent(const std::string& bolt, uint64_t gen, uint64_t from) const;
  // A read failed while judging a POSITION: how many failed in a row now. ReadOk resets it.
  uint32_t ReadFailed(const std::string& bolt, uint64_t gen) { return ++gens_[{bolt, gen}].read_errors; }
  void ReadOk(const std::string& bolt, uint64_t gen);
  // The generation closed on this host: nothing about it is kept (nor written to state.db).
  void Forget(const std::string& bolt, uint64_t gen);
  // The generations something is kept about (status: `generations_tracked`).
  size_t generations() const { return gens_.size(); }

  // The acknowledgements changed since the last Collect, into the next commit.
  void Collect(Committer::Batch* batch);
  bool has_dirty() const { return !dirty_.empty(); }
  // The ACKs since the last call (the `acklog` control request, for benchmarks): kept only
  // from the first call on, at most kMaxAckLog (common/event_log.h).
  std::vector<AckEvent> DrainAckLog() { return ack_log_.Drain(); }

 private:
  using Key = std::pair<std::string, uint64_t>;  // (bolt, generation)
  // Hashed, not ordered: every ACK looks its generation up, and with 1,000 bolts an ordered
  // map's string comparisons were a tenth of the origin's CPU.
  struct KeyHash {
    size_t operator()(const Key& k) const { return std::hash<std::string>()(k.first) ^ (k.second * 0x9e3779b97f4a7c15ull); }
  };
  struct Entry {
    uint64_t acked = 0;
    bool seal_held = false;
    bool diverged = false;
    uint64_t high_water = 0;   // the most ever sent
    uint32_t read_errors = 0;  // in a row
  };
  static constexpr size_t kMaxAckLog = 1 << 18;

  const Entry& Find(const std::string& bolt, uint64_t gen) const;

  std::string peer_;
  std::unordered_map<Key, Entry, KeyHash> gens_;
  std::unordered_map<Key, uint64_t, KeyHash> dirty_;  // acknowledgements not yet collected
  EventLog<AckEvent> ack_log_{kMaxAckLog};
};

}  // namespace tailsafe
