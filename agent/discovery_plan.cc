#include "agent/discovery_plan.h"

#include <filesystem>
#include <map>
#include <set>

namespace tailsafe {
namespace {

// Paths the configuration wrote may be spelt loosely ("/a//b"); a pattern's never are.
std::string Normal(const std::string& path) { return std::filesystem::path(path).lexically_normal().string(); }

// What the [[bolt]] tables hold: names, and files (their own and their checkpoints).
struct Configured {
  std::map<std::string, std::string> names;  // name -> its file
  std::map<std::string, std::string> files;  // normal path -> "the file of bolt 'x'"
  explicit Configured(const std::vector<BoltConfig>& bolts) {
    for (const BoltConfig& b : bolts) {
      names.emplace(b.name, b.file);
      files.emplace(Normal(b.file), "the file of bolt '" + b.name + "'");
      if (!b.checkpoint_file.empty()) {
        files.emplace(Normal(b.checkpoint_file), "the checkpoint_file of bolt '" + b.name + "'");
      }
    }
  }
  bool Takes(const BoltConfig& b) const {
    return names.count(b.name) != 0 || files.count(b.file) != 0 || files.count(b.checkpoint_file) != 0;
  }
};

// The bolts found from now on, by name and by file, as the plan grows.
struct Found {
  std::map<std::string, std::string> names;                          // name -> file
  std::map<std::string, std::pair<std::string, std::string>> files;  // file -> (name, rule files)
  void Add(const BoltConfig& b) {
    names.emplace(b.name, b.file);
    files.emplace(b.file, std::pair{b.name, b.pattern});
  }
};

// Why a new match `b` of `rule` is not a bolt, or "" if it is one (or "-" to skip it silently:
// the same rule found it before).
std::string SkipReason(const PatternBolt& b, const BoltPatternConfig& rule, const Configured& configured,
                       const Found& found) {
  if (auto f = found.files.find(b.file); f != found.files.end()) {
    if (f->second.second == rule.files) return "-";
    return "already the file of bolt '" + f->second.first + "', found by the rule for " + f->second.second;
  }
  if (auto c = configured.files.find(b.file); c != configured.files.end()) return "is " + c->second;
  if (auto c = configured.files.find(b.checkpoint_file); c != configured.files.end()) {
    return "its checkpoint file " + b.checkpoint_file + " is " + c->second;
  }
  if (configured.names.count(b.name) != 0) return "its bolt name '" + b.name + "' is a [[bolt]] table's";
  if (auto n = found.names.find(b.name); n != found.names.end()) {
    return "its bolt name '" + b.name + "' is already the name of " + n->second;
  }
  return "";
}

// The bolts found before: kept (absences counted), or removed by the removal rule.
void KeepFoundBefore(const std::vector<BoltPatternConfig>& rules,
                     const std::set<std::pair<std::string, std::string>>& seen, const Configured& configured, const std::vector<FoundBolt>& before, bool rescan,
                     const DiscoveryChecks& checks, Found* found, DiscoveryPlan* plan) {
  std::map<std::string, const BoltPatternConfig*> rule_of;  // files -> rule
  for (const BoltPatternConfig& r : rules) rule_of.emplace(r.files, &r);
  for (const FoundBolt& f : before) {
    auto rule = rule_of.find(f.bolt.pattern);
    bool taken = configured.Takes(f.bolt);
    if (rule == rule_of.end() || taken) {
      plan->removed.push_back(f.bolt.name);
      plan->removed_why.push_back(taken ? "a [[bolt]] table names it now" : "its rule is gone");
      continue;
    }
    FoundBolt kept = f;
    kept.bolt.hook = rule->second->hook;
    if (seen.count({f.bolt.pattern, f.bolt.file}) != 0) {
      kept.absent_rescans = 0;
    } else {
      if (rescan) ++kept.absent_rescans;
      if (kept.absent_rescans >= kAbsentRescansToRemove) {
        if (!checks.may_remove || checks.may_remove(f.bolt.name)) {
          plan->removed.push_back(f.bolt.name);
          plan->removed_why.push_back("its file " + f.bolt.file + " is gone");
          continue;
        }
        plan->waiting.push_back(f.bolt.name);
      }
    }
    found->Add(kept.bolt);
    plan->found.push_back(std::move(kept));
  }
}

// New matches of `rule` become bolts, unless skipped or deferred.
void AddNewMatches(const BoltPatternConfig& rule, const PatternScan& scan, const Configured& configured,
                   const DiscoveryChecks& checks, Found* found, DiscoveryPlan* plan) {
  for (const PatternBolt& b : scan.bolts) {
    if (std::string why = SkipReason(b, rule, configured, *found); !why.empty()) {
      if (why != "-") plan->skipped.emplace_back(b.file, why);
      continue;
    }
    if (checks.may_add && !checks.may_add(b.name)) {
      plan->deferred.push_back(b.name);
      continue;
    }
    FoundBolt f;
    f.bolt.name = b.name;
    f.bolt.file = b.file;
    f.bolt.pid_file = b.pid_file;
    f.bolt.checkpoint_file = b.checkpoint_file;
    f.bolt.hook = rule.hook;
    f.bolt.line = rule.line;
    f.bolt.pattern = rule.files;
    found->Add(f.bolt);
    plan->added.push_back(f.bolt.name);
    plan->found.push_back(std::move(f));
  }
}

}  // namespace

DiscoveryPlan PlanDiscovery(const std::vector<BoltPatternConfig>& rules, const std::vector<PatternScan>& scans,
                            const std::vector<BoltConfig>& configured, const std::vector<FoundBolt>& before,
                            bool rescan, const DiscoveryChecks& checks) {
  DiscoveryPlan plan;
  Configured tables(configured);
  // Where each rule's walk found each file.
  std::set<std::pair<std::string, std::string>> seen;  // (rule files, file)
  for (size_t i = 0; i < rules.size() && i < scans.size(); ++i) {
    for (const PatternBolt& b : scans[i].bolts) seen.emplace(rules[i].files, b.file);
    for (const auto& skip : scans[i].skipped) plan.skipped.push_back(skip);
  }
  Found found;
  KeepFoundBefore(rules, seen, tables, before, rescan, checks, &found, &plan);
  for (size_t i = 0; i < rules.size() && i < scans.size(); ++i) {
    AddNewMatches(rules[i], scans[i], tables, checks, &found, &plan);
  }
  return plan;
}

}  // namespace tailsafe
