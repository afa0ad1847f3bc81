// tailsafe on a real Apache Storm cluster (issue 22): Storm's released jars (build/storm-home),
// Debian's ZooKeeper, Nimbus and two supervisors as two "hosts" (tests/support/storm_cluster.h),
// the weblog topology of examples/storm-weblog submitted through StormSubmitter. Skipped, with
// the reason, where the machine cannot run one (no root for its network namespace, no Java, no
// `make storm-home`).
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <dirent.h>
#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "common/checkpoint.h"
#include "tests/support/cluster.h"
#include "tests/support/postgres_server.h"
#include "tests/support/storm_cluster.h"
#include "tests/support/weblog_deployment.h"

using namespace tailsafe;
using namespace tailsafe::testing;

namespace {

boost::test_tools::assertion_result CanRunStorm(boost::unit_test::test_unit_id) {
  std::string missing = StormMissing();
  boost::test_tools::assertion_result r(missing.empty());
  if (!r) r.message() << "skipped: " << missing;
  return r;
}

// The cases that run none of tailsafe's code (Storm and the weblog bolt alone) skip in the
// sanitizer pass: it exists to check tailsafe's code, and the release pass runs them.
boost::test_tools::assertion_result RunsOutsideSanitizerPass(boost::unit_test::test_unit_id) {
#if defined(__SANITIZE_ADDRESS__)
  boost::test_tools::assertion_result r(false);
  r.message() << "skipped under AddressSanitizer: no tailsafe agent runs in this case (the release pass runs it)";
  return r;
#else
  return true;
#endif
}

std::string Source(const std::string& path) {
  const char* s = ::getenv("TAILSAFE_SOURCE_DIR");
  return std::string(s ? s : ".") + "/" + path;
}

const char* const kTopologyMain = "io.tailsafe.examples.weblog.WeblogTopology";

std::string WeblogJar() { return Source("examples/storm-weblog/target/storm-weblog-0.1.0-topology.jar"); }

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// The files under `dir` (recursively) whose name starts with `prefix`.
void FindFiles(const std::string& dir, const std::string& prefix, std::vector<std::string>* out) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) return;
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    std::string path = dir + "/" + name;
    if (e->d_type == DT_DIR) {
      FindFiles(path, prefix, out);
    } else if (name.rfind(prefix, 0) == 0) {
      out->push_back(path);
    }
  }
  ::closedir(d);
}

// The weblog topology under tailsafe on a real Storm cluster: two agents and a coordinator,
// each agent watching one supervisor's spool through a [[bolt_pattern]] rule, with
// weblog-analyze (on PostgreSQL) as the hook; the results database on PostgreSQL.
struct StormWeblog {
  ClusterOptions Options() {
    ClusterOptions o = RecoveryCluster(2);
    o.bolts_per_agent = 0;
    o.pid_files = false;
    o.checkpoint_files = false;
    o.hooks = false;  // this test's own [hooks] table, below
    o.hook_retry_ms = 200;
    o.host_timeout_ms = 2000;
    return o;
  }

  explicit StormWeblog(const std::string& name) : c(name, Options()) {}

