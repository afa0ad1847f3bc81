// Operator commands (tailsafectl retry, tailsafectl forget-agent): what would otherwise take a
// database shell. Each arrives on an authenticated connection like any read, is checked against
// the state, and is answered {type: "done", message} once its commit is durable, or {type:
// "error", message} saying why nothing was done.
//
//   retry PATH         a failed /recoveries/N goes back to waiting and is assigned again under
//                      a new epoch: a failed range blocks its generation until then.
//   forget_agent ID    a dead agent that will not come back (a decommissioned host) leaves
//                      /agents, with its bolts' documents and history; refused while it is alive
//                      or while a recovery of its bolts is unfinished or failed.

#include "common/coord_protocol.h"
#include "common/log.h"
#include "common/names.h"
#include "coordinator/coordinator.h"

namespace tailsafe {

using nlohmann::json;

namespace {

// "/recoveries/N" or "N".
std::optional<uint64_t> RecoveryNumber(const std::string& path) {
  std::string n = path.rfind("/recoveries/", 0) == 0 ? path.substr(12) : path;
  if (n.empty() || n.size() > 19 || n.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
  uint64_t id = std::stoull(n);
  return id == 0 ? std::nullopt : std::optional<uint64_t>(id);
}

}  // namespace

Status Coordinator::OnOperatorCommand(FramedConn* conn, const json& msg) {
  std::string type = msg["type"].get<std::string>();
  auto refuse = [&](const std::string& why) {
    LOG_WARN("operator command %s refused: %s", type.c_str(), why.c_str());
    Deliver(conn, ControlFrame({{"type", "error"}, {"message", why}}));
    return Status::Ok();
  };
  auto done = [&](const std::string& what) {
    LOG_NOTICE("operator: %s", what.c_str());
    Deliver(conn, ControlFrame({{"type", "done"}, {"message", what}}));
    return Status::Ok();
  };

  if (type == "retry") {
    std::string path;
    if (Status s = ReadString(msg, "path", &path); !s) return s;
    std::optional<uint64_t> id = RecoveryNumber(path);
    if (!id) return refuse("retry: '" + path.substr(0, 64) + "' is not a recovery (expected /recoveries/N)");
    auto it = state_.recoveries.find(*id);
    if (it == state_.recoveries.end()) return refuse("retry: no recovery " + std::to_string(*id));
    RecoveryRecord& r = it->second;
    if (r.state != RecoveryState::kFailed) {
      return refuse("retry: recovery " + std::to_string(*id) + " is " + RecoveryStateName(r.state) +
                    "; only a failed recovery can be retried");
    }
    if (Status s = desk_.Retry(r); !s) return s;
    if (!leading_) return Status::Ok();
    return done("recovery " + std::to_string(*id) + " retried: " +
                (r.state == RecoveryState::kAssigned ? "assigned to " + r.agent + " under epoch " + std::to_string(r.epoch)
                                                     : "waiting (" + r.error + ")"));
  }

  // forget_agent
  std::string id;
  if (Status s = ReadString(msg, "agent", &id); !s) return s;
  if (!IsValidName(id)) return refuse("forget-agent: '" + id.substr(0, 64) + "' is not a valid agent id");
  auto it = state_.agents.find(id);
  if (it == state_.agents.end()) return refuse("forget-agent: no agent " + id);
  if (it->second.alive()) {
    return refuse("forget-agent: agent " + id + " is alive; stop it first (only a dead agent can be forgotten)");
  }
  for (const auto& [n, r] : state_.recoveries) {
    if (r.origin == id && r.state != RecoveryState::kRecovered) {
      return refuse("forget-agent: recovery " + std::to_string(n) + " of " + id + "/" + r.bolt + " is " +
                    RecoveryStateName(r.state) + "; forget the agent once its bolts' recoveries are done");
    }
  }
  std::vector<NamespaceStore::Write> writes;
  writes.push_back({"/agents/" + id, std::nullopt});
  for (const std::string& bolt : store_->Children("/bolts/" + id)) writes.push_back({"/bolts/" + id + "/" + bolt, std::nullopt});
  for (const std::string& bolt : store_->Children("/recovered/" + id)) {
    writes.push_back({"/recovered/" + id + "/" + bolt, std::nullopt});
  }
  std::vector<uint64_t> records;
  for (const auto& [n, r] : state_.recoveries) {
    if (r.origin == id) {
      records.push_back(n);
      writes.push_back({"/recoveries/" + std::to_string(n), std::nullopt});
    }
  }
  if (Status s = CommitOrFail(writes); !s) return s;
  if (!leading_) return Status::Ok();
  if (it->second.conn) it->second.conn->Close("forgotten by an operator");
  state_.agents.erase(it);
  std::erase_if(state_.bolts, [&](const auto& b) { return b.first.first == id; });
  std::erase_if(state_.held_bolts, [&](const auto& b) { return b.first.first == id; });
  for (uint64_t n : records) state_.recoveries.erase(n);
  std::erase_if(state_.history, [&](const auto& h) { return h.first.first == id; });
  roster_.PushMembership();
  return done("agent " + id + " forgotten (" + std::to_string(writes.size()) + " documents removed, " +
              std::to_string(records.size()) + " of them recoveries)");
}

}  // namespace tailsafe
