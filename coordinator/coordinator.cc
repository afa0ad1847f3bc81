#include "coordinator/coordinator.h"

#include <algorithm>

#include "common/clock.h"
#include "common/coord_protocol.h"
#include "common/log.h"

namespace tailsafe {

using nlohmann::json;

Coordinator::Coordinator(uv_loop_t* loop, Config config, ClusterKeys keys, std::unique_ptr<NamespaceStore> store,
                         std::unique_ptr<Leadership> leadership)
    : loop_(loop),
      config_(std::move(config)),
      keys_(std::move(keys)),
      store_(std::move(store)),
      leadership_(std::move(leadership)),
      reader_(store_.get(), &state_, [this](FramedConn* conn, std::string frame) { Deliver(conn, std::move(frame)); }),
      desk_(&state_, config_.coordinator.recoveries_kept, config_.coordinator.ShrinkGraceMs(),
            {.deliver = [this](FramedConn* conn, std::string frame) { Deliver(conn, std::move(frame)); },
             .commit = [this](const std::vector<NamespaceStore::Write>& writes) { return CommitOrFail(writes); },
             .leading = [this] { return leading_; },
             .stopped = [this] { return stopped_; },
             .placed = [this] { return roster_.Placed(); }}),
      pulls_(&state_, [this](FramedConn* conn, std::string frame) { Deliver(conn, std::move(frame)); },
             [this] { return term_; }),
      roster_(&state_, &config_, &desk_,
              {.deliver = [this](FramedConn* conn, std::string frame) { Deliver(conn, std::move(frame)); },
               .commit = [this](const std::vector<NamespaceStore::Write>& writes) { return CommitOrFail(writes); },
               .leading = [this] { return leading_; }}) {
  // Silence is checked twenty times per timeout, so a death is declared at most 5% of the
  // timeout late.
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
  if (config_.coordinator.http_listen) {
    auto guarded = [](auto fn) {
      return [fn]() {
        try {
          return fn();
        } catch (const std::exception& e) {  // never into libuv's C callbacks
          LOG_WARN("status page: %s", e.what());
          return decltype(fn())();
        }
      };
    };
    page_ = std::make_unique<StatusPage>(loop_, config_.coordinator, StatusPage::Sources{
        guarded([this] { return StatusDocument(); }), guarded([this] { return PrometheusText(); }),
        [this] { return store_->durable() >= store_->committed(); }, guarded([this] { return CoordinatorPart(); })});
    page_url_ = StatusPage::PageUrl(config_.coordinator);
    if (Status s = page_->Start(); !s) return s;
  }
  return Status::Ok();
}

nlohmann::json Coordinator::CoordinatorPart() const {
  nlohmann::json c = {{"listen", config_.coordinator.listen}, {"leading", leading_}, {"term", term_}};
  if (!leading_) c["leader"] = leadership_->leader_address();
  if (page_) {
    c["page"] = page_url_;
    if (!leading_) c["leader_page"] = leadership_->leader_page();
    nlohmann::json list = nlohmann::json::array();
    for (const auto& one : leadership_->instances()) list.push_back({{"address", one.address}, {"page", one.page}});
    c["instances"] = std::move(list);
  }
  return c;
}

nlohmann::json Coordinator::StatusDocument() const {
  nlohmann::json doc = {{"cluster", config_.cluster.name}, {"generated_unix_ms", UnixNowMs()}, {"coordinator", CoordinatorPart()},
                        {"agents", nlohmann::json::object()}, {"bolts", nlohmann::json::object()},
                        {"recoveries", nlohmann::json::object()}};
  if (!leading_) return doc;  // only the leader's view is the cluster's
  for (const char* part : {"agents", "bolts", "recoveries"}) doc[part] = reader_.Documents(std::string("/") + part);
  return doc;
}

// This instance leads: the state in the store is the cluster's. Agents known from before are
// not connected to this instance yet; each gets two timeouts to find it and speak.
void Coordinator::Lead(uint64_t term) {
  uint64_t now = NowNs();
  Forget();  // what an earlier term left, if its turn has not come yet
  state_.Load(*store_);
  roster_.Lead(term, now);
  leading_ = true;
  term_ = term;
  if (page_) page_->OnLeadership();
  desk_.Lead(term);  // folds a history kept with a larger recoveries_kept, or written before it existed
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
  if (page_) page_->OnLeadership();
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
  reader_.Clear();
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
  if (page_) page_->Stop();
  silence_timer_.Reset();
  forget_timer_.Reset();
  reader_.Clear();
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
      {"coordinator.shrink_grace_ms",
       {std::to_string(o.coordinator.ShrinkGraceMs()), std::to_string(next.coordinator.ShrinkGraceMs())}},
      {"coordinator.metrics_listen", {address(o.coordinator.metrics_listen), address(next.coordinator.metrics_listen)}},
      {"coordinator.http_listen", {address(o.coordinator.http_listen), address(next.coordinator.http_listen)}},
      {"coordinator.http_token_file", {o.coordinator.http_token_file, next.coordinator.http_token_file}},
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
  if (type == "register") return roster_.OnRegister(conns_[conn], *msg);
  if (type == "heartbeat") return roster_.OnHeartbeat(conn, *msg);
  if (type == "ls" || type == "get" || type == "dump" || type == "watch") return reader_.OnRead(conn, *msg);
  if (type == "recovery") {
    Agent* a = roster_.AgentOf(conn);
    if (a == nullptr) return Status::Error("recovery report before register");
    return desk_.OnRecoveryReport(conn, *a, *msg);
  }
  if (type == "pull" || type == "shipped") {
    Agent* a = roster_.AgentOf(conn);
    if (a == nullptr) return Status::Error(type + " before register");
    return type == "pull" ? pulls_.OnPull(conn, *a, *msg) : pulls_.OnShipped(*a, *msg);
  }
  if (type == "reconfigure") return roster_.OnReconfigure(conn, *msg);
  if (type == "retry" || type == "forget_agent") return OnOperatorCommand(conn, *msg);
  return Status::Error("unknown message type '" + type.substr(0, 64) + "'");
}

void Coordinator::OnClose(FramedConn* conn, const CloseReason& reason) {
  const char* why = reason.why.c_str();
  if (!conn->authenticated()) {
    ++stats_.refused_auth;
    LOG_WARN("refused a connection from %s: %s", conn->remote().c_str(), why);
  } else if (!roster_.OnClose(conn, reason.why) &&
             (reason.kind == CloseReason::kTimeout || reason.kind == CloseReason::kOverflow)) {
    LOG_INFO("closed a connection from %s: %s", conn->remote().c_str(), why);
  }
  reader_.Drop(conn);
  conns_.erase(conn);
}

void Coordinator::CheckSilence() {
  reader_.KeepAlive(NowNs());
  roster_.CheckSilence();
}

Status Coordinator::CommitOrFail(const std::vector<NamespaceStore::Write>& writes) {
  if (writes.empty()) return Status::Ok();
  if (!leading_) return Status::Error("not leading: nothing is decided");
  Status s = store_->Commit(writes);
  if (s) reader_.OnCommitted(writes);
  if (s && page_) page_->OnCommitted(writes);
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
