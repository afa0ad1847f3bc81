#include "agent/coordinator_link.h"

#include <algorithm>
#include <random>

#include "common/clock.h"
#include "common/version.h"
#include "common/coord_protocol.h"
#include "common/log.h"
#include "common/placement.h"

namespace tailsafe {

using nlohmann::json;

namespace {
// `ms` give or take a quarter.
uint64_t JitteredMs(uint64_t ms) {
  static std::minstd_rand rng(std::random_device{}());
  uint64_t quarter = ms / 4;
  return quarter == 0 ? ms : ms - quarter + rng() % (2 * quarter + 1);
}
}  // namespace

CoordinatorLink::CoordinatorLink(uv_loop_t* loop, const Config& config, const ClusterKeys* keys, Handlers handlers)
    : loop_(loop), config_(config), keys_(keys), handlers_(std::move(handlers)) {}

CoordinatorLink::~CoordinatorLink() { Stop(); }

Status CoordinatorLink::Start() {
  for (const std::string& text : config_.cluster.coordinators) {
    Result<HostPort> hp = ParseHostPort(text);
    if (!hp) return hp.status().Context("cluster.coordinator");
    addresses_.push_back(*hp);
  }
  if (addresses_.empty()) return Status::Error("cluster.coordinator: no address");
  address_ = addresses_[0];
  for (auto* slot : {&retry_timer_, &heartbeat_timer_}) {
    auto t = MakeUv<uv_timer_t>(uv_timer_init, loop_);
    if (!t) return t.status();
    *slot = std::move(t.value());
    (*slot)->data = this;
  }
  Connect();
  return Status::Ok();
}

void CoordinatorLink::Stop() {
  stopped_ = true;
  connecting_.reset();
  retry_timer_.Reset();
  heartbeat_timer_.Reset();
  if (conn_) conn_->Close("agent stopping");
  conn_.reset();
  registered_ = false;
}

void CoordinatorLink::Connect() {
  if (stopped_) return;
  auto pending = ConnectTcp(loop_, address_.host, address_.port,
                            [this](Result<UvPtr<uv_tcp_t>> tcp) { OnConnected(std::move(tcp)); });
  if (!pending) return OnConnected(pending.status());
  connecting_ = std::move(pending.value());
}

void CoordinatorLink::OnConnected(Result<UvPtr<uv_tcp_t>> tcp) {
  connecting_.reset();
  if (!tcp) {
    if (last_error_ != tcp.status().message()) {
      LOG_WARN("coordinator: %s (retrying)", tcp.status().message().c_str());
    }
    last_error_ = tcp.status().message();
    return Retry();
  }
  conn_ = std::make_shared<FramedConn>(std::move(tcp.value()), SecureChannel::Role::kClient, keys_);
  Status st = conn_->Start([this](const Frame& f) { return OnFrame(f); },
                           [this](const CloseReason& r) { OnClosed(r.why); });
  if (!st) return;
  json msg = BoltsAndHooks("register");
  msg["cluster"] = config_.cluster.name;
  msg["agent"] = config_.agent.id;
  msg["address"] = config_.agent.listen.ToString();
  msg["version"] = kVersion;  // shown on the status page
  msg["acks"] = true;  // answer every heartbeat, so that a stopped coordinator is found silent
  msg["revokes"] = true;  // tell this agent which recoveries it no longer holds
  msg["retains"] = true;  // send this agent the replica retention plan
  msg["ships"] = true;    // it ships ranges of its replicas and pulls them (agent/range_pull.h)
  // How many peers hold each of its streams: only those can be elected for its recoveries.
  if (config_.cluster.replicas != kEveryPeer) msg["replicas"] = config_.cluster.replicas;
  conn_->Send(ControlFrame(msg));
}

json CoordinatorLink::BoltsAndHooks(const char* type) const {
  json bolts = json::array();
  json hook_names = json::array();
  for (const auto& [name, argv] : config_.hooks) hook_names.push_back(name);
  for (const BoltConfig& b : config_.bolts) bolts.push_back({{"name", b.name}, {"hook", b.hook}});
  return {{"type", type}, {"hooks", hook_names}, {"bolts", bolts}};
}

void CoordinatorLink::ConfigChanged() {
  // Not registered: the next registration carries the new bolts and hooks anyway.
  if (registered_) Send(BoltsAndHooks("reconfigure"));
}

Status CoordinatorLink::OnFrame(const Frame& f) {
  std::string_view text;
  if (Status s = DecodeControl(f, &text); !s) return s;
  Result<json> msg = ParseControl(text);
  if (!msg) return msg.status();
  std::string type = (*msg)["type"].get<std::string>();
  last_heard_ns_ = NowNs();
  if (type == "heartbeat_ack") return Status::Ok();
  // Each leadership is a term; a coordinator that leads in an older term than one this agent
  // has heard from is a deposed leader that does not know it yet: nothing it says counts.
  uint64_t term = 0;
  if (msg->contains("term")) {
    if (Status s = ReadUint(*msg, "term", &term); !s) return s;
    if (term < max_term_) {
      LOG_WARN("coordinator %s speaks for term %llu, older than term %llu: ignoring it", address_.ToString().c_str(),
               static_cast<unsigned long long>(term), static_cast<unsigned long long>(max_term_));
      return Status::Error("a coordinator of an older term");
    }
    max_term_ = term;
  }
  if (type == "not_leader") {
    std::string leader;
    (void)ReadString(*msg, "leader", &leader);
    Result<HostPort> hp = ParseHostPort(leader);
    if (hp && hp->host != "0.0.0.0" && hp->host != "::") redirect_ = *hp;
    answered_ = true;
    return Status::Error("coordinator " + address_.ToString() + " does not lead" +
                         (leader.empty() ? std::string() : "; the leader is " + leader));
  }
  if (type == "welcome") {
    uint64_t every = 0;
    if (Status s = ReadUint(*msg, "heartbeat_ms", &every); !s) return s;
    every = std::clamp<uint64_t>(every, 5, 60000);
    heartbeat_ms_ = every;
    // A coordinator that answers heartbeats can be found silent: stopped, or cut off one way.
    acks_ = msg->value("acks", false);
    registered_ = true;
    backoff_ms_ = 50;
    redirects_ = 0;
    answered_ = false;
    if (!last_error_.empty()) LOG_NOTICE("coordinator: registered with %s", address_.ToString().c_str());
    last_error_.clear();
    uv_timer_start(heartbeat_timer_.get(), [](uv_timer_t* t) {
      if (auto* self = static_cast<CoordinatorLink*>(t->data)) self->Heartbeat();
    }, 0, every);
    if (handlers_.on_registered) handlers_.on_registered();
    return Status::Ok();
  }
  if (type == "reject") {
    std::string reason;
    (void)ReadString(*msg, "reason", &reason);
    LOG_ERROR("coordinator %s refused this agent: %s", address_.ToString().c_str(), reason.c_str());
    return Status::Error("refused: " + reason);
  }
  if (type == "membership") {
    const json* agents = nullptr;
    if (Status s = ReadArray(*msg, "agents", &agents); !s) return s;
    membership_ = *agents;
    if (handlers_.on_membership) handlers_.on_membership(membership_);
    return Status::Ok();
  }
  bool recovery = type == "assign" || type == "recorded" || type == "revoke" || type == "held" || type == "pulled";
  if (recovery && handlers_.on_recovery) return handlers_.on_recovery(*msg);
  if (type == "deaths_recorded" && handlers_.on_deaths_recorded) return handlers_.on_deaths_recorded(*msg);
  if (type == "ship" && handlers_.on_ship) return handlers_.on_ship(*msg);
  if (type == "retain" && handlers_.on_retain) return handlers_.on_retain(*msg);
  return Status::Error("unexpected message '" + type.substr(0, 64) + "' from the coordinator");
}

void CoordinatorLink::Heartbeat() {
  if (!registered_ || !conn_ || !conn_->open()) return;
  // Five heartbeats unanswered (the coordinator's host timeout and one more): it is gone, or
  // stopped; another instance may lead by now.
  uint64_t silent_ms = (NowNs() - last_heard_ns_) / 1000000;
  if (acks_ && silent_ms > 5 * heartbeat_ms_) {
    conn_->Close("the coordinator at " + address_.ToString() + " answered nothing for " + std::to_string(silent_ms) + " ms");
    return;
  }
  json msg = handlers_.report ? handlers_.report() : json::object();
  msg["type"] = "heartbeat";
  if (!msg.contains("bolts")) msg["bolts"] = json::array();
  conn_->Send(ControlFrame(msg));
}

bool CoordinatorLink::Send(const json& msg) {
  if (!registered_ || !conn_ || !conn_->open()) return false;
  conn_->Send(ControlFrame(msg));
  return true;
}

void CoordinatorLink::OnClosed(const std::string& why) {
  bool was = registered_;
  registered_ = false;
  if (stopped_) return;  // closed by Stop: nothing was lost, nothing to retry
  if (heartbeat_timer_) uv_timer_stop(heartbeat_timer_.get());
  last_error_ = why;
  if (redirect_) {
    LOG_INFO("coordinator: %s", why.c_str());
  } else if (was) {
    LOG_WARN("coordinator: connection lost: %s (reconnecting)", why.c_str());
  } else if (conn_ && !conn_->authenticated() && why != last_logged_) {
    // A coordinator that fails the secure handshake is an impostor or holds another key: say so
    // once per distinct reason, not on every retry.
    LOG_WARN("coordinator %s: %s (retrying)", address_.ToString().c_str(), why.c_str());
    last_logged_ = why;
  }
  Retry();
}

uint64_t CoordinatorLink::Backoff() {
  uint64_t wait = JitteredMs(answered_ ? std::min(backoff_ms_, heartbeat_ms_) : backoff_ms_);
  backoff_ms_ = std::min<uint64_t>(backoff_ms_ * 2, config_.agent.reconnect_max_ms);
  answered_ = false;
  return wait;
}

void CoordinatorLink::Retry() {
  if (stopped_ || !retry_timer_) return;
  // With several coordinator instances, try the next one; back off once per round, jittered so
  // that agents that lost the same coordinator do not all come back in step.
  uint64_t wait = 0;
  if (redirect_) {  // told where the leader is: go there, after a short jittered pause
    address_ = *std::exchange(redirect_, std::nullopt);
    wait = JitteredMs(20);
    if (++redirects_ > addresses_.size() + 1) {  // instances that point at each other: back off
      redirects_ = 0;
      wait = Backoff();
    }
  } else {
    next_ = (next_ + 1) % addresses_.size();
    address_ = addresses_[next_];
    if (next_ == 0) wait = Backoff();
  }
  uv_timer_start(retry_timer_.get(), [](uv_timer_t* t) {
    if (auto* self = static_cast<CoordinatorLink*>(t->data)) {
      self->conn_.reset();
      self->Connect();
    }
  }, wait, 0);
}

}  // namespace tailsafe
