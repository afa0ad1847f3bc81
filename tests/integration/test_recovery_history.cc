// /recoveries stays bounded (issue 21): a coordinator that finds 10,000 recovered ranges of one
// bolt on record folds all but the newest `recoveries_kept` into /recovered/ORIGIN/BOLT, every
// document and reply stays far under ZooKeeper's 1 MB, tailsafectl status, ls, dump and watch
// work, and a death planned over the folded history still finds its every gap.
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "coordinator/namespace_store.h"
#include "coordinator/recovery_record.h"
#include "tests/support/cluster.h"
#include "tests/support/hook_runs.h"

using namespace tailsafe;
using namespace tailsafe::testing;

namespace {

constexpr uint64_t kRecords = 10000;
constexpr uint64_t kHole = 5000;    // the one record missing: a gap planning must find
constexpr size_t kLine = 32;         // every line of the bolt file is this long

std::string Line(uint64_t i) {
  char buf[64];
  snprintf(buf, sizeof buf, "GET /page/%08llu host-%07llu\n", static_cast<unsigned long long>(i),
           static_cast<unsigned long long>(i % 977));
  return buf;
}

static_assert(sizeof("GET /page/00000000 host-0000000\n") - 1 == kLine);

std::string Lines(uint64_t from, uint64_t to) {
  std::string s;
  for (uint64_t i = from; i < to; ++i) s += Line(i);
  return s;
}

// Writes what a coordinator would have recorded after kRecords recoveries of h1/bolt-1, each one
// line of generation 1, but the kHole-th.
void SeedHistory(const std::string& state_dir) {
  std::filesystem::create_directories(state_dir);
  auto store = SqliteNamespaceStore::Open(state_dir + "/namespace.db");
  BOOST_REQUIRE_MESSAGE(store.ok(), store.status().message());
  std::vector<NamespaceStore::Write> writes;
  for (uint64_t n = 1; n <= kRecords; ++n) {
    if (n == kHole) continue;
    RecoveryRecord r;
    r.id = n;
    r.origin = "h1";
    r.bolt = "bolt-1";
    r.hook = "test";
    r.gen = 1;
    r.from = (n - 1) * kLine;
    r.to = r.delivered_to = n * kLine;
    r.state = RecoveryState::kRecovered;
    r.agent = "h2";
    r.epoch = n;
    r.attempts = 1;
    r.cause = "process died";
    r.created_unix_ms = r.assigned_unix_ms = r.finished_unix_ms = 1764700000000 + n;
    r.AddAssignment({r.epoch, r.agent, r.assigned_unix_ms});
    writes.push_back({"/recoveries/" + std::to_string(n), r.ToJson().dump()});
  }
  BOOST_REQUIRE((*store)->Commit(writes).ok());
}

std::string Run(TestCluster& c, const std::string& args) {
  CommandResult r = RunCommand(c.Ctl() + " " + args + " --coordinator " + c.CoordinatorAddress() + " 2>&1");
  BOOST_TEST(r.code == 0, args << ": " << r.out.substr(0, 2000));
  return r.out;
}

size_t CountLines(const std::string& s) { return static_cast<size_t>(std::count(s.begin(), s.end(), '\n')); }

}  // namespace

BOOST_AUTO_TEST_SUITE(recovery_history)

