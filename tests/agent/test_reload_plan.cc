// PlanReload: what SIGHUP may change live, and what it refuses (agent/reload_plan.h).
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <string>

#include "agent/reload_plan.h"

using namespace tailsafe;

namespace {

const std::string kBase = R"([cluster]
name = "weblog"
coordinator = "127.0.0.1:7400"
key_file = "/etc/tailsafe/cluster.key"

[agent]
id = "host-a"
listen = "127.0.0.1:7401"
data_dir = "/var/lib/tailsafe/agent"
peers = ["host-b@127.0.0.2:7401"]

[hooks]
weblog = ["/usr/bin/weblog-analyze", "--db", "/var/lib/weblog/results.db"]
)";

const std::string kBolt1 = R"(
[[bolt]]
name = "bolt-1"
file = "/var/spool/weblog/bolt-1.log"
pid_file = "/run/weblog/bolt-1.pid"
hook = "weblog"
)";

const std::string kBolt2 = R"(
[[bolt]]
name = "bolt-2"
file = "/var/spool/weblog/bolt-2.log"
match = { exe = "/usr/bin/weblog-bolt", arg = "bolt-2" }
)";

const std::string kStormRule = R"(
[[bolt_pattern]]
files = "/var/spool/tailsafe-storm/*/*/task-*.log"
hook = "weblog"
)";

const std::string kOtherRule = R"(
[[bolt_pattern]]
files = "/var/spool/other/*.log"
)";

Config Parse(const std::string& text) {
  auto c = ParseConfig(text, "test.conf");
  BOOST_REQUIRE_MESSAGE(c.ok(), c.status().message());
  return std::move(c.value());
}

