// BoltDiscovery: the bolts of this host's [[bolt_pattern]] rules, found as their files come and
// go, on the agent's loop. common/bolt_pattern.h has the patterns and the naming rule;
// agent/discovery_plan.h decides what a scan adds and removes (and the removal rule); this class
// does the I/O around them and tells the agent when the set changed.
//
// Watching: a subscription to the agent's one inotify instance (common/inotify_watcher.h). Each
// walk of a rule watches every directory it reads (the root, and each directory the pattern leads
// to) before reading it, so an entry created meanwhile is either listed or reported; directories
// the walk no longer reads lose their watch. An event counts only if the pattern could match its name at
// that directory's depth (a bolt's checkpoint, written every few tuples, never matches), or if a
// watched directory itself went away, or the queue overflowed (counted): each burst of events
// runs one scan of every rule. A timer (rescan_interval_ms) scans too, as the safety net, and only
// its scans count a missing file towards removal. A root that does not exist yet is found by the
// timer, and is then watched.
//
// A walk reads directories on the loop: getdents on a few local directories, bounded by
// ScanPattern. Symbolic links below the root are never followed.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/discovery_plan.h"
#include "common/bolt_pattern.h"
#include "common/config.h"
#include "common/fd.h"
#include "common/inotify_watcher.h"
#include "common/status.h"
#include "common/uv_handle.h"

namespace tailsafe {

class BoltDiscovery {
 public:
  struct Hooks {
    DiscoveryChecks checks;
    // found() changed after a scan of the loop's own (never inside Start or Adopt): apply it.
    std::function<void()> changed;
  };
  struct Stats {
    uint64_t scans_event = 0;  // after inotify events
    uint64_t scans_timer = 0;  // by the rescan timer
    uint64_t overflows = 0;    // IN_Q_OVERFLOW
  };

  // `loop` and `watcher` outlive this.
  BoltDiscovery(uv_loop_t* loop, InotifyWatcher* watcher, uint32_t rescan_ms, Hooks hooks);
  ~BoltDiscovery();
  BoltDiscovery(const BoltDiscovery&) = delete;
  BoltDiscovery& operator=(const BoltDiscovery&) = delete;

  // Takes the rules (checked by the parser) and the configuration's own bolts, and scans once:
  // found() is what they find now. Without inotify, the rescans alone find bolts (logged); an
  // error only if libuv cannot make a handle.
  Status Start(const std::vector<BoltPatternConfig>& rules, const std::vector<BoltConfig>& configured);
  void Stop();
  // For a reload: what `rules` would find now beside `configured` (a scan; nothing is adopted).
  DiscoveryPlan Preview(const std::vector<BoltPatternConfig>& rules, const std::vector<BoltConfig>& configured);
  // The reload went through: `plan` (from Preview with the same arguments) is the found set now.
  Status Adopt(const std::vector<BoltPatternConfig>& rules, const std::vector<BoltConfig>& configured,
               DiscoveryPlan plan);

  const std::vector<FoundBolt>& found() const { return found_; }
  const Stats& stats() const { return stats_; }
  // For status: each rule with its root and bolts; scans; what is skipped or waiting, and why.
  nlohmann::json StatusJson() const;

 private:
  struct Rule {
    BoltPatternConfig config;
    BoltPattern pattern;
  };
  // Which rule, and at what depth below its root, a watched directory serves.
  using WatchUse = std::pair<std::string, size_t>;  // (rule files, depth)
  struct DirWatch {
    InotifyWatcher::Watch watch;
    std::vector<WatchUse> uses;
  };
  using Watches = std::map<std::string, DirWatch>;  // by directory

  static std::vector<Rule> MakeRules(const std::vector<BoltPatternConfig>& rules);
  Status EnsureWatching();
  // Walks every rule (watching what it reads, into `watches`) and plans against found_.
  DiscoveryPlan Walk(const std::vector<Rule>& rules, const std::vector<BoltConfig>& configured, bool rescan,
                     Watches* watches);
  // Makes `plan` the found set, `watches` the watched set (others are removed); logs once what
  // is new among the skipped and the waiting.
  void Install(DiscoveryPlan plan, Watches watches);
  void Scan(bool rescan);
  void OnEvents(std::span<const InotifyWatcher::Event> events);
  std::optional<std::vector<DirEntry>> List(const Rule& rule, const std::string& dir, Watches* watches);

  uv_loop_t* loop_;
  uint32_t rescan_ms_;
  Hooks hooks_;
  std::vector<Rule> rules_;
  std::vector<BoltConfig> configured_;
  std::vector<FoundBolt> found_;
  InotifyWatcher* watcher_;
  InotifyWatcher::Subscription events_;
  UvPtr<uv_timer_t> rescan_;
  Watches watches_;
  std::map<WatchTable::Id, const std::string*> dir_of_watch_;  // into watches_' keys
  Watches preview_watches_;  // what the last Preview's walk watched, for Adopt
  std::map<std::string, std::string> skipped_;  // path -> why, as last warned
  std::set<std::string> waiting_;               // as last logged
  std::string watch_error_;                     // the last watch failure logged
  Stats stats_;
};

}  // namespace tailsafe
