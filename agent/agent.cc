#include "agent/agent.h"

#include <algorithm>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "agent/reload_plan.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/names.h"
#include "common/process.h"

namespace tailsafe {

Agent::Agent(Config config, ClusterKeys keys, std::string config_path)
    : config_(std::move(config)), keys_(std::move(keys)), config_path_(std::move(config_path)) {
  uv_loop_init(&loop_);
}

Agent::~Agent() {
  control_.reset();
  metrics_.reset();
  runner_.reset();
  coord_.reset();
  discovery_.reset();
  tracker_.reset();
  if (committer_) committer_->CloseTimer();
  links_.clear();
  sources_.clear();
  drained_.clear();
  server_.reset();
  kick_.Reset();
  ack_flush_.Reset();
  sigterm_.Reset();
  sigint_.Reset();
  sighup_.Reset();
  notify_.reset();
  // Let the close callbacks of everything above run, then close the loop.
  uv_run(&loop_, UV_RUN_DEFAULT);
  committer_.reset();
  replicas_.reset();
  uv_loop_close(&loop_);
}

Status Agent::Init() {
  const AgentConfig& ac = config_.agent;
  if (::mkdir(ac.data_dir.c_str(), 0750) != 0 && errno != EEXIST) return ErrnoStatus("create data_dir " + ac.data_dir);
  // Two agents on one data_dir would corrupt each other's replicas and state: hold a lock.
  std::string lock_path = ac.data_dir + "/agent.lock";
  lock_.Reset(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640));
  if (!lock_) return ErrnoStatus("open " + lock_path);
  if (::flock(lock_.get(), LOCK_EX | LOCK_NB) != 0) {
    char pid[32] = {0};
    ssize_t n = ::pread(lock_.get(), pid, sizeof pid - 1, 0);
    std::string holder = n > 0 ? std::string(pid, static_cast<size_t>(n)) : "unknown";
    while (!holder.empty() && holder.back() == '\n') holder.pop_back();
    return Status::Error("another tailsafe-agent (pid " + holder + ") is using data_dir " + ac.data_dir);
  }
  std::string me = std::to_string(::getpid()) + "\n";
  if (::ftruncate(lock_.get(), 0) != 0 || ::pwrite(lock_.get(), me.data(), me.size(), 0) < 0) {
    return ErrnoStatus("write " + lock_path);
  }
  Result<std::map<std::string, HookUser>> users = ResolveHookUsers(config_.hook_users);
  if (!users) return users.status();
  hook_users_ = std::move(users.value());
  Result<StateStore> store = StateStore::Open(ac.data_dir + "/state.db");
  if (!store) return store.status();
  store_.emplace(std::move(store.value()));
  auto gens = store_->LoadOriginGens();
  if (!gens) return gens.status();
  auto acks = store_->LoadPeerAcks();
  if (!acks) return acks.status();
  auto reps = store_->LoadReplicas();
  if (!reps) return reps.status();
  auto ckpts = store_->LoadCheckpoints();
  if (!ckpts) return ckpts.status();

  committer_ = std::make_unique<Committer>(&loop_, &*store_, ac.commit_interval_ms, [this](const Status& s) { Fatal(s); });
  replicas_ = std::make_unique<ReplicaStore>(ac.data_dir, [this] { Kick(false, true); });
  if (Status s = replicas_->Init(*reps, *ckpts); !s) return s;
  server_ = std::make_unique<ReplicaServer>(&loop_, config_, &keys_, replicas_.get());

  auto kick = MakeUv<uv_idle_t>(uv_idle_init, &loop_);
  if (!kick) return kick.status();
  kick_ = std::move(kick.value());
  kick_->data = this;

