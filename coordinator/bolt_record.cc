#include "coordinator/bolt_record.h"

#include <algorithm>

#include "coordinator/record_fields.h"

namespace tailsafe {

using nlohmann::json;
using namespace record_fields;

namespace {

Status OptionalUintField(const json& d, const char* field, std::optional<uint64_t>* out) {
  if (!d.contains(field)) return Status::Ok();
  uint64_t v = 0;
  if (Status s = Uint(d, field, &v); !s) return s;
  *out = v;
  return Status::Ok();
}

json CheckpointJson(const TailCheckpoint& c) { return {{"gen", c.gen}, {"offset", c.offset}}; }

Status ReadTail(const json& d, const char* field, std::optional<TailCheckpoint>* out) {
  auto it = d.find(field);
  if (it == d.end()) return Status::Ok();
  if (!it->is_object()) return Status::Error(std::string("field '") + field + "' must be an object");
  TailCheckpoint c;
  for (Status s : {Uint(*it, "gen", &c.gen), Uint(*it, "offset", &c.offset)}) {
    if (!s) return s.Context(field);
  }
  *out = c;
  return Status::Ok();
}

Status ReadProcess(const json& p, BoltProcessReport* out) {
  if (!p.is_object()) return Status::Error("field 'process' must be an object");
  BoltProcessReport r;
  for (Status s : {String(p, "state", &r.state), OptionalUintField(p, "pid", &r.pid), OptionalUint(p, "deaths", &r.deaths),
                   OptionalString(p, "detail", &r.detail)}) {
    if (!s) return s.Context("process");
  }
  if (r.state.empty() || r.state.size() > 32) return Status::Error("process: field 'state' must be 1 to 32 characters");
  *out = std::move(r);
  return Status::Ok();
}

Status ReadCheckpoint(const json& c, BoltCheckpointReport* out) {
  if (!c.is_object()) return Status::Error("field 'checkpoint' must be an object");
  BoltCheckpointReport r;
  for (Status s : {OptionalUintField(c, "gen", &r.gen), OptionalUintField(c, "offset", &r.offset),
                   OptionalUint(c, "read_unix_ns", &r.read_unix_ns), OptionalString(c, "problem", &r.problem)}) {
    if (!s) return s.Context("checkpoint");
  }
  *out = std::move(r);
  return Status::Ok();
}

}  // namespace

std::optional<TailCheckpoint> BoltCheckpointReport::Tail() const {
  if (!gen || !offset) return std::nullopt;
  return TailCheckpoint{*gen, *offset};
}

void BoltRecord::MarkOldestPlanned() {
  if (deaths_pending.empty()) return;
  deaths_done.emplace_back(deaths_pending.front().pid, deaths_pending.front().start_ns);
  deaths_pending.erase(deaths_pending.begin());
  if (deaths_done.size() > kMaxDeathsDone) {
    deaths_done.erase(deaths_done.begin(), deaths_done.end() - static_cast<long>(kMaxDeathsDone));
  }
}

json BoltRecord::ToJson() const {
  json d = {{"origin", origin}, {"bolt", bolt}, {"host_alive", host_alive}};
  if (!hook.empty()) d["hook"] = hook;
  if (process) {
    json p = {{"state", process->state}, {"deaths", process->deaths}};
    if (process->pid) p["pid"] = *process->pid;
    if (!process->detail.empty()) p["detail"] = process->detail;
    d["process"] = std::move(p);
  }
  if (checkpoint) {
    json c = json::object();
    if (checkpoint->gen) c["gen"] = *checkpoint->gen;
    if (checkpoint->offset) c["offset"] = *checkpoint->offset;
    if (checkpoint->read_unix_ns) c["read_unix_ns"] = checkpoint->read_unix_ns;
    if (!checkpoint->problem.empty()) c["problem"] = checkpoint->problem;
    d["checkpoint"] = std::move(c);
  }
  if (!deaths_pending.empty()) {
    json pending = json::array();
    for (const BoltDeath& x : deaths_pending) {
      json e = {{"pid", x.pid}, {"start_ns", x.start_ns}, {"recorded_unix_ms", x.recorded_unix_ms}};
      if (x.checkpoint) e["checkpoint"] = CheckpointJson(*x.checkpoint);
      pending.push_back(std::move(e));
    }
    d["deaths_pending"] = std::move(pending);
  }
  if (!deaths_done.empty()) {
    json done = json::array();
    for (const auto& [pid, start_ns] : deaths_done) done.push_back({{"pid", pid}, {"start_ns", start_ns}});
    d["deaths_done"] = std::move(done);
  }
  return d;
}

Result<BoltRecord> BoltRecord::FromJson(const json& d) {
  if (!d.is_object()) return Status::Error("not a JSON object");
  BoltRecord b;
  for (Status s : {String(d, "origin", &b.origin), String(d, "bolt", &b.bolt), OptionalString(d, "hook", &b.hook),
                   OptionalBool(d, "host_alive", &b.host_alive)}) {
    if (!s) return s;
  }
  if (d.contains("process")) {
    b.process.emplace();
    if (Status s = ReadProcess(d["process"], &*b.process); !s) return s;
  }
  if (d.contains("checkpoint")) {
    b.checkpoint.emplace();
    if (Status s = ReadCheckpoint(d["checkpoint"], &*b.checkpoint); !s) return s;
  }
  if (auto it = d.find("deaths_pending"); it != d.end()) {
    if (!it->is_array()) return Status::Error("field 'deaths_pending' must be an array");
    for (const json& e : *it) {
      if (!e.is_object()) return Status::Error("deaths_pending[] must be objects");
      BoltDeath x;
      for (Status s : {Uint(e, "pid", &x.pid), Uint(e, "start_ns", &x.start_ns),
                       OptionalUint(e, "recorded_unix_ms", &x.recorded_unix_ms), ReadTail(e, "checkpoint", &x.checkpoint)}) {
        if (!s) return s.Context("deaths_pending[]");
      }
      b.deaths_pending.push_back(std::move(x));
    }
  }
  if (auto it = d.find("deaths_done"); it != d.end()) {
    if (!it->is_array()) return Status::Error("field 'deaths_done' must be an array");
    for (const json& e : *it) {
      if (!e.is_object()) return Status::Error("deaths_done[] must be objects");
      uint64_t pid = 0, start_ns = 0;
      for (Status s : {Uint(e, "pid", &pid), Uint(e, "start_ns", &start_ns)}) {
        if (!s) return s.Context("deaths_done[]");
      }
      b.deaths_done.emplace_back(pid, start_ns);
    }
  }
  return b;
}

Status BoltRecord::ReadReport(const json& item, BoltRecord* into) {
  std::optional<BoltCheckpointReport> before = std::move(into->checkpoint);
  into->process.reset();
  into->checkpoint.reset();
  if (item.contains("process")) {
    into->process.emplace();
    if (Status s = ReadProcess(item["process"], &*into->process); !s) return s;
  }
  if (item.contains("checkpoint")) {
    into->checkpoint.emplace();
    if (Status s = ReadCheckpoint(item["checkpoint"], &*into->checkpoint); !s) return s;
    // The origin names a checkpoint's generation only while that generation is open there: once
    // the bolt has rotated past it and it closed, the same reading comes without it. Keep the
    // generation learnt (retention and recovery planning need it).
    BoltCheckpointReport& c = *into->checkpoint;
    if (!c.gen && c.offset && before && before->gen && before->offset == c.offset &&
        before->read_unix_ns == c.read_unix_ns && c.read_unix_ns != 0) {
      c.gen = before->gen;
    }
  }
  return Status::Ok();
}

Status BoltRecord::AddDeaths(const json& deaths, const BoltRecord& before, uint64_t now_unix_ms,
                             std::vector<std::pair<uint64_t, uint64_t>>* ack, std::vector<BoltDeath>* added) {
  if (!deaths.is_array() || deaths.size() > kMaxDeathsReported) {
    return Status::Error("deaths must be an array of at most " + std::to_string(kMaxDeathsReported));
  }
  for (const json& d : deaths) {
    if (!d.is_object()) return Status::Error("deaths[] must be objects");
    BoltDeath x;
    x.recorded_unix_ms = now_unix_ms;
    for (Status s : {Uint(d, "pid", &x.pid), Uint(d, "start_ns", &x.start_ns)}) {
      if (!s) return s.Context("deaths[]");
    }
    if (d.contains("gen") || d.contains("offset")) {
      TailCheckpoint c;
      for (Status s : {Uint(d, "gen", &c.gen), Uint(d, "offset", &c.offset)}) {
        if (!s) return s.Context("deaths[]");
      }
      x.checkpoint = c;
    } else if (before.process && before.process->pid == x.pid && before.checkpoint) {
      x.checkpoint = before.checkpoint->Tail();
    }
    ack->emplace_back(x.pid, x.start_ns);
    bool known = std::any_of(deaths_pending.begin(), deaths_pending.end(), [&](const BoltDeath& p) { return p.Same(x.pid, x.start_ns); }) ||
                 std::any_of(deaths_done.begin(), deaths_done.end(), [&](const auto& p) { return p == std::pair{x.pid, x.start_ns}; });
    if (known || hook.empty()) continue;  // on record already; or replicated, never recovered
    added->push_back(x);
    deaths_pending.push_back(std::move(x));
  }
  return Status::Ok();
}

}  // namespace tailsafe
