#include "agent/recovery_runner.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <algorithm>
#include <set>
#include <vector>

#include "agent/range_pull.h"
#include "common/clock.h"
#include "common/coord_protocol.h"
#include "common/log.h"
#include "common/names.h"

namespace tailsafe {

using nlohmann::json;

namespace {

unsigned long long U(uint64_t v) { return static_cast<unsigned long long>(v); }


// The end of the last whole record in [from, to) of fd: one past its last newline, or `from`.
Result<uint64_t> WholeRecordsEnd(int fd, uint64_t from, uint64_t to) {
  std::vector<char> buf(64 << 10);
  uint64_t end = to;
  while (end > from) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(buf.size(), end - from));
    uint64_t at = end - n;
    ssize_t got = ::pread(fd, buf.data(), n, static_cast<off_t>(at));
    if (got < 0) return Status::Error(std::string("cannot read the range: ") + strerror(errno));
    if (static_cast<size_t>(got) != n) return Status::Error("the range ends early, at " + std::to_string(at + got));
    for (size_t i = n; i > 0; --i) {
      if (buf[i - 1] == '\n') return at + i;
    }
    end = at;
  }
  return from;
}

}  // namespace

struct RecoveryRunner::Job {
  RecoveryRunner* runner = nullptr;
  uint64_t id = 0;
  uint64_t epoch = 0;
  std::string origin, bolt, hook;
  uint64_t gen = 0, from = 0, to = 0;
  enum class Phase { kWaiting, kRunning, kBackoff, kEnded } phase = Phase::kWaiting;
  uint32_t attempt = 0;
  uint64_t delivered_to = 0;
  std::string error;
  std::string end_state;  // recovered | failed, once ended
  std::unique_ptr<HookProcess> proc;
  UvPtr<uv_timer_t> timer;
  uint64_t assigned_unix_ns = 0;
  uint64_t started_unix_ns = 0;  // the last attempt's start
  std::string pull_from;             // a survivor to pull [from, pull_to) from first ("": none)
  uint64_t pull_to = 0;
  std::unique_ptr<RangePull> pull;   // while pulling
  bool pull_done = false;            // the pull ended: `pulled` holds the range, or `pull_error` why not
  std::shared_ptr<Fd> pulled;
  std::string pull_error;
};

RecoveryRunner::RecoveryRunner(Env env) : env_(std::move(env)) {}

RecoveryRunner::~RecoveryRunner() = default;

Status RecoveryRunner::OnMessage(const json& msg) {
  std::string type = msg.value("type", "");
  if (type == "assign") return OnAssign(msg);
  if (type == "recorded") return OnRecorded(msg);
  if (type == "revoke") return OnRevoke(msg);
  if (type == "held") return OnHeld(msg);
  if (type == "pulled") return OnPulled(msg);
  return Status::Error("unexpected recovery message '" + type.substr(0, 64) + "'");
}

