// BoltRoster (agent/bolt_roster.h): which bolts the agent runs. The [[bolt]] tables come first,
// then what the [[bolt_pattern]] rules find; a reload and a scan that finds or loses a bolt take
// one path (PlanReload), and a refused reload changes nothing. A removed bolt may not come back
// while it drains; a found bolt whose file is gone leaves only once nothing of it is in flight.
// Runs real BoltSources and discovery on a libuv loop over a temporary directory.
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "agent/bolt_roster.h"
#include "tests/support/cluster.h"
#include "tests/support/test_loop.h"

using namespace tailsafe;
using tailsafe::testing::ScopedTempDir;
using tailsafe::testing::TestLoop;

namespace {

struct Fixture {
  ScopedTempDir dir{"bolt_roster"};
  TestLoop loop;
  InotifyWatcher watcher{loop.get(), 0};
  Config config;
  std::map<std::string, HookUser> hook_users;
  std::unique_ptr<BoltSources> sources;
  std::unique_ptr<BoltRoster> roster;
  uint64_t acked = 0;  // what every peer has of every generation
  bool busy = false;
  int applied = 0;

  Fixture() {
    BOOST_REQUIRE(watcher.Start().ok());
    BOOST_REQUIRE(::mkdir((dir.path + "/spool").c_str(), 0755) == 0);
    Write(dir.path + "/t.log", "table bolt\n");
    Write(dir.path + "/spool/a.log", "found bolt\n");
  }
  ~Fixture() {
    if (roster) roster->Stop();
    if (sources) sources->Stop();
    roster.reset();
    sources.reset();
    watcher.Stop();
  }

  static void Write(const std::string& path, const std::string& bytes) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
  }
  std::string ConfigPath() const { return dir.path + "/agent.conf"; }
  // The agent's configuration file: [[bolt]] tables for `tables` (on DIR/NAME.log) and a rule
  // finding DIR/spool/*.log. `extra` goes into [agent].
  void WriteConfig(const std::vector<std::string>& tables, const std::string& extra = "") {
    std::string text = "[cluster]\nname = \"c\"\n[agent]\nid = \"h1\"\nlisten = \"127.0.0.1:7401\"\n";
    text += "data_dir = \"" + dir.path + "/data\"\nrescan_interval_ms = 10\n" + extra;
    for (const std::string& t : tables) {
      text += "[[bolt]]\nname = \"" + t + "\"\nfile = \"" + dir.path + "/" + t + ".log\"\n";
    }
    text += "[[bolt_pattern]]\nfiles = \"" + dir.path + "/spool/*.log\"\n";
    Write(ConfigPath(), text);
  }
  // Starts as the agent does: the roster completes config.bolts, then the sources start.
  void Start(const std::vector<std::string>& tables) {
    WriteConfig(tables);
    Result<Config> loaded = LoadConfig(ConfigPath());
    BOOST_REQUIRE_MESSAGE(loaded.ok(), loaded.status().message());
    config = std::move(loaded.value());
    BoltSource::Hooks hooks;
    hooks.changed = [](const Generation*) {};
    hooks.min_acked = [this](const Generation&) { return acked; };
    hooks.min_cursor = [](const Generation&) { return UINT64_MAX; };
    hooks.lost = [](const Generation&) {};
    hooks.request_commit = [] {};
    sources = std::make_unique<BoltSources>(loop.get(), &watcher, &config.agent, hooks, std::vector<OriginGenRow>{});
    BoltRoster::Env env;
    env.loop = loop.get();
    env.watcher = &watcher;
    env.config = &config;
    env.sources = sources.get();
    env.hook_users = &hook_users;
    env.busy = [this](const std::string&) { return busy; };
    env.applied = [this] { ++applied; };
    roster = std::make_unique<BoltRoster>(std::move(env));
    BOOST_REQUIRE(roster->Start().ok());
    BOOST_REQUIRE(sources->Start(config.bolts).ok());
  }
  std::vector<std::string> Running() const {
    std::vector<std::string> names;
    for (const BoltConfig& b : config.bolts) names.push_back(b.name);
    return names;
  }
  const BoltSource* Source(const std::string& name) const {
    for (const auto& s : sources->all()) {
      if (s->name() == name) return s.get();
    }
    return nullptr;
  }
  // Commits every row as durable until nothing is dirty, and closes what every peer has.
  void CommitAndRelease() {
    for (int i = 0; i < 3; ++i) {
      Committer::Batch batch;
      sources->Collect(&batch);
      for (auto& f : batch.on_durable) f();
      sources->ReleaseAcked();
    }
  }
  const FoundBolt* Found(const std::string& name) const {
    for (const FoundBolt& f : roster->discovery()->found()) {
      if (f.bolt.name == name) return &f;
    }
    return nullptr;
  }
};

