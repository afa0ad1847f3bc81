// BoltPattern: the syntax of a [[bolt_pattern]]'s files, globbing, the naming rule, and the walk
// over a directory listing (common/bolt_pattern.h).
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <map>
#include <string>
#include <vector>

#include "common/bolt_pattern.h"

using namespace tailsafe;

namespace {

constexpr const char* kStorm = "/var/spool/tailsafe-storm/*/*/task-*.log";

BoltPattern MustParse(const std::string& files) {
  Result<BoltPattern> p = ParseBoltPattern(files);
  BOOST_REQUIRE_MESSAGE(p.ok(), files << ": " << p.status().message());
  return std::move(p.value());
}

std::string ErrorOf(const std::string& files) {
  Result<BoltPattern> p = ParseBoltPattern(files);
  BOOST_REQUIRE_MESSAGE(!p.ok(), "'" << files << "' should be refused");
  return p.status().message();
}

// A directory tree in memory: path -> entries; a path not listed cannot be read.
struct FakeTree {
  std::map<std::string, std::vector<DirEntry>> dirs;
  std::vector<std::string> listed;  // in the order the walk asked

  void Dir(const std::string& path, std::vector<DirEntry> entries) { dirs[path] = std::move(entries); }
  ListDir Lister() {
    return [this](const std::string& dir) -> std::optional<std::vector<DirEntry>> {
      listed.push_back(dir);
      auto it = dirs.find(dir);
      if (it == dirs.end()) return std::nullopt;
      return it->second;
    };
  }
};

DirEntry F(const std::string& name) { return {name, DirEntry::Type::kFile}; }
DirEntry D(const std::string& name) { return {name, DirEntry::Type::kDir}; }
DirEntry L(const std::string& name) { return {name, DirEntry::Type::kOther}; }

std::vector<std::string> Names(const PatternScan& scan) {
  std::vector<std::string> out;
  for (const PatternBolt& b : scan.bolts) out.push_back(b.name);
  return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(bolt_pattern)

BOOST_AUTO_TEST_CASE(the_root_is_the_directory_before_the_first_star) {
  BoltPattern p = MustParse(kStorm);
  BOOST_TEST(p.files == kStorm);
  BOOST_TEST(p.root == "/var/spool/tailsafe-storm");
  BOOST_TEST(p.components == (std::vector<std::string>{"*", "*", "task-*.log"}), boost::test_tools::per_element());
  BOOST_TEST(p.suffix == ".log");

  // Literal components after the first star stay components; the suffix is from the last '.'.
  BoltPattern q = MustParse("/spool/*/logs/task.backup.log");
  BOOST_TEST(q.root == "/spool");
  BOOST_TEST(q.components == (std::vector<std::string>{"*", "logs", "task.backup.log"}),
             boost::test_tools::per_element());
  BOOST_TEST(q.suffix == ".log");
  BOOST_TEST(MustParse("/*/x.log").root == "/");
  BOOST_TEST(MustParse("/a/b-*.tar.gz").suffix == ".gz");
}

BOOST_AUTO_TEST_CASE(bad_patterns_are_refused_with_the_reason) {
  BOOST_TEST(ErrorOf("spool/*/task-*.log").find("absolute") != std::string::npos);
  BOOST_TEST(ErrorOf("").find("absolute") != std::string::npos);
  BOOST_TEST(ErrorOf("/spool/*/").find("ends in '/'") != std::string::npos);
  BOOST_TEST(ErrorOf("/spool/task.log").find("no '*'") != std::string::npos);
  BOOST_TEST(ErrorOf("/spool/**/task-*.log").find("'**'") != std::string::npos);
  BOOST_TEST(ErrorOf("/spool/*/task-?.log").find("'?' is not allowed") != std::string::npos);
  BOOST_TEST(ErrorOf("/spool/[ab]/task-*.log").find("'[' is not allowed") != std::string::npos);
  BOOST_TEST(ErrorOf("/spool/*/task-\\*.log").find("'\\' is not allowed") != std::string::npos);
  BOOST_TEST(ErrorOf("/spool//*/task-*.log").find("empty path component") != std::string::npos);
  BOOST_TEST(ErrorOf("/spool/../*/task-*.log").find("'..'") != std::string::npos);
  BOOST_TEST(ErrorOf("/spool/./*/task-*.log").find("'.'") != std::string::npos);
  // The suffix: literal, after the last '*', starting with '.', with a name before it.
  for (const char* bad : {"/spool/*/task-*", "/spool/*/task.*", "/spool/*/task-*.", "/spool/*/task.l*g"}) {
    BOOST_TEST(ErrorOf(bad).find("literal suffix that starts with '.'") != std::string::npos, bad);
  }
  BOOST_TEST(ErrorOf("/spool/*/.log").find("a name before its suffix") != std::string::npos);
  // The naming rule would make the file its own pid or checkpoint file.
  BOOST_TEST(ErrorOf("/spool/*/task-*.pid").find("its own pid file") != std::string::npos);
  BOOST_TEST(ErrorOf("/spool/*/task-*.checkpoint").find("its own checkpoint file") != std::string::npos);
  BOOST_TEST(ErrorOf(std::string("/spool/*/a\0b.log", 16)).find("NUL") != std::string::npos);
  // The message shows the pattern, printable.
  BOOST_TEST(ErrorOf("/spool/\x01*/x").find("'/spool/?*/x'") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_star_matches_within_one_component_and_not_a_leading_dot) {
  BOOST_TEST(GlobMatch("task-*.log", "task-3.log"));
  BOOST_TEST(GlobMatch("task-*.log", "task-.log"));  // none at all, as in sh(1)
  BOOST_TEST(GlobMatch("task-*.log", "task-3.1.log"));
  BOOST_TEST(GlobMatch("*", "weblog"));
  BOOST_TEST(GlobMatch("*-*-*", "a-b-c"));
  BOOST_TEST(GlobMatch("a*b*c", "aXXbYYbZc"));
  BOOST_TEST(GlobMatch("logs", "logs"));
  // Files that merely share a prefix or a stem do not match.
  BOOST_TEST(!GlobMatch("task-*.log", "task-3.log.1"));
  BOOST_TEST(!GlobMatch("task-*.log", "task-3.pid"));
  BOOST_TEST(!GlobMatch("task-*.log", "task-3.checkpoint"));
  BOOST_TEST(!GlobMatch("task-*.log", "task-3.log.tmp"));
  BOOST_TEST(!GlobMatch("task-*.log", "xtask-3.log"));
  BOOST_TEST(!GlobMatch("logs", "logs2"));
  // Hidden names, "." and "..": never by a '*'; a leading '.' must be written.
  BOOST_TEST(!GlobMatch("*", ".hidden"));
  BOOST_TEST(!GlobMatch("*.log", ".task.log"));
  BOOST_TEST(GlobMatch(".*.log", ".task.log"));
  for (const char* dots : {".", ".."}) {
    BOOST_TEST(!GlobMatch("*", dots));
    BOOST_TEST(!GlobMatch(".*", dots));
  }
  BOOST_TEST(!GlobMatch("*", ""));
}

BOOST_AUTO_TEST_CASE(the_naming_rule_gives_name_pid_file_and_checkpoint_file) {
  BoltPattern p = MustParse(kStorm);
  Result<PatternBolt> b = PatternBoltFor(p, "/var/spool/tailsafe-storm/weblog/count/task-7.log");
  BOOST_REQUIRE_MESSAGE(b.ok(), b.status().message());
  BOOST_TEST(b->name == "weblog.count.task-7");
  BOOST_TEST(b->file == "/var/spool/tailsafe-storm/weblog/count/task-7.log");
  BOOST_TEST(b->pid_file == "/var/spool/tailsafe-storm/weblog/count/task-7.pid");
  BOOST_TEST(b->checkpoint_file == "/var/spool/tailsafe-storm/weblog/count/task-7.checkpoint");
  // Only the suffix goes; other dots stay in the name.
  Result<PatternBolt> dotted = PatternBoltFor(MustParse("/s/*.log"), "/s/a.b.log");
  BOOST_REQUIRE(dotted.ok());
  BOOST_TEST(dotted->name == "a.b");
  BOOST_TEST(dotted->pid_file == "/s/a.b.pid");
  // From the root "/", the first component is part of the name.
  Result<PatternBolt> top = PatternBoltFor(MustParse("/*/x-*.log"), "/srv/x-1.log");
  BOOST_REQUIRE(top.ok());
  BOOST_TEST(top->name == "srv.x-1");
}

BOOST_AUTO_TEST_CASE(a_path_giving_an_invalid_name_is_no_bolt) {
  BoltPattern p = MustParse(kStorm);
  Result<PatternBolt> spaced = PatternBoltFor(p, "/var/spool/tailsafe-storm/web log/count/task-7.log");
  BOOST_REQUIRE(!spaced.ok());
  BOOST_TEST(spaced.status().message().find("'web log.count.task-7' is invalid") != std::string::npos,
             spaced.status().message());
  std::string long_topology(130, 't');
  BOOST_TEST(!PatternBoltFor(p, "/var/spool/tailsafe-storm/" + long_topology + "/c/task-1.log").ok());
  // Paths the pattern does not match are refused too.
  BOOST_TEST(!PatternBoltFor(p, "/var/spool/other/a/b/task-1.log").ok());
  BOOST_TEST(!PatternBoltFor(p, "/var/spool/tailsafe-storm/a/task-1.log").ok());
  BOOST_TEST(!PatternBoltFor(p, "/var/spool/tailsafe-storm/a/b/task-1.log.1").ok());
}

BOOST_AUTO_TEST_CASE(a_scan_walks_only_what_the_pattern_matches) {
  BoltPattern p = MustParse(kStorm);
  FakeTree t;
  const std::string r = "/var/spool/tailsafe-storm";
  t.Dir(r, {D("weblog"), D("other"), D(".trash"), F("stray.log"), L("linked")});
  t.Dir(r + "/weblog", {D("count"), D("parse"), F("task-9.log")});
  t.Dir(r + "/weblog/count", {F("task-7.log"), F("task-7.pid"), F("task-7.checkpoint"), F("task-7.log.1"),
                              F("task-3.log"), D("task-4.log"), L("task-5.log"), F(".task-6.log")});
  t.Dir(r + "/weblog/parse", {F("task-1.log")});
  t.Dir(r + "/other", {});  // a component directory with nothing in it
  t.Dir(r + "/.trash", {D("c")});
  t.Dir(r + "/linked", {D("c")});
  t.Dir(r + "/.trash/c", {F("task-8.log")});
  t.Dir(r + "/linked/c", {F("task-8.log")});
  PatternScan scan = ScanPattern(p, t.Lister());
  BOOST_TEST(Names(scan) == (std::vector<std::string>{"weblog.count.task-3", "weblog.count.task-7", "weblog.parse.task-1"}),
             boost::test_tools::per_element());
  BOOST_TEST(scan.skipped.empty());
  BOOST_TEST(scan.bolts[1].pid_file == r + "/weblog/count/task-7.pid");
  // Every directory read, root first; hidden and symlinked directories are never read.
  BOOST_TEST(scan.dirs == (std::vector<std::string>{r, r + "/other", r + "/weblog", r + "/weblog/count", r + "/weblog/parse"}),
             boost::test_tools::per_element());
  BOOST_TEST(t.listed == scan.dirs, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(a_scan_says_which_matches_are_not_bolts_and_survives_missing_directories) {
  BoltPattern p = MustParse("/spool/*/task-*.log");
  FakeTree t;
  t.Dir("/spool", {D("good"), D("bad name"), D("gone")});
  t.Dir("/spool/good", {F("task-1.log")});
  t.Dir("/spool/bad name", {F("task-1.log")});
  // "/spool/gone" is listed by its parent but cannot be read (removed meanwhile).
  PatternScan scan = ScanPattern(p, t.Lister());
  BOOST_TEST(Names(scan) == (std::vector<std::string>{"good.task-1"}), boost::test_tools::per_element());
  BOOST_REQUIRE_EQUAL(scan.skipped.size(), 1u);
  BOOST_TEST(scan.skipped[0].first == "/spool/bad name/task-1.log");
  BOOST_TEST(scan.skipped[0].second.find("invalid") != std::string::npos, scan.skipped[0].second);
  BOOST_TEST(scan.dirs == (std::vector<std::string>{"/spool", "/spool/bad name", "/spool/good"}),
             boost::test_tools::per_element());
  // No root yet: nothing found, nothing read beyond it.
  FakeTree empty;
  PatternScan none = ScanPattern(p, empty.Lister());
  BOOST_TEST(none.bolts.empty());
  BOOST_TEST(none.dirs.empty());
  BOOST_TEST(empty.listed == (std::vector<std::string>{"/spool"}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(a_scan_of_a_huge_tree_stops_and_says_so) {
  BoltPattern p = MustParse("/spool/*/*/x-*.log");
  FakeTree t;
  std::vector<DirEntry> tops, subs;
  for (int i = 0; i < 200; ++i) tops.push_back(D("t" + std::to_string(i)));
  for (int i = 0; i < 100; ++i) subs.push_back(D("c" + std::to_string(i)));
  t.Dir("/spool", tops);
  for (int i = 0; i < 200; ++i) t.Dir("/spool/t" + std::to_string(i), subs);
  PatternScan scan = ScanPattern(p, t.Lister());
  BOOST_TEST(t.listed.size() == 10000u);
  BOOST_REQUIRE(!scan.skipped.empty());
  BOOST_TEST(scan.skipped.back().second.find("10000 directories") != std::string::npos, scan.skipped.back().second);
}

BOOST_AUTO_TEST_SUITE_END()