  initial_acks_ = std::move(acks.value());
  for (const PeerSpec& peer : ac.peers) AddLink(peer);
  // Members the coordinator named before: the peer list while it is away (static peers win).
  auto members = store_->LoadMembers();
  if (!members) return members.status();
  for (const MemberRow& m : *members) {
    Result<HostPort> address = ParseHostPort(m.address);
    if (m.id == ac.id || !address) continue;
    if (!FindLink(m.id)) AddLink({m.id, *address});
    member_addresses_[m.id] = m.address;
  }
  // The bolts the [[bolt_pattern]] rules find now start with the configured ones.
  BoltDiscovery::Hooks found_hooks;
  found_hooks.checks.may_remove = [this](const std::string& name) { return MayRemoveFound(name); };
  found_hooks.checks.may_add = [this](const std::string& name) { return MayAddFound(name); };
  found_hooks.changed = [this] { OnFoundChanged(); };
  discovery_ = std::make_unique<BoltDiscovery>(&loop_, ac.rescan_interval_ms, std::move(found_hooks));
  if (Status s = discovery_->Start(config_.bolt_patterns, config_.bolts); !s) return s;
  config_ = WithFound(std::move(config_), discovery_->found());
  for (const BoltConfig& bolt : config_.bolts) AddSource(bolt);
  committer_->AddCollector([this](Committer::Batch* b) {
    for (auto& src : sources_) src->Collect(b);
    for (auto& link : links_) link->Collect(b);
    replicas_->Collect(b);
    for (auto& m : pending_members_) b->rows.members.push_back(std::move(m));
    pending_members_.clear();
    for (auto& r : pending_process_rows_) b->rows.bolt_processes.push_back(std::move(r));
    pending_process_rows_.clear();
    for (auto& d : pending_death_rows_) b->rows.deaths.push_back(std::move(d));
    pending_death_rows_.clear();
  });

  if (Status s = server_->Listen(); !s) return s;
  initial_gens_ = std::move(gens.value());
  std::vector<OriginGenRow> mine;
  for (auto& src : sources_) {
    mine.clear();
    for (const auto& row : initial_gens_) {
      if (row.bolt == src->name()) mine.push_back(row);
    }
    if (Status s = src->Start(mine); !s) return s;
  }
  for (auto& link : links_) link->Start();
  // A death goes to the coordinator at once, with the file's size as of now (the bolt's last
  // writes may not have been read yet) and the checkpoint the tracker re-read on the death.
  auto deaths = store_->LoadDeaths();
  if (!deaths) return deaths.status();
  deaths_ = std::move(deaths.value());
  auto processes = store_->LoadBoltProcesses();
  if (!processes) return processes.status();
  tracker_ = std::make_unique<BoltTracker>(
      &loop_, config_.bolts, ac.rescan_interval_ms,
      [this](const std::string& bolt, const BoltProcess& p, bool successor) { OnBoltDeath(bolt, p, successor); },
      [this](const std::string& bolt, uint64_t offset, BoltTracker::Writer w) { OnBoltCheckpoint(bolt, offset, w); });
  tracker_->set_on_track([this](const std::string& bolt, pid_t pid, uint64_t start) { OnBoltTracked(bolt, pid, start); });
  if (Status s = tracker_->Start(); !s) return s;
  ReportDeathsWhileDown(*processes);
  if (!config_.cluster.coordinators.empty()) {
    RecoveryRunner::Env renv;
    renv.loop = &loop_;
    renv.config = &config_;
    renv.hook_users = &hook_users_;
    renv.held = [this](const std::string& o, const std::string& b, uint64_t g, uint64_t need) {
      return Held(o, b, g, need);
    };
    renv.send = [this](const nlohmann::json& m) { return coord_ && coord_->Send(m); };
    runner_ = std::make_unique<RecoveryRunner>(std::move(renv));
    CoordinatorLink::Handlers h;
    h.report = [this] { return HeartbeatJson(); };
    h.on_membership = [this](const nlohmann::json& agents) { OnMembership(agents); };
    h.on_recovery = [this](const nlohmann::json& m) {
      return m["type"] == "assign" ? runner_->OnAssign(m) : runner_->OnRecorded(m);
    };
    h.on_registered = [this] { runner_->OnRegistered(); };
    h.on_deaths_recorded = [this](const nlohmann::json& m) { return OnDeathsRecorded(m); };
    coord_ = std::make_unique<CoordinatorLink>(&loop_, config_, &keys_, std::move(h));
    if (Status s = coord_->Start(); !s) return s;
    // A replica that grows may complete a range a recovery waits for.
    auto ack = std::move(replicas_->on_durable);
    replicas_->on_durable = [this, ack](Replica& r) {
      if (ack) ack(r);
      if (runner_) runner_->Poke();
    };
  }
  auto flush = MakeUv<uv_timer_t>(uv_timer_init, &loop_);
  if (!flush) return flush.status();
  ack_flush_ = std::move(flush.value());
  ack_flush_->data = this;
  uv_timer_start(ack_flush_.get(), [](uv_timer_t* t) {
    auto* self = static_cast<Agent*>(t->data);
    if (self == nullptr) return;
    self->SweepDrained();
    for (auto& link : self->links_) {
      if (link->has_dirty_acks()) return self->Kick(false, true);
    }
  }, 1000, 1000);