  // Everything up to a running topology; false (with the reason in `why`) if a part failed.
  // Without `agents` the tasks still write their backup files, but nothing replicates or
  // recovers them: the run without tailsafe, whose losses the files then show.
  bool Start(const std::string& requests, std::string* why, bool agents = true, bool replay_hook = false) {
    std::string pg_why;
    PostgresServer* pg = SharedPostgres(&pg_why);
    if (!pg) return *why = "PostgreSQL: " + pg_why, false;
    auto uri = pg->NewDatabase("storm");
    if (!uri) return *why = uri.status().message(), false;
    db = *uri;
    input = c.root() + "/access.log";
    CommandResult gen = RunCommand(AbsBin("weblog-gen") + " -n " + requests + " --minutes 60 --malformed-every 20000 -o " + input);
    if (gen.code != 0) return *why = gen.out, false;
    for (int i = 0; i < c.size(); ++i) {
      spools.push_back(c.root() + "/" + c.AgentId(i) + "/spool/storm");
      std::ofstream conf(c.ConfigPath(i), std::ios::app);
      if (replay_hook) {
        // The task's own bolt, rebuilt from the file's header, on the tail.
        conf << "\n[hooks]\nweblog = [\"" << Source("storm/bin/tailsafe-storm-replay") << "\", \"--classpath\", \"" << WeblogJar() << ":"
             << Source("build/storm-home/lib-worker/*") << "\"]\n";
      } else {
        conf << "\n[hooks]\nweblog = [\"" << AbsBin("weblog-analyze") << "\", \"hook\", \"--db\", \"" << db << "\"]\n";
      }
      conf << "\n[[bolt_pattern]]\nfiles = \"" << spools.back() << "/*/*/task-*.log\"\nhook = \"weblog\"\n";
    }
    if (agents) {
      if (Status s = c.StartCoordinator(); !s) return *why = s.message(), false;
      if (Status s = c.StartAll(); !s) return *why = s.message(), false;
    }
    auto started = StormCluster::Start(c.root().substr(c.root().rfind('/') + 1), {2, 2, spools});
    if (!started) return *why = started.status().message(), false;
    storm = std::move(started.value());
    return true;
  }

  Status Submit(const std::string& topology, bool tailsafe, const std::string& database) {
    std::vector<std::string> args = {"--name", topology, "--log", input, "--db", database, "--bolt", AbsBin("weblog-storm-bolt"),
                                     "--position", c.root() + "/" + topology + ".position",
                                     // Each task counts at most 6,000 requests a second and the spout sends 20,000,
                                     // so the busiest tasks build backlogs for a kill to leave behind.
                                     "--max-rate", "6000", "--spout-rate", "20000"};
    if (!tailsafe) args.push_back("--no-tailsafe");
    return storm->Submit(WeblogJar(), kTopologyMain, args);
  }

  // Where the spout is in the input log: its position file (0 before the first batch).
  uint64_t SpoutPosition(const std::string& topology) {
    std::string text = ReadFile(c.root() + "/" + topology + ".position");
    return text.empty() ? 0 : std::stoull(text);
  }

  // Every task file a task writes now (task-N.log) and every one an earlier process left.
  std::vector<std::string> TaskFiles() {
    std::vector<std::string> files;
    for (const std::string& s : spools) FindFiles(s, "task-", &files);
    std::vector<std::string> logs;
    for (const std::string& f : files) {
      if (f.find(".log") != std::string::npos) logs.push_back(f);
    }
    return logs;
  }

  // The task file of `component` task `task` on supervisor `s`, and its unprocessed bytes.
  std::string TaskFile(int s, const std::string& topology, int task) const {
    return spools[static_cast<size_t>(s)] + "/" + topology + "/count/task-" + std::to_string(task);
  }
  uint64_t Backlog(const std::string& stem) {
    auto cp = ReadCheckpointFile(stem + ".checkpoint");
    uint64_t size = FileSize(stem + ".log");
    return cp.ok() && *cp < size ? size - *cp : 0;
  }

  // True once the file each task of `topology` writes now, where it runs now, is processed to
  // its end. (Files that processes which died or moved away left are tailsafe's.)
  bool Drained(const std::string& topology = "weblog") {
    auto placement = storm->Placement(topology);
    if (!placement.ok() || placement->empty()) return false;
    for (const auto& t : *placement) {
      if (t.component != "count") continue;
      int s = storm->SupervisorOf(t.host);
      if (s < 0) return false;
      std::string stem = TaskFile(s, topology, t.task);
      auto cp = ReadCheckpointFile(stem + ".checkpoint");
      if (!cp.ok() || *cp != FileSize(stem + ".log")) return false;
    }
    return true;
  }

