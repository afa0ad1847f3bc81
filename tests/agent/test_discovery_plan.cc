// PlanDiscovery: which bolts [[bolt_pattern]] rules give an agent after each scan: new ones,
// stable names, collisions, the removal rule, draining names, and rules changed by a reload
// (agent/discovery_plan.h).
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <set>
#include <string>
#include <vector>

#include "agent/discovery_plan.h"

using namespace tailsafe;

namespace {

const std::string kRoot = "/spool";
const std::string kFiles = "/spool/*/*/task-*.log";

BoltPatternConfig Rule(const std::string& files = kFiles, const std::string& hook = "replay") {
  BoltPatternConfig r;
  r.files = files;
  r.hook = hook;
  r.line = 12;
  return r;
}

// What a walk of `files` found, as ScanPattern would give it.
PatternScan Scan(const std::string& files, const std::vector<std::string>& paths) {
  Result<BoltPattern> p = ParseBoltPattern(files);
  BOOST_REQUIRE(p.ok());
  PatternScan s;
  for (const std::string& path : paths) {
    Result<PatternBolt> b = PatternBoltFor(*p, path);
    if (b) {
      s.bolts.push_back(*b);
    } else {
      s.skipped.emplace_back(path, b.status().message());
    }
  }
  return s;
}

BoltConfig Configured(const std::string& name, const std::string& file, const std::string& checkpoint = "") {
  BoltConfig b;
  b.name = name;
  b.file = file;
  b.checkpoint_file = checkpoint;
  return b;
}

using Strings = std::vector<std::string>;

// A scan of one rule, with checks that allow everything unless told.
struct World {
  std::vector<BoltPatternConfig> rules{Rule()};
  std::vector<BoltConfig> configured;
  std::vector<FoundBolt> found;
  std::set<std::string> busy, draining;
  std::vector<std::string> asked_remove;

  DiscoveryPlan StepScans(const std::vector<PatternScan>& scans, bool rescan) {
    DiscoveryChecks checks;
    checks.may_remove = [this](const std::string& n) {
      asked_remove.push_back(n);
      return busy.count(n) == 0;
    };
    checks.may_add = [this](const std::string& n) { return draining.count(n) == 0; };
    DiscoveryPlan plan = PlanDiscovery(rules, scans, configured, found, rescan, checks);
    found = plan.found;
    return plan;
  }
  DiscoveryPlan Step(const std::vector<std::string>& paths, bool rescan) { return StepScans({Scan(kFiles, paths)}, rescan); }
  std::vector<std::string> Names() const {
    std::vector<std::string> out;
    for (const FoundBolt& f : found) out.push_back(f.bolt.name);
    return out;
  }
};

const std::string kTask1 = "/spool/topo/comp/task-1.log";
const std::string kTask2 = "/spool/topo/comp/task-2.log";

}  // namespace

BOOST_AUTO_TEST_SUITE(discovery_plan)

