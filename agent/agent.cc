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
#include "common/data_dir_lock.h"
#include "common/coord_protocol.h"
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
  peers_.reset();
  if (sources_) sources_->Clear();
  watcher_.reset();
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
  Result<Fd> lock = LockDataDir(ac.data_dir, "agent", "tailsafe-agent");
  if (!lock) return lock.status();
  lock_ = std::move(lock.value());
  Result<std::map<std::string, HookUser>> users = ResolveHookUsers(config_.hook_users);
  if (!users) return users.status();
  hook_users_ = std::move(users.value());
  Loaded loaded;
  if (Status s = LoadState(&loaded); !s) return s;
  if (Status s = StartReceiving(loaded); !s) return s;
  if (Status s = StartPeers(&loaded); !s) return s;
  if (Status s = StartBolts(); !s) return s;
  if (Status s = StartTracking(loaded); !s) return s;
  if (Status s = StartCoordinatorLink(); !s) return s;
  if (Status s = StartServing(); !s) return s;
  return StartSignals();
}

Status Agent::LoadState(Loaded* loaded) {
  Result<StateStore> store = StateStore::Open(config_.agent.data_dir + "/state.db");
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
  auto members = store_->LoadMembers();
  if (!members) return members.status();
  auto deaths = store_->LoadDeaths();
  if (!deaths) return deaths.status();
  auto processes = store_->LoadBoltProcesses();
  if (!processes) return processes.status();
  *loaded = {std::move(gens.value()),    std::move(acks.value()),   std::move(reps.value()),
             std::move(ckpts.value()),   std::move(members.value()), std::move(deaths.value()),
             std::move(processes.value())};
  return Status::Ok();
}

// Peers' streams: the replica store, the server they connect to, the group commit.
Status Agent::StartReceiving(const Loaded& loaded) {
  const AgentConfig& ac = config_.agent;
  committer_ = std::make_unique<Committer>(&loop_, &*store_, ac.commit_interval_ms, [this](const Status& s) { Fatal(s); });
  replicas_ = std::make_unique<ReplicaStore>(ac.data_dir, [this] { Kick(false, true); });
  if (Status s = replicas_->Init(loaded.replicas, loaded.checkpoints); !s) return s;
  server_ = std::make_unique<ReplicaServer>(&loop_, config_, &keys_, replicas_.get());
  auto kick = MakeUv<uv_idle_t>(uv_idle_init, &loop_);
  if (!kick) return kick.status();
  kick_ = std::move(kick.value());
  kick_->data = this;
  return Status::Ok();
}

// The peers: static ones and the members the coordinator named before (the peer list while it
// is away; static peers win). Links start once the bolts have.
Status Agent::StartPeers(Loaded* loaded) {
  MakeSources(loaded);
  peers_ = std::make_unique<PeerSet>(LinkEnv(), config_.agent.id, config_.agent.peers, std::move(loaded->acks));
  peers_->Load(loaded->members);
  return Status::Ok();
}

// The agent's one inotify instance, and the (empty) set of bolt sources wired to the peers and
// the committer.
void Agent::MakeSources(Loaded* loaded) {
  const AgentConfig& ac = config_.agent;
  // Without an inotify instance the rescans alone see changes (each is the same check an event
  // would have run).
  watcher_ = std::make_unique<InotifyWatcher>(&loop_, ac.linger_ms);
  if (Status s = watcher_->Start(); !s) {
    LOG_WARN("%s; files are checked every %u ms (rescan_interval_ms) only", s.message().c_str(), ac.rescan_interval_ms);
  }
  BoltSource::Hooks hooks;
  hooks.changed = [this] { Kick(true, false); };
  hooks.min_acked = [this](const Generation& g) { return peers_->MinAcked(g); };
  hooks.min_cursor = [this](const Generation& g) { return peers_->MinCursor(g); };
  hooks.seal_held = [this](const Generation& g) { return peers_->AllHoldSeal(g); };
  hooks.lost = [this](const Generation& g) { peers_->CountLost(g); };
  hooks.request_commit = [this] { Kick(false, true); };
  sources_ = std::make_unique<BoltSources>(&loop_, watcher_.get(), &config_.agent, std::move(hooks),
                                           std::move(loaded->gens));
}