  // Every record that reached a backup file, as one log (header lines left out).
  std::string Delivered(uint64_t* records) {
    std::string out;
    *records = 0;
    for (const std::string& f : TaskFiles()) {
      std::istringstream lines(ReadFile(f));
      std::string line;
      while (std::getline(lines, line)) {
        if (line.rfind("#tailsafe-storm ", 0) == 0) continue;
        out += line + "\n";
        ++*records;
      }
    }
    return out;
  }

  // The pid the task's pid file names (a ShellBolt's subprocess), and its parent (the worker).
  pid_t TaskPid(const std::string& stem) {
    std::string text = ReadFile(stem + ".pid");
    return text.empty() ? -1 : static_cast<pid_t>(std::stol(text));
  }
  static pid_t ParentOf(pid_t pid) {
    std::string stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
    size_t close = stat.rfind(')');
    if (close == std::string::npos) return -1;
    std::istringstream rest(stat.substr(close + 2));
    std::string state;
    pid_t ppid = -1;
    rest >> state >> ppid;
    return ppid;
  }

  // A count task on supervisor `s` with at least `min_backlog` unprocessed bytes; its file stem.
  std::string TaskWithBacklog(const std::string& topology, int s, uint64_t min_backlog, int* task) {
    auto placement = storm->Placement(topology);
    if (!placement) return "";
    std::string best;
    uint64_t most = 0;
    for (const auto& t : *placement) {
      if (t.component != "count" || storm->SupervisorOf(t.host) != s) continue;
      std::string stem = TaskFile(s, topology, t.task);
      uint64_t b = Backlog(stem);
      if (b >= min_backlog && b > most) {
        most = b;
        best = stem;
        *task = t.task;
      }
    }
    return best;
  }

  // What `weblog-analyze compare` says of the database against `log`.
  CommandResult Compare(const std::string& database, const std::string& log) {
    return RunCommand(AbsBin("weblog-analyze") + " compare --db '" + database + "' " + log + " 2>&1");
  }

  // Waits (2 minutes at most) until every recovery is recovered, and there is one if `need_one`;
  // how many, or -1.
  int RecoveriesEnded(bool need_one = true) {
    int n = -1;
    bool ended = WaitUntil([&] {
      auto docs = c.CoordinatorDocs("/recoveries/");
      if (!docs.ok() || (need_one && docs->empty())) return false;
      for (const auto& [path, d] : *docs) {
        if (d.value("state", "") != "recovered") return false;
      }
      n = static_cast<int>(docs->size());
      return true;
    }, 120, 500);
    return ended ? n : -1;
  }

  std::string Diagnostics() { return c.CoordinatorLogTail() + c.LogTail(0) + c.LogTail(1) + (storm ? storm->LogTail() : ""); }

  TestCluster c;
  std::unique_ptr<StormCluster> storm;
  std::vector<std::string> spools;
  std::string db, input;
};

