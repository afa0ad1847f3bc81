#include "coordinator/agent_roster.h"

#include <algorithm>

#include "common/clock.h"
#include "common/coord_protocol.h"
#include "common/log.h"
#include "common/names.h"
#include "common/placement.h"
#include "coordinator/heartbeat_merge.h"
#include "coordinator/retention_plan.h"

namespace tailsafe {

using nlohmann::json;

namespace {

// bolts[] ({name, hook}) and hooks[] (names) of a register or reconfigure message.
Status ReadBoltsAndHooks(const char* what, const json& bolts, const json& hooks,
                         std::vector<std::string>* bolt_names, std::map<std::string, std::string>* bolt_hooks,
                         std::vector<std::string>* hook_names) {
  for (const json& b : bolts) {
    std::string name, hook;
    if (!b.is_object()) return Status::Error(std::string(what) + ": bolts[] must be objects");
    if (Status s = ReadString(b, "name", &name); !s) return s;
    if (Status s = ReadString(b, "hook", &hook); !s) return s;
    if (!IsValidName(name)) return Status::Error("bolt name '" + name.substr(0, 64) + "' is not a valid name");
    bolt_names->push_back(name);
    (*bolt_hooks)[name] = hook;
  }
  for (const json& h : hooks) {
    if (!h.is_string()) return Status::Error(std::string(what) + ": hooks[] must be strings");
    hook_names->push_back(h.get<std::string>());
  }
  return Status::Ok();
}

// Reads an optional array field: absent is empty, present must be an array of objects.
Status ReadObjects(const json& msg, const char* field, std::vector<const json*>* out) {
  auto it = msg.find(field);
  if (it == msg.end()) return Status::Ok();
  if (!it->is_array()) return Status::Error(std::string("heartbeat: field '") + field + "' must be an array");
  for (const json& e : *it) {
    if (!e.is_object()) return Status::Error(std::string("heartbeat: ") + field + "[] must be objects");
    out->push_back(&e);
  }
  return Status::Ok();
}

// Reads (origin, bolt, gen) with validated names.
Status ReadGenKey(const json& e, const char* what, std::string* origin, std::string* bolt, uint64_t* gen) {
  for (Status s : {ReadString(e, "origin", origin), ReadString(e, "bolt", bolt), ReadUint(e, "gen", gen)}) {
    if (!s) return s.Context(what);
  }
  if (!IsValidName(*origin) || !IsValidName(*bolt)) return Status::Error(std::string(what) + ": invalid origin or bolt name");
  return Status::Ok();
}

}  // namespace

AgentRoster::AgentRoster(TermState* state, const Config* config, RecoveryDesk* desk, Wiring wiring)
    : state_(state), config_(config), desk_(desk), wiring_(std::move(wiring)) {
  // Four heartbeats per timeout: one late or lost heartbeat is never a death.
  heartbeat_ms_ = std::max<uint64_t>(config_->coordinator.host_timeout_ms / 4, 5);
}

void AgentRoster::Lead(uint64_t term, uint64_t now_ns) {
  // Agents learn of a new leader only by trying the instances they know, at heartbeat pace:
  // they get one host_timeout_ms to find it on top of the usual one, so that a failover never
  // costs anyone a false death.
  uint64_t grace_ns = uint64_t{config_->coordinator.host_timeout_ms} * 1000000;
  for (auto& [id, a] : state_->agents) {
    a.last_heard_ns = now_ns;
    a.grace_until_ns = now_ns + grace_ns;
  }
  retention_.clear();
  next_retention_ns_ = 0;
  term_ = term;
}

TermState::Agent* AgentRoster::AgentOf(FramedConn* conn) {
  for (auto& [id, a] : state_->agents) {
    if (a.conn.get() == conn) return &a;
  }
  return nullptr;
}

Status AgentRoster::OnRegister(std::shared_ptr<FramedConn> shared, const json& msg) {
  FramedConn* conn = shared.get();
  std::string cluster, id, address;
  const json* hooks = nullptr;
  const json* bolts = nullptr;
  for (Status s : {ReadString(msg, "cluster", &cluster), ReadString(msg, "agent", &id),
                   ReadString(msg, "address", &address), ReadArray(msg, "hooks", &hooks),
                   ReadArray(msg, "bolts", &bolts)}) {
    if (!s) return s;
  }
  auto reject = [&](const std::string& reason) {
    conn->Send(ControlFrame({{"type", "reject"}, {"reason", reason}}));
    LOG_WARN("refused agent '%s': %s", id.substr(0, 64).c_str(), reason.c_str());
    return Status::Error(reason);
  };
  if (cluster != config_->cluster.name) {
    return reject("agent is in cluster '" + cluster.substr(0, 64) + "', this coordinator serves '" +
                  config_->cluster.name + "'");
  }
  if (!IsValidName(id)) return reject("agent id '" + id.substr(0, 64) + "' is not a valid name");
  uint64_t replicas = kEveryPeer;  // optional: older agents and those without [cluster] replicas
  if (msg.contains("replicas")) {
    if (Status s = ReadUint(msg, "replicas", &replicas); !s) return reject(s.message());
    if (replicas < 1 || replicas > kMaxReplicas) {
      return reject("register: 'replicas' must be 1 to " + std::to_string(kMaxReplicas) + ", not " +
                    std::to_string(replicas));
    }
  }
  if (AgentOf(conn) != nullptr) return Status::Error("register: sent twice on one connection");
  std::vector<std::string> bolt_names, hook_names;
  std::map<std::string, std::string> bolt_hooks;
  if (Status s = ReadBoltsAndHooks("register", *bolts, *hooks, &bolt_names, &bolt_hooks, &hook_names); !s) {
    return reject(s.message());
  }
  Agent& a = state_->agents[id];
  bool was_alive = a.alive();
  if (a.conn && a.conn.get() != conn) a.conn->Close("the agent registered again on another connection");
  a.id = id;
  a.conn = std::move(shared);
  a.last_heard_ns = NowNs();
  a.bolt_hooks = std::move(bolt_hooks);
  a.reported = false;
  a.acks = msg.value("acks", false);  // it wants every heartbeat answered (and older agents do not)
  a.revokes = msg.value("revokes", false);  // it understands "revoke" and "held" (older agents do not)
  a.ships = msg.value("ships", false);      // it understands "ship", "pulled" and pull_from
  a.retains = msg.value("retains", false);  // it understands "retain" (older agents delete nothing)
  a.version = msg.contains("version") && msg["version"].is_string() ? msg["version"].get<std::string>().substr(0, 64) : "";
  AgentRecord next;
  next.address = address;
  next.hooks = std::move(hook_names);
  next.bolts = std::move(bolt_names);
  next.replicas = static_cast<uint32_t>(replicas);
  next.alive = true;
  // Its storage error, if it still has one, comes with its first heartbeat.
  next.since_unix_ms = was_alive && a.record.since_unix_ms != 0 ? a.record.since_unix_ms : UnixNowMs();
  std::vector<NamespaceStore::Write> writes;
  state_->PutAgent(&writes, a, std::move(next));
  if (Status s = CommitOrFail(writes); !s) return s;
  LOG_NOTICE("agent %s registered from %s%s", id.c_str(), address.c_str(), was_alive ? "" : " (alive)");
  Deliver(conn, ControlFrame({{"type", "welcome"}, {"heartbeat_ms", heartbeat_ms_}, {"term", term_}, {"acks", a.acks}}));
  PushMembership();
  desk_->ResendAssignments(a);
  if (a.retains) Deliver(conn, RetainFrame());
  return Status::Ok();
}

// A registered agent reloaded its configuration: its bolts and hooks from now on.
Status AgentRoster::OnReconfigure(FramedConn* conn, const json& msg) {
  Agent* a = AgentOf(conn);
  if (a == nullptr) return Status::Error("reconfigure before register");
  const json* hooks = nullptr;
  const json* bolts = nullptr;
  for (Status s : {ReadArray(msg, "hooks", &hooks), ReadArray(msg, "bolts", &bolts)}) {
    if (!s) return s;
  }
  std::vector<std::string> bolt_names, hook_names;
  std::map<std::string, std::string> bolt_hooks;
  if (Status s = ReadBoltsAndHooks("reconfigure", *bolts, *hooks, &bolt_names, &bolt_hooks, &hook_names); !s) {
    return s;
  }
  a->bolt_hooks = std::move(bolt_hooks);
  AgentRecord next = a->record;
  next.hooks = std::move(hook_names);
  next.bolts = std::move(bolt_names);
  std::vector<NamespaceStore::Write> writes;
  state_->PutAgent(&writes, *a, std::move(next));
  if (Status s = CommitOrFail(writes); !s) return s;
  LOG_NOTICE("agent %s reloaded its configuration: %zu bolts, %zu hooks", a->id.c_str(), a->record.bolts.size(),
             a->record.hooks.size());
  desk_->EvaluateRecoveries();  // a hook that was missing may be there now
  return Status::Ok();
}

Status AgentRoster::OnHeartbeat(FramedConn* conn, const json& msg) {
  Agent* a = AgentOf(conn);
  if (a == nullptr) return Status::Error("heartbeat before register");
  Result<HeartbeatMerge> merge =
      MergeHeartbeat(a->id, a->record, a->bolt_hooks, state_->bolts, state_->held_bolts, msg, UnixNowMs());
  if (!merge) return merge.status();
  a->last_heard_ns = NowNs();
  std::vector<NamespaceStore::Write> writes;
  state_->PutAgent(&writes, *a, std::move(merge->agent));
  for (BoltRecord& b : merge->bolts) state_->PutBolt(&writes, std::move(b));
  if (Status s = CommitOrFail(writes); !s) return s;
  for (const json& ack : merge->deaths_recorded) {
    Deliver(conn, ControlFrame({{"type", "deaths_recorded"}, {"bolt", ack["bolt"]}, {"deaths", ack["deaths"]}}));
  }
  // Answered at once, not after the commit: it says this instance runs, not what it decided.
  if (a->acks) conn->Send(ControlFrame({{"type", "heartbeat_ack"}}));
  ReadReports(*a, msg);
  if (merge->revived) PushMembership();
  desk_->EvaluateRecoveries();
  return Status::Ok();
}

bool AgentRoster::OnClose(FramedConn* conn, const std::string& why) {
  Agent* a = AgentOf(conn);
  if (a == nullptr) return false;
  LOG_INFO("agent %s disconnected: %s", a->id.c_str(), why.c_str());
  a->conn.reset();
  a->reported = false;
  return true;
}

void AgentRoster::CheckSilence() {
  uint64_t now = NowNs();
  PushRetention(now);
  uint64_t timeout_ns = uint64_t{config_->coordinator.host_timeout_ms} * 1000000;
  bool changed = false;
  for (auto& [id, a] : state_->agents) {
    if (!a.alive() || now - a.last_heard_ns <= timeout_ns || now < a.grace_until_ns + timeout_ns) continue;
    if (Status s = DeclareDead(a, (now - a.last_heard_ns) / 1000000); !s || !wiring_.leading()) return;
    changed = true;
  }
  if (changed) {
    PushMembership();
    desk_->EvaluateRecoveries();
  } else if (PlacedMembers() != placed_) {
    PushMembership();  // a dead agent's grace ended: its streams go to other holders
  }
}

std::set<std::string> AgentRoster::PlacedMembers() const {
  std::set<std::string> out;
  uint64_t now = UnixNowMs();
  for (const auto& [id, a] : state_->agents) {
    if (a.record.Placed(now, config_->coordinator.replica_grace_ms)) out.insert(id);
  }
  return out;
}

std::vector<std::string> AgentRoster::Placed() const {
  std::set<std::string> members = placed_.empty() ? PlacedMembers() : placed_;
  return {members.begin(), members.end()};
}

Status AgentRoster::DeclareDead(Agent& a, uint64_t silent_ms) {
  ++stats_.host_deaths;
  std::vector<NamespaceStore::Write> writes;
  AgentRecord next = a.record;
  next.alive = false;
  next.dead_since_unix_ms = UnixNowMs();
  state_->PutAgent(&writes, a, std::move(next));
  for (auto it = state_->bolts.lower_bound({a.id, ""}); it != state_->bolts.end() && it->first.first == a.id; ++it) {
    BoltRecord b = it->second;
    b.host_alive = false;
    state_->PutBolt(&writes, std::move(b));
  }
  if (Status s = CommitOrFail(writes); !s) return s;
  LOG_NOTICE("agent %s is dead: silent for %llu ms (host_timeout_ms %u)", a.id.c_str(),
             static_cast<unsigned long long>(silent_ms), config_->coordinator.host_timeout_ms);
  if (a.conn) a.conn->Close("declared dead after " + std::to_string(silent_ms) + " ms of silence");
  a.conn.reset();
  a.reported = false;
  desk_->ReassignFrom(a.id);
  return Status::Ok();
}

void AgentRoster::PushRetention(uint64_t now_ns) {
  if (now_ns < next_retention_ns_) return;
  next_retention_ns_ = now_ns + kRetentionEveryMs * 1000000;
  std::map<TermState::BoltKey, uint64_t> plan = PlanRetention(*state_);
  if (plan == retention_) return;
  retention_ = std::move(plan);
  std::string frame = RetainFrame();
  for (auto& [id, a] : state_->agents) {
    if (a.conn && a.retains) Deliver(a.conn.get(), frame);
  }
}

std::string AgentRoster::RetainFrame() const {
  json bolts = json::array();
  for (const auto& [key, from] : retention_) bolts.push_back({{"origin", key.first}, {"bolt", key.second}, {"from", from}});
  return ControlFrame({{"type", "retain"}, {"term", term_}, {"bolts", std::move(bolts)}});
}

void AgentRoster::PushMembership() {
  placed_ = PlacedMembers();
  json agents = json::array();
  for (const auto& [id, a] : state_->agents) {
    agents.push_back({{"id", id}, {"address", a.record.address}, {"alive", a.alive()}, {"placed", placed_.count(id) > 0}});
  }
  std::string frame = ControlFrame({{"type", "membership"}, {"agents", agents}});
  for (auto& [id, a] : state_->agents) {
    if (a.conn) Deliver(a.conn.get(), frame);
  }
}

void AgentRoster::ReadReports(Agent& a, const json& msg) {
  // Everything here is advisory (sizes for planning and election); a malformed entry is skipped
  // with a warning rather than costing the agent its connection.
  std::vector<const json*> bolts, replicas, checkpoints;
  for (Status s : {ReadObjects(msg, "bolts", &bolts), ReadObjects(msg, "replicas", &replicas),
                   ReadObjects(msg, "peer_checkpoints", &checkpoints)}) {
    if (!s) {
      LOG_WARN("agent %s: %s", a.id.c_str(), s.message().c_str());
      return;
    }
  }
  a.reported = true;
  a.bolt_ends.clear();
  a.bolt_lag.clear();
  for (const json* b : bolts) {
    std::string name = b->value("name", "");
    json lag = json::object();
    for (const char* k : {"lag_bytes", "lag_seconds", "holders_filling"}) {
      if (b->contains(k) && (*b)[k].is_number()) lag[k] = (*b)[k];
    }
    if (auto peers = b->find("peer_lag"); peers != b->end() && peers->is_object()) {
      json kept = json::object();
      for (const auto& [peer, bytes] : peers->items()) {
        if (bytes.is_number_unsigned() && kept.size() < kMaxPeerLags) kept[peer] = bytes;
      }
      lag["peer_lag"] = std::move(kept);
    }
    a.bolt_lag[name] = lag;
    auto gens = b->find("gens");
    auto& ends = a.bolt_ends[name];
    if (gens == b->end() || !gens->is_array()) continue;
    for (const json& g : *gens) {
      if (g.is_object() && g.contains("gen") && g["gen"].is_number_unsigned() && g.contains("size") &&
          g["size"].is_number_unsigned()) {
        ends[g["gen"].get<uint64_t>()] = g["size"].get<uint64_t>();
      }
    }
  }
  a.coverage.clear();
  for (const json* r : replicas) {
    std::string origin, bolt;
    uint64_t gen = 0, durable = 0;
    Status s = ReadGenKey(*r, "heartbeat: replicas[]", &origin, &bolt, &gen);
    if (s) s = ReadUint(*r, "durable", &durable);
    if (!s) {
      LOG_WARN("agent %s: %s", a.id.c_str(), s.message().c_str());
      continue;
    }
    a.coverage[{origin, bolt, gen}] = durable;
  }
  a.checkpoints.clear();
  for (const json* c : checkpoints) {
    std::string origin, bolt;
    TailCheckpoint ck;
    Status s = ReadGenKey(*c, "heartbeat: peer_checkpoints[]", &origin, &bolt, &ck.gen);
    if (s) s = ReadUint(*c, "offset", &ck.offset);
    if (!s) {
      LOG_WARN("agent %s: %s", a.id.c_str(), s.message().c_str());
      continue;
    }
    a.checkpoints[{origin, bolt}] = ck;
  }
}

}  // namespace tailsafe