Status RecoveryRunner::OnAssign(const json& msg) {
  uint64_t id = 0, epoch = 0, gen = 0, from = 0, to = 0;
  std::string origin, bolt, hook;
  for (Status s : {ReadUint(msg, "recovery", &id), ReadUint(msg, "epoch", &epoch), ReadString(msg, "origin", &origin),
                   ReadString(msg, "bolt", &bolt), ReadString(msg, "hook", &hook), ReadUint(msg, "generation", &gen),
                   ReadUint(msg, "from", &from), ReadUint(msg, "to", &to)}) {
    if (!s) return s;
  }
  if (!IsValidName(origin) || !IsValidName(bolt)) return Status::Error("assign: invalid origin or bolt name");
  if (from > to) return Status::Error("assign: from " + std::to_string(from) + " is past to " + std::to_string(to));
  std::string pull_from;
  uint64_t pull_to = 0;
  if (msg.contains("pull_from")) {
    for (Status s : {ReadString(msg, "pull_from", &pull_from), ReadUint(msg, "pull_to", &pull_to)}) {
      if (!s) return s;
    }
    if (!IsValidName(pull_from) || pull_to <= to) {
      return Status::Error("assign: pull_from must name an agent and pull_to " + std::to_string(pull_to) +
                           " be past to " + std::to_string(to));
    }
  }
  auto it = jobs_.find(id);
  if (it != jobs_.end()) {
    Job& j = *it->second;
    if (epoch > j.epoch) {  // assigned to us again under a newer epoch: report under it
      LOG_NOTICE("recovery %llu: epoch %llu replaces %llu", U(id), U(epoch), U(j.epoch));
      j.epoch = epoch;
      // Still waiting: the new end (a shrunk range) is what to wait for. A hook that runs
      // already ran on what the old one asked; the coordinator takes that result up to it.
      // A pull under the old epoch is refused now: it starts again under the new one.
      if (j.phase == Job::Phase::kWaiting && (from != j.from || to != j.to || !pull_from.empty() || j.pull_done)) {
        LOG_NOTICE("recovery %llu: the range is now [%llu, %llu), was [%llu, %llu)%s%s", U(id), U(from), U(to),
                   U(j.from), U(j.to), pull_from.empty() ? "" : "; pulling more from ", pull_from.c_str());
        j.from = from;
        j.to = to;
        j.pull_from = pull_from;
        j.pull_to = pull_to;
        j.pull.reset();
        j.pull_done = false;
        j.pulled.reset();
        j.pull_error.clear();
        TryStart(j);
        return Status::Ok();
      }
    }
    if (j.phase == Job::Phase::kEnded) Report(j, j.end_state);
    return Status::Ok();
  }
  auto job = std::make_unique<Job>();
  Job& j = *job;
  j.runner = this;
  j.id = id;
  j.epoch = epoch;
  j.origin = origin;
  j.bolt = bolt;
  j.hook = hook;
  j.gen = gen;
  j.from = from;
  j.to = to;
  j.pull_from = pull_from;
  j.pull_to = pull_to;
  j.assigned_unix_ns = UnixNowNs();
  jobs_[id] = std::move(job);
  LOG_NOTICE("recovery %llu: %s/%s generation %llu [%llu, %llu) assigned under epoch %llu", U(id), origin.c_str(),
             bolt.c_str(), U(gen), U(from), U(to), U(epoch));
  TryStart(j);
  return Status::Ok();
}

Status RecoveryRunner::OnRecorded(const json& msg) {
  uint64_t id = 0, epoch = 0;
  for (Status s : {ReadUint(msg, "recovery", &id), ReadUint(msg, "epoch", &epoch)}) {
    if (!s) return s;
  }
  auto it = msg.find("accepted");
  if (it == msg.end() || !it->is_boolean()) return Status::Error("recorded: field 'accepted' must be a boolean");
  auto job = jobs_.find(id);
  if (job == jobs_.end()) return Status::Ok();
  Job& j = *job->second;
  if (epoch != j.epoch) return Status::Ok();  // an answer to an older report
  if (!it->get<bool>()) {
    LOG_WARN("recovery %llu: the coordinator refused the result under epoch %llu: %s", U(id), U(epoch),
             msg.value("reason", "").c_str());
  }
  jobs_.erase(job);  // recorded or refused: either way nothing more to say
  return Status::Ok();
}

Status RecoveryRunner::OnRevoke(const json& msg) {
  uint64_t id = 0, epoch = 0;
  for (Status s : {ReadUint(msg, "recovery", &id), ReadUint(msg, "epoch", &epoch)}) {
    if (!s) return s;
  }
  auto it = jobs_.find(id);
  if (it == jobs_.end() || it->second->epoch > epoch) return Status::Ok();  // held again since
  DropWaiting(id, "revoked under epoch " + std::to_string(epoch) + ": " + msg.value("reason", ""));
  return Status::Ok();
}