  control_ = std::make_unique<ControlServer>(&loop_, ac.control_socket, [this](const std::string& req) {
    // Replies are built from peer-supplied text too (errors, ids): never let bad UTF-8 or any
    // other exception escape into libuv's C callbacks.
    try {
      if (req == "status") return StatusJson();
      if (req == "acklog") return AckLogJson();
      return nlohmann::json{{"error", "unknown request '" + req.substr(0, 64) + "'; try 'status'"}}.dump(
          -1, ' ', false, nlohmann::json::error_handler_t::replace);
    } catch (const std::exception& e) {
      return nlohmann::json{{"error", std::string("internal error: ") + e.what()}}.dump(
          -1, ' ', false, nlohmann::json::error_handler_t::replace);
    }
  });
  if (Status s = control_->Listen(); !s) return s;
  if (ac.metrics_listen) {
    metrics_ = std::make_unique<MetricsServer>(&loop_, "agent " + ac.id, [this] {
      try {
        return PrometheusText();
      } catch (const std::exception& e) {  // never into libuv's C callbacks
        return "# error: " + std::string(e.what()) + "\n";
      }
    });
    if (Status s = metrics_->Listen(*ac.metrics_listen); !s) return s;
  }

  for (auto* sig : {&sigterm_, &sigint_, &sighup_}) {
    auto h = MakeUv<uv_signal_t>(uv_signal_init, &loop_);
    if (!h) return h.status();
    *sig = std::move(h.value());
    (*sig)->data = this;
  }
  auto on_signal = [](uv_signal_t* h, int signum) {
    auto* self = static_cast<Agent*>(h->data);
    if (self == nullptr) return;
    if (signum == SIGHUP) return self->Reload();
    self->Shutdown(signum == SIGTERM ? "SIGTERM" : "SIGINT");
  };
  uv_signal_start(sigterm_.get(), on_signal, SIGTERM);
  uv_signal_start(sigint_.get(), on_signal, SIGINT);
  uv_signal_start(sighup_.get(), on_signal, SIGHUP);
  notify_ = std::make_unique<ServiceNotifier>(&loop_);
  return Status::Ok();
}

Status Agent::Run() {
  started_ns_ = NowNs();
  if (Status s = Init(); !s) return s;
  LOG_NOTICE("agent %s ready: listening on %s, %zu bolts, %zu peers, data in %s", config_.agent.id.c_str(),
             config_.agent.listen.ToString().c_str(), sources_.size(), links_.size(), config_.agent.data_dir.c_str());
  notify_->Ready(ReadyLine());
  uv_run(&loop_, UV_RUN_DEFAULT);
  return fatal_;
}

void Agent::Kick(bool pump, bool commit) {
  pump_pending_ = pump_pending_ || pump;
  commit_pending_ = commit_pending_ || commit;
  if (!kick_) return;
  uv_idle_start(kick_.get(), [](uv_idle_t* h) {
    if (auto* self = static_cast<Agent*>(h->data)) self->OnIdle();
  });
}

BoltSource* Agent::AddSource(const BoltConfig& bolt) {
  BoltSource::Hooks hooks;
  hooks.changed = [this] { Kick(true, false); };
  hooks.min_acked = [this](const Generation& g) { return MinAcked(g); };
  hooks.min_cursor = [this](const Generation& g) {
    uint64_t m = UINT64_MAX;
    for (const auto& link : links_) {
      if (const PeerLink::Cursor* c = link->CursorOf(g)) m = std::min(m, c->positioned ? c->sent : c->acked);
    }
    return m;
  };
  hooks.request_commit = [this] { Kick(false, true); };
  sources_.push_back(std::make_unique<BoltSource>(&loop_, bolt, config_.agent, std::move(hooks), &next_stream_));
  return sources_.back().get();
}

void Agent::SweepDrained() {
  for (auto it = sources_.begin(); it != sources_.end();) {
    if (!(*it)->Drained()) {
      ++it;
      continue;
    }
    LOG_NOTICE("bolt %s: every peer has its last bytes; it is no longer replicated", (*it)->name().c_str());
    drained_next_gen_[(*it)->name()] = (*it)->next_gen();
    drained_.push_back(std::move(*it));
    it = sources_.erase(it);
  }
}

