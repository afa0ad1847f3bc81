// PeerHoldings: what one peer holds of this host's generations, as the link has learnt it:
// the bytes it acknowledged durable (remembered across reconnects, and in state.db's peer_ack
// rows across restarts), the seals it answered with SEALED, and the generations its replica
// diverged on while the file stayed intact (its divergence alone). Seals and divergences live in
// this process only: after a restart every peer is sent the seal again, and a divergence is
// found again. The newest ACKs with their arrival time are kept for latency measurement
// (`acklog` control request, used by bench/replicate), bounded, drained by the reader.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "agent/committer.h"
#include "agent/state_store.h"

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
  bool HoldSeal(const std::string& bolt, uint64_t gen) { return seals_.insert({bolt, gen}).second; }
  bool SealHeld(const std::string& bolt, uint64_t gen) const { return seals_.count({bolt, gen}) > 0; }
  void MarkDiverged(const std::string& bolt, uint64_t gen) { diverged_.insert({bolt, gen}); }
  bool Diverged(const std::string& bolt, uint64_t gen) const { return diverged_.count({bolt, gen}) > 0; }

  // The acknowledgements changed since the last Collect, into the next commit.
  void Collect(Committer::Batch* batch);
  bool has_dirty() const { return !dirty_.empty(); }
  std::vector<AckEvent> DrainAckLog();

 private:
  using Key = std::pair<std::string, uint64_t>;  // (bolt, generation)
  static constexpr size_t kMaxAckLog = 1 << 18;

  std::string peer_;
  std::map<Key, uint64_t> acked_;
  std::map<Key, uint64_t> dirty_;
  std::set<Key> seals_;
  std::set<Key> diverged_;
  std::deque<AckEvent> ack_log_;
};

}  // namespace tailsafe
