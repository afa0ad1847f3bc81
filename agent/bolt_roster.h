// BoltRoster: which bolts this agent runs, and how that list changes while it runs.
//
// The running list is the [[bolt]] tables of the configuration followed by the bolts the
// [[bolt_pattern]] rules find now (BoltDiscovery), in that order, in Config::bolts, so the
// sources, the tracker, the coordinator link and the deaths all see one list. Two things change
// it, by one path:
//   - SIGHUP: Reload() re-reads the file, previews what its rules would find, and asks
//     PlanReload (agent/reload_plan.h) whether the change may apply; a refusal leaves everything
//     as it was, with the reason;
//   - a scan that finds or loses a bolt: planned as a reload that adds or removes its table.
// An accepted change starts, reconfigures or retires the bolts' sources (BoltSources::Apply)
// and then calls `applied` so the agent updates the tracker and tells the coordinator.
//
// A found bolt whose file is gone leaves only once nothing of it is still in flight: its process
// no longer runs (Env::busy, or a live process in its pid file now) and no death of it awaits the
// coordinator's record. A name may be found again once no source of that name is draining.
#pragma once

#include <uv.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "agent/bolt_discovery.h"
#include "agent/bolt_sources.h"
#include "agent/hook_process.h"
#include "agent/reload_plan.h"
#include "common/config.h"
#include "common/inotify_watcher.h"
#include "common/process.h"
#include "common/status.h"

namespace tailsafe {

class BoltRoster {
 public:
  struct Env {
    uv_loop_t* loop = nullptr;
    InotifyWatcher* watcher = nullptr;
    Config* config = nullptr;                         // the running configuration; the roster rewrites its bolts
    BoltSources* sources = nullptr;                   // every bolt's source
    std::map<std::string, HookUser>* hook_users = nullptr;  // replaced by a reload that changes [hooks]
    std::function<bool(const std::string& bolt)> busy;      // its process runs, or a death awaits the record
    std::function<void()> applied;                          // config->bolts changed: update the rest
  };

  explicit BoltRoster(Env env);
  BoltRoster(const BoltRoster&) = delete;
  BoltRoster& operator=(const BoltRoster&) = delete;

  // Runs the rules once and appends what they find to config->bolts.
  Status Start();
  void Stop();
  // Re-reads `path` and applies it, or refuses all of it (the error says why).
  Status Reload(const std::string& path);
  // The [[bolt]] tables of `file_config` followed by the bolts `found`: what the agent runs.
  static Config WithFound(Config file_config, const std::vector<FoundBolt>& found);
  const BoltDiscovery* discovery() const { return discovery_.get(); }

 private:
  void Apply(Config next, const ReloadPlan& plan);
  void OnFoundChanged();
  bool MayRemoveFound(const std::string& name) const;

  Env env_;
  std::unique_ptr<BoltDiscovery> discovery_;
  bool stopped_ = false;
};

}  // namespace tailsafe
