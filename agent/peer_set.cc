#include "agent/peer_set.h"

#include <algorithm>
#include <utility>

#include "common/log.h"
#include "common/names.h"

namespace tailsafe {

std::vector<MemberChange> PlanMembership(const nlohmann::json& agents, const std::string& self,
                                         const std::vector<PeerSpec>& statics,
                                         const std::map<std::string, std::string>& linked) {
  std::vector<MemberChange> out;
  if (!agents.is_array()) return out;
  for (const auto& a : agents) {
    if (!a.is_object() || !a.contains("id") || !a["id"].is_string() || !a.contains("address") ||
        !a["address"].is_string()) {
      continue;
    }
    std::string id = a["id"].get<std::string>();
    std::string address_text = a["address"].get<std::string>();
    if (id == self || !IsValidName(id)) continue;
    bool is_static = false;
    for (const PeerSpec& p : statics) is_static = is_static || p.id == id;
    if (is_static) continue;  // the configuration's address wins
    Result<HostPort> address = ParseHostPort(address_text);
    if (!address) {
      LOG_WARN("coordinator: member %s has a bad address '%s': %s", id.c_str(), address_text.c_str(),
               address.status().message().c_str());
      continue;
    }
    if (auto known = linked.find(id); known != linked.end() && known->second == address_text) continue;
    out.push_back({id, address_text, *address});
  }
  return out;
}

std::vector<std::string> PlacedMembers(const nlohmann::json& agents) {
  std::vector<std::string> out;
  if (!agents.is_array()) return out;
  for (const auto& a : agents) {
    if (!a.is_object() || !a.contains("id") || !a["id"].is_string()) continue;
    std::string id = a["id"].get<std::string>();
    if (!IsValidName(id)) continue;
    bool placed = a.contains("placed") ? a["placed"].is_boolean() && a["placed"].get<bool>()
                                       : !(a.contains("alive") && a["alive"].is_boolean() && !a["alive"].get<bool>());
    if (placed) out.push_back(std::move(id));
  }
  return out;
}

PeerSet::PeerSet(PeerLink::Env base, std::string self, std::vector<PeerSpec> statics, std::vector<PeerAckRow> acks,
                 uint32_t replicas)
    : base_(std::move(base)),
      self_(std::move(self)),
      statics_(std::move(statics)),
      acks_(std::move(acks)),
      placement_(self_, replicas) {
  base_.holds = [this](const std::string& peer, const std::string& bolt) { return placement_.Holds(peer, bolt); };
}

PeerLink* PeerSet::Add(const PeerSpec& peer) {
  links_.push_back(std::make_unique<PeerLink>(base_, peer, acks_));
  return links_.back().get();
}

void PeerSet::Load(const std::vector<MemberRow>& remembered) {
  for (const PeerSpec& peer : statics_) Add(peer);
  for (const MemberRow& m : remembered) {
    Result<HostPort> address = ParseHostPort(m.address);
    if (m.id == self_ || !address) continue;
    if (!Find(m.id)) Add({m.id, *address});
    members_[m.id] = m.address;
  }
  std::vector<std::string> known;
  for (const auto& link : links_) known.push_back(link->peer().id);
  placement_.SetMembers(std::move(known));
}

void PeerSet::Start() {
  for (auto& link : links_) link->Start();
}

void PeerSet::Stop() {
  for (auto& link : links_) link->Stop();
}

void PeerSet::Touched(const Generation* g) {
  for (auto& link : links_) link->Touched(g);
}

void PeerSet::Pump() {
  for (auto& link : links_) link->Pump();
}

bool PeerSet::OnMembership(const nlohmann::json& agents) {
  std::map<std::string, std::string> linked;
  for (const auto& [id, address] : members_) {
    if (Find(id)) linked[id] = address;
  }
  std::vector<MemberChange> changes = PlanMembership(agents, self_, statics_, linked);
  for (const MemberChange& c : changes) {
    if (PeerLink* old = Find(c.id)) {
      // The member moved: replace its link (cursors restart from the peer's POSITION).
      old->Stop();
      links_.erase(std::remove_if(links_.begin(), links_.end(), [&](const auto& l) { return l.get() == old; }),
                   links_.end());
    }
    LOG_NOTICE("coordinator: peer %s at %s", c.id.c_str(), c.address_text.c_str());
    Add({c.id, c.address})->Start();
    members_[c.id] = c.address_text;
    pending_members_.push_back({c.id, c.address_text});
  }
  bool moved = placement_.SetMembers(PlacedMembers(agents));
  if (moved) {
    for (auto& link : links_) link->Rescan();
  }
  if (moved && !placement_.every_peer()) {
    LOG_NOTICE("coordinator: streams placed over %zu members, %u replicas each", placement_.members().size(),
               placement_.replicas());
  }
  return !changes.empty() || (moved && !placement_.every_peer());
}

void PeerSet::Collect(Committer::Batch* batch) {
  for (auto& link : links_) link->Collect(batch);
  for (auto& m : pending_members_) batch->rows.members.push_back(std::move(m));
  pending_members_.clear();
}

bool PeerSet::has_dirty_acks() const {
  for (const auto& link : links_) {
    if (link->has_dirty_acks()) return true;
  }
  return false;
}

uint64_t PeerSet::MinAcked(const Generation& g) const {
  uint64_t m = UINT64_MAX;
  bool held = false;
  for (const auto& link : links_) {
    if (!link->Holds(g.bolt)) continue;
    held = true;
    if (!link->Diverged(g)) m = std::min(m, link->Acked(g));
  }
  return held || links_.empty() ? m : 0;
}

void PeerSet::CountLost(const Generation& g) {
  for (auto& link : links_) {
    if (link->Holds(g.bolt)) link->CountLost(g);
  }
}

void PeerSet::Forget(const Generation& g) {
  for (auto& link : links_) link->Forget(g);
  std::erase_if(acks_, [&](const PeerAckRow& a) { return a.bolt == g.bolt && a.gen == g.gen; });
}

bool PeerSet::AllHoldSeal(const Generation& g) const {
  for (const auto& link : links_) {
    if (link->Holds(g.bolt) && !link->SealHeld(g) && !link->Diverged(g)) return false;
  }
  return true;
}

uint64_t PeerSet::MinCursor(const Generation& g) const {
  uint64_t m = UINT64_MAX;
  for (const auto& link : links_) {
    if (const PeerLink::Cursor* c = link->CursorOf(g)) m = std::min(m, c->positioned ? c->sent : c->acked);
  }
  return m;
}

PeerLink* PeerSet::Find(const std::string& id) {
  for (auto& link : links_) {
    if (link->peer().id == id) return link.get();
  }
  return nullptr;
}

std::string PeerSet::AckLogJson() {
  nlohmann::json doc = nlohmann::json::object();
  for (auto& link : links_) {
    nlohmann::json events = nlohmann::json::array();
    for (const auto& e : link->DrainAckLog()) events.push_back({e.t_ns, e.bolt, e.gen, e.durable});
    doc[link->peer().id] = std::move(events);
  }
  return doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace tailsafe
