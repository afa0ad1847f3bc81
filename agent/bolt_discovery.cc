#include "agent/bolt_discovery.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

#include "common/log.h"

namespace tailsafe {
namespace {

// Entries appearing and going (files and directories alike), and the directory itself going.
constexpr uint32_t kDirMask =
    IN_CREATE | IN_MOVED_TO | IN_DELETE | IN_MOVED_FROM | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR;

// How many components `dir` is below `root` (0 for the root itself).
size_t DepthBelow(const std::string& root, const std::string& dir) {
  if (dir.size() <= root.size()) return 0;
  std::string_view rel(dir);
  rel.remove_prefix(root == "/" ? 1 : root.size() + 1);
  return static_cast<size_t>(std::count(rel.begin(), rel.end(), '/')) + 1;
}

struct DirCloser {
  void operator()(DIR* d) const { ::closedir(d); }
};

}  // namespace

BoltDiscovery::BoltDiscovery(uv_loop_t* loop, InotifyWatcher* watcher, uint32_t rescan_ms, Hooks hooks)
    : loop_(loop), rescan_ms_(rescan_ms), hooks_(std::move(hooks)), watcher_(watcher) {}

BoltDiscovery::~BoltDiscovery() { Stop(); }

std::vector<BoltDiscovery::Rule> BoltDiscovery::MakeRules(const std::vector<BoltPatternConfig>& rules) {
  std::vector<Rule> out;
  for (const BoltPatternConfig& config : rules) {
    Result<BoltPattern> pattern = ParseBoltPattern(config.files);
    if (!pattern) {  // the parser checked it; never here
      LOG_ERROR("bolt pattern %s: %s", config.files.c_str(), pattern.status().message().c_str());
      continue;
    }
    out.push_back({config, std::move(pattern.value())});
  }
  return out;
}

Status BoltDiscovery::EnsureWatching() {
  if (!rescan_) {
    auto timer = MakeUv<uv_timer_t>(uv_timer_init, loop_);
    if (!timer) return timer.status();
    rescan_ = std::move(timer.value());
    rescan_->data = this;
    uv_timer_start(rescan_.get(), [](uv_timer_t* t) {
      if (auto* self = static_cast<BoltDiscovery*>(t->data)) self->Scan(true);
    }, rescan_ms_, rescan_ms_);
  }
  // Without an inotify instance (the user's used up by other programs) watches fail, and the
  // rescans still find every bolt, later (List says so once).
  if (!events_) events_ = watcher_->Subscribe([this](std::span<const InotifyWatcher::Event> e) { OnEvents(e); });
  return Status::Ok();
}

Status BoltDiscovery::Start(const std::vector<BoltPatternConfig>& rules, const std::vector<BoltConfig>& configured) {
  rules_ = MakeRules(rules);
  configured_ = configured;
  if (rules_.empty()) return Status::Ok();
  if (Status s = EnsureWatching(); !s) return s;
  Watches watches;
  DiscoveryPlan plan = Walk(rules_, configured_, false, &watches);
  Install(std::move(plan), std::move(watches));
  return Status::Ok();
}

void BoltDiscovery::Stop() {
  rescan_.Reset();
  dir_of_watch_.clear();
  watches_.clear();
  preview_watches_.clear();
  events_.Reset();
}

DiscoveryPlan BoltDiscovery::Preview(const std::vector<BoltPatternConfig>& rules,
                                     const std::vector<BoltConfig>& configured) {
  std::vector<Rule> next = MakeRules(rules);
  if (!next.empty()) {
    if (Status s = EnsureWatching(); !s) LOG_WARN("bolt patterns: %s; found by rescans only", s.message().c_str());
  }
  preview_watches_.clear();
  // Its watches stay until Adopt takes them, or the next scan drops them (a refused reload).
  return Walk(next, configured, false, &preview_watches_);
}

Status BoltDiscovery::Adopt(const std::vector<BoltPatternConfig>& rules, const std::vector<BoltConfig>& configured,
                            DiscoveryPlan plan) {
  rules_ = MakeRules(rules);
  configured_ = configured;
  Install(std::move(plan), std::move(preview_watches_));
  preview_watches_.clear();
  if (rules_.empty()) Stop();  // no rule left: no watch, no timer
  return Status::Ok();
}

std::optional<std::vector<DirEntry>> BoltDiscovery::List(const Rule& rule, const std::string& dir, Watches* watches) {
  bool root = dir == rule.pattern.root;
  // Below the root a directory is only ever one the walk saw as a directory, not a symlink; it
  // must still be one when opened.
  int nofollow = root ? 0 : O_NOFOLLOW;
  if (events_) {
    // Watched before it is read: whatever is created after the read is reported. Watched again
    // by each walk: the previous walk's watch keeps the kernel's until this one replaces it.
    auto it = watches->find(dir);
    if (it == watches->end()) {
      int err = 0;
      Result<InotifyWatcher::Watch> w = events_.Add(dir, kDirMask | (root ? 0 : IN_DONT_FOLLOW), "", &err);
      if (w) {
        it = watches->emplace(dir, DirWatch{std::move(w.value()), {}}).first;
      } else if (err != ENOENT && err != ENOTDIR) {
        const std::string& why = w.status().message();
        if (why != watch_error_) {
          LOG_WARN("bolt pattern %s: %s; found by rescans only", rule.config.files.c_str(), why.c_str());
        }
        watch_error_ = why;
      }
    }
    if (it != watches->end()) it->second.uses.emplace_back(rule.config.files, DepthBelow(rule.pattern.root, dir));
  }
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | nofollow);
  if (fd < 0) {
    if (root && errno == ENOENT) LOG_DEBUG("bolt pattern %s: %s does not exist yet", rule.config.files.c_str(), dir.c_str());
    return std::nullopt;
  }
  std::unique_ptr<DIR, DirCloser> d(::fdopendir(fd));
  if (!d) {
    ::close(fd);
    return std::nullopt;
  }
  std::vector<DirEntry> out;
  while (struct dirent* e = ::readdir(d.get())) {
    std::string_view name(e->d_name);
    if (name == "." || name == "..") continue;
    DirEntry entry;
    entry.name = std::string(name);
    unsigned char type = e->d_type;
    if (type == DT_UNKNOWN) {  // some file systems do not say: ask, without following a link
      struct stat st;
      if (::fstatat(::dirfd(d.get()), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        type = S_ISREG(st.st_mode) ? DT_REG : S_ISDIR(st.st_mode) ? DT_DIR : DT_LNK;
      }
    }
    entry.type = type == DT_REG ? DirEntry::Type::kFile : type == DT_DIR ? DirEntry::Type::kDir : DirEntry::Type::kOther;
    out.push_back(std::move(entry));
  }
  return out;
}

DiscoveryPlan BoltDiscovery::Walk(const std::vector<Rule>& rules, const std::vector<BoltConfig>& configured,
                                  bool rescan, Watches* watches) {
  std::vector<BoltPatternConfig> configs;
  std::vector<PatternScan> scans;
  for (const Rule& r : rules) {
    configs.push_back(r.config);
    scans.push_back(ScanPattern(r.pattern, [&](const std::string& dir) { return List(r, dir, watches); }));
  }
  return PlanDiscovery(configs, scans, configured, found_, rescan, hooks_.checks);
}

void BoltDiscovery::Install(DiscoveryPlan plan, Watches watches) {
  // The previous walk's watches go; the kernel keeps the directories this walk watched again.
  dir_of_watch_.clear();
  watches_ = std::move(watches);
  for (const auto& [dir, dw] : watches_) dir_of_watch_[dw.watch.id()] = &dir;
  for (size_t i = 0; i < plan.removed.size(); ++i) {
    LOG_NOTICE("bolt %s: no longer found by its rule (%s); its bytes still go to every peer before it is dropped",
               plan.removed[i].c_str(), i < plan.removed_why.size() ? plan.removed_why[i].c_str() : "?");
  }
  found_ = std::move(plan.found);
  for (const std::string& name : plan.added) {
    for (const FoundBolt& f : found_) {
      if (f.bolt.name != name) continue;
      LOG_NOTICE("bolt %s: found at %s by the rule for %s", name.c_str(), f.bolt.file.c_str(), f.bolt.pattern.c_str());
    }
  }
  std::map<std::string, std::string> skipped;
  for (auto& [path, why] : plan.skipped) {
    auto it = skipped_.find(path);
    if (it == skipped_.end() || it->second != why) {
      LOG_WARN("bolt pattern: %s: %s; it is not a bolt", path.c_str(), why.c_str());
    }
    skipped[path] = why;
  }
  skipped_ = std::move(skipped);
  std::set<std::string> waiting(plan.waiting.begin(), plan.waiting.end());
  for (const std::string& name : waiting) {
    if (waiting_.count(name) == 0) {
      LOG_NOTICE("bolt %s: its file is gone, but its process still runs or a death of it is not yet on the "
                 "coordinator's record; it stays until neither holds",
                 name.c_str());
    }
  }
  waiting_ = std::move(waiting);
}

void BoltDiscovery::Scan(bool rescan) {
  preview_watches_.clear();  // a Preview no Adopt followed
  if (rules_.empty()) return;
  ++(rescan ? stats_.scans_timer : stats_.scans_event);
  Watches watches;
  DiscoveryPlan plan = Walk(rules_, configured_, rescan, &watches);
  bool changed = !plan.added.empty() || !plan.removed.empty();
  Install(std::move(plan), std::move(watches));
  if (changed && hooks_.changed) hooks_.changed();
}

void BoltDiscovery::OnEvents(std::span<const InotifyWatcher::Event> events) {
  bool relevant = false;
  for (const InotifyWatcher::Event& ev : events) {
    if (ev.mask & IN_Q_OVERFLOW) {
      if (stats_.overflows++ == 0) LOG_WARN("bolt patterns: the inotify queue overflowed; scanning again");
      relevant = true;
      continue;
    }
    auto d = dir_of_watch_.find(ev.watch);
    auto it = d == dir_of_watch_.end() ? watches_.end() : watches_.find(*d->second);
    if (it == watches_.end()) continue;  // removed by the last walk, or a preview's
    if (ev.mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF)) {
      relevant = true;  // a watched directory went: the walk decides what that means
      if (ev.mask & IN_IGNORED) {
        dir_of_watch_.erase(d);
        watches_.erase(it);
      }
      continue;
    }
    if (ev.name.empty()) continue;
    for (const auto& [files, depth] : it->second.uses) {
      for (const Rule& r : rules_) {
        if (r.config.files != files || depth >= r.pattern.components.size()) continue;
        relevant = relevant || GlobMatch(r.pattern.components[depth], ev.name);
      }
    }
  }
  if (relevant) Scan(false);
}

nlohmann::json BoltDiscovery::StatusJson() const {
  using nlohmann::json;
  json rules = json::array();
  for (const Rule& r : rules_) {
    json bolts = json::array();
    for (const FoundBolt& f : found_) {
      if (f.bolt.pattern == r.config.files) bolts.push_back(f.bolt.name);
    }
    size_t dirs = 0;
    for (const auto& [dir, dw] : watches_) {
      for (const auto& use : dw.uses) dirs += use.first == r.config.files;
    }
    rules.push_back({{"files", r.config.files},
                     {"hook", r.config.hook},
                     {"root", r.pattern.root},
                     {"bolts", std::move(bolts)},
                     {"watched_dirs", dirs}});
  }
  json skipped = json::array();
  for (const auto& [path, why] : skipped_) skipped.push_back({{"path", path}, {"why", why}});
  return {{"rules", std::move(rules)},
          {"scans", {{"event", stats_.scans_event}, {"timer", stats_.scans_timer}}},
          {"overflows", stats_.overflows},
          {"skipped", std::move(skipped)},
          {"waiting", waiting_}};
}

}  // namespace tailsafe
