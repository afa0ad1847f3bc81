// The weblog application under tailsafe (issue 4): a spout, three weblog-bolts on three agents'
// hosts, weblog-analyze as the recovery hook, and bolts killed with SIGKILL mid-stream. The
// results database must equal the analysis of the input exactly: nothing lost, nothing counted
// twice; in SQLite, and in PostgreSQL (issue 22: a server the hosts share, started by
// tests/support/postgres_server). Also: goaccess as an unmodified hook.
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/cluster.h"
#include "tests/support/postgres_server.h"
#include "tests/support/weblog_deployment.h"

using namespace tailsafe;
using namespace tailsafe::testing;

namespace {

boost::test_tools::assertion_result HaveGoaccess(boost::unit_test::test_unit_id) {
  boost::test_tools::assertion_result r(::access("/usr/bin/goaccess", X_OK) == 0);
  if (!r) r.message() << "skipped: /usr/bin/goaccess is not installed (apt-get install goaccess; make deps does)";
  return r;
}

boost::test_tools::assertion_result HavePostgres(boost::unit_test::test_unit_id) {
  std::string missing = PostgresMissing();
  boost::test_tools::assertion_result r(missing.empty());
  if (!r) r.message() << "skipped: " << missing;
  return r;
}

// Five SIGKILLs of bolts during 200,000 requests, each restarted; then `compare` on `db` (a
// SQLite path or a PostgreSQL URI; "": the cluster's own SQLite file) must say EQUAL, and the
// hooks must have counted some of it.
void BoltsKilledMidStream(const std::string& name, const std::string& db_target) {
  uint64_t seed = static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  if (const char* s = std::getenv("TAILSAFE_TEST_SEED")) seed = std::strtoull(s, nullptr, 10);
  BOOST_TEST_MESSAGE("weblog kill test: seed " << seed << " (TAILSAFE_TEST_SEED to replay the kill schedule)");
  std::mt19937_64 rng(seed);

  ClusterOptions o = WeblogCluster(3);
  TestCluster c(name, o);
  std::string input = c.root() + "/input.log";
  CommandResult gen = RunCommand(AbsBin("weblog-gen") + " -n 200000 --minutes 60 --malformed-every 20000 -o " + input);
  BOOST_REQUIRE_MESSAGE(gen.code == 0, gen.out);
  uint64_t input_bytes = FileSize(input);

  // Bolts analyse at most 12,000 requests a second, the spout sends 30,000: the busiest bolt
  // builds a backlog, so kills leave tails of every size.
  WeblogDeployment w(c, {"--commit-ms", "50", "--max-rate", "12000"}, db_target);
  BOOST_REQUIRE(c.StartCoordinator().ok());
  BOOST_REQUIRE(c.StartAll().ok());
  for (int i = 0; i < c.size(); ++i) {
    Status started = w.StartBolt(i);
    BOOST_REQUIRE_MESSAGE(started.ok(), started.message());
  }
  auto spout_or = w.StartSpout(input, "30000");
  BOOST_REQUIRE(spout_or.ok());
  Child spout = std::move(*spout_or);

  for (int k = 0; k < 5; ++k) {
    // Kill when about (k + 1) / 6 of the input is in backup files.
    uint64_t want = input_bytes * static_cast<uint64_t>(k + 1) / 6;
    BOOST_REQUIRE_MESSAGE(WaitUntil([&] {
      uint64_t sum = 0;
      for (int i = 0; i < c.size(); ++i) sum += FileSize(c.BoltFile(i, 0));
      return sum >= want;
    }, 120), "the bolts' backup files did not grow to " << want << " bytes; spout: "
                                                        << ReadAll(c.root() + "/spout.log"));
    int victim = static_cast<int>(rng() % static_cast<uint64_t>(c.size()));
    Child& b = w.bolt(victim);
    b.Signal(SIGKILL);
    b.Wait();
    BOOST_TEST_MESSAGE("kill " << k + 1 << ": SIGKILL of the bolt on " << c.AgentId(victim) << " at "
                               << FileSize(c.BoltFile(victim, 0)) << " bytes, checkpoint "
                               << ReadAll(c.CheckpointFile(victim, 0)));
    // A supervisor restarts it after a moment (sometimes before tailsafe has even planned the
    // tail: the restarted bolt appends to the same file meanwhile).
    std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 300));  // the schedule, not a wait for a condition
    Status restarted = w.StartBolt(victim);
    BOOST_REQUIRE_MESSAGE(restarted.ok(), restarted.message());
  }

  spout.Wait();
  BOOST_REQUIRE_MESSAGE(spout.exit_code() == 0, ReadAll(c.root() + "/spout.log"));
  Status stopped = w.StopBolts();
  BOOST_TEST(stopped.ok(), stopped.message());
  int recoveries = w.WaitRecoveriesSettled(120);
  BOOST_REQUIRE_MESSAGE(recoveries >= 0, "recoveries did not settle: " << c.CoordinatorLogTail());
  BOOST_TEST_MESSAGE(recoveries << " recoveries; spout: " << Lines(ReadAll(c.root() + "/spout.log")).back());

  CommandResult cmp = RunCommand(AbsBin("weblog-analyze") + " compare --db '" + w.db() + "' " + input);
  if (cmp.code != 0) c.Keep();
  BOOST_TEST(cmp.code == 0, cmp.out);
  BOOST_TEST(cmp.out.find("EQUAL: 200000 requests in 60 minutes") == 0, cmp.out);
  BOOST_TEST_MESSAGE(cmp.out);
  // tailsafe did part of it: the hooks counted requests the killed bolts had not.
  CommandResult series = RunCommand(AbsBin("weblog-analyze") + " series --db '" + w.db() + "'");
  uint64_t recovered = 0;
  for (const std::string& line : Lines(series.out)) {
    if (line[0] == '#') continue;
    std::istringstream f(line);
    std::string day, time;
    uint64_t total = 0, rec = 0;
    f >> day >> time >> total >> rec;
    recovered += rec;
  }
  BOOST_TEST(recovered > 0u, "no request was counted by a hook; coordinator: " << c.CoordinatorLogTail());
  BOOST_TEST(recoveries >= 1);
  BOOST_TEST_MESSAGE(recovered << " requests counted by hooks");
}

}  // namespace