BoltConfig Bolt(const std::string& name, const std::string& pattern = "") {
  BoltConfig b;
  b.name = name;
  b.file = "/spool/" + name + ".log";
  b.pattern = pattern;
  return b;
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(bolt_roster, Fixture)

BOOST_AUTO_TEST_CASE(with_found_is_the_tables_then_what_the_rules_find_now_in_that_order) {
  Config file;
  file.bolts = {Bolt("t1"), Bolt("old", "/spool/*.log"), Bolt("t2")};  // "old": found by an earlier scan
  Config running = BoltRoster::WithFound(file, {{Bolt("a", "/spool/*.log"), 0}, {Bolt("b", "/spool/*.log"), 1}});
  BOOST_REQUIRE_EQUAL(running.bolts.size(), 4u);
  BOOST_TEST(running.bolts[0].name == "t1");
  BOOST_TEST(running.bolts[1].name == "t2");
  BOOST_TEST(running.bolts[2].name == "a");
  BOOST_TEST(running.bolts[2].pattern == "/spool/*.log");
  BOOST_TEST(running.bolts[3].name == "b");
}

BOOST_AUTO_TEST_CASE(start_appends_what_the_rules_find_after_the_tables) {
  Start({"t"});
  BOOST_TEST(Running() == (std::vector<std::string>{"t", "a"}));
  BOOST_TEST(config.bolts[1].file == dir.path + "/spool/a.log");
  BOOST_TEST(config.bolts[1].pid_file == dir.path + "/spool/a.pid");  // beside it, by the naming rule
  BOOST_TEST(applied == 0);  // the agent starts the rest itself
  BOOST_TEST(Source("a") != nullptr);
}

BOOST_AUTO_TEST_CASE(a_reload_that_adds_a_table_starts_its_source_and_tells_the_agent) {
  Start({"t"});
  Write(dir.path + "/u.log", "another\n");
  WriteConfig({"t", "u"});
  BOOST_REQUIRE(roster->Reload(ConfigPath()).ok());
  BOOST_TEST(Running() == (std::vector<std::string>{"t", "u", "a"}));
  BOOST_TEST(applied == 1);
  BOOST_REQUIRE(Source("u") != nullptr);
  BOOST_TEST(!Source("u")->retiring());
  BOOST_TEST(Source("u")->generations().size() == 1u);
}

BOOST_AUTO_TEST_CASE(a_reload_with_nothing_changed_applies_nothing) {
  Start({"t"});
  BOOST_REQUIRE(roster->Reload(ConfigPath()).ok());
  BOOST_TEST(applied == 0);
  BOOST_TEST(Running() == (std::vector<std::string>{"t", "a"}));
}

BOOST_AUTO_TEST_CASE(a_refused_reload_changes_nothing_and_says_why) {
  Start({"t"});
  WriteConfig({}, "seal_after_ms = 5000\n");  // t removed, but a fixed key changed too
  Status s = roster->Reload(ConfigPath());
  BOOST_TEST(!s.ok());
  BOOST_TEST(s.message().find("seal_after_ms") != std::string::npos, s.message());
  BOOST_TEST(Running() == (std::vector<std::string>{"t", "a"}));
  BOOST_TEST(!Source("t")->retiring());
  BOOST_TEST(applied == 0);

  Status missing = roster->Reload(dir.path + "/no-such.conf");
  BOOST_TEST(!missing.ok());
  BOOST_TEST(missing.message().find("no-such.conf") != std::string::npos, missing.message());
  BOOST_TEST(applied == 0);
}

BOOST_AUTO_TEST_CASE(a_removed_bolt_may_come_back_only_once_it_drained_and_continues_its_numbering) {
  Start({"t"});
  WriteConfig({});
  BOOST_REQUIRE(roster->Reload(ConfigPath()).ok());
  BOOST_TEST(Running() == (std::vector<std::string>{"a"}));
  BOOST_TEST(applied == 1);
  BOOST_REQUIRE(Source("t") != nullptr);
  BOOST_TEST(Source("t")->retiring());  // its last bytes still go to the peers

  WriteConfig({"t"});
  Status s = roster->Reload(ConfigPath());
  BOOST_TEST(!s.ok());
  BOOST_TEST(s.message().find("bolt t was removed") != std::string::npos, s.message());
  BOOST_TEST(Running() == (std::vector<std::string>{"a"}));
  BOOST_TEST(applied == 1);

  acked = UINT64_MAX;  // every peer has it all
  CommitAndRelease();
  BOOST_REQUIRE(Source("t")->Drained());
  BOOST_REQUIRE(roster->Reload(ConfigPath()).ok());
  BOOST_TEST(Running() == (std::vector<std::string>{"t", "a"}));
  BOOST_TEST(applied == 2);
  const BoltSource* again = Source("t");
  BOOST_REQUIRE(again != nullptr);
  BOOST_TEST(!again->retiring());
  BOOST_REQUIRE_EQUAL(again->generations().size(), 1u);
  BOOST_TEST(again->generations().front()->gen == 2u);  // numbers never repeat
}

BOOST_AUTO_TEST_CASE(a_file_the_rule_finds_later_starts_a_bolt) {
  Start({"t"});
  Write(dir.path + "/spool/c.log", "new task\n");
  BOOST_REQUIRE(loop.RunUntil([&] { return Source("c") != nullptr; }));
  BOOST_TEST(Running() == (std::vector<std::string>{"t", "a", "c"}));
  BOOST_TEST(applied == 1);
}

BOOST_AUTO_TEST_CASE(a_found_bolt_whose_file_is_gone_stays_while_busy_then_drains) {
  Start({"t"});
  busy = true;  // its process runs, or its death awaits the coordinator's record
  BOOST_REQUIRE(::unlink((dir.path + "/spool/a.log").c_str()) == 0);
  BOOST_REQUIRE(loop.RunUntil([&] {
    const FoundBolt* f = Found("a");
    return f && f->absent_rescans >= kAbsentRescansToRemove + 2;
  }));
  BOOST_TEST(Running() == (std::vector<std::string>{"t", "a"}));
  BOOST_TEST(applied == 0);

  busy = false;
  BOOST_REQUIRE(loop.RunUntil([&] { return Running() == std::vector<std::string>{"t"}; }));
  BOOST_TEST(applied == 1);
  BOOST_REQUIRE(Source("a") != nullptr);
  BOOST_TEST(Source("a")->retiring());
}

BOOST_AUTO_TEST_CASE(a_live_process_in_the_pid_file_keeps_a_found_bolt_the_tracker_has_not_taken) {
  Write(dir.path + "/spool/a.pid", std::to_string(::getpid()) + "\n");  // this process: alive
  Start({"t"});
  BOOST_REQUIRE(::unlink((dir.path + "/spool/a.log").c_str()) == 0);
  BOOST_REQUIRE(loop.RunUntil([&] {
    const FoundBolt* f = Found("a");
    return f && f->absent_rescans >= kAbsentRescansToRemove + 2;
  }));
  BOOST_TEST(Running() == (std::vector<std::string>{"t", "a"}));

  BOOST_REQUIRE(::unlink((dir.path + "/spool/a.pid").c_str()) == 0);
  BOOST_REQUIRE(loop.RunUntil([&] { return Running() == std::vector<std::string>{"t"}; }));
}

BOOST_AUTO_TEST_SUITE_END()
