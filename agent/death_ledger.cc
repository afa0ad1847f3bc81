#include "agent/death_ledger.h"

#include <utility>

#include "common/coord_protocol.h"
#include "common/log.h"

namespace tailsafe {

DeathLedger::DeathLedger(bool reporting, std::vector<DeathRow> loaded)
    : reporting_(reporting), deaths_(std::move(loaded)) {}

void DeathLedger::NoteCheckpoint(const std::string& bolt, uint64_t gen, uint64_t offset, ProcessId writer) {
  auto& h = readings_[bolt];
  h.push_back({gen, offset, writer});
  if (h.size() > kCheckpointHistory) h.erase(h.begin());
}

void DeathLedger::NoteTracked(const std::string& bolt, ProcessId p) {
  pending_processes_.push_back({bolt, p.pid, p.start_ns});
}

std::optional<DeathLedger::CheckpointReading> DeathLedger::DeadProcessCheckpoint(const std::string& bolt,
                                                                                 ProcessId p,
                                                                                 bool successor) const {
  auto it = readings_.find(bolt);
  if (it == readings_.end() || it->second.empty()) return std::nullopt;
  if (!successor) return it->second.back();
  for (auto r = it->second.rbegin(); r != it->second.rend(); ++r) {
    if (r->writer == p) return *r;
  }
  return std::nullopt;
}

void DeathLedger::Add(DeathRow d) {
  if (!reporting_) return;  // nobody to tell: no recovery without a coordinator
  size_t mine = 0;
  for (const DeathRow& x : deaths_) mine += x.bolt == d.bolt;
  if (mine >= kMaxDeathsPerBolt) {
    // The coordinator takes at most 64 per heartbeat; one unreachable that long has missed more
    // than one restart already. The oldest goes, loudly.
    for (auto it = deaths_.begin(); it != deaths_.end(); ++it) {
      if (it->bolt != d.bolt) continue;
      LOG_ERROR("bolt %s: %zu deaths not yet on the coordinator's record; forgetting process %llu's",
                d.bolt.c_str(), mine, static_cast<unsigned long long>(it->pid));
      DeathRow gone = *it;
      gone.remove = true;
      pending_deaths_.push_back(gone);
      deaths_.erase(it);
      break;
    }
  }
  deaths_.push_back(d);
  pending_deaths_.push_back(std::move(d));
}

void DeathLedger::NoteDeath(const std::string& bolt, ProcessId p, bool successor, uint64_t unix_ms) {
  DeathRow d;
  d.bolt = bolt;
  d.pid = p.pid;
  d.start_ns = p.start_ns;
  d.unix_ms = unix_ms;
  if (auto ck = DeadProcessCheckpoint(bolt, p, successor)) {
    d.has_checkpoint = true;
    d.gen = ck->gen;
    d.offset = ck->offset;
  }
  Add(std::move(d));
  pending_processes_.push_back({bolt, 0, 0});  // no process recorded until the next is tracked
}

size_t DeathLedger::NoteDeathsWhileDown(const std::vector<BoltProcessRow>& recorded,
                                        const std::function<bool(const std::string&)>& configured,
                                        const std::function<const BoltProcess*(const std::string&)>& now,
                                        uint64_t unix_ms) {
  size_t noted = 0;
  for (const BoltProcessRow& row : recorded) {
    if (!configured(row.bolt)) {
      pending_processes_.push_back({row.bolt, 0, 0});
      continue;
    }
    const BoltProcess* p = now(row.bolt);
    bool running = p && p->state == ProcState::kRunning;
    uint64_t now_pid = p ? static_cast<uint64_t>(p->pid) : 0;
    if (running && now_pid == row.pid && p->start_boottime_ns == row.start_ns) continue;
    bool known = false;
    for (const DeathRow& d : deaths_) known |= d.bolt == row.bolt && d.pid == row.pid && d.start_ns == row.start_ns;
    if (known) continue;
    LOG_NOTICE("bolt %s: process %llu died while this agent was down%s", row.bolt.c_str(),
               static_cast<unsigned long long>(row.pid), running ? "; its successor runs" : "");
    // The pid file names another process (running, or dead as well): a successor ran, and the
    // checkpoint file may be any successor's. Otherwise it is the dead process's last word.
    bool successor = now_pid != 0 && (now_pid != row.pid || (running && p->start_boottime_ns != row.start_ns));
    DeathRow d;
    d.bolt = row.bolt;
    d.pid = row.pid;
    d.start_ns = row.start_ns;
    d.unix_ms = unix_ms;
    if (auto ck = DeadProcessCheckpoint(row.bolt, {row.pid, row.start_ns}, successor)) {
      d.has_checkpoint = true;
      d.gen = ck->gen;
      d.offset = ck->offset;
    }
    Add(std::move(d));
    ++noted;
    if (!running) pending_processes_.push_back({row.bolt, 0, 0});
  }
  return noted;
}

void DeathLedger::Recorded(const std::string& bolt, const std::vector<ProcessId>& processes) {
  for (const ProcessId& p : processes) {
    for (auto it = deaths_.begin(); it != deaths_.end();) {
      if (it->bolt == bolt && it->pid == p.pid && it->start_ns == p.start_ns) {
        DeathRow gone = *it;
        gone.remove = true;
        pending_deaths_.push_back(std::move(gone));
        it = deaths_.erase(it);
      } else {
        ++it;
      }
    }
  }
}

bool DeathLedger::HasDeaths(const std::string& bolt) const {
  for (const DeathRow& d : deaths_) {
    if (d.bolt == bolt) return true;
  }
  return false;
}

nlohmann::json DeathLedger::Json(const std::string& bolt) const {
  nlohmann::json out = nlohmann::json::array();
  for (const DeathRow& d : deaths_) {
    if (d.bolt != bolt) continue;
    nlohmann::json j = {{"pid", d.pid}, {"start_ns", d.start_ns}, {"unix_ms", d.unix_ms}};
    if (d.has_checkpoint) {
      j["gen"] = d.gen;
      j["offset"] = d.offset;
    }
    out.push_back(std::move(j));
  }
  return out;
}

void DeathLedger::Collect(StateBatch* batch) {
  for (auto& r : pending_processes_) batch->bolt_processes.push_back(std::move(r));
  pending_processes_.clear();
  for (auto& d : pending_deaths_) batch->deaths.push_back(std::move(d));
  pending_deaths_.clear();
}

Status DeathLedger::RecordedMessage(const nlohmann::json& msg) {
  std::string bolt;
  const nlohmann::json* list = nullptr;
  if (Status s = ReadString(msg, "bolt", &bolt); !s) return s;
  if (Status s = ReadArray(msg, "deaths", &list); !s) return s;
  std::vector<ProcessId> recorded;
  for (const nlohmann::json& r : *list) {
    ProcessId p;
    if (!r.is_object()) return Status::Error("deaths_recorded: deaths[] must be objects");
    if (Status s = ReadUint(r, "pid", &p.pid); !s) return s;
    if (Status s = ReadUint(r, "start_ns", &p.start_ns); !s) return s;
    recorded.push_back(p);
  }
  Recorded(bolt, recorded);
  return Status::Ok();
}

}  // namespace tailsafe
