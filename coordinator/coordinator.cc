#include "coordinator/coordinator.h"

#include <algorithm>

#include "common/clock.h"
#include "common/coord_protocol.h"
#include "common/log.h"
#include "common/names.h"

namespace tailsafe {

using nlohmann::json;

Coordinator::Coordinator(uv_loop_t* loop, Config config, ClusterKeys keys, std::unique_ptr<NamespaceStore> store,
                         std::unique_ptr<Leadership> leadership)
    : loop_(loop),
      config_(std::move(config)),
      keys_(std::move(keys)),
      store_(std::move(store)),
      leadership_(std::move(leadership)) {
  // Four heartbeats per timeout: one late or lost heartbeat is never a death. Silence is checked
  // twenty times per timeout, so a death is declared at most 5% of the timeout late.
  heartbeat_ms_ = std::max<uint64_t>(config_.coordinator.host_timeout_ms / 4, 5);
  silence_check_ms_ = std::max<uint64_t>(config_.coordinator.host_timeout_ms / 20, 5);
}

Coordinator::~Coordinator() { Stop(); }

Status Coordinator::Start() {
  Result<HostPort> listen = ParseHostPort(config_.coordinator.listen);
  if (!listen) return listen.status().Context("coordinator.listen");
  started_ns_ = NowNs();
  Status st = listener_.Listen(loop_, listen->host, listen->port, [this](UvPtr<uv_tcp_t> tcp) { OnAccept(std::move(tcp)); });
  if (!st) return st;
  auto timer = MakeUv<uv_timer_t>(uv_timer_init, loop_);
  if (!timer) return timer.status();
  silence_timer_ = std::move(timer.value());
  silence_timer_->data = this;
  auto forget = MakeUv<uv_timer_t>(uv_timer_init, loop_);
  if (!forget) return forget.status();
  forget_timer_ = std::move(forget.value());
  forget_timer_->data = this;
  store_->on_durable = [this] { FlushOutbox(); };
  store_->on_failed = [this](const Status& s) {
    LOG_ERROR("the store lost a commit: %s", s.message().c_str());
    if (!leadership_->StepDown(s.message())) {
      if (fatal_.ok()) fatal_ = s;
      Stop();
    }
  };
  leadership_->on_lead = [this](uint64_t term) { Lead(term); };
  leadership_->on_follow = [this](const std::string& why) { Follow(why); };
  if (Status s = leadership_->Start(); !s) return s;
  if (const auto& where = config_.coordinator.metrics_listen) {
    metrics_ = std::make_unique<MetricsServer>(loop_, "coordinator", [this] {
      try {
        return PrometheusText();
      } catch (const std::exception& e) {  // never into libuv's C callbacks
        return "# error: " + std::string(e.what()) + "\n";
      }
    });
    if (Status s = metrics_->Listen(*where); !s) return s;
  }
  return Status::Ok();
}

// This instance leads: the state in the store is the cluster's. Agents known from before are
// not connected to this instance yet; each gets two timeouts to find it and speak.
void Coordinator::Lead(uint64_t term) {
  uint64_t now = NowNs();
  // Agents learn of a new leader only by trying the instances they know, at heartbeat pace:
  // they get one host_timeout_ms to find it on top of the usual one, so that a failover never
  // costs anyone a false death.
  uint64_t grace_ns = uint64_t{config_.coordinator.host_timeout_ms} * 1000000;
  Forget();  // what an earlier term left, if its turn has not come yet
  state_.Load(*store_);
  for (auto& [id, a] : state_.agents) {
    a.last_heard_ns = now;
    a.grace_until_ns = now + grace_ns;
  }
  leading_ = true;
  term_ = term;
  PruneRecoveries();  // a history kept with a larger recoveries_kept, or written before it existed
  if (term > 1 || config_.coordinator.store != CoordinatorConfig::Store::kSqlite) {
    LOG_NOTICE("leading in term %llu: %zu agents, %zu recoveries on record", static_cast<unsigned long long>(term),
               state_.agents.size(), state_.recoveries.size());
  }
  uv_timer_start(silence_timer_.get(), [](uv_timer_t* t) {
    if (auto* self = static_cast<Coordinator*>(t->data)) self->CheckSilence();
  }, silence_check_ms_, silence_check_ms_);
}

// This instance no longer leads: it forgets the state (the next leader loads it from the
// store), sends nothing more that waited for a commit, and closes every connection, so agents
// and tailsafectl find the leader.
//
// Follow may run inside a commit (the store or the election learns of the loss while it is
// called), deep in a loop over agents or recoveries: it decides nothing more from here on
// (leading_ is false: commits and deliveries are refused), and the state and the connections
// go on the next turn of the loop, when no such loop is running.
void Coordinator::Follow(const std::string& why) {
  bool was = leading_;
  leading_ = false;
  if (silence_timer_) uv_timer_stop(silence_timer_.get());
  outbox_.clear();
  if (was) LOG_WARN("no longer leading (term %llu): %s", static_cast<unsigned long long>(term_), why.c_str());
  forget_reason_ = was ? "this coordinator no longer leads" : "this coordinator does not lead";
  if (forget_timer_) {
    uv_timer_start(forget_timer_.get(), [](uv_timer_t* t) {
      if (auto* self = static_cast<Coordinator*>(t->data); self && !self->leading_) self->Forget();
    }, 0, 0);
  }
}

void Coordinator::Forget() {
  if (forget_timer_) uv_timer_stop(forget_timer_.get());
  state_.agents.clear();
  state_.bolts.clear();
  state_.held_bolts.clear();
  state_.recoveries.clear();
  state_.history.clear();
  watchers_.clear();
  auto conns = std::move(conns_);
  for (auto& [raw, c] : conns) c->Close(forget_reason_);
}

void Coordinator::Deliver(FramedConn* conn, std::string frame) {
  if (!leading_) return;  // what a deposed leader decided last is not sent
  if (store_->durable() >= store_->committed() && outbox_.empty()) {
    conn->Send(std::move(frame));
    return;
  }
  outbox_.push_back({conn->weak_from_this(), std::move(frame), store_->committed()});
}

void Coordinator::FlushOutbox() {
  while (!outbox_.empty() && outbox_.front().after <= store_->durable()) {
    Outgoing o = std::move(outbox_.front());
    outbox_.pop_front();
    if (auto c = o.conn.lock(); c && c->open()) c->Send(std::move(o.frame));
  }
}

void Coordinator::Stop() {
  if (leadership_) leadership_->Stop();
  listener_.Stop();
  if (metrics_) metrics_->Stop();
  silence_timer_.Reset();
  forget_timer_.Reset();
  watchers_.clear();
  auto conns = std::move(conns_);
  for (auto& [raw, c] : conns) c->Close("coordinator stopping");
  for (auto& [id, a] : state_.agents) a.conn.reset();
  if (!stopped_) {
    stopped_ = true;
    if (on_stopped) on_stopped();
  }
}

void Coordinator::OnAccept(UvPtr<uv_tcp_t> tcp) {
  // Connections that have not yet completed the secure handshake cost memory and a descriptor
  // but prove nothing: cap them, so a flood of idle or hostile clients cannot starve the agents.
  size_t unauthenticated = 0;
  for (const auto& [raw, c] : conns_) unauthenticated += c->authenticated() ? 0 : 1;
  if (unauthenticated >= kMaxUnauthenticated || conns_.size() >= kMaxConnections) {
    ++stats_.refused_limit;
    LOG_WARN("refused a connection from %s: %zu connections open, %zu of them not yet authenticated (limits %zu, %zu)",
             RemoteAddress(tcp.get()).c_str(), conns_.size(), unauthenticated, kMaxConnections, kMaxUnauthenticated);
    return;  // `tcp` closes here
  }
  // Every client speaks first (an agent registers, tailsafectl asks): one that says nothing is
  // closed at the handshake deadline.
  FramedConn::Options options;
  options.first_frame = "request";
  auto conn = std::make_shared<FramedConn>(std::move(tcp), SecureChannel::Role::kServer, &keys_, options);
  FramedConn* raw = conn.get();
  conns_[raw] = conn;
  (void)conn->Start([this, raw](const Frame& f) { return OnFrame(raw, f); },
                    [this, raw](const CloseReason& r) { OnClose(raw, r); });
}

Coordinator::Agent* Coordinator::AgentOf(FramedConn* conn) {
  for (auto& [id, a] : state_.agents) {
    if (a.conn.get() == conn) return &a;
  }
  return nullptr;
}

Status Coordinator::CheckReload(const Config& next) const {
  if (!next.coordinator.present) return Status::Error("the new configuration has no [coordinator] table");
  const Config& o = config_;
  auto join = [](const std::vector<std::string>& v) {
    std::string out;
    for (const std::string& s : v) out += (out.empty() ? "" : ", ") + s;
    return "[" + out + "]";
  };
  auto address = [](const std::optional<HostPort>& hp) { return hp ? hp->ToString() : std::string("(unset)"); };
  const std::pair<const char*, std::pair<std::string, std::string>> fields[] = {
      {"cluster.name", {o.cluster.name, next.cluster.name}},
      {"cluster.key_file", {o.cluster.key_file, next.cluster.key_file}},
      {"cluster.previous_key_files", {join(o.cluster.previous_key_files), join(next.cluster.previous_key_files)}},
      {"coordinator.listen", {o.coordinator.listen, next.coordinator.listen}},
      {"coordinator.state_dir", {o.coordinator.state_dir, next.coordinator.state_dir}},
      {"coordinator.host_timeout_ms",
       {std::to_string(o.coordinator.host_timeout_ms), std::to_string(next.coordinator.host_timeout_ms)}},
      {"coordinator.metrics_listen", {address(o.coordinator.metrics_listen), address(next.coordinator.metrics_listen)}},
  };
  std::string changed;
  for (const auto& [key, values] : fields) {
    if (values.first == values.second) continue;
    changed += (changed.empty() ? "" : "; ") + std::string(key) + " changed from '" + values.first + "' to '" +
               values.second + "'";
  }
  if (!changed.empty()) return Status::Error(changed + "; the coordinator applies that only when restarted");
  return Status::Ok();
}

Status Coordinator::OnFrame(FramedConn* conn, const Frame& f) {
  std::string_view text;
  if (Status s = DecodeControl(f, &text); !s) return s;
  Result<json> msg = ParseControl(text);
  if (!msg) return msg.status();
  std::string type = (*msg)["type"].get<std::string>();
  if (!leading_) {
    std::string leader = leadership_->leader_address();
    conn->Send(ControlFrame({{"type", "not_leader"}, {"leader", leader}}));
    return Status::Error("not the leader" + (leader.empty() ? std::string(" (no leader known)") : "; the leader is " + leader));
  }
  if (type == "register") return OnRegister(conn, *msg);
  if (type == "heartbeat") return OnHeartbeat(conn, *msg);
  if (type == "ls" || type == "get" || type == "dump" || type == "watch") return OnRead(conn, *msg);
  if (type == "recovery") return OnRecoveryReport(conn, *msg);
  if (type == "reconfigure") return OnReconfigure(conn, *msg);
  if (type == "retry" || type == "forget_agent") return OnOperatorCommand(conn, *msg);
  return Status::Error("unknown message type '" + type.substr(0, 64) + "'");
}

Status Coordinator::OnRegister(FramedConn* conn, const json& msg) {
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
  if (cluster != config_.cluster.name) {
    return reject("agent is in cluster '" + cluster.substr(0, 64) + "', this coordinator serves '" +
                  config_.cluster.name + "'");
  }
  if (!IsValidName(id)) return reject("agent id '" + id.substr(0, 64) + "' is not a valid name");
  if (AgentOf(conn) != nullptr) return Status::Error("register: sent twice on one connection");
  std::vector<std::string> bolt_names, hook_names;
  std::map<std::string, std::string> bolt_hooks;
  if (Status s = ReadBoltsAndHooks("register", *bolts, *hooks, &bolt_names, &bolt_hooks, &hook_names); !s) {
    return reject(s.message());
  }
  Agent& a = state_.agents[id];
  bool was_alive = a.alive();
  if (a.conn && a.conn.get() != conn) a.conn->Close("the agent registered again on another connection");
  a.id = id;
  a.conn = conns_[conn];
  a.last_heard_ns = NowNs();
  a.bolt_hooks = std::move(bolt_hooks);
  a.reported = false;
  a.acks = msg.value("acks", false);  // it wants every heartbeat answered (and older agents do not)
  AgentRecord next;
  next.address = address;
  next.hooks = std::move(hook_names);
  next.bolts = std::move(bolt_names);
  next.alive = true;
  // Its storage error, if it still has one, comes with its first heartbeat.
  next.since_unix_ms = was_alive && a.record.since_unix_ms != 0 ? a.record.since_unix_ms : UnixNowMs();
  std::vector<NamespaceStore::Write> writes;
  state_.PutAgent(&writes, a, std::move(next));
  if (Status s = CommitOrFail(writes); !s) return s;
  LOG_NOTICE("agent %s registered from %s%s", id.c_str(), address.c_str(), was_alive ? "" : " (alive)");
  Deliver(conn, ControlFrame({{"type", "welcome"}, {"heartbeat_ms", heartbeat_ms_}, {"term", term_}, {"acks", a.acks}}));
  PushMembership();
  ResendAssignments(a);
  return Status::Ok();
}

Status Coordinator::ReadBoltsAndHooks(const char* what, const json& bolts, const json& hooks,
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

// A registered agent reloaded its configuration: its bolts and hooks from now on.
Status Coordinator::OnReconfigure(FramedConn* conn, const json& msg) {
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
  state_.PutAgent(&writes, *a, std::move(next));
  if (Status s = CommitOrFail(writes); !s) return s;
  LOG_NOTICE("agent %s reloaded its configuration: %zu bolts, %zu hooks", a->id.c_str(), a->record.bolts.size(),
             a->record.hooks.size());
  EvaluateRecoveries();  // a hook that was missing may be there now
  return Status::Ok();
}

Status Coordinator::OnHeartbeat(FramedConn* conn, const json& msg) {
  Agent* a = AgentOf(conn);
  if (a == nullptr) return Status::Error("heartbeat before register");
  const json* bolts = nullptr;
  if (Status s = ReadArray(msg, "bolts", &bolts); !s) return s;
  a->last_heard_ns = NowNs();
  std::string storage_error;  // optional: the agent cannot write its data_dir
  if (msg.contains("storage_error")) {
    if (Status s = ReadString(msg, "storage_error", &storage_error); !s) return s;
    storage_error = Printable(storage_error, 512);
  }
  std::vector<NamespaceStore::Write> writes;
  bool revived = !a->alive();
  AgentRecord next = a->record;
  if (revived) {  // silent past the timeout, then heard again on the same connection
    next.alive = true;
    next.since_unix_ms = UnixNowMs();
    next.dead_since_unix_ms = 0;
    LOG_NOTICE("agent %s is heard from again", a->id.c_str());
  }
  if (storage_error != next.storage_error) {
    if (storage_error.empty()) {
      LOG_NOTICE("agent %s can write its data_dir again", a->id.c_str());
      next.storage_error_since_unix_ms = 0;
    } else if (next.storage_error.empty()) {
      LOG_ERROR("agent %s cannot write its data_dir: %s", a->id.c_str(), storage_error.c_str());
      next.storage_error_since_unix_ms = UnixNowMs();
    }
    next.storage_error = storage_error;
  }
  // The records change only once the whole heartbeat has been read: a bad bolt item refuses it all.
  std::vector<BoltRecord> next_bolts;
  json acks = json::array();  // deaths now on record, told back to the agent after the commit
  for (const json& b : *bolts) {
    std::string name;
    if (!b.is_object()) return Status::Error("heartbeat: bolts[] must be objects");
    if (Status s = ReadString(b, "name", &name); !s) return s;
    if (!IsValidName(name)) return Status::Error("heartbeat: bolt name '" + name.substr(0, 64) + "' is invalid");
    BoltKey key{a->id, name};
    if (state_.held_bolts.count(key)) continue;  // its stored document cannot be read: left as it is (TermState::Load)
    auto old = state_.bolts.find(key);
    BoltRecord next_bolt = old != state_.bolts.end() ? old->second : BoltRecord{};
    next_bolt.origin = a->id;
    next_bolt.bolt = name;
    next_bolt.host_alive = true;
    auto h = a->bolt_hooks.find(name);
    next_bolt.hook = h != a->bolt_hooks.end() ? h->second : "";
    if (Status s = BoltRecord::ReadReport(b, &next_bolt); !s) return s.Context("heartbeat: bolt " + name);
    if (b.contains("deaths")) {
      std::vector<std::pair<uint64_t, uint64_t>> reported;
      std::vector<BoltDeath> added;
      static const BoltRecord kNoneBefore;
      const BoltRecord& before = old != state_.bolts.end() ? old->second : kNoneBefore;
      if (Status s = next_bolt.AddDeaths(b["deaths"], before, UnixNowMs(), &reported, &added); !s) {
        return s.Context("heartbeat: bolt " + name);
      }
      for (const BoltDeath& d : added) {
        LOG_NOTICE("bolt %s/%s: process %llu died, reported after the fact (%s)", a->id.c_str(), name.c_str(),
                   static_cast<unsigned long long>(d.pid),
                   d.checkpoint ? ("checkpoint generation " + std::to_string(d.checkpoint->gen) + " offset " +
                                   std::to_string(d.checkpoint->offset)).c_str()
                                : "no checkpoint known");
      }
      json ack = json::array();
      for (const auto& [pid, start_ns] : reported) ack.push_back({{"pid", pid}, {"start_ns", start_ns}});
      acks.push_back({{"bolt", name}, {"deaths", std::move(ack)}});
    }
    next_bolts.push_back(std::move(next_bolt));
  }
  state_.PutAgent(&writes, *a, std::move(next));
  for (BoltRecord& b : next_bolts) state_.PutBolt(&writes, std::move(b));
  if (Status s = CommitOrFail(writes); !s) return s;
  for (const json& ack : acks) {
    Deliver(conn, ControlFrame({{"type", "deaths_recorded"}, {"bolt", ack["bolt"]}, {"deaths", ack["deaths"]}}));
  }
  // Answered at once, not after the commit: it says this instance runs, not what it decided.
  if (a->acks) conn->Send(ControlFrame({{"type", "heartbeat_ack"}}));
  ReadReports(*a, msg);
  if (revived) PushMembership();
  EvaluateRecoveries();
  return Status::Ok();
}

void Coordinator::OnClose(FramedConn* conn, const CloseReason& reason) {
  const char* why = reason.why.c_str();
  if (!conn->authenticated()) {
    ++stats_.refused_auth;
    LOG_WARN("refused a connection from %s: %s", conn->remote().c_str(), why);
  } else if (Agent* a = AgentOf(conn)) {
    LOG_INFO("agent %s disconnected: %s", a->id.c_str(), why);
    a->conn.reset();
    a->reported = false;
  } else if (reason.kind == CloseReason::kTimeout || reason.kind == CloseReason::kOverflow) {
    LOG_INFO("closed a connection from %s: %s", conn->remote().c_str(), why);
  }
  watchers_.erase(conn);
  conns_.erase(conn);
}

void Coordinator::CheckSilence() {
  KeepWatchersAlive();
  uint64_t now = NowNs();
  uint64_t timeout_ns = uint64_t{config_.coordinator.host_timeout_ms} * 1000000;
  bool changed = false;
  for (auto& [id, a] : state_.agents) {
    if (!a.alive() || now - a.last_heard_ns <= timeout_ns || now < a.grace_until_ns + timeout_ns) continue;
    if (Status s = DeclareDead(a, (now - a.last_heard_ns) / 1000000); !s || !leading_) return;
    changed = true;
  }
  if (changed) {
    PushMembership();
    EvaluateRecoveries();
  }
}

Status Coordinator::DeclareDead(Agent& a, uint64_t silent_ms) {
  ++stats_.host_deaths;
  std::vector<NamespaceStore::Write> writes;
  AgentRecord next = a.record;
  next.alive = false;
  next.dead_since_unix_ms = UnixNowMs();
  state_.PutAgent(&writes, a, std::move(next));
  for (auto it = state_.bolts.lower_bound({a.id, ""}); it != state_.bolts.end() && it->first.first == a.id; ++it) {
    BoltRecord b = it->second;
    b.host_alive = false;
    state_.PutBolt(&writes, std::move(b));
  }
  if (Status s = CommitOrFail(writes); !s) return s;
  LOG_NOTICE("agent %s is dead: silent for %llu ms (host_timeout_ms %u)", a.id.c_str(),
             static_cast<unsigned long long>(silent_ms), config_.coordinator.host_timeout_ms);
  if (a.conn) a.conn->Close("declared dead after " + std::to_string(silent_ms) + " ms of silence");
  a.conn.reset();
  a.reported = false;
  ReassignFrom(a.id);
  return Status::Ok();
}

void Coordinator::PushMembership() {
  json agents = json::array();
  for (const auto& [id, a] : state_.agents) agents.push_back({{"id", id}, {"address", a.record.address}, {"alive", a.alive()}});
  std::string frame = ControlFrame({{"type", "membership"}, {"agents", agents}});
  for (auto& [id, a] : state_.agents) {
    if (a.conn) Deliver(a.conn.get(), frame);
  }
}

Status Coordinator::CommitOrFail(const std::vector<NamespaceStore::Write>& writes) {
  if (writes.empty()) return Status::Ok();
  if (!leading_) return Status::Error("not leading: nothing is decided");
  Status s = store_->Commit(writes);
  if (s) NotifyWatchers(writes);
  if (!s) {
    if (leadership_->StepDown(s.message())) {
      LOG_ERROR("cannot commit the coordinator's state, giving up the leadership: %s", s.message().c_str());
    } else {
      LOG_ERROR("cannot commit the coordinator's state, stopping: %s", s.message().c_str());
      if (fatal_.ok()) fatal_ = s;
      Stop();
    }
  }
  return s;
}

}  // namespace tailsafe
