// tailsafe-coordinator: membership, failure detection and (coming) recovery election for a
// tailsafe cluster. See docs/design.md.
#include <signal.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "common/config.h"
#include "common/daemon.h"
#include "common/log.h"
#include "common/service_notify.h"
#include "common/uv_handle.h"
#include "coordinator/coordinator.h"
#include "coordinator/namespace_store.h"
#include "coordinator/status_page.h"
#include "coordinator/zk_election.h"
#include "coordinator/zk_store.h"

using namespace tailsafe;

namespace {

// Logs every handle that still keeps `loop` running (active and referenced): what a stop that
// does not end is waiting for.
void LogActiveHandles(uv_loop_t* loop) {
  int held = 0;
  uv_walk(
      loop,
      [](uv_handle_t* h, void* arg) {
        if (!uv_is_active(h) || !uv_has_ref(h) || uv_is_closing(h)) return;
        ++*static_cast<int*>(arg);
        LOG_WARN("still stopping after 5 s: an active %s handle holds the loop", uv_handle_type_name(uv_handle_get_type(h)));
      },
      &held);
  if (held == 0) LOG_WARN("still stopping after 5 s: no active handle holds the loop (a request, such as a thread-pool job, does)");
}

// One instance on its own SQLite file, which always leads; or instances that elect a leader on
// a ZooKeeper ensemble and keep the namespace there.
Status OpenStore(uv_loop_t* loop, const CoordinatorConfig& cc, std::unique_ptr<NamespaceStore>* store,
                 std::unique_ptr<Leadership>* leadership) {
  if (cc.store == CoordinatorConfig::Store::kZookeeper) {
    auto election = std::make_unique<ZkElection>(
        loop, ZkElection::Options{cc.zookeeper, cc.zookeeper_session_ms, cc.zookeeper_root, cc.listen,
                                         StatusPage::PageUrl(cc)});
    *store = std::make_unique<ZkStore>(*election);
    *leadership = std::move(election);
    return Status::Ok();
  }
  auto sqlite = SqliteNamespaceStore::Open(cc.state_dir + "/namespace.db");
  if (!sqlite) return sqlite.status();
  *store = std::move(sqlite.value());
  *leadership = std::make_unique<SoleLeadership>(cc.listen);
  return Status::Ok();
}

// SIGTERM and SIGINT stop the coordinator; SIGHUP checks the configuration file (nothing the
// coordinator uses may change without a restart); systemd hears of each.
class DaemonSignals {
 public:
  DaemonSignals(uv_loop_t* loop, Coordinator* coordinator, std::string config_path)
      : coordinator_(coordinator), config_path_(std::move(config_path)), notify_(std::make_unique<ServiceNotifier>(loop)) {
    for (auto [slot, signum] : {std::pair{&term_, SIGTERM}, std::pair{&intr_, SIGINT}, std::pair{&hup_, SIGHUP}}) {
      auto h = MakeUv<uv_signal_t>(uv_signal_init, loop);
      if (!h) continue;
      *slot = std::move(h.value());
      (*slot)->data = this;
      uv_signal_start(slot->get(), OnSignal, signum);
    }
  }
  void Ready() {
    if (notify_) notify_->Ready("coordinator of cluster " + coordinator_->cluster() + " on " + coordinator_->listen());
  }
  // However the coordinator stops (a signal, a store failure), the loop may then end.
  void Reset() {
    notify_.reset();
    term_.Reset();
    intr_.Reset();
    hup_.Reset();
  }