// Runs the weblog topology under tailsafe, kills what `kill` picks on supervisor 0 once a task
// there has a backlog, and checks that the results equal every request that reached a backup
// file, each counted once; requests Storm dropped in transit are counted and reported apart.
void KilledMidStream(const std::string& name, bool kill_subprocess, bool tailsafe = true, bool replay_hook = false) {
  StormWeblog w(name);
  std::string why;
  BOOST_REQUIRE_MESSAGE(w.Start("200000", &why, tailsafe, replay_hook), why);
  BOOST_REQUIRE(w.Submit("weblog", true, w.db).ok());
  int task = -1;
  std::string stem;
  BOOST_REQUIRE_MESSAGE(WaitUntil([&] { return !(stem = w.TaskWithBacklog("weblog", 0, 200000, &task)).empty(); }, 120, 500),
                        "no task on supervisor 1 built a backlog\n" << w.Diagnostics());
  pid_t bolt = w.TaskPid(stem);
  pid_t worker = StormWeblog::ParentOf(bolt);
  BOOST_REQUIRE(bolt > 0 && worker > 1);
  uint64_t backlog = w.Backlog(stem);
  BOOST_TEST_MESSAGE(name << ": kill -9 of " << (kill_subprocess ? "the ShellBolt subprocess " : "the worker JVM ")
                          << (kill_subprocess ? bolt : worker) << " of task " << task << " with " << backlog
                          << " unprocessed bytes");
  ::kill(kill_subprocess ? bolt : worker, SIGKILL);
  // Storm starts the task again (its supervisor relaunches the worker): the new process renamed
  // the file the dead one left and writes a new one, under a new pid.
  BOOST_REQUIRE_MESSAGE(WaitUntil([&] {
                          std::vector<std::string> renamed;
                          FindFiles(stem.substr(0, stem.rfind('/')), stem.substr(stem.rfind('/') + 1) + ".log.", &renamed);
                          pid_t now = w.TaskPid(stem);
                          return !renamed.empty() && now > 0 && now != bolt;
                        }, 120, 250),
                        "Storm never started task " << task << " again on its host\n" << w.Diagnostics());

  uint64_t input_size = FileSize(w.input);
  BOOST_REQUIRE_MESSAGE(WaitUntil([&] { return w.SpoutPosition("weblog") == input_size; }, 240, 500),
                        "the spout never read the whole log\n" << w.Diagnostics());
  BOOST_REQUIRE_MESSAGE(WaitUntil([&] { return w.Drained(); }, 240, 500), "the tasks never caught up\n" << w.Diagnostics());
  if (!tailsafe) {
    // Every task file but the dead process's is processed to its end; its tail is lost.
    uint64_t records = 0;
    std::string delivered_log = w.c.root() + "/delivered.log";
    std::ofstream(delivered_log) << w.Delivered(&records);
    CommandResult cmp = w.Compare(w.db, delivered_log);
    BOOST_TEST(cmp.code != 0, "without tailsafe the results still equal every delivered request");
    CommandResult total = RunCommand(AbsBin("weblog-analyze") + " report --db '" + w.db + "' --total 2>&1");
    BOOST_TEST_MESSAGE(name << ": without tailsafe, " << records << " records reached a backup file; the results: "
                            << total.out.substr(0, total.out.find('\n')) << "; compare says:\n"
                            << cmp.out.substr(0, 600));
    BOOST_TEST(w.storm->Kill("weblog", 0).ok());
    return;
  }
  int recoveries = w.RecoveriesEnded();
  BOOST_REQUIRE_MESSAGE(recoveries >= 1, "the dead task's tail was never recovered\n" << w.Diagnostics());

  uint64_t records = 0;
  std::string delivered = w.Delivered(&records);
  std::string delivered_log = w.c.root() + "/delivered.log";
  std::ofstream(delivered_log) << delivered;
  CommandResult input_lines = RunCommand("wc -l < " + w.input);
  uint64_t sent = std::stoull(input_lines.out);
  BOOST_TEST(records <= sent, records << " records in backup files, more than the " << sent << " lines of the input");
  BOOST_TEST_MESSAGE(name << ": " << sent << " requests in the input, " << records << " reached a backup file, " << sent - records
                          << " dropped by Storm in transit (never appended anywhere); " << recoveries << " recoveries");
  CommandResult cmp;
  bool equal = WaitUntil([&] { return (cmp = w.Compare(w.db, delivered_log)).code == 0; }, 30, 500);
  BOOST_TEST(equal, "the results are not every delivered request counted once:\n" << cmp.out << w.Diagnostics());
  CommandResult series = RunCommand(AbsBin("weblog-analyze") + " report --db '" + w.db + "' --total 2>&1");
  BOOST_TEST_MESSAGE(name << ": " << series.out.substr(0, series.out.find('\n')));
  BOOST_TEST(w.storm->Kill("weblog", 0).ok());
}

}  // namespace

BOOST_AUTO_TEST_SUITE(storm, *boost::unit_test::precondition(CanRunStorm))

