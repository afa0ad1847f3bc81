// Bolt deaths: what the agent tells the coordinator so that every dead process's tail is
// recovered, also when the death was not seen live.
//
// A bolt's state in heartbeats ("dead", then "running" again once its supervisor restarts it) is
// not enough: a death is overwritten by the successor's "running" whenever the coordinator is
// down or unreachable, or this agent is paused or down, at the moment of the death, and the
// successor's checkpoints then claim the dead process's unprocessed tail as done. So each death
// becomes a record {pid, start, the dead process's last checkpoint}, kept in state.db and sent
// in every heartbeat until the coordinator says it has it (deaths_recorded). The process each
// bolt runs is recorded in state.db as well: one that is gone when the agent starts died while
// it was down, and is reported the same way.
//
// The dead process's checkpoint is the newest one read whose file was written before its
// successor started (the successor's own checkpoints come after), with a margin for the
// coarse clock of file times. Start times are rounded down to a clock tick. Both can only make
// the chosen checkpoint older: a longer tail, never a shorter one.
#include <time.h>

#include "agent/agent.h"
#include "common/clock.h"
#include "common/coord_protocol.h"
#include "common/log.h"

namespace tailsafe {

namespace {

constexpr size_t kCheckpointHistory = 16;
constexpr size_t kMaxDeathsPerBolt = 32;

uint64_t ClockNs(clockid_t id) {
  timespec ts{};
  ::clock_gettime(id, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

}  // namespace

void Agent::OnBoltCheckpoint(const std::string& bolt, uint64_t offset, uint64_t mtime_ns) {
  for (auto& src : sources_) {
    if (src->name() != bolt) continue;
    src->SetCheckpoint(offset);
    // The generation it applied to: the newest that has one.
    for (auto it = src->generations().rbegin(); it != src->generations().rend(); ++it) {
      if ((*it)->has_checkpoint) {
        auto& h = checkpoint_history_[bolt];
        h.push_back({(*it)->gen, (*it)->checkpoint, mtime_ns});
        if (h.size() > kCheckpointHistory) h.erase(h.begin());
        break;
      }
    }
  }
}

std::optional<Agent::CheckpointReading> Agent::DeadProcessCheckpoint(const std::string& bolt,
                                                                      uint64_t successor_start_ns) const {
  auto it = checkpoint_history_.find(bolt);
  if (it == checkpoint_history_.end() || it->second.empty()) return std::nullopt;
  if (successor_start_ns == 0) return it->second.back();
  // The successor's start on the wall clock, as the checkpoint files' mtimes are.
  uint64_t boot_now = ClockNs(CLOCK_BOOTTIME), wall_now = ClockNs(CLOCK_REALTIME);
  uint64_t successor_wall = wall_now - (boot_now > successor_start_ns ? boot_now - successor_start_ns : 0);
  // A successor's checkpoint was written after it started, but its mtime comes from the
  // kernel's coarse clock (up to a jiffy, at most 10 ms, behind): only a checkpoint older than
  // that is surely the dead process's.
  constexpr uint64_t kCoarseClockNs = 10000000;
  for (auto r = it->second.rbegin(); r != it->second.rend(); ++r) {
    if (r->mtime_ns + kCoarseClockNs < successor_wall) return *r;
  }
  return std::nullopt;
}

void Agent::OnBoltTracked(const std::string& bolt, pid_t pid, uint64_t start_ns) {
  pending_process_rows_.push_back({bolt, static_cast<uint64_t>(pid), start_ns});
  Kick(false, true);
}

void Agent::RecordDeath(const DeathRow& d) {
  if (config_.cluster.coordinator.empty()) return;  // nobody to tell: no recovery without a coordinator
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
      pending_death_rows_.push_back(gone);
      deaths_.erase(it);
      break;
    }
  }
  deaths_.push_back(d);
  pending_death_rows_.push_back(d);
}

void Agent::OnBoltDeath(const std::string& bolt, const BoltProcess& p, uint64_t successor_start_ns) {
  DeathRow d;
  d.bolt = bolt;
  d.pid = static_cast<uint64_t>(p.pid);
  d.start_ns = p.start_boottime_ns;
  d.unix_ms = UnixNowNs() / 1000000;
  if (auto ck = DeadProcessCheckpoint(bolt, successor_start_ns)) {
    d.has_checkpoint = true;
    d.gen = ck->gen;
    d.offset = ck->offset;
  }
  RecordDeath(d);
  pending_process_rows_.push_back({bolt, 0, 0});  // no process recorded until the next is tracked
  Kick(false, true);
  // A death goes to the coordinator at once, with the file's size as of now (the bolt's last
  // writes may not have been read yet) and the checkpoint the tracker re-read on the death.
  for (auto& src : sources_) {
    if (src->name() == bolt) src->Check();
  }
  if (coord_) coord_->HeartbeatNow();
}

void Agent::ReportDeathsWhileDown(const std::vector<BoltProcessRow>& recorded) {
  for (const BoltProcessRow& row : recorded) {
    bool configured = false;
    for (const BoltConfig& b : config_.bolts) configured |= b.name == row.bolt;
    if (!configured) {
      pending_process_rows_.push_back({row.bolt, 0, 0});
      continue;
    }
    const BoltProcess* now = tracker_->Find(row.bolt);
    bool running = now && now->state == ProcState::kRunning;
    if (running && static_cast<uint64_t>(now->pid) == row.pid && now->start_boottime_ns == row.start_ns) continue;
    bool known = false;
    for (const DeathRow& d : deaths_) known |= d.bolt == row.bolt && d.pid == row.pid && d.start_ns == row.start_ns;
    if (known) continue;
    LOG_NOTICE("bolt %s: process %llu died while this agent was down%s", row.bolt.c_str(),
               static_cast<unsigned long long>(row.pid), running ? "; its successor runs" : "");
    BoltProcess dead;
    dead.pid = static_cast<pid_t>(row.pid);
    dead.start_boottime_ns = row.start_ns;
    // Without a successor the checkpoint file is the dead process's last word; with one, only a
    // checkpoint written before the successor started is.
    DeathRow d;
    d.bolt = row.bolt;
    d.pid = row.pid;
    d.start_ns = row.start_ns;
    d.unix_ms = UnixNowNs() / 1000000;
    if (auto ck = DeadProcessCheckpoint(row.bolt, running ? now->start_boottime_ns : 0)) {
      d.has_checkpoint = true;
      d.gen = ck->gen;
      d.offset = ck->offset;
    }
    RecordDeath(d);
    if (!running) pending_process_rows_.push_back({row.bolt, 0, 0});
  }
  Kick(false, true);
}

nlohmann::json Agent::DeathsJson(const std::string& bolt) const {
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

Status Agent::OnDeathsRecorded(const nlohmann::json& msg) {
  std::string bolt;
  const nlohmann::json* list = nullptr;
  if (Status s = ReadString(msg, "bolt", &bolt); !s) return s;
  if (Status s = ReadArray(msg, "deaths", &list); !s) return s;
  for (const nlohmann::json& r : *list) {
    uint64_t pid = 0, start_ns = 0;
    if (!r.is_object()) return Status::Error("deaths_recorded: deaths[] must be objects");
    if (Status s = ReadUint(r, "pid", &pid); !s) return s;
    if (Status s = ReadUint(r, "start_ns", &start_ns); !s) return s;
    for (auto it = deaths_.begin(); it != deaths_.end();) {
      if (it->bolt == bolt && it->pid == pid && it->start_ns == start_ns) {
        DeathRow gone = *it;
        gone.remove = true;
        pending_death_rows_.push_back(gone);
        it = deaths_.erase(it);
      } else {
        ++it;
      }
    }
  }
  Kick(false, true);
  return Status::Ok();
}

}  // namespace tailsafe
