#include "coordinator/recovery_record.h"

#include <algorithm>
#include <array>
#include <utility>

#include "coordinator/record_fields.h"

namespace tailsafe {

using nlohmann::json;
using namespace record_fields;

namespace {

constexpr std::array<std::pair<RecoveryState, const char*>, 5> kStates{{
    {RecoveryState::kWaiting, "waiting"},
    {RecoveryState::kAssigned, "assigned"},
    {RecoveryState::kRunning, "running"},
    {RecoveryState::kRecovered, "recovered"},
    {RecoveryState::kFailed, "failed"},
}};

}  // namespace

const char* RecoveryStateName(RecoveryState s) {
  for (const auto& [state, name] : kStates) {
    if (state == s) return name;
  }
  return "?";
}

std::optional<RecoveryState> ParseRecoveryState(std::string_view name) {
  for (const auto& [state, n] : kStates) {
    if (name == n) return state;
  }
  return std::nullopt;
}

void RecoveryRecord::AddAssignment(RecoveryAssignment a) {
  assignments.push_back(std::move(a));
  if (assignments.size() > kMaxAssignments) {
    assignments.erase(assignments.begin(), assignments.end() - static_cast<long>(kMaxAssignments));
  }
}

RangeRecord RecoveryRecord::Range() const {
  RangeRecord::State st = state == RecoveryState::kRecovered ? RangeRecord::State::kRecovered
                          : state == RecoveryState::kFailed  ? RangeRecord::State::kFailed
                                                             : RangeRecord::State::kUnfinished;
  return {gen, from, to, state == RecoveryState::kRecovered ? delivered_to : 0, st, asked_to > to ? asked_to : 0};
}

json RecoveryRecord::ToJson() const {
  json history = json::array();
  for (const RecoveryAssignment& a : assignments) history.push_back({{"epoch", a.epoch}, {"agent", a.agent}, {"unix_ms", a.unix_ms}});
  json d = {{"origin", origin}, {"bolt", bolt}, {"hook", hook}, {"generation", gen}, {"from", from}, {"to", to},
            {"state", RecoveryStateName(state)}, {"epoch", epoch}, {"agent", agent}, {"attempts", attempts},
            {"cause", cause}, {"created_unix_ms", created_unix_ms}, {"assignments", history}};
  if (state == RecoveryState::kRecovered) d["delivered_to"] = delivered_to;
  if (asked_to) {
    d["asked_to"] = asked_to;
    d["shrunk"] = shrunk;
  }
  if (!pull_from.empty()) {
    d["pull_from"] = pull_from;
    d["pull_to"] = pull_to;
  }
  if (!pulled.empty()) d["pulled"] = pulled;
  if (assigned_unix_ms) d["assigned_unix_ms"] = assigned_unix_ms;
  if (finished_unix_ms) d["finished_unix_ms"] = finished_unix_ms;
  if (!error.empty()) d["error"] = error;
  return d;
}

Result<RecoveryRecord> RecoveryRecord::FromJson(uint64_t id, const json& d) {
  if (!d.is_object()) return Status::Error("not a JSON object");
  RecoveryRecord r;
  r.id = id;
  std::string state;
  for (Status s : {String(d, "origin", &r.origin), String(d, "bolt", &r.bolt), String(d, "hook", &r.hook),
                   Uint(d, "generation", &r.gen), Uint(d, "from", &r.from), Uint(d, "to", &r.to),
                   String(d, "state", &state), Uint(d, "epoch", &r.epoch), String(d, "agent", &r.agent),
                   OptionalUint(d, "attempts", &r.attempts), OptionalString(d, "cause", &r.cause),
                   OptionalString(d, "error", &r.error), OptionalUint(d, "delivered_to", &r.delivered_to),
                   OptionalUint(d, "asked_to", &r.asked_to), OptionalString(d, "shrunk", &r.shrunk),
                   OptionalString(d, "pull_from", &r.pull_from), OptionalUint(d, "pull_to", &r.pull_to),
                   OptionalString(d, "pulled", &r.pulled),
                   OptionalUint(d, "created_unix_ms", &r.created_unix_ms),
                   OptionalUint(d, "assigned_unix_ms", &r.assigned_unix_ms),
                   OptionalUint(d, "finished_unix_ms", &r.finished_unix_ms)}) {
    if (!s) return s;
  }
  std::optional<RecoveryState> st = ParseRecoveryState(state);
  if (!st) return Status::Error("field 'state': '" + state.substr(0, 32) + "' is not a recovery state");
  r.state = *st;
  if (r.from > r.to) return Status::Error("from " + std::to_string(r.from) + " is past to " + std::to_string(r.to));
  if (r.asked_to != 0 && r.asked_to < r.to) {
    return Status::Error("asked_to " + std::to_string(r.asked_to) + " is before to " + std::to_string(r.to));
  }
  if (!r.pull_from.empty() && (r.pull_to <= r.from || r.pull_to > std::max(r.to, r.asked_to))) {
    return Status::Error("pull_to " + std::to_string(r.pull_to) + " is outside (from, asked_to]");
  }
  if (r.state == RecoveryState::kRecovered && (r.delivered_to < r.from || r.delivered_to > r.to)) {
    return Status::Error("delivered_to " + std::to_string(r.delivered_to) + " is outside [from, to]");
  }
  if (auto it = d.find("assignments"); it != d.end()) {
    if (!it->is_array()) return Status::Error("field 'assignments' must be an array");
    for (const json& a : *it) {
      if (!a.is_object()) return Status::Error("assignments[] must be objects");
      RecoveryAssignment x;
      for (Status t : {Uint(a, "epoch", &x.epoch), String(a, "agent", &x.agent), Uint(a, "unix_ms", &x.unix_ms)}) {
        if (!t) return t.Context("assignments[]");
      }
      r.AddAssignment(std::move(x));
    }
  }
  return r;
}

}  // namespace tailsafe
