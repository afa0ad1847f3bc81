#include "agent/reload_plan.h"

#include <map>

namespace tailsafe {

namespace {

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& s : items) out += (out.empty() ? "" : ", ") + s;
  return out;
}

std::string Quoted(const std::string& s) { return s.empty() ? "(unset)" : "'" + s + "'"; }

std::string PeersText(const std::vector<PeerSpec>& peers) {
  std::vector<std::string> items;
  for (const PeerSpec& p : peers) items.push_back(p.id + "@" + p.address.ToString());
  return "[" + Join(items) + "]";
}

std::string OptionalAddress(const std::optional<HostPort>& hp) { return hp ? hp->ToString() : "(unset)"; }

bool SameMatch(const std::optional<BoltMatch>& a, const std::optional<BoltMatch>& b) {
  if (a.has_value() != b.has_value()) return false;
  return !a || (a->exe == b->exe && a->arg == b->arg);
}

// Collects "KEY changed from A to B" for the settings fixed for the life of the process.
class Fixed {
 public:
  void Compare(const char* key, const std::string& a, const std::string& b) {
    if (a != b && first_.empty()) first_ = std::string(key) + " changed from " + a + " to " + b;
  }
  void Compare(const char* key, uint64_t a, uint64_t b) { Compare(key, std::to_string(a), std::to_string(b)); }
  void Compare(const char* key, int64_t a, int64_t b) { Compare(key, std::to_string(a), std::to_string(b)); }
  const std::string& first() const { return first_; }

 private:
  std::string first_;
};

}  // namespace

std::string ReloadPlan::Summary() const {
  std::vector<std::string> parts;
  if (!added.empty()) parts.push_back("bolts added: " + Join(added));
  if (!removed.empty()) parts.push_back("bolts removed: " + Join(removed));
  if (!moved.empty()) parts.push_back("new file for: " + Join(moved));
  if (!retracked.empty()) parts.push_back("new pid_file, match or checkpoint_file for: " + Join(retracked));
  if (!rehooked.empty()) parts.push_back("new hook for: " + Join(rehooked));
  if (!patterns_added.empty()) parts.push_back("bolt patterns added: " + Join(patterns_added));
  if (!patterns_removed.empty()) parts.push_back("bolt patterns removed: " + Join(patterns_removed));
  if (!patterns_rehooked.empty()) parts.push_back("new hook for bolt patterns: " + Join(patterns_rehooked));
  if (hooks_changed) parts.push_back("[hooks] changed");
  if (hook_tunables_changed) parts.push_back("hook tunables changed");
  if (parts.empty()) return "nothing changed";
  std::string out;
  for (const std::string& p : parts) out += (out.empty() ? "" : "; ") + p;
  return out;
}

Result<ReloadPlan> PlanReload(const Config& o, const Config& n) {
  if (!n.agent.present) return Status::Error("the new configuration has no [agent] table");
  Fixed f;
  f.Compare("cluster.name", Quoted(o.cluster.name), Quoted(n.cluster.name));
  f.Compare("cluster.coordinator", "[" + Join(o.cluster.coordinators) + "]", "[" + Join(n.cluster.coordinators) + "]");
  f.Compare("cluster.key_file", Quoted(o.cluster.key_file), Quoted(n.cluster.key_file));
  f.Compare("cluster.previous_key_files", "[" + Join(o.cluster.previous_key_files) + "]",
            "[" + Join(n.cluster.previous_key_files) + "]");
  f.Compare("cluster.replicas", uint64_t{o.cluster.replicas}, uint64_t{n.cluster.replicas});
  // The agent never serves [coordinator]; a file shared with the coordinator may change it.
  const AgentConfig& a = o.agent;
  const AgentConfig& b = n.agent;
  f.Compare("agent.id", Quoted(a.id), Quoted(b.id));
  f.Compare("agent.listen", a.listen.ToString(), b.listen.ToString());
  f.Compare("agent.data_dir", Quoted(a.data_dir), Quoted(b.data_dir));
  f.Compare("agent.peers", PeersText(a.peers), PeersText(b.peers));
  f.Compare("agent.control_socket", Quoted(a.control_socket), Quoted(b.control_socket));
  f.Compare("agent.metrics_listen", OptionalAddress(a.metrics_listen), OptionalAddress(b.metrics_listen));
  f.Compare("agent.rescan_interval_ms", uint64_t{a.rescan_interval_ms}, uint64_t{b.rescan_interval_ms});
  f.Compare("agent.chunk_bytes", uint64_t{a.chunk_bytes}, uint64_t{b.chunk_bytes});
  f.Compare("agent.window_bytes", uint64_t{a.window_bytes}, uint64_t{b.window_bytes});
  f.Compare("agent.commit_interval_ms", uint64_t{a.commit_interval_ms}, uint64_t{b.commit_interval_ms});
  f.Compare("agent.commit_syncfs_files", uint64_t{a.commit_syncfs_files}, uint64_t{b.commit_syncfs_files});
  f.Compare("agent.linger_ms", uint64_t{a.linger_ms}, uint64_t{b.linger_ms});
  f.Compare("agent.compression_level", int64_t{a.compression_level}, int64_t{b.compression_level});
  f.Compare("agent.reconnect_max_ms", uint64_t{a.reconnect_max_ms}, uint64_t{b.reconnect_max_ms});
  f.Compare("agent.seal_after_ms", uint64_t{a.seal_after_ms}, uint64_t{b.seal_after_ms});
  if (!f.first().empty()) return Status::Error(f.first() + "; that takes a restart");

  ReloadPlan plan;
  plan.hooks_changed = o.hooks != n.hooks || o.hook_users != n.hook_users;
  plan.hook_tunables_changed = a.hook_timeout_ms != b.hook_timeout_ms || a.hook_retry_ms != b.hook_retry_ms ||
                               a.hook_attempts != b.hook_attempts;
  std::map<std::string, const BoltConfig*> before;
  for (const BoltConfig& bolt : o.bolts) before[bolt.name] = &bolt;
  for (const BoltConfig& bolt : n.bolts) {
    auto it = before.find(bolt.name);
    if (it == before.end()) {
      plan.added.push_back(bolt.name);
      continue;
    }
    const BoltConfig& old = *it->second;
    if (old.file != bolt.file) plan.moved.push_back(bolt.name);
    if (old.pid_file != bolt.pid_file || !SameMatch(old.match, bolt.match) ||
        old.checkpoint_file != bolt.checkpoint_file) {
      plan.retracked.push_back(bolt.name);
    }
    if (old.hook != bolt.hook) plan.rehooked.push_back(bolt.name);
    before.erase(it);
  }
  for (const auto& [name, bolt] : before) plan.removed.push_back(name);
  std::map<std::string, const BoltPatternConfig*> rules_before;
  for (const BoltPatternConfig& rule : o.bolt_patterns) rules_before[rule.files] = &rule;
  for (const BoltPatternConfig& rule : n.bolt_patterns) {
    auto it = rules_before.find(rule.files);
    if (it == rules_before.end()) {
      plan.patterns_added.push_back(rule.files);
      continue;
    }
    if (it->second->hook != rule.hook) plan.patterns_rehooked.push_back(rule.files);
    rules_before.erase(it);
  }
  for (const auto& [files, rule] : rules_before) plan.patterns_removed.push_back(files);
  return plan;
}

}  // namespace tailsafe