void Agent::Reload() {
  if (stopping_) return;
  if (config_path_.empty()) {
    LOG_WARN("SIGHUP: this agent was started without a configuration file to re-read");
    return;
  }
  LOG_NOTICE("SIGHUP: reloading %s", config_path_.c_str());
  if (notify_) notify_->Reloading("reloading " + config_path_);
  if (Status s = ApplyReload(); !s) {
    LOG_ERROR("%s was not loaded, the running configuration stays: %s", config_path_.c_str(), s.message().c_str());
  }
  if (notify_) notify_->Ready(ReadyLine());
}

Status Agent::ApplyReload() {
  Result<Config> loaded = LoadConfig(config_path_);
  if (!loaded) return loaded.status();
  // What the new rules find beside the new [[bolt]] tables, compared like [[bolt]] tables.
  DiscoveryPlan found = discovery_->Preview(loaded->bolt_patterns, loaded->bolts);
  Config next = WithFound(*loaded, found.found);
  Result<ReloadPlan> plan = PlanReload(config_, next);
  if (!plan) return plan.status();
  SweepDrained();
  for (const std::string& name : plan->added) {
    for (const auto& src : sources_) {
      if (src->name() == name) {
        return Status::Error("bolt " + name + " was removed by an earlier reload and its last bytes are still "
                             "on their way to the peers; add it back once `tailsafectl status` no longer lists it");
      }
    }
  }
  Result<std::map<std::string, HookUser>> users = ResolveHookUsers(next.hook_users);
  if (!users) return users.status();
  // From here on nothing is refused: the new configuration is in force.
  if (Status s = discovery_->Adopt(loaded->bolt_patterns, loaded->bolts, std::move(found)); !s) {
    LOG_ERROR("bolt patterns: %s", s.message().c_str());
  }
  if (plan->empty()) {
    LOG_NOTICE("configuration reloaded: nothing changed");
    return Status::Ok();
  }
  hook_users_ = std::move(users.value());
  ApplyBolts(std::move(next), *plan);
  LOG_NOTICE("configuration reloaded: %s", plan->Summary().c_str());
  return Status::Ok();
}

Config Agent::WithFound(Config file_config, const std::vector<FoundBolt>& found) {
  std::erase_if(file_config.bolts, [](const BoltConfig& b) { return !b.pattern.empty(); });
  for (const FoundBolt& f : found) file_config.bolts.push_back(f.bolt);
  return file_config;
}

void Agent::ApplyBolts(Config next, const ReloadPlan& plan) {
  config_ = std::move(next);
  auto bolt_config = [this](const std::string& name) -> const BoltConfig* {
    for (const BoltConfig& b : config_.bolts) {
      if (b.name == name) return &b;
    }
    return nullptr;
  };
  for (auto& src : sources_) {
    if (src->retiring()) continue;
    if (const BoltConfig* b = bolt_config(src->name())) {
      src->Reconfigure(*b);
    } else {
      src->Retire();
    }
  }
  for (const std::string& name : plan.added) {
    std::vector<OriginGenRow> rows;
    if (auto it = drained_next_gen_.find(name); it != drained_next_gen_.end()) {
      // Removed and drained in this process: state.db's start-up rows are stale; only the
      // numbering carries on.
      OriginGenRow last;
      last.bolt = name;
      last.gen = it->second - 1;
      last.state = GenState::kReleased;
      rows.push_back(last);
    } else {
      for (const OriginGenRow& row : initial_gens_) {
        if (row.bolt == name) rows.push_back(row);
      }
    }
    BoltSource* src = AddSource(*bolt_config(name));
    if (Status s = src->Start(rows); !s) LOG_ERROR("bolt %s: %s", name.c_str(), s.message().c_str());
  }
  if (Status s = tracker_->Update(config_.bolts); !s) LOG_ERROR("bolt tracking: %s", s.message().c_str());
  if (coord_) coord_->ConfigChanged();
  Kick(true, true);
}

void Agent::OnFoundChanged() {
  if (stopping_) return;
  Config next = WithFound(config_, discovery_->found());
  // Only bolts differ, so this plans what a reload adding or removing their tables would.
  Result<ReloadPlan> plan = PlanReload(config_, next);
  if (!plan) {
    LOG_ERROR("bolt patterns: %s", plan.status().message().c_str());
    return;
  }
  if (plan->empty()) return;
  ApplyBolts(std::move(next), *plan);
  LOG_NOTICE("bolt patterns: %s", plan->Summary().c_str());
}