// The bolts: the [[bolt]] tables and what the [[bolt_pattern]] rules find now, each a source
// resumed from its state.db rows, watched through the agent's one inotify instance.
Status Agent::StartBolts() {
  const AgentConfig& ac = config_.agent;
  BoltDiscovery::Hooks found_hooks;
  found_hooks.checks.may_remove = [this](const std::string& name) { return MayRemoveFound(name); };
  found_hooks.checks.may_add = [this](const std::string& name) { return MayAddFound(name); };
  found_hooks.changed = [this] { OnFoundChanged(); };
  discovery_ = std::make_unique<BoltDiscovery>(&loop_, watcher_.get(), ac.rescan_interval_ms, std::move(found_hooks));
  if (Status s = discovery_->Start(config_.bolt_patterns, config_.bolts); !s) return s;
  config_ = WithFound(std::move(config_), discovery_->found());
  committer_->AddCollector([this](Committer::Batch* b) {
    sources_->Collect(b);
    peers_->Collect(b);
    replicas_->Collect(b);
    if (deaths_) deaths_->Collect(&b->rows);
  });
  if (Status s = server_->Listen(); !s) return s;
  if (Status s = sources_->Start(config_.bolts); !s) return s;
  peers_->Start();
  return Status::Ok();
}

// The bolts' processes: the tracker, and the deaths it sees (also those while this agent was
// down) in the ledger until the coordinator has them.
Status Agent::StartTracking(const Loaded& loaded) {
  deaths_.emplace(!config_.cluster.coordinators.empty(), loaded.deaths);
  tracker_ = std::make_unique<BoltTracker>(
      &loop_, watcher_.get(), config_.bolts, config_.agent.rescan_interval_ms,
      [this](const std::string& bolt, const BoltProcess& p, bool successor) { OnBoltDeath(bolt, p, successor); },
      [this](const std::string& bolt, uint64_t offset, BoltTracker::Writer w) { OnBoltCheckpoint(bolt, offset, w); });
  tracker_->set_on_track([this](const std::string& bolt, pid_t pid, uint64_t start) {
    deaths_->NoteTracked(bolt, {static_cast<uint64_t>(pid), start});
    Kick(false, true);
  });
  if (Status s = tracker_->Start(); !s) return s;
  auto configured = [this](const std::string& bolt) {
    for (const BoltConfig& b : config_.bolts) {
      if (b.name == bolt) return true;
    }
    return false;
  };
  auto now = [this](const std::string& bolt) { return tracker_->Find(bolt); };
  deaths_->NoteDeathsWhileDown(loaded.processes, configured, now, UnixNowNs() / 1000000);
  Kick(false, true);
  return Status::Ok();
}

// With [cluster] coordinator: register and heartbeat, and run the recoveries it assigns.
Status Agent::StartCoordinatorLink() {
  if (config_.cluster.coordinators.empty()) return Status::Ok();
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
  h.report = [this] { return tailsafe::HeartbeatJson(Report()); };
  h.on_membership = [this](const nlohmann::json& agents) { OnMembership(agents); };
  h.on_recovery = [this](const nlohmann::json& m) { return runner_->OnMessage(m); };
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
  return Status::Ok();
}

// The once-a-second flush, `tailsafectl` on the control socket, and the metrics.
Status Agent::StartServing() {
  const AgentConfig& ac = config_.agent;
  auto flush = MakeUv<uv_timer_t>(uv_timer_init, &loop_);
  if (!flush) return flush.status();
  ack_flush_ = std::move(flush.value());
  ack_flush_->data = this;
  uv_timer_start(ack_flush_.get(), [](uv_timer_t* t) {
    auto* self = static_cast<Agent*>(t->data);
    if (self == nullptr) return;
    self->sources_->SweepDrained();
    if (self->peers_->has_dirty_acks()) self->Kick(false, true);
  }, 1000, 1000);
  control_ = std::make_unique<ControlServer>(&loop_, ac.control_socket, [this](const std::string& req) {
    return ControlReply(req);
  });
  if (Status s = control_->Listen(); !s) return s;
  if (!ac.metrics_listen) return Status::Ok();
  metrics_ = std::make_unique<MetricsServer>(&loop_, "agent " + ac.id, [this] {
    try {
      return PrometheusText();
    } catch (const std::exception& e) {  // never into libuv's C callbacks
      return "# error: " + std::string(e.what()) + "\n";
    }
  });
  return metrics_->Listen(*ac.metrics_listen);
}

std::string Agent::ControlReply(const std::string& req) {
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
}

