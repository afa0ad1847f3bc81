#include "agent/bolt_roster.h"

#include <sys/stat.h>

#include <algorithm>
#include <utility>

#include "common/log.h"

namespace tailsafe {

BoltRoster::BoltRoster(Env env) : env_(std::move(env)) {}

Status BoltRoster::Start() {
  BoltDiscovery::Hooks hooks;
  hooks.checks.may_remove = [this](const std::string& name) { return MayRemoveFound(name); };
  // A removed bolt still draining to the peers keeps its name until it has drained.
  hooks.checks.may_add = [this](const std::string& name) { return !env_.sources->Contains(name); };
  hooks.changed = [this] { OnFoundChanged(); };
  discovery_ = std::make_unique<BoltDiscovery>(env_.loop, env_.watcher, env_.config->agent.rescan_interval_ms,
                                               std::move(hooks));
  if (Status s = discovery_->Start(env_.config->bolt_patterns, env_.config->bolts); !s) return s;
  *env_.config = WithFound(std::move(*env_.config), discovery_->found());
  return Status::Ok();
}

void BoltRoster::Stop() {
  stopped_ = true;
  if (discovery_) discovery_->Stop();
}

Status BoltRoster::Reload(const std::string& path) {
  Result<Config> loaded = LoadConfig(path);
  if (!loaded) return loaded.status();
  // What the new rules find beside the new [[bolt]] tables, compared like [[bolt]] tables.
  DiscoveryPlan found = discovery_->Preview(loaded->bolt_patterns, loaded->bolts);
  Config next = WithFound(*loaded, found.found);
  Result<ReloadPlan> plan = PlanReload(*env_.config, next);
  if (!plan) return plan.status();
  env_.sources->SweepDrained();
  for (const std::string& name : plan->added) {
    if (env_.sources->Contains(name)) {
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
  *env_.hook_users = std::move(users.value());
  Apply(std::move(next), *plan);
  LOG_NOTICE("configuration reloaded: %s", plan->Summary().c_str());
  return Status::Ok();
}

Config BoltRoster::WithFound(Config file_config, const std::vector<FoundBolt>& found) {
  std::erase_if(file_config.bolts, [](const BoltConfig& b) { return !b.pattern.empty(); });
  for (const FoundBolt& f : found) file_config.bolts.push_back(f.bolt);
  return file_config;
}

void BoltRoster::Apply(Config next, const ReloadPlan& plan) {
  *env_.config = std::move(next);
  env_.sources->Apply(env_.config->bolts, plan.added);
  env_.applied();
}

void BoltRoster::OnFoundChanged() {
  if (stopped_) return;
  Config next = WithFound(*env_.config, discovery_->found());
  // Only bolts differ, so this plans what a reload adding or removing their tables would.
  Result<ReloadPlan> plan = PlanReload(*env_.config, next);
  if (!plan) {
    LOG_ERROR("bolt patterns: %s", plan.status().message().c_str());
    return;
  }
  if (plan->empty()) return;
  Apply(std::move(next), *plan);
  LOG_NOTICE("bolt patterns: %s", plan->Summary().c_str());
}

bool BoltRoster::MayRemoveFound(const std::string& name) const {
  if (env_.busy(name)) return false;
  // The pid file as it is now: a live process in it that the tracker has not taken yet counts.
  for (const BoltConfig& b : env_.config->bolts) {
    if (b.name != name || b.pid_file.empty()) continue;
    struct stat st;
    Result<pid_t> pid = ReadPidFile(b.pid_file);
    if (pid && ::stat(b.pid_file.c_str(), &st) == 0 && OpenBoltProcess(*pid, st.st_mtim)) return false;
  }
  return true;
}

}  // namespace tailsafe