std::string Replace(std::string text, const std::string& from, const std::string& to) {
  size_t at = text.find(from);
  BOOST_REQUIRE_MESSAGE(at != std::string::npos, "'" + from + "' is not in the test text");
  return text.replace(at, from.size(), to);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(reload_plan)

BOOST_AUTO_TEST_CASE(the_same_file_changes_nothing) {
  auto plan = PlanReload(Parse(kBase + kBolt1 + kBolt2), Parse(kBase + kBolt1 + kBolt2));
  BOOST_REQUIRE(plan.ok());
  BOOST_TEST(plan->empty());
  BOOST_TEST(plan->Summary() == "nothing changed");
}

BOOST_AUTO_TEST_CASE(bolts_added_removed_and_changed_are_told_apart) {
  Config old_config = Parse(kBase + kBolt1 + kBolt2);
  std::string moved = Replace(kBolt1, "bolt-1.log", "bolt-1.new.log");
  std::string retracked = Replace(kBolt2, "arg = \"bolt-2\"", "arg = \"--bolt-2\"");
  const std::string bolt3 = "\n[[bolt]]\nname = \"bolt-3\"\nfile = \"/var/spool/weblog/bolt-3.log\"\n";
  auto plan = PlanReload(old_config, Parse(kBase + moved + bolt3));
  BOOST_REQUIRE(plan.ok());
  BOOST_TEST(plan->added == std::vector<std::string>{"bolt-3"});
  BOOST_TEST(plan->removed == std::vector<std::string>{"bolt-2"});
  BOOST_TEST(plan->moved == std::vector<std::string>{"bolt-1"});
  BOOST_TEST(plan->retracked.empty());

  plan = PlanReload(old_config, Parse(kBase + kBolt1 + retracked));
  BOOST_REQUIRE(plan.ok());
  BOOST_TEST(plan->retracked == std::vector<std::string>{"bolt-2"});
  BOOST_TEST(plan->Summary() == "new pid_file, match or checkpoint_file for: bolt-2");

  // A match rule's exe and arg are compared apart: "a b" + "" is not "a" + "b".
  std::string split = Replace(kBolt2, "exe = \"/usr/bin/weblog-bolt\", arg = \"bolt-2\"",
                              "exe = \"/usr/bin/weblog-bolt bolt-2\"");
  plan = PlanReload(old_config, Parse(kBase + kBolt1 + split));
  BOOST_REQUIRE(plan.ok());
  BOOST_TEST(plan->retracked == std::vector<std::string>{"bolt-2"});
}

BOOST_AUTO_TEST_CASE(hooks_and_hook_tunables_are_live) {
  Config old_config = Parse(kBase + kBolt1);
  auto plan = PlanReload(old_config, Parse(Replace(kBase, "results.db", "other.db") + kBolt1));
  BOOST_REQUIRE(plan.ok());
  BOOST_TEST(plan->hooks_changed);
  BOOST_TEST(!plan->hook_tunables_changed);

  plan = PlanReload(old_config, Parse(Replace(kBase, "data_dir", "hook_attempts = 5\ndata_dir") + kBolt1));
  BOOST_REQUIRE(plan.ok());
  BOOST_TEST(plan->hook_tunables_changed);

  std::string no_hook = Replace(kBolt1, "hook = \"weblog\"\n", "");
  plan = PlanReload(old_config, Parse(kBase + no_hook));
  BOOST_REQUIRE(plan.ok());
  BOOST_TEST(plan->rehooked == std::vector<std::string>{"bolt-1"});
  BOOST_TEST(plan->Summary() == "new hook for: bolt-1");
}

BOOST_AUTO_TEST_CASE(settings_fixed_for_the_process_are_refused_by_name) {
  Config old_config = Parse(kBase + kBolt1);
  struct Case {
    std::string from, to, message;
  };
  const Case cases[] = {
      {"name = \"weblog\"", "name = \"other\"", "cluster.name changed from 'weblog' to 'other'; that takes a restart"},
      {"listen = \"127.0.0.1:7401\"", "listen = \"127.0.0.1:7402\"",
       "agent.listen changed from 127.0.0.1:7401 to 127.0.0.1:7402; that takes a restart"},
      {"id = \"host-a\"", "id = \"host-z\"", "agent.id changed from 'host-a' to 'host-z'; that takes a restart"},
      {"127.0.0.2:7401\"]", "127.0.0.2:7401\", \"host-c@127.0.0.3:7401\"]",
       "agent.peers changed from [host-b@127.0.0.2:7401] to [host-b@127.0.0.2:7401, host-c@127.0.0.3:7401]; "
       "that takes a restart"},
      {"key_file = \"/etc/tailsafe/cluster.key\"", "key_file = \"/etc/tailsafe/new.key\"",
       "cluster.key_file changed from '/etc/tailsafe/cluster.key' to '/etc/tailsafe/new.key'; that takes a restart"},
      {"data_dir = \"/var/lib/tailsafe/agent\"", "data_dir = \"/var/lib/tailsafe/agent\"\nwindow_bytes = 65536",
       "agent.window_bytes changed from 8388608 to 65536; that takes a restart"},
      {"name = \"weblog\"", "name = \"weblog\"\nreplicas = 2", "cluster.replicas changed from 0 to 2; that takes a restart"},
  };
  for (const Case& c : cases) {
    auto plan = PlanReload(old_config, Parse(Replace(kBase, c.from, c.to) + kBolt1));
    BOOST_TEST_CONTEXT(c.to) {
      BOOST_REQUIRE(!plan.ok());
      BOOST_TEST(plan.status().message() == c.message);
    }
  }
  Config coordinator_only = Parse("[cluster]\nname = \"weblog\"\n[coordinator]\nlisten = \"127.0.0.1:7400\"\n"
                                  "state_dir = \"/var/lib/tailsafe/coordinator\"\n");
  auto plan = PlanReload(old_config, coordinator_only);
  BOOST_REQUIRE(!plan.ok());
  BOOST_TEST(plan.status().message() == "the new configuration has no [agent] table");
}

BOOST_AUTO_TEST_CASE(bolt_pattern_rules_added_removed_and_rehooked_are_live) {
  Config old_config = Parse(kBase + kStormRule);
  auto plan = PlanReload(old_config, Parse(kBase + kStormRule));
  BOOST_REQUIRE(plan.ok());
  BOOST_TEST(plan->empty());

  plan = PlanReload(old_config, Parse(kBase + kOtherRule));
  BOOST_REQUIRE(plan.ok());
  BOOST_TEST(plan->patterns_added == std::vector<std::string>{"/var/spool/other/*.log"});
  BOOST_TEST(plan->patterns_removed == std::vector<std::string>{"/var/spool/tailsafe-storm/*/*/task-*.log"});
  BOOST_TEST(plan->patterns_rehooked.empty());
  BOOST_TEST(!plan->empty());
  BOOST_TEST(plan->Summary() == "bolt patterns added: /var/spool/other/*.log; "
                                "bolt patterns removed: /var/spool/tailsafe-storm/*/*/task-*.log");

  plan = PlanReload(old_config, Parse(kBase + Replace(kStormRule, "hook = \"weblog\"\n", "")));
  BOOST_REQUIRE(plan.ok());
  BOOST_TEST(plan->patterns_rehooked == std::vector<std::string>{"/var/spool/tailsafe-storm/*/*/task-*.log"});
  BOOST_TEST(plan->patterns_added.empty());
  BOOST_TEST(plan->patterns_removed.empty());
  BOOST_TEST(plan->Summary() == "new hook for bolt patterns: /var/spool/tailsafe-storm/*/*/task-*.log");

  // A rule is known by its pattern: a changed pattern is one rule removed and one added.
  plan = PlanReload(old_config, Parse(kBase + Replace(kStormRule, "task-*.log", "worker-*.log")));
  BOOST_REQUIRE(plan.ok());
  BOOST_TEST(plan->patterns_added == std::vector<std::string>{"/var/spool/tailsafe-storm/*/*/worker-*.log"});
  BOOST_TEST(plan->patterns_removed == std::vector<std::string>{"/var/spool/tailsafe-storm/*/*/task-*.log"});
}

BOOST_AUTO_TEST_CASE(bolts_a_rule_found_are_planned_like_bolt_tables) {
  // The agent appends the bolts its rules find to both sides (Agent::WithFound).
  auto found = [](Config c, const std::string& name, const std::string& hook) {
    BoltConfig b;
    b.name = name;
    b.file = "/var/spool/tailsafe-storm/" + name + ".log";
    b.pid_file = "/var/spool/tailsafe-storm/" + name + ".pid";
    b.hook = hook;
    b.pattern = "/var/spool/tailsafe-storm/*/*/task-*.log";
    c.bolts.push_back(b);
    return c;
  };
  Config base = Parse(kBase + kBolt1 + kStormRule);
  Config old_config = found(found(base, "t.c.task-1", "weblog"), "t.c.task-2", "weblog");
  auto plan = PlanReload(old_config, found(found(base, "t.c.task-2", "weblog"), "t.c.task-3", "weblog"));
  BOOST_REQUIRE(plan.ok());
  BOOST_TEST(plan->added == std::vector<std::string>{"t.c.task-3"});
  BOOST_TEST(plan->removed == std::vector<std::string>{"t.c.task-1"});
  BOOST_TEST(plan->moved.empty());
  // A rule given another hook: the bolts it found carry it, and are rehooked.
  Config rehooked = Parse(kBase + kBolt1 + Replace(kStormRule, "hook = \"weblog\"\n", ""));
  plan = PlanReload(old_config, found(found(rehooked, "t.c.task-1", ""), "t.c.task-2", ""));
  BOOST_REQUIRE(plan.ok());
  BOOST_TEST(plan->rehooked == (std::vector<std::string>{"t.c.task-1", "t.c.task-2"}));
  BOOST_TEST(plan->patterns_rehooked.size() == 1u);
}

BOOST_AUTO_TEST_SUITE_END()