Status RecoveryRunner::OnHeld(const json& msg) {
  const json* list = nullptr;
  if (Status s = ReadArray(msg, "recoveries", &list); !s) return s;
  std::set<uint64_t> held;  // the assignments themselves came just before, each as an "assign"
  for (const json& e : *list) {
    uint64_t id = 0, epoch = 0;
    for (Status s : {ReadUint(e, "recovery", &id), ReadUint(e, "epoch", &epoch)}) {
      if (!s) return s.Context("held: recoveries[]");
    }
    held.insert(id);
  }
  std::vector<uint64_t> gone;
  for (const auto& [id, j] : jobs_) {
    if (!held.count(id)) gone.push_back(id);
  }
  for (uint64_t id : gone) DropWaiting(id, "the coordinator no longer holds this agent to it");
  return Status::Ok();
}

Status RecoveryRunner::OnPulled(const json& msg) {
  uint64_t id = 0, epoch = 0;
  for (Status s : {ReadUint(msg, "recovery", &id), ReadUint(msg, "epoch", &epoch)}) {
    if (!s) return s;
  }
  auto it = jobs_.find(id);
  if (it == jobs_.end() || it->second->epoch != epoch || !it->second->pull) return Status::Ok();  // given up
  return it->second->pull->OnPulled(msg);
}

void RecoveryRunner::DropWaiting(uint64_t id, const std::string& why) {
  auto it = jobs_.find(id);
  if (it == jobs_.end() || it->second->phase != Job::Phase::kWaiting) return;
  LOG_NOTICE("recovery %llu: no longer waiting for [%llu, %llu) under epoch %llu: %s", U(id), U(it->second->from),
             U(it->second->to), U(it->second->epoch), why.c_str());
  jobs_.erase(it);
}

void RecoveryRunner::OnRegistered() {
  for (auto& [id, j] : jobs_) {
    if (j->phase == Job::Phase::kEnded) Report(*j, j->end_state);
  }
}

void RecoveryRunner::Poke() {
  std::vector<uint64_t> waiting;
  for (auto& [id, j] : jobs_) {
    if (j->phase == Job::Phase::kWaiting) waiting.push_back(id);
  }
  for (uint64_t id : waiting) {
    auto it = jobs_.find(id);
    if (it != jobs_.end()) TryStart(*it->second);
  }
}

void RecoveryRunner::TryStart(Job& j) {
  if (!j.pull_from.empty() && !j.pull_done) return StartPull(j);
  uint64_t end = j.pulled ? j.pull_to : j.to;
  if (end == j.from) {  // shrunk to nothing: no survivor held any of it
    LOG_NOTICE("recovery %llu: the range [%llu, %llu) is empty; nothing to run", U(j.id), U(j.from), U(end));
    j.delivered_to = j.from;
    End(j, "recovered");
    return Report(j, "recovered");
  }
  HeldRange held = Input(j, end);
  if (!held.fd || held.durable < end) return;  // the rest is on its way (Poke)
  Result<uint64_t> whole = WholeRecordsEnd(held.fd->get(), j.from, end);
  if (!whole) {
    j.error = whole.status().message();
    End(j, "failed");
    LOG_ERROR("recovery %llu: %s", U(j.id), j.error.c_str());
    return Report(j, "failed");
  }
  j.delivered_to = *whole;
  if (j.delivered_to == j.from) {
    LOG_NOTICE("recovery %llu: no whole record in [%llu, %llu); nothing to run", U(j.id), U(j.from), U(j.to));
    End(j, "recovered");
    return Report(j, "recovered");
  }
  RunAttempt(j);
}

HeldRange RecoveryRunner::Input(const Job& j, uint64_t need) const {
  if (j.pulled) return {j.pulled, j.pull_to};
  return env_.held(j.origin, j.bolt, j.gen, need);
}

