#include "coordinator/heartbeat_merge.h"

#include "common/coord_protocol.h"
#include "common/log.h"
#include "common/names.h"

namespace tailsafe {

namespace {

using nlohmann::json;

// The agent's record after a heartbeat that says `storage_error` ("" if none).
AgentRecord MergeAgent(const std::string& id, const AgentRecord& current, const std::string& storage_error,
                       uint64_t now_unix_ms, bool* revived) {
  AgentRecord next = current;
  *revived = !current.alive;
  if (*revived) {  // silent past the timeout, then heard again on the same connection
    next.alive = true;
    next.since_unix_ms = now_unix_ms;
    next.dead_since_unix_ms = 0;
    LOG_NOTICE("agent %s is heard from again", id.c_str());
  }
  if (storage_error != next.storage_error) {
    if (storage_error.empty()) {
      LOG_NOTICE("agent %s can write its data_dir again", id.c_str());
      next.storage_error_since_unix_ms = 0;
    } else if (next.storage_error.empty()) {
      LOG_ERROR("agent %s cannot write its data_dir: %s", id.c_str(), storage_error.c_str());
      next.storage_error_since_unix_ms = now_unix_ms;
    }
    next.storage_error = storage_error;
  }
  return next;
}

// The deaths item `b` reports go into `next` (pending unless known); `ack` gets what to tell back.
Status MergeDeaths(const std::string& agent_id, const std::string& name, const json& b, const BoltRecord& before,
                   uint64_t now_unix_ms, BoltRecord* next, json* recorded) {
  std::vector<std::pair<uint64_t, uint64_t>> reported;
  std::vector<BoltDeath> added;
  if (Status s = next->AddDeaths(b["deaths"], before, now_unix_ms, &reported, &added); !s) return s;
  for (const BoltDeath& d : added) {
    LOG_NOTICE("bolt %s/%s: process %llu died, reported after the fact (%s)", agent_id.c_str(), name.c_str(),
               static_cast<unsigned long long>(d.pid),
               d.checkpoint ? ("checkpoint generation " + std::to_string(d.checkpoint->gen) + " offset " +
                               std::to_string(d.checkpoint->offset)).c_str()
                            : "no checkpoint known");
  }
  json ack = json::array();
  for (const auto& [pid, start_ns] : reported) ack.push_back({{"pid", pid}, {"start_ns", start_ns}});
  recorded->push_back({{"bolt", name}, {"deaths", std::move(ack)}});
  return Status::Ok();
}

}  // namespace

Result<HeartbeatMerge> MergeHeartbeat(const std::string& agent_id, const AgentRecord& agent,
                                      const std::map<std::string, std::string>& bolt_hooks,
                                      const std::map<std::pair<std::string, std::string>, BoltRecord>& bolts,
                                      const std::map<std::pair<std::string, std::string>, std::string>& held,
                                      const json& msg, uint64_t now_unix_ms) {
  const json* items = nullptr;
  if (Status s = ReadArray(msg, "bolts", &items); !s) return s;
  std::string storage_error;  // optional: the agent cannot write its data_dir
  if (msg.contains("storage_error")) {
    if (Status s = ReadString(msg, "storage_error", &storage_error); !s) return s;
    storage_error = Printable(storage_error, 512);
  }
  static const BoltRecord kNoneBefore;
  HeartbeatMerge out;
  for (const json& b : *items) {
    std::string name;
    if (!b.is_object()) return Status::Error("heartbeat: bolts[] must be objects");
    if (Status s = ReadString(b, "name", &name); !s) return s;
    if (!IsValidName(name)) return Status::Error("heartbeat: bolt name '" + name.substr(0, 64) + "' is invalid");
    std::pair<std::string, std::string> key{agent_id, name};
    if (held.count(key)) continue;  // its stored document cannot be read: left as it is (TermState::Load)
    auto old = bolts.find(key);
    const BoltRecord& before = old != bolts.end() ? old->second : kNoneBefore;
    BoltRecord next = before;
    next.origin = agent_id;
    next.bolt = name;
    next.host_alive = true;
    auto h = bolt_hooks.find(name);
    next.hook = h != bolt_hooks.end() ? h->second : "";
    if (Status s = BoltRecord::ReadReport(b, &next); !s) return s.Context("heartbeat: bolt " + name);
    if (b.contains("deaths")) {
      if (Status s = MergeDeaths(agent_id, name, b, before, now_unix_ms, &next, &out.deaths_recorded); !s) {
        return s.Context("heartbeat: bolt " + name);
      }
    }
    out.bolts.push_back(std::move(next));
  }
  // The agent's record changes last: a bad bolt item above refused the whole heartbeat.
  out.agent = MergeAgent(agent_id, agent, storage_error, now_unix_ms, &out.revived);
  return out;
}

}  // namespace tailsafe