BOOST_AUTO_TEST_SUITE(weblog)

BOOST_AUTO_TEST_CASE(bolts_killed_mid_stream_lose_nothing_and_count_nothing_twice) {
  BoltsKilledMidStream("weblog-kill", "");
}

// The same on PostgreSQL: bolts and hooks on every "host" commit to one server concurrently.
BOOST_AUTO_TEST_CASE(bolts_killed_mid_stream_lose_nothing_and_count_nothing_twice_on_postgresql,
                     *boost::unit_test::precondition(HavePostgres)) {
  std::string why;
  PostgresServer* server = SharedPostgres(&why);
  BOOST_TEST_REQUIRE(server != nullptr, why);
  auto db = server->NewDatabase("weblog_kill");
  BOOST_TEST_REQUIRE(db.ok(), db.status().message());
  BoltsKilledMidStream("weblog-kill-pg", *db);
}

// Hostile input: overlong lines (one of 1 MiB), binary bytes, broken quoting, impossible dates,
// CRLF line ends and a last line without a newline. The spout reports each malformed line with
// its number and what is wrong, keeps them in --rejects, sends every good request, and the
// results equal the analysis of the input.
BOOST_AUTO_TEST_CASE(hostile_lines_are_counted_reported_and_skipped) {
  std::string root = MakeTempDir("weblog-hostile");
  std::string input = root + "/input.log";
  CommandResult gen = RunCommand(AbsBin("weblog-gen") + " -n 5000 --minutes 5 --malformed-every 7 -o " + input);
  BOOST_REQUIRE_MESSAGE(gen.code == 0, gen.out);
  {
    std::ofstream out(input, std::ios::app | std::ios::binary);
    out << std::string(1 << 20, 'x') << "\n";  // 1 MiB in one line
    out << "www.example.com:443 10.0.0.1 - - [18/Nov/2026:06:00:00 +0000] \"GET /crlf HTTP/1.1\" 200 1 \"-\" \"-\"\r\n";
    out << std::string("\0\0\0\xff\xfe", 5) << "\n";
    out << "www.example.com:443 10.0.0.1 - - [18/Nov/2026:06:00:00 +0000] \"GET /last HTTP/1.1\" 200 1 \"-\" \"-\"";
  }
  auto bolt = Child::Spawn({AbsBin("weblog-bolt"), "--name", "b", "--listen", root + "/b.sock", "--backup", root + "/b.log",
                            "--checkpoint", root + "/b.ckpt", "--db", root + "/results.db", "--quiet"},
                           root + "/bolt.log");
  BOOST_REQUIRE(bolt.ok());
  CommandResult spout = RunCommand(AbsBin("weblog-spout") + " --quiet --bolt " + root + "/b.sock --rejects " + root +
                                   "/rejects.log " + input);
  BOOST_TEST(spout.code == 0, spout.out);
  // 5000 / 6 hostile lines from the generator (every 7th line), the 1 MiB line, the binary one.
  uint64_t malformed = 5000 / 6 + 2;
  BOOST_TEST(spout.out.find(std::to_string(5000 + 2) + " requests sent") != std::string::npos, spout.out);
  BOOST_TEST(spout.out.find(std::to_string(malformed) + " malformed lines skipped") != std::string::npos, spout.out);
  BOOST_TEST(spout.out.find(":7: malformed line skipped: ") != std::string::npos, spout.out);
  BOOST_TEST(spout.out.find("(further malformed lines are counted, not shown)") != std::string::npos, spout.out);
  // Every malformed line is in --rejects (an overlong one cut to 16 KiB).
  BOOST_TEST(Lines(ReadAll(root + "/rejects.log")).size() == malformed);
  bolt->Signal(SIGTERM);
  bolt->Wait();
  BOOST_TEST(bolt->exit_code() == 0);
  CommandResult cmp = RunCommand(AbsBin("weblog-analyze") + " compare --db " + root + "/results.db " + input);
  BOOST_TEST(cmp.code == 0, cmp.out);
  BOOST_TEST(cmp.out.find("EQUAL: 5002 requests") == 0, cmp.out);
  RemoveTree(root);
}