// The harness and the topology alone, no fault: every request of the log is counted once.
BOOST_AUTO_TEST_CASE(the_weblog_topology_counts_every_request_once, *boost::unit_test::precondition(RunsOutsideSanitizerPass)) {
  ScopedTempDir dir("storm-weblog");
  std::string input = dir.path + "/access.log", db = dir.path + "/results.db";
  CommandResult gen = RunCommand(AbsBin("weblog-gen") + " -n 20000 --minutes 30 --malformed-every 5000 -o " + input);
  BOOST_REQUIRE_MESSAGE(gen.code == 0, gen.out);

  auto storm = StormCluster::Start("weblog-smoke", {});
  BOOST_REQUIRE_MESSAGE(storm.ok(), storm.status().message());
  StormCluster& s = *storm.value();
  Status submitted = s.Submit(WeblogJar(), kTopologyMain,
                              {"--name", "weblog", "--log", input, "--db", db, "--bolt", AbsBin("weblog-storm-bolt"), "--no-tailsafe"});
  BOOST_REQUIRE_MESSAGE(submitted.ok(), submitted.message());
  std::string last;
  bool equal = WaitUntil([&] {
    CommandResult r = RunCommand(AbsBin("weblog-analyze") + " compare --db " + db + " " + input + " 2>&1");
    last = r.out;
    return r.code == 0;
  }, 120, 1000);
  BOOST_TEST(equal, "the results never equalled the input's analysis:\n" << last << s.LogTail());
  auto placement = s.Placement("weblog");
  BOOST_REQUIRE_MESSAGE(placement.ok(), placement.status().message());
  int on_first = 0, on_second = 0;
  for (const auto& t : *placement) {
    if (t.component != "count") continue;
    on_first += s.SupervisorOf(t.host) == 0;
    on_second += s.SupervisorOf(t.host) == 1;
  }
  BOOST_TEST_MESSAGE("count tasks: " << on_first << " on " << StormCluster::Hostname(0) << ", " << on_second << " on "
                                     << StormCluster::Hostname(1));
  BOOST_TEST(on_first + on_second == 4);
  BOOST_TEST(s.Kill("weblog", 0).ok());
}

// Acceptance 3: kill -9 of a worker JVM mid-stream; Storm relaunches the worker, tailsafe's hook
// on the other host recovers the dead task's tail.
BOOST_AUTO_TEST_CASE(a_worker_killed_mid_stream_loses_nothing_that_reached_a_backup_file) {
  KilledMidStream("storm-worker-kill", false);
}

// The same with the ShellBolt's subprocess killed: its pid is the task's, so the agent sees the
// death at once.
BOOST_AUTO_TEST_CASE(a_shellbolt_subprocess_killed_mid_stream_loses_nothing) { KilledMidStream("storm-subprocess-kill", true); }

// The same with tailsafe-storm-replay as the hook: the dead task's own bolt (a ShellBolt running
// weblog-storm-bolt), rebuilt from its file's header, counts the tail.
BOOST_AUTO_TEST_CASE(tailsafe_storm_replay_recovers_the_tail_with_the_tasks_own_bolt) {
  KilledMidStream("storm-replay-hook", false, true, true);
}

// Acceptance 4: the same kill without tailsafe's agents. The tasks still write their backup
// files (so the test knows what reached them), but nothing recovers the dead task's tail: the
// results miss it.
BOOST_AUTO_TEST_CASE(without_tailsafe_the_same_kill_loses_the_dead_tasks_tail,
                     *boost::unit_test::precondition(RunsOutsideSanitizerPass)) {
  KilledMidStream("storm-no-tailsafe", false, false);
}

