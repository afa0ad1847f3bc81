// HolderFill: the holders of this agent's streams that are still being filled. With
// `[cluster] replicas`, a peer that becomes a holder of a bolt's stream while the agent runs (a
// holder's grace ended, a member joined) holds none of it yet; the origin fills it with every
// generation it still has. Until the new holder has acknowledged what the file held when it
// became one (the generations before, whole, and the then-active one up to its size then), the
// stream has fewer whole copies than asked for: it is under-replicated, and status, metrics and
// `tailsafectl check` say so (a WARNING), so an operator sees the window of risk.
//
// Plain state, no I/O: the agent records a target when placement gives a bolt a new holder
// (Placed) and drops it when the peer stops holding the bolt; Remaining() measures a target
// against what the link has acknowledged. A holder kept across a placement change keeps its
// target (or has none).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace tailsafe {

class BoltSource;
class PeerLink;

class HolderFill {
 public:
  // What the file held when the peer became a holder: its active generation and its size then.
  struct Target {
    uint64_t gen = 0;
    uint64_t size = 0;
  };

  // Placement changed `bolt`'s holders from `before` to `after`: each new holder must be filled
  // up to `target`; a peer no longer a holder is forgotten.
  void Placed(const std::string& bolt, const std::vector<std::string>& before, const std::vector<std::string>& after,
              Target target);
  // A bolt the agent no longer ships: its targets go.
  void Forget(const std::string& bolt);
  // The target of `peer` for `bolt`, or null if it was never a new holder.
  const Target* Find(const std::string& bolt, const std::string& peer) const;
  size_t size() const { return targets_.size(); }

  // Bytes of `target` that `link` has not acknowledged yet, over `src`'s generations (those
  // before the target's whole, the target's up to its size; a generation gone counts nothing).
  static uint64_t Remaining(const BoltSource& src, const PeerLink& link, const Target& target);

 private:
  std::map<std::pair<std::string, std::string>, Target> targets_;  // (bolt, peer)
};

}  // namespace tailsafe
