// ReloadPlan: what a SIGHUP may change in a running agent, decided from the old and the new
// configuration alone (no I/O), so the rules are unit-tested apart from the agent.
//
// Live: [[bolt]] tables added, removed or changed (file, pid_file, match, checkpoint_file, hook),
// [[bolt_pattern]] rules added, removed or given another hook, the [hooks] table and hook users,
// and the hook tunables hook_timeout_ms, hook_retry_ms and hook_attempts. Everything else ([cluster], [coordinator], the agent's id, listen, data_dir,
// peers, control_socket, metrics_listen and the replication tunables) is fixed for the life of
// the process: a new configuration that changes any of it is refused, naming the key, and the
// agent keeps running as it was.
//
// The bolts compared are the ones the agent runs: the agent passes each configuration with the
// bolts its rules find appended (agent/bolt_discovery.h), so a found bolt that a new rule set no
// longer finds is removed, and one whose rule got a new hook is rehooked, like [[bolt]] tables.
// A rule is known by its `files`: a rule whose pattern changed is one removed and one added.
#pragma once

#include <string>
#include <vector>

#include "common/config.h"
#include "common/status.h"

namespace tailsafe {

struct ReloadPlan {
  std::vector<std::string> added;         // bolts to start
  std::vector<std::string> removed;       // bolts to drain and drop
  std::vector<std::string> moved;         // bolts whose `file` changed: a new generation
  std::vector<std::string> retracked;     // bolts whose pid_file, match or checkpoint_file changed
  std::vector<std::string> rehooked;      // bolts whose `hook` changed
  std::vector<std::string> patterns_added;     // [[bolt_pattern]] rules, by their files
  std::vector<std::string> patterns_removed;
  std::vector<std::string> patterns_rehooked;  // rules whose `hook` changed
  bool hooks_changed = false;             // [hooks] commands or users
  bool hook_tunables_changed = false;     // hook_timeout_ms, hook_retry_ms, hook_attempts

  bool empty() const {
    return added.empty() && removed.empty() && moved.empty() && retracked.empty() && rehooked.empty() &&
           patterns_added.empty() && patterns_removed.empty() && patterns_rehooked.empty() && !hooks_changed &&
           !hook_tunables_changed;
  }
  // One line for the log: "bolts added: a; removed: b; hooks changed", or "nothing changed".
  std::string Summary() const;
};

// The plan, or an error naming the first setting that needs a restart
// ("agent.listen changed from 10.0.0.2:7401 to 10.0.0.2:7402; that takes a restart").
Result<ReloadPlan> PlanReload(const Config& old_config, const Config& new_config);

}  // namespace tailsafe
