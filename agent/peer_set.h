// PeerSet: the peers this agent ships its bolts to, one PeerLink each: the static `[agent] peers`
// and the members the coordinator publishes (remembered in state.db for restarts while it is
// away; a static peer's configured address always wins). It answers the questions every peer
// must agree on: how much of a generation every peer has acknowledged (MinAcked: a generation
// is released below it) and how far every live cursor has read (MinCursor: cached frames below
// it are dropped). With `[cluster] replicas` set, each bolt's stream goes only to the peers
// placed to hold it (agent/stream_placement.h), over the members the coordinator placed (its
// membership's "placed" agents) or, until it has spoken, the static and remembered peers; the
// questions above are then asked of a generation's holders only.
//
// PlanMembership, the rule for what a membership message changes, is a pure function.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/committer.h"
#include "agent/peer_link.h"
#include "agent/state_store.h"
#include "agent/stream_placement.h"
#include "common/config.h"

namespace tailsafe {

// One peer to link (anew, or again at a new address) after a membership message.
struct MemberChange {
  std::string id;
  std::string address_text;  // as the coordinator wrote it, remembered in state.db
  HostPort address;
};

// The agents of `agents` that streams are placed over: each valid id whose "placed" is true
// (or, from a coordinator that does not say, whose "alive" is not false).
std::vector<std::string> PlacedMembers(const nlohmann::json& agents);

// The members of `agents` ([{id, address}], as the coordinator sends them) that need a new
// link: not this agent, not a static peer, a valid name and address, and either unknown or
// known at another address (`linked`: id -> address of the members linked now). Entries that
// are not objects with string id and address are skipped; a bad address is logged and skipped.
std::vector<MemberChange> PlanMembership(const nlohmann::json& agents, const std::string& self,
                                         const std::vector<PeerSpec>& statics,
                                         const std::map<std::string, std::string>& linked);

class PeerSet {
 public:
  // `base`: what every link shares (loop, keys, window, callbacks; its `holds` is this set's
  // placement). `acks`: what peers had acknowledged, from state.db. `replicas`: [cluster]
  // replicas (0: every peer holds every stream).
  PeerSet(PeerLink::Env base, std::string self, std::vector<PeerSpec> statics, std::vector<PeerAckRow> acks,
          uint32_t replicas = 0);
  PeerSet(const PeerSet&) = delete;
  PeerSet& operator=(const PeerSet&) = delete;

  // Links the static peers, then the members state.db remembers (not started).
  void Load(const std::vector<MemberRow>& remembered);
  void Start();
  void Stop();
  // New bytes or generations may be shippable: every link sends what it may.
  void Pump();
  // `g` grew or got a checkpoint (null: anything changed): what each link pumps next.
  void Touched(const Generation* g);
  // The coordinator's membership: links new members and re-links moved ones (started), and
  // places streams over its placed agents. Returns whether anything changed.
  bool OnMembership(const nlohmann::json& agents);
  // Every link's acknowledgements and the members to remember, into the next commit.
  void Collect(Committer::Batch* batch);
  bool has_dirty_acks() const;

  // The least any holder of `g` has acknowledged of it (UINT64_MAX without peers; 0 when peers
  // exist but none holds it, as when no member is placed); a peer whose replica of `g` alone
  // diverged (PeerLink::Diverged) is not waited for.
  uint64_t MinAcked(const Generation& g) const;
  // `g` is lost: every holder, connected or not, counts what it had not acknowledged of it.
  void CountLost(const Generation& g);
  // Whether every holder of `g` holds its seal durably (SEALED): only then is it released.
  bool AllHoldSeal(const Generation& g) const;
  // `g` closed on this host (released or lost): no link keeps anything about it.
  void Forget(const Generation& g);
  // The least offset any live cursor of `g` still needs (UINT64_MAX if none).
  uint64_t MinCursor(const Generation& g) const;
  PeerLink* Find(const std::string& id);
  // ACK arrival times per peer since the last call: {"peer": [[t_ns, bolt, gen, durable], ...]}.
  std::string AckLogJson();
  const std::vector<std::unique_ptr<PeerLink>>& links() const { return links_; }
  size_t size() const { return links_.size(); }
  StreamPlacement& placement() { return placement_; }

 private:
  PeerLink* Add(const PeerSpec& peer);  // not started

  PeerLink::Env base_;
  std::string self_;
  std::vector<PeerSpec> statics_;
  std::vector<PeerAckRow> acks_;  // from state.db, for links added later
  std::vector<std::unique_ptr<PeerLink>> links_;
  std::map<std::string, std::string> members_;  // id -> "HOST:PORT", as remembered
  std::vector<MemberRow> pending_members_;       // to record with the next commit
  StreamPlacement placement_;
};

}  // namespace tailsafe