// --follow: the spout keeps reading a log as it grows and after logrotate renames it (the rest
// of the old file first); SIGTERM ends it once everything read is acknowledged. The report
// exports as CSV and JSON.
BOOST_AUTO_TEST_CASE(spout_follows_a_growing_rotated_log_and_the_report_exports_csv_and_json) {
  std::string root = MakeTempDir("weblog-follow");
  std::string all = root + "/all.log", live = root + "/access.log";
  CommandResult gen = RunCommand(AbsBin("weblog-gen") + " -n 30000 --minutes 10 -o " + all);
  BOOST_REQUIRE_MESSAGE(gen.code == 0, gen.out);
  std::vector<std::string> lines = Lines(ReadAll(all));
  auto append = [&](const std::string& path, size_t from, size_t to) {
    std::ofstream out(path, std::ios::app);
    for (size_t i = from; i < to; ++i) out << lines[i] << "\n";
  };
  append(live, 0, 10000);
  auto bolt = Child::Spawn({AbsBin("weblog-bolt"), "--name", "b", "--listen", root + "/b.sock", "--backup", root + "/b.log",
                            "--checkpoint", root + "/b.ckpt", "--db", root + "/results.db", "--quiet"},
                           root + "/bolt.log");
  BOOST_REQUIRE(bolt.ok());
  auto spout = Child::Spawn({AbsBin("weblog-spout"), "--follow", "--bolt", root + "/b.sock", live}, root + "/spout.log");
  BOOST_REQUIRE(spout.ok());
  auto backup_lines = [&] {
    size_t n = 0;
    for (const std::string& l : Lines(ReadAll(root + "/b.log"))) n += l[0] != '#';
    return n;
  };
  BOOST_REQUIRE_MESSAGE(WaitUntil([&] { return backup_lines() == 10000; }, 30), ReadAll(root + "/spout.log"));
  append(live, 10000, 20000);  // growth
  BOOST_REQUIRE_MESSAGE(WaitUntil([&] { return backup_lines() == 20000; }, 30), ReadAll(root + "/spout.log"));
  // logrotate "create": the old file gets its last lines after the rename, then a new file.
  BOOST_REQUIRE(::rename(live.c_str(), (live + ".1").c_str()) == 0);
  append(live + ".1", 20000, 25000);
  append(live, 25000, 30000);
  BOOST_REQUIRE_MESSAGE(WaitUntil([&] { return backup_lines() == 30000; }, 30), ReadAll(root + "/spout.log"));
  spout->Signal(SIGTERM);
  spout->Wait();
  BOOST_TEST(spout->exit_code() == 0, ReadAll(root + "/spout.log"));
  BOOST_TEST(ReadAll(root + "/spout.log").find("was replaced; reading it from the start") != std::string::npos);
  bolt->Signal(SIGTERM);
  bolt->Wait();
  CommandResult cmp = RunCommand(AbsBin("weblog-analyze") + " compare --db " + root + "/results.db " + all);
  BOOST_TEST(cmp.code == 0, cmp.out);

  CommandResult json = RunCommand(AbsBin("weblog-analyze") + " report --db " + root + "/results.db --top 3 --format json");
  BOOST_REQUIRE(json.code == 0);
  auto doc = nlohmann::json::parse(json.out, nullptr, false);
  BOOST_REQUIRE_MESSAGE(doc.is_array() && doc.size() == 10u, json.out.substr(0, 500));
  uint64_t total = 0;
  for (const auto& m : doc) {
    total += m.value("requests", uint64_t{0});
    BOOST_TEST(m["hosts"].size() == 3u);
    BOOST_TEST(m["urls"].size() == 3u);
    BOOST_TEST(m["ips"].size() == 3u);
  }
  BOOST_TEST(total == 30000u);
  CommandResult csv = RunCommand(AbsBin("weblog-analyze") + " report --db " + root + "/results.db --by host --top 0 --format csv");
  BOOST_REQUIRE(csv.code == 0);
  std::vector<std::string> rows = Lines(csv.out);
  BOOST_TEST(rows.at(0) == "minute,dimension,key,requests,bytes,s1xx,s2xx,s3xx,s4xx,s5xx");
  uint64_t csv_total = 0;
  for (size_t i = 1; i < rows.size(); ++i) {
    std::vector<std::string> f;
    std::stringstream ss(rows[i]);
    for (std::string x; std::getline(ss, x, ',');) f.push_back(x);
    BOOST_REQUIRE(f.size() == 10u);
    csv_total += std::stoull(f[3]);
  }
  BOOST_TEST(csv_total == 30000u);
  RemoveTree(root);
}