// SIGTERM and SIGINT stop the agent, SIGHUP reloads; systemd hears when it is ready.
Status Agent::StartSignals() {
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
             config_.agent.listen.ToString().c_str(), sources_->all().size(), peers_->size(), config_.agent.data_dir.c_str());
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
  sources_->SweepDrained();
  for (const std::string& name : plan->added) {
    if (sources_->Contains(name)) {
      return Status::Error("bolt " + name + " was removed by an earlier reload and its last bytes are still "
                           "on their way to the peers; add it back once `tailsafectl status` no longer lists it");
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
  sources_->Apply(config_.bolts, plan.added);
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
  if (deaths_ && deaths_->HasDeaths(name)) return false;
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
  return !sources_->Contains(name);  // removed, and still draining to the peers
}

void Agent::OnIdle() {
  uv_idle_stop(kick_.get());
  sources_->SweepDrained();
  if (pump_pending_ && !stopping_) {
    pump_pending_ = false;
    peers_->Pump();
  }
  if (commit_pending_) {
    commit_pending_ = false;
    committer_->Request();
  }
  if (runner_ && !stopping_) runner_->Poke();  // the bolt's own file may have grown
}

PeerLink::Env Agent::LinkEnv() {
  const AgentConfig& ac = config_.agent;
  PeerLink::Env env;
  env.loop = &loop_;
  env.cluster = config_.cluster.name;
  env.self_id = ac.id;
  env.keys = &keys_;
  env.window_bytes = ac.window_bytes;
  env.reconnect_max_ms = ac.reconnect_max_ms;
  env.sources = &sources_->all();
  // Peer ACK offsets are informational in state.db (the peer's POSITION is the truth on
  // resume), so they never cause a commit of their own: they ride along with the next one,
  // or the once-a-second flush.
  env.acks_changed = [this] {
    sources_->ReleaseAcked();
    Kick(true, false);
  };
  env.request_commit = [this] { Kick(false, true); };
  return env;
}

void Agent::OnMembership(const nlohmann::json& agents) {
  if (stopping_) return;
  if (peers_->OnMembership(agents)) Kick(true, true);
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
  sources_->Stop();
  if (discovery_) discovery_->Stop();
  if (tracker_) tracker_->Stop();
  if (watcher_) watcher_->Stop();
  runner_.reset();  // kills hooks still running: their recoveries are reassigned
  if (coord_) coord_->Stop();
  peers_->Stop();
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
         std::to_string(config_.bolts.size()) + " bolts, " + std::to_string(peers_->size()) + " peers";
}

namespace {

// How far `link` is behind on `src`, over every generation still shipped.
Lag LagTo(const BoltSource& src, const PeerLink& link, uint64_t now) {
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

BoltReport::Peer PeerView(const BoltSource& src, const PeerLink& link, uint64_t now) {
  BoltReport::Peer p;
  p.peer = link.peer().id;
  p.connected = link.connected();
  for (const auto& g : src.generations()) {
    if (g->state != GenState::kActive) continue;
    p.acked = std::min(link.Acked(*g), g->size);
    const PeerLink::Cursor* c = link.CursorOf(*g);
    p.shipped = c ? c->sent : p.acked;
  }
  p.lag = LagTo(src, link, now);
  return p;
}

}  // namespace

BoltReport Agent::ReportBolt(const BoltSource& src, uint64_t now) const {
  BoltReport b;
  b.name = src.name();
  b.file = src.path();
  b.pattern = src.pattern();
  b.removed = src.retiring();
  if (!b.removed && tracker_) {  // a removed bolt's process is not this agent's any more
    if (const BoltProcess* p = tracker_->Find(src.name())) b.process = *p;
    if (const BoltCheckpoint* ck = tracker_->FindCheckpoint(src.name())) b.checkpoint = *ck;
  }
  // The generation the checkpoint applies to: the newest that has one.
  for (auto it = src.generations().rbegin(); it != src.generations().rend(); ++it) {
    if ((*it)->has_checkpoint) {
      b.checkpoint_applied = true;
      b.checkpoint_gen = (*it)->gen;
      b.checkpoint_offset = (*it)->checkpoint;
      break;
    }
  }
  if (deaths_) b.deaths = deaths_->Json(src.name());
  b.stats = src.stats();
  for (const auto& g : src.generations()) {
    b.gens.push_back({g->gen, g->state, g->size, g->state == GenState::kSealed ? g->final_size : g->size, g->persisted});
  }
  for (const auto& link : peers_->links()) b.peers.push_back(PeerView(src, *link, now));
  return b;
}

AgentReport Agent::Report() const {
  uint64_t now = NowNs();
  AgentReport r;
  r.agent = config_.agent.id;
  r.cluster = config_.cluster.name;
  r.pid = static_cast<int>(::getpid());
  r.uptime_seconds = static_cast<double>(now - started_ns_) / 1e9;
  for (const auto& src : sources_->all()) r.bolts.push_back(ReportBolt(*src, now));
  for (const auto& link : peers_->links()) {
    r.peers.push_back({link->peer().id, link->peer().address.ToString(), link->last_error(), link->connected(),
                       link->stats(), link->FailedStreams()});
  }
  for (const auto& [key, rep] : replicas_->replicas()) {
    r.replicas.push_back({rep->origin, rep->bolt, rep->path, rep->gen, rep->durable, rep->written, rep->verified,
                          rep->recorded, rep->sealed_durable, rep->session != nullptr});
  }
  for (const auto& [key, c] : replicas_->checkpoints()) r.peer_checkpoints.push_back({c.origin, c.bolt, c.gen, c.offset});
  r.receiver = server_->stats();
  r.commits = committer_->commits();
  r.files_synced = committer_->files_synced();
  r.full_disk_retries = committer_->full_retries();
  r.storage_error = StorageError();
  if (discovery_ && !config_.bolt_patterns.empty()) r.discovery = discovery_->StatusJson();
  if (runner_) {
    r.recoveries = runner_->StatusJson();
    r.recovery_stats = runner_->stats();
  }
  if (coord_) {
    r.coordinator = AgentReport::Coordinator{coord_->address(), coord_->last_error(), coord_->term(),
                                             coord_->registered(), coord_->membership()};
  }
  return r;
}

std::string Agent::StorageError() const {
  if (!committer_->stall_error().empty()) return "state commits stalled: " + committer_->stall_error();
  return server_->write_error();
}

HeldRange Agent::Held(const std::string& origin, const std::string& bolt, uint64_t gen, uint64_t need) const {
  HeldRange out;
  if (origin == config_.agent.id) {
    for (const auto& src : sources_->all()) {
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
  for (auto& link : peers_->links()) {
    nlohmann::json events = nlohmann::json::array();
    for (const auto& e : link->DrainAckLog()) events.push_back({e.t_ns, e.bolt, e.gen, e.durable});
    doc[link->peer().id] = std::move(events);
  }
  return doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string Agent::StatusJson() const { return tailsafe::StatusJson(Report()); }

std::string Agent::PrometheusText() const { return tailsafe::PrometheusText(Report()); }

// Bolt deaths, as the tracker sees them, go into the ledger (agent/death_ledger.h).

void Agent::OnBoltCheckpoint(const std::string& bolt, uint64_t offset, BoltTracker::Writer writer) {
  for (auto& src : sources_->all()) {
    if (src->name() != bolt) continue;
    src->SetCheckpoint(offset);
    // The generation it applied to: the newest that has one.
    for (auto it = src->generations().rbegin(); it != src->generations().rend(); ++it) {
      if ((*it)->has_checkpoint) {
        deaths_->NoteCheckpoint(bolt, (*it)->gen, (*it)->checkpoint,
                                {static_cast<uint64_t>(writer.pid), writer.start_ns});
        break;
      }
    }
  }
}

void Agent::OnBoltDeath(const std::string& bolt, const BoltProcess& p, bool successor) {
  deaths_->NoteDeath(bolt, {static_cast<uint64_t>(p.pid), p.start_boottime_ns}, successor, UnixNowNs() / 1000000);
  Kick(false, true);
  // A death goes to the coordinator at once, with the file's size as of now (the bolt's last
  // writes may not have been read yet) and the checkpoint the tracker re-read on the death.
  for (auto& src : sources_->all()) {
    if (src->name() == bolt) src->Check();
  }
  if (coord_) coord_->HeartbeatNow();
}

Status Agent::OnDeathsRecorded(const nlohmann::json& msg) {
  std::string bolt;
  const nlohmann::json* list = nullptr;
  if (Status s = ReadString(msg, "bolt", &bolt); !s) return s;
  if (Status s = ReadArray(msg, "deaths", &list); !s) return s;
  std::vector<DeathLedger::ProcessId> recorded;
  for (const nlohmann::json& r : *list) {
    DeathLedger::ProcessId p;
    if (!r.is_object()) return Status::Error("deaths_recorded: deaths[] must be objects");
    if (Status s = ReadUint(r, "pid", &p.pid); !s) return s;
    if (Status s = ReadUint(r, "start_ns", &p.start_ns); !s) return s;
    recorded.push_back(p);
  }
  deaths_->Recorded(bolt, recorded);
  Kick(false, true);
  return Status::Ok();
}

}  // namespace tailsafe
