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

}  // namespace

int main(int argc, char** argv) {
  DaemonStart start = ParseDaemonCommandLine(
      "tailsafe-coordinator", "tailsafe-coordinator: membership and failure detection for tailsafe agents", argc, argv);
  if (!start.config) return start.exit_code;
  std::optional<Config>& config = start.config;
  const std::string& config_path = start.config_path;
  bool check_only = start.check_only;
  if (!config->coordinator.present) {
    fprintf(stderr, "tailsafe-coordinator: %s has no [coordinator] table\n", config_path.c_str());
    return 2;
  }
  // An agent or tailsafectl that closes its end makes a write fail with EPIPE, which is handled
  // where it happens; the signal would kill the coordinator instead (it did, now and then, when
  // agents stopped while it wrote to them: recovery/bolt_found_by_match_rule_is_tracked_and_recovered).
  ::signal(SIGPIPE, SIG_IGN);
  if (check_only) {
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
  // One instance on its own SQLite file, which always leads; or instances that elect a leader
  // on a ZooKeeper ensemble and keep the namespace there.
  std::unique_ptr<NamespaceStore> store;
  std::unique_ptr<Leadership> leadership;
  const CoordinatorConfig& cc = config->coordinator;
  if (cc.store == CoordinatorConfig::Store::kZookeeper) {
    auto election = std::make_unique<ZkElection>(
        &loop, ZkElection::Options{cc.zookeeper, cc.zookeeper_session_ms, cc.zookeeper_root, cc.listen});
    store = std::make_unique<ZkStore>(*election);
    leadership = std::move(election);
  } else {
    auto sqlite = SqliteNamespaceStore::Open(dir + "/namespace.db");
    if (!sqlite) {
      LOG_ERROR("%s", sqlite.status().message().c_str());
      return 1;
    }
    store = std::move(sqlite.value());
    leadership = std::make_unique<SoleLeadership>(cc.listen);
  }
  int rc = 0;
  {
    Coordinator coordinator(&loop, std::move(config.value()), std::move(start.keys), std::move(store),
                            std::move(leadership));
    if (Status s = coordinator.Start(); !s) {
      LOG_ERROR("%s", s.message().c_str());
      rc = 1;
    } else {
      struct Signals {
        Coordinator* coordinator;
        std::string config_path;
        std::unique_ptr<ServiceNotifier> notify;  // systemd Type=notify and watchdog
        UvPtr<uv_signal_t> term, intr, hup;
        UvPtr<uv_timer_t> stop_watch;
      } sig{&coordinator, config_path, std::make_unique<ServiceNotifier>(&loop), {}, {}, {}, {}};
      auto on_signal = [](uv_signal_t* h, int signum) {
        if (auto* sg = static_cast<Signals*>(h->data)) {
          if (signum == SIGHUP) {
            LOG_NOTICE("SIGHUP: checking %s", sg->config_path.c_str());
            if (sg->notify) sg->notify->Reloading("checking " + sg->config_path);
            Result<Config> next = LoadConfig(sg->config_path);
            Status checked = next ? sg->coordinator->CheckReload(*next) : next.status();
            if (checked) {
              LOG_NOTICE("configuration reloaded: nothing the coordinator uses changed");
            } else {
              LOG_ERROR("%s was not loaded, the running configuration stays: %s", sg->config_path.c_str(),
                        checked.message().c_str());
            }
            if (sg->notify) {
              sg->notify->Ready("coordinator of cluster " + sg->coordinator->cluster() + " on " +
                                sg->coordinator->listen());
            }
            return;
          }
          const char* name = signum == SIGTERM ? "SIGTERM" : "SIGINT";
          LOG_NOTICE("stopping (%s)", name);
          if (sg->notify) sg->notify->Stopping(std::string("stopping (") + name + ")");
          sg->coordinator->Stop();
          // If the loop has not ended 5 s from now, something still holds it: say what. The timer
          // is unreferenced, so it never holds the loop itself.
          if (!sg->stop_watch) {
            if (auto t = MakeUv<uv_timer_t>(uv_timer_init, h->loop)) {
              sg->stop_watch = std::move(t.value());
              uv_timer_start(sg->stop_watch.get(), [](uv_timer_t* timer) { LogActiveHandles(timer->loop); }, 5000, 0);
              uv_unref(reinterpret_cast<uv_handle_t*>(sg->stop_watch.get()));
            }
          }
        }
      };
      for (auto [slot, signum] :
           {std::pair{&sig.term, SIGTERM}, std::pair{&sig.intr, SIGINT}, std::pair{&sig.hup, SIGHUP}}) {
        auto h = MakeUv<uv_signal_t>(uv_signal_init, &loop);
        if (!h) continue;
        *slot = std::move(h.value());
        (*slot)->data = &sig;
        uv_signal_start(slot->get(), on_signal, signum);
      }
      // However the coordinator stops (a signal, a store failure), the loop may then end.
      coordinator.on_stopped = [&sig] {
        sig.notify.reset();
        sig.term.Reset();
        sig.intr.Reset();
        sig.hup.Reset();
      };
      LOG_NOTICE("coordinator of cluster %s ready on %s", coordinator.cluster().c_str(), coordinator.listen().c_str());
      sig.notify->Ready("coordinator of cluster " + coordinator.cluster() + " on " + coordinator.listen());
      uv_run(&loop, UV_RUN_DEFAULT);
      if (!coordinator.fatal().ok()) rc = 1;
    }
    coordinator.Stop();
    uv_run(&loop, UV_RUN_DEFAULT);
  }
  uv_run(&loop, UV_RUN_DEFAULT);  // what the coordinator's destruction closed (a ZooKeeper session)
  if (uv_loop_close(&loop) != 0) LOG_WARN("the loop still had handles at exit");
  if (rc == 0) LOG_NOTICE("stopped");
  return rc;
}