void RecoveryRunner::StartPull(Job& j) {
  if (j.pull) return;  // under way
  LOG_NOTICE("recovery %llu: pulling [%llu, %llu) from %s under epoch %llu (this agent holds up to %llu)", U(j.id),
             U(j.from), U(j.pull_to), j.pull_from.c_str(), U(j.epoch), U(j.to));
  uint64_t id = j.id, epoch = j.epoch;
  auto done = [this, id, epoch](Result<std::shared_ptr<Fd>> file) {
    auto it = jobs_.find(id);
    if (it == jobs_.end() || it->second->epoch != epoch) return;
    Job& job = *it->second;
    job.pull_done = true;
    if (file) {
      job.pulled = *file;
      LOG_NOTICE("recovery %llu: pulled [%llu, %llu) from %s", U(id), U(job.from), U(job.pull_to), job.pull_from.c_str());
    } else {
      job.pull_error = file.status().message();
      LOG_ERROR("recovery %llu: the pull from %s failed, running on what this agent holds, [%llu, %llu): %s", U(id),
                job.pull_from.c_str(), U(job.from), U(job.to), job.pull_error.c_str());
    }
    job.pull.reset();  // the pull allows it from inside its callback
    TryStart(job);
  };
  j.pull = std::make_unique<RangePull>(RangePull::Env{env_.loop, env_.pull_dir, env_.send}, j.id, j.epoch, j.from,
                                       j.pull_to, std::move(done));
  j.pull->Start();  // may end at once, through `done`
}

void RecoveryRunner::RunAttempt(Job& j) {
  const AgentConfig& ac = env_.config->agent;
  ++j.attempt;
  j.phase = Job::Phase::kRunning;
  j.started_unix_ns = UnixNowNs();
  HeldRange held = Input(j, j.delivered_to);
  auto hook = env_.config->hooks.find(j.hook);
  uint64_t id = j.id;
  auto fail_now = [&](const std::string& why) {
    HookOutcome out;
    out.error = why;
    OnAttemptDone(id, out);
  };
  if (hook == env_.config->hooks.end()) return fail_now("hook '" + j.hook + "' is not defined in this agent's [hooks]");
  if (!held.fd || held.durable < j.delivered_to) return fail_now("the range is no longer held here");
  HookSpec spec;
  spec.argv = hook->second;
  spec.env = {"TAILSAFE_BOLT=" + j.bolt,
              "TAILSAFE_ORIGIN=" + j.origin,
              "TAILSAFE_GENERATION=" + std::to_string(j.gen),
              "TAILSAFE_FROM=" + std::to_string(j.from),
              "TAILSAFE_TO=" + std::to_string(j.delivered_to),
              "TAILSAFE_EPOCH=" + std::to_string(j.epoch),
              "TAILSAFE_RECOVERY=" + std::to_string(j.id)};
  spec.input = held.fd;
  spec.from = j.from;
  spec.to = j.delivered_to;
  spec.timeout_ms = ac.hook_timeout_ms;
  if (env_.hook_users != nullptr) {
    if (auto u = env_.hook_users->find(j.hook); u != env_.hook_users->end()) {
      spec.uid = u->second.uid;
      spec.gid = u->second.gid;
    }
  }
  j.proc = std::make_unique<HookProcess>(env_.loop);
  Status s = j.proc->Start(std::move(spec), [this, id](const HookOutcome& out) { OnAttemptDone(id, out); });
  if (!s) {
    j.proc.reset();
    return fail_now(s.message());
  }
  LOG_NOTICE("recovery %llu: attempt %u: %s (pid %d) on [%llu, %llu) under epoch %llu", U(j.id), j.attempt,
             hook->second[0].c_str(), static_cast<int>(j.proc->pid()), U(j.from), U(j.delivered_to), U(j.epoch));
  Report(j, "running");
}