BOOST_AUTO_TEST_CASE(a_matched_file_becomes_a_bolt_with_the_rules_hook_and_its_files) {
  World w;
  DiscoveryPlan plan = w.Step({kTask1}, false);
  BOOST_TEST(plan.added == Strings{"topo.comp.task-1"}, boost::test_tools::per_element());
  BOOST_TEST(plan.removed.empty());
  BOOST_REQUIRE_EQUAL(w.found.size(), 1u);
  const BoltConfig& b = w.found[0].bolt;
  BOOST_TEST(b.name == "topo.comp.task-1");
  BOOST_TEST(b.file == kTask1);
  BOOST_TEST(b.pid_file == "/spool/topo/comp/task-1.pid");
  BOOST_TEST(b.checkpoint_file == "/spool/topo/comp/task-1.checkpoint");
  BOOST_TEST(b.hook == "replay");
  BOOST_TEST(b.pattern == kFiles);
  BOOST_TEST(b.line == 12);
  BOOST_TEST(!b.match.has_value());
  // The same scan again changes nothing; a second file adds only itself, after the first.
  BOOST_TEST(w.Step({kTask1}, true).added.empty());
  plan = w.Step({kTask1, kTask2}, false);
  BOOST_TEST(plan.added == Strings{"topo.comp.task-2"}, boost::test_tools::per_element());
  BOOST_TEST(w.Names() == (Strings{"topo.comp.task-1", "topo.comp.task-2"}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(a_file_gone_at_two_timer_rescans_in_a_row_is_removed) {
  World w;
  w.Step({kTask1, kTask2}, false);
  // Scans after events never count an absence: a rotation empties the path for a moment.
  for (int i = 0; i < 5; ++i) BOOST_TEST(w.Step({kTask2}, false).removed.empty());
  BOOST_TEST(w.found[0].absent_rescans == 0u);
  // One timer rescan without it: still there.
  DiscoveryPlan plan = w.Step({kTask2}, true);
  BOOST_TEST(plan.removed.empty());
  BOOST_TEST(w.found[0].absent_rescans == 1u);
  BOOST_TEST(w.asked_remove.empty());
  // Seen again (by any scan): the count starts over.
  w.Step({kTask1, kTask2}, false);
  BOOST_TEST(w.found[0].absent_rescans == 0u);
  w.Step({kTask2}, true);
  w.Step({kTask2}, false);  // an event scan in between neither counts nor resets
  BOOST_TEST(w.found[0].absent_rescans == 1u);
  plan = w.Step({kTask2}, true);
  BOOST_TEST(plan.removed == Strings{"topo.comp.task-1"}, boost::test_tools::per_element());
  BOOST_REQUIRE_EQUAL(plan.removed_why.size(), 1u);
  BOOST_TEST(plan.removed_why[0].find("is gone") != std::string::npos);
  BOOST_TEST(w.asked_remove == Strings{"topo.comp.task-1"}, boost::test_tools::per_element());
  BOOST_TEST(w.Names() == Strings{"topo.comp.task-2"}, boost::test_tools::per_element());
  // Back later: a new bolt of the same name.
  BOOST_TEST(w.Step({kTask1, kTask2}, false).added == Strings{"topo.comp.task-1"}, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(a_bolt_that_may_not_go_yet_waits_and_goes_once_it_may) {
  World w;
  w.Step({kTask1}, false);
  w.busy.insert("topo.comp.task-1");  // its process runs, or its death is not on record yet
  w.Step(Strings{}, true);
  DiscoveryPlan plan = w.Step(Strings{}, true);
  BOOST_TEST(plan.removed.empty());
  BOOST_TEST(plan.waiting == Strings{"topo.comp.task-1"}, boost::test_tools::per_element());
  BOOST_TEST(w.Names() == Strings{"topo.comp.task-1"}, boost::test_tools::per_element());
  plan = w.Step(Strings{}, false);  // asked at every scan while it waits
  BOOST_TEST(plan.waiting == Strings{"topo.comp.task-1"}, boost::test_tools::per_element());
  w.busy.clear();
  plan = w.Step(Strings{}, false);
  BOOST_TEST(plan.removed == Strings{"topo.comp.task-1"}, boost::test_tools::per_element());
  BOOST_TEST(plan.waiting.empty());
  BOOST_TEST(w.found.empty());
}

BOOST_AUTO_TEST_CASE(a_name_still_draining_is_added_only_once_it_has_drained) {
  World w;
  w.draining.insert("topo.comp.task-1");
  DiscoveryPlan plan = w.Step({kTask1, kTask2}, false);
  BOOST_TEST(plan.added == Strings{"topo.comp.task-2"}, boost::test_tools::per_element());
  BOOST_TEST(plan.deferred == Strings{"topo.comp.task-1"}, boost::test_tools::per_element());
  BOOST_TEST(plan.skipped.empty());  // not a problem to warn about: it will be added
  w.draining.clear();
  BOOST_TEST(w.Step({kTask1, kTask2}, false).added == Strings{"topo.comp.task-1"}, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(names_and_files_held_elsewhere_are_skipped_with_the_reason) {
  World w;
  w.configured = {Configured("topo.comp.task-1", "/elsewhere/t1.log"), Configured("b", kTask2),
                  Configured("c", "/x/c.log", "/spool/topo/comp/task-3.log"),
                  Configured("d", "/spool/topo/comp/task-4.checkpoint")};
  DiscoveryPlan plan = w.Step({kTask1, kTask2, "/spool/topo/comp/task-3.log", "/spool/topo/comp/task-4.log",
                               "/spool/topo/comp/task-5.log"},
                              false);
  BOOST_TEST(plan.added == Strings{"topo.comp.task-5"}, boost::test_tools::per_element());
  BOOST_REQUIRE_EQUAL(plan.skipped.size(), 4u);
  BOOST_TEST(plan.skipped[0].first == kTask1);
  BOOST_TEST(plan.skipped[0].second.find("'topo.comp.task-1' is a [[bolt]] table's") != std::string::npos);
  BOOST_TEST(plan.skipped[1].first == kTask2);
  BOOST_TEST(plan.skipped[1].second.find("the file of bolt 'b'") != std::string::npos);
  BOOST_TEST(plan.skipped[2].second.find("the checkpoint_file of bolt 'c'") != std::string::npos);
  BOOST_TEST(plan.skipped[3].second.find("its checkpoint file /spool/topo/comp/task-4.checkpoint is the file of bolt 'd'") !=
             std::string::npos, plan.skipped[3].second);
}

BOOST_AUTO_TEST_CASE(a_name_two_paths_give_goes_to_the_one_found_first_and_stays_there) {
  // Two rules whose roots differ can give one name; so can "a.b/c" and "a/b.c" under one rule.
  World w;
  w.rules = {Rule("/spool/*/*/task-*.log"), Rule("/other/*/*/task-*.log", "")};
  DiscoveryPlan plan = w.StepScans({Scan(w.rules[0].files, {}), Scan(w.rules[1].files, {"/other/topo/comp/task-1.log"})}, false);
  BOOST_TEST(plan.added == Strings{"topo.comp.task-1"}, boost::test_tools::per_element());
  BOOST_TEST(w.found[0].bolt.hook == "");
  BOOST_TEST(w.found[0].bolt.pattern == "/other/*/*/task-*.log");
  // The first rule's file of that name appears later: the name stays where it is.
  plan = w.StepScans({Scan(w.rules[0].files, {kTask1}), Scan(w.rules[1].files, {"/other/topo/comp/task-1.log"})}, false);
  BOOST_TEST(plan.added.empty());
  BOOST_REQUIRE_EQUAL(plan.skipped.size(), 1u);
  BOOST_TEST(plan.skipped[0].first == kTask1);
  BOOST_TEST(plan.skipped[0].second.find("already the name of /other/topo/comp/task-1.log") != std::string::npos,
             plan.skipped[0].second);
  // Within one scan, the first rule, then the first path, wins.
  World v;
  v.rules = {Rule("/s/*/*.log")};
  plan = v.StepScans({Scan("/s/*/*.log", {"/s/a/b.c.log", "/s/a.b/c.log"})}, false);
  BOOST_TEST(plan.added == Strings{"a.b.c"}, boost::test_tools::per_element());
  BOOST_TEST(v.found[0].bolt.file == "/s/a/b.c.log");
  BOOST_REQUIRE_EQUAL(plan.skipped.size(), 1u);
  BOOST_TEST(plan.skipped[0].first == "/s/a.b/c.log");
}

BOOST_AUTO_TEST_CASE(a_file_two_rules_match_is_the_earlier_rules) {
  World w;
  w.rules = {Rule("/spool/*/*/task-*.log", "a"), Rule("/spool/topo/*/task-*.log", "b")};
  DiscoveryPlan plan = w.StepScans({Scan(w.rules[0].files, {kTask1}), Scan(w.rules[1].files, {kTask1})}, false);
  BOOST_TEST(plan.added == Strings{"topo.comp.task-1"}, boost::test_tools::per_element());
  BOOST_TEST(w.found[0].bolt.hook == "a");
  BOOST_REQUIRE_EQUAL(plan.skipped.size(), 1u);
  BOOST_TEST(plan.skipped[0].second.find("found by the rule for /spool/*/*/task-*.log") != std::string::npos,
             plan.skipped[0].second);
}

BOOST_AUTO_TEST_CASE(invalid_names_from_the_walk_are_passed_on_as_skipped) {
  World w;
  DiscoveryPlan plan = w.Step({"/spool/bad topo/comp/task-1.log", kTask2}, false);
  BOOST_TEST(plan.added == Strings{"topo.comp.task-2"}, boost::test_tools::per_element());
  BOOST_REQUIRE_EQUAL(plan.skipped.size(), 1u);
  BOOST_TEST(plan.skipped[0].first == "/spool/bad topo/comp/task-1.log");
}

BOOST_AUTO_TEST_CASE(a_reload_that_drops_or_rehooks_a_rule_or_adds_a_bolt_table) {
  World w;
  w.Step({kTask1, kTask2}, false);
  // The rule's hook changed: its bolts carry the new one, nothing is added or removed.
  w.rules = {Rule(kFiles, "other")};
  DiscoveryPlan plan = w.Step({kTask1, kTask2}, false);
  BOOST_TEST(plan.added.empty());
  BOOST_TEST(plan.removed.empty());
  BOOST_TEST(w.found[0].bolt.hook == "other");
  BOOST_TEST(w.found[1].bolt.hook == "other");
  // A [[bolt]] table now names task-2's file: the table wins, at once.
  w.configured = {Configured("mine", kTask2)};
  plan = w.Step({kTask1, kTask2}, false);
  BOOST_TEST(plan.removed == Strings{"topo.comp.task-2"}, boost::test_tools::per_element());
  BOOST_TEST(plan.removed_why[0].find("[[bolt]]") != std::string::npos);
  BOOST_TEST(w.Names() == Strings{"topo.comp.task-1"}, boost::test_tools::per_element());
  // The rule is gone: its bolts go at once, even one whose process runs.
  w.busy.insert("topo.comp.task-1");
  w.rules.clear();
  plan = w.StepScans({}, false);
  BOOST_TEST(plan.removed == Strings{"topo.comp.task-1"}, boost::test_tools::per_element());
  BOOST_TEST(plan.removed_why[0] == "its rule is gone");
  BOOST_TEST(w.asked_remove.empty());
  BOOST_TEST(w.found.empty());
}

BOOST_AUTO_TEST_SUITE_END()