bool Agent::MayRemoveFound(const std::string& name) const {
  if (const BoltProcess* p = tracker_ ? tracker_->Find(name) : nullptr; p && p->state == ProcState::kRunning) {
    return false;
  }
  for (const DeathRow& d : deaths_) {
    if (d.bolt == name) return false;
  }
  // The pid file as it is now: a live process in it that the tracker has not taken yet counts.
  for (const BoltConfig& b : config_.bolts) {
    if (b.name != name || b.pid_file.empty()) continue;
    struct stat st;
    Result<pid_t> pid = ReadPidFile(b.pid_file);
    if (pid && ::stat(b.pid_file.c_str(), &st) == 0 && OpenBoltProcess(*pid, st.st_mtim)) return false;
  }
  return true;
}

bool Agent::MayAddFound(const std::string& name) const {
  for (const auto& src : sources_) {
    if (src->name() == name) return false;  // removed, and still draining to the peers
  }
  return true;
}

void Agent::OnIdle() {
  uv_idle_stop(kick_.get());
  SweepDrained();
  if (pump_pending_ && !stopping_) {
    pump_pending_ = false;
    for (auto& link : links_) link->Pump();
  }
  if (commit_pending_) {
    commit_pending_ = false;
    committer_->Request();
  }
  if (runner_ && !stopping_) runner_->Poke();  // the bolt's own file may have grown
}

PeerLink* Agent::FindLink(const std::string& id) {
  for (auto& link : links_) {
    if (link->peer().id == id) return link.get();
  }
  return nullptr;
}

PeerLink* Agent::AddLink(const PeerSpec& peer) {
  const AgentConfig& ac = config_.agent;
  PeerLink::Env env;
  env.loop = &loop_;
  env.cluster = config_.cluster.name;
  env.self_id = ac.id;
  env.keys = &keys_;
  env.window_bytes = ac.window_bytes;
  env.reconnect_max_ms = ac.reconnect_max_ms;
  env.sources = &sources_;
  // Peer ACK offsets are informational in state.db (the peer's POSITION is the truth on
  // resume), so they never cause a commit of their own: they ride along with the next one,
  // or the once-a-second flush.
  env.acks_changed = [this] {
    for (auto& src : sources_) src->ReleaseAcked();
    Kick(true, false);
  };
  env.request_commit = [this] { Kick(false, true); };
  links_.push_back(std::make_unique<PeerLink>(std::move(env), peer, initial_acks_));
  return links_.back().get();
}

void Agent::OnMembership(const nlohmann::json& agents) {
  if (stopping_) return;
  bool changed = false;
  for (const auto& a : agents) {
    if (!a.is_object() || !a.contains("id") || !a["id"].is_string() || !a.contains("address") ||
        !a["address"].is_string()) {
      continue;
    }
    std::string id = a["id"].get<std::string>();
    std::string address_text = a["address"].get<std::string>();
    if (id == config_.agent.id || !IsValidName(id)) continue;
    bool is_static = false;
    for (const PeerSpec& p : config_.agent.peers) is_static = is_static || p.id == id;
    if (is_static) continue;  // the configuration's address wins
    Result<HostPort> address = ParseHostPort(address_text);
    if (!address) {
      LOG_WARN("coordinator: member %s has a bad address '%s': %s", id.c_str(), address_text.c_str(),
               address.status().message().c_str());
      continue;
    }
    auto known = member_addresses_.find(id);
    if (known != member_addresses_.end() && known->second == address_text && FindLink(id)) continue;
    if (PeerLink* old = FindLink(id)) {
      // The member moved: replace its link (cursors restart from the peer's POSITION).
      old->Stop();
      links_.erase(std::remove_if(links_.begin(), links_.end(), [&](const auto& l) { return l.get() == old; }),
                   links_.end());
    }
    LOG_NOTICE("coordinator: peer %s at %s", id.c_str(), address_text.c_str());
    AddLink({id, *address})->Start();
    member_addresses_[id] = address_text;
    pending_members_.push_back({id, address_text});
    changed = true;
  }
  if (changed) Kick(true, true);
}

uint64_t Agent::MinAcked(const Generation& g) const {
  uint64_t m = UINT64_MAX;
  for (const auto& link : links_) m = std::min(m, link->Acked(g));
  return m;
}