void RecoveryRunner::OnAttemptDone(uint64_t id, const HookOutcome& out) {
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return;
  Job& j = *it->second;
  if (j.proc) stats_.hook_seconds.Observe(static_cast<double>(UnixNowNs() - j.started_unix_ns) / 1e9);
  ++(out.ok ? stats_.attempts_ok : stats_.attempts_failed);
  // Safe even though the hook process is the caller: it touches nothing of itself after `done`.
  j.proc.reset();
  if (out.ok) {
    End(j, "recovered");
    j.error.clear();
    LOG_NOTICE("recovery %llu: the hook succeeded on [%llu, %llu) (attempt %u)", U(j.id), U(j.from), U(j.delivered_to),
               j.attempt);
    return Report(j, "recovered");
  }
  j.error = out.error;
  const AgentConfig& ac = env_.config->agent;
  if (j.attempt >= ac.hook_attempts) {
    End(j, "failed");
    LOG_ERROR("recovery %llu: the hook failed %u time(s), giving up: %s", U(j.id), j.attempt, j.error.c_str());
    return Report(j, "failed");
  }
  uint64_t wait = std::min<uint64_t>(uint64_t{ac.hook_retry_ms} << std::min<uint32_t>(j.attempt - 1, 20), 3600000);
  LOG_WARN("recovery %llu: attempt %u failed: %s; trying again in %llu ms", U(j.id), j.attempt, j.error.c_str(), U(wait));
  Report(j, "running");
  j.phase = Job::Phase::kBackoff;
  if (!j.timer) {
    auto t = MakeUv<uv_timer_t>(uv_timer_init, env_.loop);
    if (!t) return;
    j.timer = std::move(t.value());
  }
  j.timer->data = &j;
  uv_timer_start(j.timer.get(), [](uv_timer_t* t) {
    if (auto* job = static_cast<Job*>(t->data)) job->runner->RunAttempt(*job);
  }, wait, 0);
}

void RecoveryRunner::Report(Job& j, const std::string& state) {
  json msg = {{"type", "recovery"}, {"recovery", j.id}, {"epoch", j.epoch}, {"state", state}, {"attempt", j.attempt}};
  if (state == "recovered") msg["delivered_to"] = j.delivered_to;
  if (state != "running" && j.pulled) msg["pulled_from"] = j.pull_from;
  if (state != "running" && !j.pull_error.empty()) msg["pull_error"] = j.pull_error;
  if (!j.error.empty()) msg["error"] = j.error;
  (void)env_.send(msg);  // not connected: sent again on registration (ends) or not needed (running)
}

void RecoveryRunner::End(Job& j, const char* state) {
  j.end_state = state;
  j.phase = Job::Phase::kEnded;
  ++(j.end_state == "recovered" ? stats_.recovered : stats_.failed);
}

json RecoveryRunner::StatusJson() const {
  static const char* kPhase[] = {"waiting for bytes", "running", "backing off", "ended"};
  json out = json::array();
  for (const auto& [id, j] : jobs_) {
    json d = {{"recovery", id}, {"epoch", j->epoch}, {"origin", j->origin}, {"bolt", j->bolt}, {"generation", j->gen},
              {"from", j->from}, {"to", j->to}, {"phase", kPhase[static_cast<int>(j->phase)]}, {"attempt", j->attempt}};
    if (j->phase == Job::Phase::kEnded) d["result"] = j->end_state;
    if (!j->error.empty()) d["error"] = j->error;
    if (j->proc) d["pid"] = static_cast<int>(j->proc->pid());
    if (!j->pull_from.empty()) {
      d["pull_from"] = j->pull_from;
      d["pull_to"] = j->pull_to;
      if (j->pull) d["phase"] = "pulling";
      if (j->pull) d["pulled"] = j->pull->pulled();
      if (!j->pull_error.empty()) d["pull_error"] = j->pull_error;
    }
    out.push_back(std::move(d));
  }
  return out;
}

}  // namespace tailsafe
