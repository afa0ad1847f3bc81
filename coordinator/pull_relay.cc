// PullRelay: see coordinator/pull_relay.h.
#include "coordinator/pull_relay.h"

#include <algorithm>

#include "common/coord_protocol.h"
#include "common/log.h"

namespace tailsafe {

using nlohmann::json;

namespace {

unsigned long long U(uint64_t v) { return static_cast<unsigned long long>(v); }

}  // namespace

Status PullRelay::OnPull(FramedConn* conn, const TermState::Agent& a, const json& msg) {
  uint64_t id = 0, epoch = 0, offset = 0, length = 0;
  for (Status s : {ReadUint(msg, "recovery", &id), ReadUint(msg, "epoch", &epoch), ReadUint(msg, "offset", &offset),
                   ReadUint(msg, "length", &length)}) {
    if (!s) return s;
  }
  auto refuse = [&](const std::string& why) {
    LOG_WARN("recovery %llu: refused %s's pull at %llu under epoch %llu: %s", U(id), a.id.c_str(), U(offset), U(epoch),
             why.c_str());
    deliver_(conn, ControlFrame({{"type", "pulled"}, {"term", term_()}, {"recovery", id}, {"epoch", epoch},
                                 {"offset", offset}, {"error", why}}));
    return Status::Ok();
  };
  auto it = state_->recoveries.find(id);
  if (it == state_->recoveries.end()) return refuse("no recovery " + std::to_string(id));
  const RecoveryRecord& r = it->second;
  if (!r.held() || r.agent != a.id || r.epoch != epoch) return refuse("not held by " + a.id + " under this epoch");
  if (r.pull_from.empty()) return refuse("the range has nothing to pull");
  if (offset < r.from || offset >= r.pull_to || length == 0 || length > kMaxShipBytes) {
    return refuse("[" + std::to_string(offset) + ", +" + std::to_string(length) + ") is outside [" +
                  std::to_string(r.from) + ", " + std::to_string(r.pull_to) + ") or too long");
  }
  auto holder = state_->agents.find(r.pull_from);
  if (holder == state_->agents.end() || !holder->second.alive() || !holder->second.conn) {
    return refuse(r.pull_from + " is not connected");
  }
  deliver_(holder->second.conn.get(),
          ControlFrame({{"type", "ship"}, {"term", term_()}, {"recovery", id}, {"epoch", epoch}, {"origin", r.origin},
                        {"bolt", r.bolt}, {"generation", r.gen}, {"offset", offset},
                        {"length", std::min(length, r.pull_to - offset)}}));
  return Status::Ok();
}

Status PullRelay::OnShipped(const TermState::Agent& a, const json& msg) {
  uint64_t id = 0, epoch = 0, offset = 0;
  for (Status s : {ReadUint(msg, "recovery", &id), ReadUint(msg, "epoch", &epoch), ReadUint(msg, "offset", &offset)}) {
    if (!s) return s;
  }
  auto it = state_->recoveries.find(id);
  if (it == state_->recoveries.end()) return Status::Ok();
  const RecoveryRecord& r = it->second;
  // Only to the assignee that asked, while it holds the range: a late chunk is dropped.
  if (!r.held() || r.epoch != epoch || r.pull_from != a.id) return Status::Ok();
  auto assignee = state_->agents.find(r.agent);
  if (assignee == state_->agents.end() || !assignee->second.conn) return Status::Ok();
  json out = {{"type", "pulled"}, {"term", term_()}, {"recovery", id}, {"epoch", epoch}, {"offset", offset}};
  if (auto e = msg.find("error"); e != msg.end() && e->is_string()) {
    out["error"] = a.id + ": " + e->get<std::string>();
  } else if (auto d = msg.find("data"); d != msg.end() && d->is_string()) {
    out["data"] = *d;
  } else {
    return Status::Error("shipped: field 'data' must be a string");
  }
  deliver_(assignee->second.conn.get(), ControlFrame(out));
  return Status::Ok();
}

uint64_t TakePullResult(RecoveryRecord& r, const json& msg) {
  if (r.pull_from.empty()) return 0;
  std::string from = msg.value("pulled_from", ""), error = msg.value("pull_error", "");
  if (!from.empty()) {
    r.pulled = "pulled [" + std::to_string(r.from) + ", " + std::to_string(r.pull_to) + ") from " + from;
    LOG_NOTICE("recovery %llu: the assignee %s", U(r.id), r.pulled.c_str());
  } else if (!error.empty()) {
    r.pulled = "the pull from " + r.pull_from + " failed: " + error.substr(0, 512) + "; ran on what " + r.agent +
               " held, [" + std::to_string(r.from) + ", " + std::to_string(r.to) + ")";
    uint64_t lost = r.pull_to > r.to ? r.pull_to - r.to : 0;
    LOG_ERROR("recovery %llu: %llu bytes of %s/%s generation %llu [%llu, %llu) are given up: %s", U(r.id), U(lost),
              r.origin.c_str(), r.bolt.c_str(), U(r.gen), U(r.to), U(r.pull_to), r.pulled.c_str());
    return lost;
  }
  return 0;
}

}  // namespace tailsafe