void Agent::Fatal(const Status& s) {
  if (fatal_.ok()) fatal_ = s;
  Shutdown("fatal error");
}

void Agent::Shutdown(const char* why) {
  if (stopping_) return;
  stopping_ = true;
  LOG_NOTICE("stopping (%s)", why);
  if (notify_) {
    notify_->Stopping(std::string("stopping (") + why + ")");
    notify_.reset();  // no watchdog pings while the last commit drains
  }
  // Stop producing and receiving; what is already written gets its last commit, whose
  // outstanding work keeps the loop alive until it completes.
  for (auto& src : sources_) src->Stop();
  if (discovery_) discovery_->Stop();
  if (tracker_) tracker_->Stop();
  runner_.reset();  // kills hooks still running: their recoveries are reassigned
  if (coord_) coord_->Stop();
  for (auto& link : links_) link->Stop();
  server_->Stop();
  control_->Stop();
  if (metrics_) metrics_->Stop();
  sigterm_.Reset();
  sigint_.Reset();
  sighup_.Reset();
  ack_flush_.Reset();
  if (fatal_.ok()) {
    replicas_->RecordAll();  // a clean restart then has nothing to prove
    committer_->Flush();
  }
  kick_.Reset();
}

std::string Agent::ReadyLine() const {
  return "agent " + config_.agent.id + " on " + config_.agent.listen.ToString() + ": " +
         std::to_string(config_.bolts.size()) + " bolts, " + std::to_string(links_.size()) + " peers";
}

Agent::Lag Agent::LagTo(const BoltSource& src, const PeerLink& link, uint64_t now) const {
  Lag lag;
  uint64_t oldest = 0;
  for (const auto& g : src.generations()) {
    if (g->state == GenState::kLost || g->state == GenState::kReleased) continue;
    uint64_t end = g->state == GenState::kSealed ? g->final_size : g->size;
    uint64_t a = std::min(link.Acked(*g), end);
    lag.bytes += end - a;
    uint64_t t = g->FirstUnackedNs(a);
    if (t != 0 && (oldest == 0 || t < oldest)) oldest = t;
  }
  if (oldest != 0 && lag.bytes != 0) lag.seconds = static_cast<double>(now - oldest) / 1e9;
  return lag;
}

nlohmann::json Agent::BoltsJson() const {
  using nlohmann::json;
  json out = json::array();
  for (const auto& src : sources_) {
    if (src->retiring()) continue;  // not this agent's bolt any more
    json b = {{"name", src->name()}};
    if (const BoltProcess* p = tracker_ ? tracker_->Find(src->name()) : nullptr) {
      json proc = {{"state", ProcStateName(p->state)}, {"since_unix_ns", p->since_unix_ns}, {"deaths", p->deaths}};
      if (p->pid != 0) proc["pid"] = static_cast<int>(p->pid);
      if (!p->detail.empty()) proc["detail"] = p->detail;
      b["process"] = proc;
    }
    if (const BoltCheckpoint* ck = tracker_ ? tracker_->FindCheckpoint(src->name()) : nullptr) {
      json c = json::object();
      if (ck->known) {
        c["offset"] = ck->offset;
        c["read_unix_ns"] = ck->read_unix_ns;
      }
      // The generation the checkpoint applies to: the newest that has one.
      for (auto it = src->generations().rbegin(); it != src->generations().rend(); ++it) {
        if ((*it)->has_checkpoint) {
          c["gen"] = (*it)->gen;
          c["offset"] = (*it)->checkpoint;
          break;
        }
      }
      if (!ck->problem.empty()) c["problem"] = ck->problem;
      b["checkpoint"] = c;
    }
    if (json d = DeathsJson(src->name()); !d.empty()) b["deaths"] = std::move(d);
    json gens = json::array();
    for (const auto& g : src->generations()) {
      if (g->state == GenState::kLost || g->state == GenState::kReleased || !g->persisted) continue;
      gens.push_back({{"gen", g->gen}, {"size", g->state == GenState::kSealed ? g->final_size : g->size}});
    }
    b["gens"] = std::move(gens);
    // The worst peer's lag, for `tailsafectl check` through the coordinator.
    Lag worst;
    uint64_t now = NowNs();
    for (const auto& link : links_) {
      Lag l = LagTo(*src, *link, now);
      worst.bytes = std::max(worst.bytes, l.bytes);
      worst.seconds = std::max(worst.seconds, l.seconds);
    }
    b["lag_bytes"] = worst.bytes;
    b["lag_seconds"] = worst.seconds;
    out.push_back(std::move(b));
  }
  return out;
}

