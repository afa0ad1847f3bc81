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
#include "agent/held_range.h"
#include "agent/report_collector.h"
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
  roster_.reset();
  tracker_.reset();
  if (committer_) committer_->CloseHandles();
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
  committer_->set_syncfs_files(ac.commit_syncfs_files);
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
  peers_ = std::make_unique<PeerSet>(LinkEnv(), config_.agent.id, config_.agent.peers, std::move(loaded->acks),
                                     config_.cluster.replicas);
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
  hooks.changed = [this](const Generation* g) { peers_->Touched(g); Kick(true, false); };
  hooks.min_acked = [this](const Generation& g) { return peers_->MinAcked(g); };
  hooks.min_cursor = [this](const Generation& g) { return peers_->MinCursor(g); };
  hooks.seal_held = [this](const Generation& g) { return peers_->AllHoldSeal(g); };
  hooks.lost = [this](const Generation& g) { peers_->CountLost(g); };
  hooks.closed = [this](const Generation& g) { peers_->Forget(g); };
  hooks.request_commit = [this] { Kick(false, true); };
  sources_ = std::make_unique<BoltSources>(&loop_, watcher_.get(), &config_.agent, std::move(hooks),
                                           std::move(loaded->gens));
}

// The bolts: the [[bolt]] tables and what the [[bolt_pattern]] rules find now, each a source
// resumed from its state.db rows, watched through the agent's one inotify instance.
Status Agent::StartBolts() {
  BoltRoster::Env env;
  env.loop = &loop_;
  env.watcher = watcher_.get();
  env.config = &config_;
  env.sources = sources_.get();
  env.hook_users = &hook_users_;
  env.busy = [this](const std::string& bolt) {
    const BoltProcess* p = tracker_ ? tracker_->Find(bolt) : nullptr;
    return (p && p->state == ProcState::kRunning) || (deaths_ && deaths_->HasDeaths(bolt));
  };
  env.applied = [this] {
    if (Status s = tracker_->Update(config_.bolts); !s) LOG_ERROR("bolt tracking: %s", s.message().c_str());
    if (coord_) coord_->ConfigChanged();
    Kick(true, true);
  };
  roster_ = std::make_unique<BoltRoster>(std::move(env));
  if (Status s = roster_->Start(); !s) return s;
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
    return FindHeld(config_.agent.id, *sources_, *replicas_, o, b, g, need);
  };
  renv.send = [this](const nlohmann::json& m) { return coord_ && coord_->Send(m); };
  renv.pull_dir = config_.agent.data_dir + "/pulls";
  shipper_ = std::make_unique<RangeShipper>(RangeShipper::Env{&loop_, renv.held, renv.send});
  runner_ = std::make_unique<RecoveryRunner>(std::move(renv));
  CoordinatorLink::Handlers h;
  h.report = [this] { return tailsafe::HeartbeatJson(Report()); };
  h.on_membership = [this](const nlohmann::json& agents) { OnMembership(agents); };
  h.on_recovery = [this](const nlohmann::json& m) { return runner_->OnMessage(m); };
  h.on_registered = [this] { runner_->OnRegistered(); };
  h.on_deaths_recorded = [this](const nlohmann::json& m) { return OnDeathsRecorded(m); };
  h.on_ship = [this](const nlohmann::json& m) { return shipper_->OnShip(m); };
  h.on_retain = [this](const nlohmann::json& m) -> Status {
    Result<RetainPlan> plan = ParseRetain(m);
    if (!plan) return plan.status();
    replicas_->Retain(std::move(*plan));
    return Status::Ok();
  };
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
  return tailsafe::ControlReply(req, {{"status", [this] { return StatusJson(); }},
                                      {"acklog", [this] { return peers_->AckLogJson(); }},
                                      {"durablelog", [this] { return server_ ? server_->DrainDurableLogJson() : "{}"; }}});
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
  if (Status s = roster_->Reload(config_path_); !s) {
    LOG_ERROR("%s was not loaded, the running configuration stays: %s", config_path_.c_str(), s.message().c_str());
  }
  if (notify_) notify_->Ready(ReadyLine());
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
  env.pump_soon = [this] { Kick(true, false); };
  env.cluster = config_.cluster.name;
  env.self_id = ac.id;
  env.keys = &keys_;
  env.window_bytes = ac.window_bytes;
  env.reconnect_max_ms = ac.reconnect_max_ms;
  env.sources = &sources_->all();
  // Peer ACK offsets are informational in state.db (the peer's POSITION is the truth on
  // resume), so they never cause a commit of their own: they ride along with the next one,
  // or the once-a-second flush.
  env.acks_changed = [this](const std::string& bolt) {
    if (BoltSource* src = sources_->Find(bolt)) src->ReleaseAcked();
    Kick(true, false);
  };
  return env;
}

void Agent::OnMembership(const nlohmann::json& agents) {
  if (stopping_) return;
  StreamPlacement& placement = peers_->placement();
  std::map<std::string, std::vector<std::string>> before;
  for (const auto& src : sources_->all()) before[src->name()] = placement.Holders(src->name());
  uint64_t version = placement.version();
  bool changed = peers_->OnMembership(agents);
  if (placement.version() != version) {  // new holders are filled with what the file holds now
    for (const auto& src : sources_->all()) {
      const Generation* g = src->active();
      HolderFill::Target target{g ? g->gen : 0, g ? g->known_size() : 0};
      fills_.Placed(src->name(), before[src->name()], placement.Holders(src->name()), target);
    }
  }
  if (!changed) return;
  sources_->ReleaseAcked();  // a peer no longer placed no longer holds a generation back
  Kick(true, true);
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
  if (roster_) roster_->Stop();
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

AgentReport Agent::Report() const {
  ReportInputs in;
  in.config = &config_;
  in.started_ns = started_ns_;
  in.sources = sources_.get();
  in.peers = peers_.get();
  in.replicas = replicas_.get();
  in.server = server_.get();
  in.committer = committer_.get();
  in.tracker = tracker_.get();
  in.roster = roster_.get();
  in.deaths = deaths_ ? &*deaths_ : nullptr;
  in.runner = runner_.get();
  in.coord = coord_.get();
  in.fills = &fills_;
  return CollectReport(in);
}

std::string Agent::StatusJson() const { return tailsafe::StatusJson(Report()); }

std::string Agent::PrometheusText() const { return tailsafe::PrometheusText(Report()); }

// Bolt deaths, as the tracker sees them, go into the ledger (agent/death_ledger.h).

void Agent::OnBoltCheckpoint(const std::string& bolt, uint64_t offset, BoltTracker::Writer writer) {
  for (auto& src : sources_->all()) {
    if (src->name() != bolt) continue;
    src->SetCheckpoint(offset);
    if (const Generation* g = src->checkpointed()) {  // the generation it applied to
      deaths_->NoteCheckpoint(bolt, g->gen, g->checkpoint(), {static_cast<uint64_t>(writer.pid), writer.start_ns});
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
  if (Status s = deaths_->RecordedMessage(msg); !s) return s;
  Kick(false, true);
  return Status::Ok();
}

}  // namespace tailsafe