BOOST_AUTO_TEST_CASE(ten_thousand_recoveries_of_one_bolt_stay_bounded_and_plan_every_gap) {
  ClusterOptions o = RecoveryCluster(2);
  TestCluster c("rec-history", o);
  SeedHistory(c.root() + "/coordinator");
  BOOST_REQUIRE(c.StartCoordinator().ok());
  BOOST_REQUIRE(c.StartAll().ok());

  // The newest 100 stay listed; the rest are one document of spans, the hole left open.
  std::string ls = Run(c, "ls /recoveries");
  BOOST_TEST(CountLines(ls) == 100u, ls.substr(0, 300));
  BOOST_TEST(ls.find("9901\n") != std::string::npos);
  BOOST_TEST(ls.find("\n9900\n") == std::string::npos);
  auto history = c.CoordinatorGet("/recovered/h1/bolt-1");
  BOOST_REQUIRE_MESSAGE(history.ok(), history.status().message() << c.CoordinatorLogTail());
  BOOST_TEST((*history)["folded"] == kRecords - 1 - 100);
  nlohmann::json want = nlohmann::json::array(
      {{{"generation", 1}, {"from", 0}, {"to", (kHole - 1) * kLine}, {"delivered_to", (kHole - 1) * kLine}},
       {{"generation", 1}, {"from", kHole * kLine}, {"to", 9900 * kLine}, {"delivered_to", 9900 * kLine}}});
  BOOST_TEST((*history)["spans"] == want, history->dump());

  // Every reply far under 1 MB: the whole namespace (status --json is one dump of /), and the
  // status.
  std::string dump = Run(c, "status --cluster --json");
  BOOST_TEST(dump.size() < 256u * 1024, dump.size() << " bytes");
  std::string status = Run(c, "status --cluster");
  BOOST_TEST(status.find("bolt-1") != std::string::npos, status.substr(0, 1000));

  // The bolt dies with no checkpoint: its whole file is its tail, and only the hole and what
  // follows the last recorded range are planned.
  std::string watch_out = c.root() + "/watch.out";
  auto watch = Child::Spawn({BinDir() + "/tailsafectl", "-c", c.ConfigPath(0), "watch", "/recoveries", "--interval-ms",
                             "50", "--coordinator", c.CoordinatorAddress()},
                            watch_out);
  BOOST_REQUIRE(watch.ok());
  BOOST_REQUIRE(WaitUntil([&] { return ReadAll(watch_out).find("watching /recoveries: 100 documents") != std::string::npos; }, 20));
  auto bolt = Child::Spawn({"/bin/sleep", "600"}, c.root() + "/bolt.log");
  BOOST_REQUIRE(bolt.ok());
  {
    std::ofstream(c.PidFile(0, 0) + ".tmp") << bolt->pid() << "\n";
    BOOST_REQUIRE(std::rename((c.PidFile(0, 0) + ".tmp").c_str(), c.PidFile(0, 0).c_str()) == 0);
  }
  nlohmann::json doc;
  BOOST_REQUIRE_MESSAGE(c.WaitDoc("/bolts/h1/bolt-1", [](const auto& d) {
    return d.contains("process") && d["process"].value("state", "") == "running";
  }, 10, &doc), doc.dump() << c.CoordinatorLogTail());
  std::string tail = Lines(kRecords, kRecords + 40);
  {
    std::ofstream out(c.BoltFile(0, 0), std::ios::binary | std::ios::app);
    out << Lines(0, kRecords) << tail;
  }
  BOOST_REQUIRE(c.WaitAcked(0, 0, 30));
  bolt->Signal(SIGKILL);
  bolt->Wait();
  nlohmann::json rec;
  for (uint64_t id : {kRecords + 1, kRecords + 2}) {
    BOOST_REQUIRE_MESSAGE(c.WaitDoc("/recoveries/" + std::to_string(id),
                                    [](const auto& d) { return d.value("state", "") == "recovered"; }, 30, &rec),
                          id << ": " << rec.dump() << c.CoordinatorLogTail());
  }
  std::set<std::string> inputs;
  for (const HookRun& run : HookRuns(c)) inputs.insert(run.input);
  BOOST_TEST((inputs == std::set<std::string>{Line(kHole - 1), tail}),
             inputs.size() << " hook inputs, the first " << (inputs.empty() ? 0 : inputs.begin()->size()) << " bytes");
  BOOST_TEST(!c.CoordinatorGet("/recoveries/" + std::to_string(kRecords + 3)).ok(), "a third range was planned");
  BOOST_REQUIRE(WaitUntil([&] { return ReadAll(watch_out).find(" added /recoveries/10002 ") != std::string::npos; }, 20));
  watch->Signal(SIGTERM);
  watch->Wait();

  // Still 100 listed (two more folded in), and numbers never repeat across a restart.
  BOOST_TEST(CountLines(Run(c, "ls /recoveries")) == 100u);
  BOOST_REQUIRE(c.StopCoordinator().ok());
  BOOST_REQUIRE(c.StartCoordinator().ok());
  auto counters = c.CoordinatorGet("/coordinator/counters");
  BOOST_REQUIRE_MESSAGE(counters.ok(), counters.status().message());
  BOOST_TEST((*counters)["next_recovery"] == kRecords + 3);
  BOOST_TEST(c.StopAll().ok());
  BOOST_TEST(c.StopCoordinator().message() == "ok");
}

// With every record kept (recoveries_kept above their number), the namespace is far bigger than
// one reply: ls and dump come in pages, and tailsafectl reads them all.
BOOST_AUTO_TEST_CASE(ls_and_dump_page_through_ten_thousand_records) {
  ClusterOptions o = RecoveryCluster(2);
  o.recoveries_kept = 1000000;
  TestCluster c("rec-pages", o);
  SeedHistory(c.root() + "/coordinator");
  BOOST_REQUIRE(c.StartCoordinator().ok());
  std::string ls = Run(c, "ls /recoveries");
  BOOST_TEST(CountLines(ls) == kRecords - 1);  // three pages of names
  BOOST_TEST(ls.find("\n9999\n") != std::string::npos);
  nlohmann::json names = nlohmann::json::parse(Run(c, "ls /recoveries --json"), nullptr, false);
  BOOST_TEST(names.size() == kRecords - 1);
  std::string dump = Run(c, "status --cluster --json");  // one dump of /: about 4 MB, 16 pages
  BOOST_TEST(dump.size() > 2u * 1024 * 1024, dump.size() << " bytes");
  nlohmann::json all = nlohmann::json::parse(dump, nullptr, false);
  BOOST_REQUIRE(all.is_object());
  size_t recoveries = 0;
  for (auto it = all.begin(); it != all.end(); ++it) recoveries += it.key().rfind("/recoveries/", 0) == 0 ? 1 : 0;
  BOOST_TEST(recoveries == kRecords - 1);
  BOOST_TEST(all.contains("/recoveries/1"));
  BOOST_TEST(all.contains("/recoveries/10000"));
  BOOST_TEST(c.StopCoordinator().message() == "ok");
}

BOOST_AUTO_TEST_SUITE_END()