nlohmann::json Agent::HeartbeatJson() const {
  using nlohmann::json;
  json replicas = json::array();
  // Per (origin, bolt), the generations from its newest checkpoint's on (the only ones a tail
  // can lie in), at most the newest 8.
  std::map<std::pair<std::string, std::string>, std::vector<const Replica*>> by_bolt;
  for (const auto& [key, r] : replicas_->replicas()) by_bolt[{r->origin, r->bolt}].push_back(r.get());
  for (auto& [ob, reps] : by_bolt) {
    uint64_t first = 0;
    if (auto c = replicas_->checkpoints().find(ob); c != replicas_->checkpoints().end()) first = c->second.gen;
    size_t n = 0;
    for (auto it = reps.rbegin(); it != reps.rend() && n < 8; ++it, ++n) {
      if ((*it)->gen < first) break;
      replicas.push_back({{"origin", ob.first}, {"bolt", ob.second}, {"gen", (*it)->gen}, {"durable", (*it)->durable}});
    }
  }
  json ckpts = json::array();
  for (const auto& [key, c] : replicas_->checkpoints()) {
    ckpts.push_back({{"origin", c.origin}, {"bolt", c.bolt}, {"gen", c.gen}, {"offset", c.offset}});
  }
  json out = {{"bolts", BoltsJson()}, {"replicas", replicas}, {"peer_checkpoints", ckpts}};
  if (std::string e = StorageError(); !e.empty()) out["storage_error"] = e;
  return out;
}

std::string Agent::StorageError() const {
  if (!committer_->stall_error().empty()) return "state commits stalled: " + committer_->stall_error();
  return server_->write_error();
}

HeldRange Agent::Held(const std::string& origin, const std::string& bolt, uint64_t gen, uint64_t need) const {
  HeldRange out;
  if (origin == config_.agent.id) {
    for (const auto& src : sources_) {
      if (src->name() != bolt) continue;
      for (const auto& g : src->generations()) {
        if (g->gen != gen || !g->fd || g->state == GenState::kLost) continue;
        out.fd = g->fd;
        out.durable = g->state == GenState::kSealed ? g->final_size : g->size;
      }
    }
    return out;
  }
  auto it = replicas_->replicas().find({origin, bolt, gen});
  if (it == replicas_->replicas().end()) return out;
  out.durable = it->second->durable;
  if (out.durable < need) return out;  // not yet: do not open it on every poke
  int fd = ::open(it->second->path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    LOG_WARN("cannot open replica %s: %s", it->second->path.c_str(), strerror(errno));
    return out;
  }
  out.fd = std::make_shared<Fd>(fd);
  return out;
}