 private:
  static void OnSignal(uv_signal_t* h, int signum) {
    auto* self = static_cast<DaemonSignals*>(h->data);
    if (self == nullptr) return;
    if (signum == SIGHUP) return self->Reload();
    self->Stop(h->loop, signum == SIGTERM ? "SIGTERM" : "SIGINT");
  }
  void Reload() {
    LOG_NOTICE("SIGHUP: checking %s", config_path_.c_str());
    if (notify_) notify_->Reloading("checking " + config_path_);
    Result<Config> next = LoadConfig(config_path_);
    Status checked = next ? coordinator_->CheckReload(*next) : next.status();
    if (checked) {
      LOG_NOTICE("configuration reloaded: nothing the coordinator uses changed");
    } else {
      LOG_ERROR("%s was not loaded, the running configuration stays: %s", config_path_.c_str(),
                checked.message().c_str());
    }
    Ready();
  }
  void Stop(uv_loop_t* loop, const char* name) {
    LOG_NOTICE("stopping (%s)", name);
    if (notify_) notify_->Stopping(std::string("stopping (") + name + ")");
    coordinator_->Stop();
    // If the loop has not ended 5 s from now, something still holds it: say what. The timer is
    // unreferenced, so it never holds the loop itself.
    if (stop_watch_) return;
    if (auto t = MakeUv<uv_timer_t>(uv_timer_init, loop)) {
      stop_watch_ = std::move(t.value());
      uv_timer_start(stop_watch_.get(), [](uv_timer_t* timer) { LogActiveHandles(timer->loop); }, 5000, 0);
      uv_unref(reinterpret_cast<uv_handle_t*>(stop_watch_.get()));
    }
  }

  Coordinator* coordinator_;
  std::string config_path_;
  std::unique_ptr<ServiceNotifier> notify_;  // systemd Type=notify and watchdog
  UvPtr<uv_signal_t> term_, intr_, hup_;
  UvPtr<uv_timer_t> stop_watch_;
};

// Runs the coordinator until it stops; 0, or 1 if it could not start or ended on an error.
int Serve(uv_loop_t* loop, Config config, ClusterKeys keys, const std::string& config_path) {
  std::unique_ptr<NamespaceStore> store;
  std::unique_ptr<Leadership> leadership;
  if (Status s = OpenStore(loop, config.coordinator, &store, &leadership); !s) {
    LOG_ERROR("%s", s.message().c_str());
    return 1;
  }
  int rc = 0;
  Coordinator coordinator(loop, std::move(config), std::move(keys), std::move(store), std::move(leadership));
  if (Status s = coordinator.Start(); !s) {
    LOG_ERROR("%s", s.message().c_str());
    rc = 1;
  } else {
    DaemonSignals signals(loop, &coordinator, config_path);
    coordinator.on_stopped = [&signals] { signals.Reset(); };
    LOG_NOTICE("coordinator of cluster %s ready on %s", coordinator.cluster().c_str(), coordinator.listen().c_str());
    signals.Ready();
    uv_run(loop, UV_RUN_DEFAULT);
    if (!coordinator.fatal().ok()) rc = 1;
    coordinator.on_stopped = nullptr;
  }
  coordinator.Stop();
  uv_run(loop, UV_RUN_DEFAULT);
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  DaemonStart start = ParseDaemonCommandLine(
      "tailsafe-coordinator", "tailsafe-coordinator: membership and failure detection for tailsafe agents", argc, argv);
  if (!start.config) return start.exit_code;
  std::optional<Config>& config = start.config;
  const std::string& config_path = start.config_path;
  if (!config->coordinator.present) {
    fprintf(stderr, "tailsafe-coordinator: %s has no [coordinator] table\n", config_path.c_str());
    return 2;
  }
  // An agent or tailsafectl that closes its end makes a write fail with EPIPE, which is handled
  // where it happens; the signal would kill the coordinator instead (it did, now and then, when
  // agents stopped while it wrote to them: recovery/bolt_found_by_match_rule_is_tracked_and_recovered).
  ::signal(SIGPIPE, SIG_IGN);
  if (start.check_only) {
    printf("%s: ok (coordinator of cluster %s on %s)\n", config_path.c_str(), config->cluster.name.c_str(),
           config->coordinator.listen.c_str());
    return 0;
  }
  SetLogIdent("tailsafe-coordinator");
  const std::string& dir = config->coordinator.state_dir;
  if (::mkdir(dir.c_str(), 0750) != 0 && errno != EEXIST) {
    LOG_ERROR("cannot create coordinator.state_dir %s: %s", dir.c_str(), strerror(errno));
    return 1;
  }
  uv_loop_t loop;
  uv_loop_init(&loop);
  int rc = Serve(&loop, std::move(config.value()), std::move(start.keys), config_path);
  uv_run(&loop, UV_RUN_DEFAULT);  // what the coordinator's destruction closed (a ZooKeeper session)
  if (uv_loop_close(&loop) != 0) LOG_WARN("the loop still had handles at exit");
  if (rc == 0) LOG_NOTICE("stopped");
  return rc;
}
