#include "agent/discovery_plan.h"

#include <filesystem>
#include <map>
#include <set>

namespace tailsafe {
namespace {

// Paths the configuration wrote may be spelt loosely ("/a//b"); a pattern's never are.
std::string Normal(const std::string& path) { return std::filesystem::path(path).lexically_normal().string(); }

}  // namespace

DiscoveryPlan PlanDiscovery(const std::vector<BoltPatternConfig>& rules, const std::vector<PatternScan>& scans,
                            const std::vector<BoltConfig>& configured, const std::vector<FoundBolt>& before,
                            bool rescan, const DiscoveryChecks& checks) {
  DiscoveryPlan plan;
  std::map<std::string, const BoltPatternConfig*> rule_of;  // files -> rule
  for (const BoltPatternConfig& r : rules) rule_of.emplace(r.files, &r);
  // What the [[bolt]] tables hold: names, and files (their own and their checkpoints).
  std::map<std::string, std::string> configured_names;  // name -> its file
  std::map<std::string, std::string> configured_files;  // normal path -> "the file of bolt 'x'"
  for (const BoltConfig& b : configured) {
    configured_names.emplace(b.name, b.file);
    configured_files.emplace(Normal(b.file), "the file of bolt '" + b.name + "'");
    if (!b.checkpoint_file.empty()) {
      configured_files.emplace(Normal(b.checkpoint_file), "the checkpoint_file of bolt '" + b.name + "'");
    }
  }
  // Where each rule's walk found each file.
  std::set<std::pair<std::string, std::string>> seen;  // (rule files, file)
  for (size_t i = 0; i < rules.size() && i < scans.size(); ++i) {
    for (const PatternBolt& b : scans[i].bolts) seen.emplace(rules[i].files, b.file);
    for (const auto& skip : scans[i].skipped) plan.skipped.push_back(skip);
  }

  std::map<std::string, std::string> names;  // name -> file, of every bolt found from now on
  std::map<std::string, std::pair<std::string, std::string>> files;  // file -> (name, rule files)
  for (const FoundBolt& f : before) {
    auto rule = rule_of.find(f.bolt.pattern);
    bool taken = configured_names.count(f.bolt.name) != 0 || configured_files.count(f.bolt.file) != 0 ||
                 configured_files.count(f.bolt.checkpoint_file) != 0;
    if (rule == rule_of.end() || taken) {
      plan.removed.push_back(f.bolt.name);
      plan.removed_why.push_back(taken ? "a [[bolt]] table names it now" : "its rule is gone");
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
          plan.removed.push_back(f.bolt.name);
          plan.removed_why.push_back("its file " + f.bolt.file + " is gone");
          continue;
        }
        plan.waiting.push_back(f.bolt.name);
      }
    }
    names.emplace(kept.bolt.name, kept.bolt.file);
    files.emplace(kept.bolt.file, std::pair{kept.bolt.name, kept.bolt.pattern});
    plan.found.push_back(std::move(kept));
  }

  for (size_t i = 0; i < rules.size() && i < scans.size(); ++i) {
    const BoltPatternConfig& rule = rules[i];
    for (const PatternBolt& b : scans[i].bolts) {
      if (auto f = files.find(b.file); f != files.end()) {
        if (f->second.second != rule.files) {
          plan.skipped.emplace_back(b.file, "already the file of bolt '" + f->second.first + "', found by the rule for " +
                                                f->second.second);
        }
        continue;
      }
      if (auto c = configured_files.find(b.file); c != configured_files.end()) {
        plan.skipped.emplace_back(b.file, "is " + c->second);
        continue;
      }
      if (auto c = configured_files.find(b.checkpoint_file); c != configured_files.end()) {
        plan.skipped.emplace_back(b.file, "its checkpoint file " + b.checkpoint_file + " is " + c->second);
        continue;
      }
      if (configured_names.count(b.name) != 0) {
        plan.skipped.emplace_back(b.file, "its bolt name '" + b.name + "' is a [[bolt]] table's");
        continue;
      }
      if (auto n = names.find(b.name); n != names.end()) {
        plan.skipped.emplace_back(b.file, "its bolt name '" + b.name + "' is already the name of " + n->second);
        continue;
      }
      if (checks.may_add && !checks.may_add(b.name)) {
        plan.deferred.push_back(b.name);
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
      names.emplace(f.bolt.name, f.bolt.file);
      files.emplace(f.bolt.file, std::pair{f.bolt.name, f.bolt.pattern});
      plan.added.push_back(f.bolt.name);
      plan.found.push_back(std::move(f));
    }
  }
  return plan;
}

}  // namespace tailsafe