std::string Agent::AckLogJson() {
  nlohmann::json doc = nlohmann::json::object();
  for (auto& link : links_) {
    nlohmann::json events = nlohmann::json::array();
    for (const auto& e : link->DrainAckLog()) events.push_back({e.t_ns, e.bolt, e.gen, e.durable});
    doc[link->peer().id] = std::move(events);
  }
  return doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string Agent::StatusJson() const {
  using nlohmann::json;
  uint64_t now = NowNs();
  json doc;
  doc["agent"] = config_.agent.id;
  doc["cluster"] = config_.cluster.name;
  doc["pid"] = static_cast<int>(::getpid());
  doc["uptime_seconds"] = static_cast<double>(now - started_ns_) / 1e9;
  json bolts = json::array();
  const json liveness = BoltsJson();  // once, not once per bolt
  for (const auto& src : sources_) {
    json b;
    b["name"] = src->name();
    for (const auto& item : liveness) {
      if (item["name"] != src->name()) continue;
      if (item.contains("process")) b["process"] = item["process"];
      if (item.contains("checkpoint")) b["checkpoint"] = item["checkpoint"];
    }
    b["file"] = src->path();
    if (!src->pattern().empty()) b["pattern"] = src->pattern();  // the [[bolt_pattern]] that found it
    if (src->retiring()) b["removed"] = true;  // draining: sealed, still reaching the peers
    const auto& st = src->stats();
    b["rescans"] = {{"timer", st.rescans_timer}, {"overflow", st.rescans_overflow}};
    b["inotify_events"] = st.events;
    b["frames_encoded"] = st.frames_encoded;
    b["frame_cache_hits"] = st.frame_cache_hits;
    b["rotations"] = st.rotations;
    b["truncations"] = st.truncations;
    b["copies_found"] = st.copies_found;
    b["divergences"] = st.divergences;
    b["generations_lost"] = st.generations_lost;
    b["bytes_after_seal"] = st.bytes_after_seal;
    json gens = json::array();
    uint64_t origin_size = 0, active_gen = 0;
    for (const auto& g : src->generations()) {
      gens.push_back({{"generation", g->gen}, {"state", GenStateName(g->state)}, {"size", g->size}});
      if (g->state == GenState::kActive) {
        origin_size = g->size;
        active_gen = g->gen;
      }
    }
    b["generation"] = active_gen;
    b["origin_size"] = origin_size;
    b["generations"] = gens;
    json peers = json::array();
    for (const auto& link : links_) {
      uint64_t shipped = 0, acked = 0;
      for (const auto& g : src->generations()) {
        if (g->state != GenState::kActive) continue;
        acked = std::min(link->Acked(*g), g->size);
        const PeerLink::Cursor* c = link->CursorOf(*g);
        shipped = c ? c->sent : acked;
      }
      Lag lag = LagTo(*src, *link, now);
      peers.push_back({{"peer", link->peer().id},
                       {"connected", link->connected()},
                       {"shipped", shipped},
                       {"acked", acked},
                       {"lag_bytes", lag.bytes},
                       {"lag_seconds", lag.seconds}});
    }
    b["peers"] = peers;
    bolts.push_back(b);
  }
  doc["bolts"] = bolts;
  json peers = json::array();
  for (const auto& link : links_) {
    const auto& st = link->stats();
    peers.push_back({{"peer", link->peer().id},
                     {"address", link->peer().address.ToString()},
                     {"connected", link->connected()},
                     {"last_error", link->last_error()},
                     {"connects", st.connects},
                     {"disconnects", st.disconnects},
                     {"frames_sent", st.frames_sent},
                     {"bytes_sent", st.bytes_sent},
                     {"wire_bytes", st.wire_bytes},
                     {"bytes_acked", st.bytes_acked},
                     {"resent_bytes", st.resent_bytes},
                     {"lost_bytes", st.lost_bytes},
                     {"divergences", st.divergences},
                     {"tail_cuts", st.tail_cuts}});
  }
  doc["peers"] = peers;
  json reps = json::array();
  for (const auto& [key, r] : replicas_->replicas()) {
    reps.push_back({{"origin", r->origin},
                    {"bolt", r->bolt},
                    {"generation", r->gen},
                    {"durable", r->durable},
                    {"written", r->written},
                    {"verified", r->verified},
                    {"recorded", r->recorded},
                    {"sealed", r->sealed_durable},
                    {"streaming", r->session != nullptr},
                    {"path", r->path}});
  }
  doc["replicas"] = reps;
  json ckpts = json::array();
  for (const auto& [key, c] : replicas_->checkpoints()) {
    ckpts.push_back({{"origin", c.origin}, {"bolt", c.bolt}, {"generation", c.gen}, {"offset", c.offset}});
  }
  doc["peer_checkpoints"] = ckpts;
  if (discovery_ && !config_.bolt_patterns.empty()) doc["discovery"] = discovery_->StatusJson();
  if (runner_) doc["recoveries"] = runner_->StatusJson();
  if (coord_) {
    doc["coordinator"] = {{"address", coord_->address()},
                          {"term", coord_->term()},
                          {"registered", coord_->registered()},
                          {"last_error", coord_->last_error()},
                          {"membership", coord_->membership()}};
  }
  auto& ss = server_->stats();
  doc["receiver"] = {{"sessions", ss.sessions},
                     {"rejected", ss.rejected},
                     {"protocol_errors", ss.protocol_errors},
                     {"auth_failures", ss.auth_failures},
                     {"slow_readers", ss.slow_readers},
                     {"bytes_received", ss.bytes_received},
                     {"frames_received", ss.frames_received},
                     {"tail_cuts", ss.tail_cuts},
                     {"bytes_cut", ss.bytes_cut}};
  doc["commits"] = {{"batches", committer_->commits()},
                    {"files_synced", committer_->files_synced()},
                    {"full_disk_retries", committer_->full_retries()}};
  if (std::string e = StorageError(); !e.empty()) doc["storage_error"] = e;
  return doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace tailsafe