// goaccess knows nothing of tailsafe: it reads the tail on stdin as any access log (the marker
// lines start with '#', which it skips as comments) and writes its own report.
BOOST_AUTO_TEST_CASE(goaccess_runs_unmodified_as_the_hook, *boost::unit_test::precondition(HaveGoaccess)) {
  ClusterOptions o = WeblogCluster(2);
  o.hook_argv = {"/usr/bin/goaccess", "--no-global-config", "--log-format=VCOMBINED", "-o", "REPORT", "-"};
  TestCluster c("weblog-goaccess", o);
  std::string report = c.root() + "/goaccess-report.json";
  for (int i = 0; i < c.size(); ++i) BOOST_REQUIRE(c.EditConfig(i, "REPORT", report));
  std::string input = c.root() + "/input.log";
  CommandResult gen = RunCommand(AbsBin("weblog-gen") + " -n 20000 --minutes 10 -o " + input);
  BOOST_REQUIRE_MESSAGE(gen.code == 0, gen.out);
  // One bolt (on h1) that analyses far slower than it receives: most of the input is its tail.
  WeblogDeployment w(c, {"--commit-ms", "50", "--max-rate", "1000"});
  BOOST_REQUIRE(c.StartCoordinator().ok());
  BOOST_REQUIRE(c.StartAll().ok());
  Status started = w.StartBolt(0);
  BOOST_REQUIRE_MESSAGE(started.ok(), started.message());
  std::vector<std::string> argv = {AbsBin("weblog-spout"), "--quiet", "--bolt", w.Socket(0), input};
  auto spout = Child::Spawn(argv, c.root() + "/spout.log");
  BOOST_REQUIRE(spout.ok());
  spout->Wait();
  BOOST_REQUIRE_MESSAGE(spout->exit_code() == 0, ReadAll(c.root() + "/spout.log"));
  BOOST_REQUIRE(c.WaitAcked(0, 0, 30));
  w.bolt(0).Signal(SIGKILL);
  w.bolt(0).Wait();

  nlohmann::json rec;
  BOOST_REQUIRE_MESSAGE(c.WaitDoc("/recoveries/1", [](const auto& d) { return d.value("state", "") == "recovered"; },
                                  60, &rec),
                        rec.dump() << c.CoordinatorLogTail() << c.LogTail(1));
  BOOST_TEST(rec.value("agent", "") == "h2");
  uint64_t from = rec.value("from", uint64_t{0}), to = rec.value("delivered_to", uint64_t{0});
  std::string file = ReadAll(c.BoltFile(0, 0));
  BOOST_REQUIRE(to <= file.size());
  uint64_t tail_requests = 0;
  for (const std::string& line : Lines(file.substr(from, to - from)))
    if (line[0] != '#') ++tail_requests;
  BOOST_TEST(tail_requests > 10000u, "the bolt had analysed most of its input already: " << rec.dump());

  auto json = nlohmann::json::parse(ReadAll(report), nullptr, false);
  BOOST_REQUIRE_MESSAGE(!json.is_discarded(), "goaccess wrote no JSON report at " << report << "; " << c.LogTail(1));
  BOOST_TEST(json["general"].value("total_requests", uint64_t{0}) == tail_requests);
  BOOST_TEST(json["general"].value("failed_requests", uint64_t{1}) == 0u);
  BOOST_TEST_MESSAGE("goaccess as the hook counted " << tail_requests << " requests of the recovered tail ["
                                                     << from << ", " << to << ")");
}

BOOST_AUTO_TEST_SUITE_END()
