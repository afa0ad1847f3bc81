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
// The dead process's checkpoint: without a successor (the pid file still names it, or the bolt
// has no pid file), the newest checkpoint read, even after the death, is its last word. Once the
// pid file names another process, the checkpoint file may hold any successor's: only a reading
// taken while the dead process was alive is surely its own (BoltTracker tags each reading).
// After a restart of the agent no such reading exists for a process that died meanwhile; the
// death goes without a checkpoint and the coordinator takes the one it last held for that
// process. Either way the chosen checkpoint is the dead process's or an older one: a longer
// tail, never a shorter one.
#include "agent/agent.h"
#include "common/clock.h"
#include "common/coord_protocol.h"
#include "common/log.h"

namespace tailsafe {

namespace {

constexpr size_t kCheckpointHistory = 16;
constexpr size_t kMaxDeathsPerBolt = 32;

}  // namespace

void Agent::OnBoltCheckpoint(const std::string& bolt, uint64_t offset, BoltTracker::Writer writer) {
  for (auto& src : sources_) {
    if (src->name() != bolt) continue;
    src->SetCheckpoint(offset);
    // The generation it applied to: the newest that has one.
    for (auto it = src->generations().rbegin(); it != src->generations().rend(); ++it) {
      if ((*it)->has_checkpoint) {
        auto& h = checkpoint_history_[bolt];
        h.push_back({(*it)->gen, (*it)->checkpoint, writer});
        if (h.size() > kCheckpointHistory) h.erase(h.begin());
        break;
      }
    }
  }
}

std::optional<Agent::CheckpointReading> Agent::DeadProcessCheckpoint(const std::string& bolt, uint64_t pid,
                                                                      uint64_t start_ns, bool successor) const {
  auto it = checkpoint_history_.find(bolt);
  if (it == checkpoint_history_.end() || it->second.empty()) return std::nullopt;
  if (!successor) return it->second.back();
  for (auto r = it->second.rbegin(); r != it->second.rend(); ++r) {
    if (static_cast<uint64_t>(r->writer.pid) == pid && r->writer.start_ns == start_ns) return *r;
  }
  return std::nullopt;
}

void Agent::OnBoltTracked(const std::string& bolt, pid_t pid, uint64_t start_ns) {
  pending_process_rows_.push_back({bolt, static_cast<uint64_t>(pid), start_ns});
  Kick(false, true);
}

void Agent::RecordDeath(const DeathRow& d) {
  if (config_.cluster.coordinators.empty()) return;  // nobody to tell: no recovery without a coordinator
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

void Agent::OnBoltDeath(const std::string& bolt, const BoltProcess& p, bool successor) {
  DeathRow d;
  d.bolt = bolt;
  d.pid = static_cast<uint64_t>(p.pid);
  d.start_ns = p.start_boottime_ns;
  d.unix_ms = UnixNowNs() / 1000000;
  if (auto ck = DeadProcessCheckpoint(bolt, d.pid, d.start_ns, successor)) {
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
    // The pid file names another process (running, or dead as well): a successor ran, and the
    // checkpoint file may be any successor's. Otherwise it is the dead process's last word.
    bool successor = now && now->pid != 0 &&
                     (static_cast<uint64_t>(now->pid) != row.pid || (running && now->start_boottime_ns != row.start_ns));
    DeathRow d;
    d.bolt = row.bolt;
    d.pid = row.pid;
    d.start_ns = row.start_ns;
    d.unix_ms = UnixNowNs() / 1000000;
    if (auto ck = DeadProcessCheckpoint(row.bolt, row.pid, row.start_ns, successor)) {
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