// Acceptance 5: `rebalance` to one worker moves the tasks of one host to the other, and back to
// two spreads them again. A moved task starts a new file where it lands; the process it left
// died with a tail, which tailsafe recovers. Nothing is lost or counted twice across the moves.
BOOST_AUTO_TEST_CASE(tasks_moved_by_rebalance_start_new_files_and_nothing_is_lost_or_counted_twice) {
  StormWeblog w("storm-rebalance");
  std::string why;
  BOOST_REQUIRE_MESSAGE(w.Start("200000", &why), why);
  BOOST_REQUIRE(w.Submit("weblog", true, w.db).ok());
  uint64_t input_size = FileSize(w.input);
  auto hosts_of = [&](int task) {
    std::set<int> s;
    for (int k = 0; k < 2; ++k) {
      if (FileSize(w.TaskFile(k, "weblog", task) + ".log") > 0) s.insert(k);
    }
    return s;
  };
  BOOST_REQUIRE_MESSAGE(WaitUntil([&] { return w.SpoutPosition("weblog") > input_size / 4; }, 120, 500),
                        "the spout made no progress\n" << w.Diagnostics());
  auto before = w.storm->Placement("weblog");
  BOOST_REQUIRE_MESSAGE(before.ok(), before.status().message());
  Status r = w.storm->Rebalance("weblog", 1, 1);
  BOOST_REQUIRE_MESSAGE(r.ok(), r.message());
  // Every count task on one supervisor.
  int moved_to = -1;
  BOOST_REQUIRE_MESSAGE(WaitUntil([&] {
                          auto p = w.storm->Placement("weblog");
                          if (!p.ok()) return false;
                          std::set<int> where;
                          for (const auto& t : *p) {
                            if (t.component == "count") where.insert(w.storm->SupervisorOf(t.host));
                          }
                          if (where.size() != 1 || *where.begin() < 0) return false;
                          moved_to = *where.begin();
                          return true;
                        }, 120, 1000),
                        "the rebalance to one worker never took effect\n" << w.Diagnostics());
  std::vector<int> moved_tasks;
  for (const auto& t : *before) {
    if (t.component == "count" && w.storm->SupervisorOf(t.host) != moved_to) moved_tasks.push_back(t.task);
  }
  BOOST_REQUIRE_MESSAGE(!moved_tasks.empty(), "no task moved");
  // Each moved task runs where it landed: it started a new file there.
  BOOST_REQUIRE_MESSAGE(WaitUntil([&] {
                          for (int t : moved_tasks) {
                            if (hosts_of(t).count(moved_to) == 0) return false;
                          }
                          return w.SpoutPosition("weblog") > input_size / 2;
                        }, 120, 500),
                        "a moved task never started a file where it landed\n" << w.Diagnostics());
  BOOST_REQUIRE(w.storm->Rebalance("weblog", 1, 2).ok());
  BOOST_REQUIRE_MESSAGE(WaitUntil([&] { return w.SpoutPosition("weblog") == input_size; }, 240, 500),
                        "the spout never read the whole log\n" << w.Diagnostics());
  BOOST_REQUIRE_MESSAGE(WaitUntil([&] { return w.Drained(); }, 240, 500), "the tasks never caught up\n" << w.Diagnostics());
  size_t moved = moved_tasks.size();
  // The processes the moves stopped usually leave tails; whatever they left is recovered.
  int recoveries = w.RecoveriesEnded(false);
  BOOST_REQUIRE_MESSAGE(recoveries >= 0, "a recovery never ended\n" << w.Diagnostics());
  uint64_t records = 0;
  std::string delivered_log = w.c.root() + "/delivered.log";
  std::ofstream(delivered_log) << w.Delivered(&records);
  CommandResult cmp;
  bool equal = WaitUntil([&] { return (cmp = w.Compare(w.db, delivered_log)).code == 0; }, 30, 500);
  BOOST_TEST(equal, "the results are not every delivered request counted once:\n" << cmp.out << w.Diagnostics());
  BOOST_TEST_MESSAGE("storm-rebalance: " << moved << " tasks moved to " << StormCluster::Hostname(moved_to) << "; " << records
                                         << " records in backup files; " << recoveries << " recoveries");
  BOOST_TEST(w.storm->Kill("weblog", 0).ok());
}

BOOST_AUTO_TEST_SUITE_END()
