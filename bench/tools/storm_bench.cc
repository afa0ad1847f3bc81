// storm_bench: tuples per second through a real Storm topology with TailsafeBolt and without it
// (issue 22's bench/storm). Run through `make bench-storm`; docs/performance.md has the figures.
//
//   storm_bench [--topology weblog|count] [--pairs N] [--tuples N] [--out FILE]
//
// One Storm cluster (tests/support/storm_cluster.h: Storm's released jars, Nimbus and two
// supervisors in a network namespace), then N pairs of runs, on two workers, acking off, of:
//   weblog  the weblog topology of examples/storm-weblog (the application): an access-log spout,
//           fields-grouped to four count tasks, each a ShellBolt running weblog-storm-bolt into
//           PostgreSQL; with the wrapper, a TailsafeBolt around each (raw records, positions).
//           A run's figure: requests / (the time the results first held the last request - the
//           time they first held one), read from the database every 100 ms.
//   count   bench/storm's topology: a spout emitting access-log lines from memory, fields-
//           grouped to four tasks of a Java bolt that only counts requests per host in memory:
//           the wrapper's cost against a bolt that costs almost nothing (default record
//           format). A run's figure: tuples / (last tuple's time - first's), from the tasks'
//           stats files.
// In one run of a pair the tasks are wrapped, in the other bare; the order alternates from pair
// to pair, so that a drift of the machine weighs on both. No tailsafe agent runs: this measures
// the wrapper, not replication (bench/replicate does). Prints each run and the medians; --out
// writes them as Markdown, with the machine and the date.
#include <sys/utsname.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/cluster.h"
#include "tests/support/postgres_server.h"
#include "tests/support/process.h"
#include "tests/support/storm_cluster.h"

using namespace tailsafe;
using namespace tailsafe::testing;

namespace {

struct Run {
  int pair = 0;
  bool wrapped = false;
  double tuples_per_s = 0;
  double seconds = 0;
};

// Sum of the tasks' stats files: tuples, earliest first, latest last (ms).
bool ReadStats(const std::string& dir, uint64_t* tuples, int64_t* first, int64_t* last) {
  CommandResult r = RunCommand("cat " + dir + "/task-* 2>/dev/null");
  std::istringstream in(r.out);
  *tuples = 0;
  *first = INT64_MAX;
  *last = 0;
  uint64_t n;
  int64_t f, l;
  bool any = false;
  while (in >> n >> f >> l) {
    any = true;
    *tuples += n;
    if (n > 0) {
      *first = std::min(*first, f);
      *last = std::max(*last, l);
    }
  }
  return any;
}

// Requests the weblog results hold now (-1 if the database cannot be read yet).
int64_t Counted(const std::string& uri) {
  auto rows = PgQuery(uri, "SELECT coalesce(sum(requests), 0) FROM weblog_by_host");
  if (!rows.ok() || rows->empty() || rows->front().empty()) return -1;
  return std::stoll(rows->front().front());
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n == 0 ? 0 : n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"storm_bench: tuples per second through a Storm topology with TailsafeBolt and without it"};
  int pairs = 3;
  uint64_t tuples = 0;
  std::string out, topology = "weblog";
  app.add_option("--topology", topology, "weblog (the application) or count (a bolt that costs almost nothing)")
      ->check(CLI::IsMember({"weblog", "count"}));
  app.add_option("--pairs", pairs, "pairs of runs (one with the wrapper, one without)")->check(CLI::Range(1, 50));
  app.add_option("--tuples", tuples, "tuples per run (default: 300000 weblog, 2000000 count)")->check(CLI::Range(uint64_t{1000}, uint64_t{1} << 40));
  app.add_option("--out", out, "write the results as Markdown to this file");
  CLI11_PARSE(app, argc, argv);
  bool weblog = topology == "weblog";
  if (tuples == 0) tuples = weblog ? 300000 : 2000000;

  if (std::string missing = StormMissing(); !missing.empty()) {
    fprintf(stderr, "storm_bench: cannot run a Storm cluster here: %s\n", missing.c_str());
    return 1;
  }
  const char* src = ::getenv("TAILSAFE_SOURCE_DIR");
  std::string jar = std::string(src ? src : ".") + (weblog ? "/examples/storm-weblog/target/storm-weblog-0.1.0-topology.jar"
                                                            : "/bench/storm/target/storm-bench-0.1.0-topology.jar");
  if (::access(jar.c_str(), R_OK) != 0) {
    fprintf(stderr, "storm_bench: %s is not built (make bench-storm builds it)\n", jar.c_str());
    return 1;
  }
  ScopedTempDir dir("storm-bench");
  std::string log = dir.path + "/access.log";
  // The weblog topology reads its log once (every line a request); the count topology cycles over
  // 100,000 lines held in memory.
  CommandResult gen = RunCommand(BinDir() + "/weblog-gen -n " + std::to_string(weblog ? tuples : 100000) + " --minutes 180 -o " + log +
                                 " 2>&1");
  if (gen.code != 0) {
    fprintf(stderr, "storm_bench: weblog-gen: %s\n", gen.out.c_str());
    return 1;
  }
  std::vector<std::string> spools = {dir.path + "/spool-1", dir.path + "/spool-2"};
  PostgresServer* pg = nullptr;
  if (weblog) {
    std::string why;
    pg = SharedPostgres(&why);
    if (!pg) {
      fprintf(stderr, "storm_bench: PostgreSQL: %s\n", why.c_str());
      return 1;
    }
  }
  auto cluster = StormCluster::Start("bench", {2, 2, spools});
  if (!cluster) {
    fprintf(stderr, "storm_bench: %s\n", cluster.status().message().c_str());
    return 1;
  }
  StormCluster& storm = *cluster.value();
  printf("storm_bench: the %s topology, %d pairs of %llu tuples, Storm cluster up\n", topology.c_str(), pairs,
         static_cast<unsigned long long>(tuples));
  std::vector<Run> runs;
  for (int p = 0; p < pairs; ++p) {
    for (int k = 0; k < 2; ++k) {
      bool wrapped = (p % 2 == 0) == (k == 0);  // wrapped first in even pairs, second in odd ones
      std::string name = "bench-" + std::to_string(p) + (wrapped ? "-wrapped" : "-plain");
      std::string stats = dir.path + "/" + name;
      RunCommand("mkdir -p " + stats + " && rm -rf " + spools[0] + " " + spools[1]);
      uint64_t n = 0;
      int64_t first = 0, last = 0;
      bool done = false;
      if (weblog) {
        auto uri = pg->NewDatabase("bench");
        if (!uri) {
          fprintf(stderr, "storm_bench: %s\n", uri.status().message().c_str());
          return 1;
        }
        std::vector<std::string> args = {"--name", name, "--log", log, "--db", *uri, "--bolt", BinDir() + "/weblog-storm-bolt",
                                         "--position", stats + "/position"};
        if (!wrapped) args.push_back("--no-tailsafe");
        if (Status s = storm.Submit(jar, "io.tailsafe.examples.weblog.WeblogTopology", args); !s) {
          fprintf(stderr, "storm_bench: %s\n", s.message().c_str());
          return 1;
        }
        auto now_ms = [] {
          return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
        };
        done = WaitUntil([&] {
          int64_t c = Counted(*uri);
          if (c > 0 && first == 0) first = now_ms();
          if (c >= static_cast<int64_t>(tuples)) {
            last = now_ms();
            n = static_cast<uint64_t>(c);
            return true;
          }
          n = c > 0 ? static_cast<uint64_t>(c) : 0;
          return false;
        }, 600, 100);
      } else {
        Status s = storm.Submit(jar, "io.tailsafe.bench.storm.BenchTopology",
                                {name, log, std::to_string(tuples), stats, wrapped ? "wrapped" : "plain"});
        if (!s) {
          fprintf(stderr, "storm_bench: %s\n", s.message().c_str());
          return 1;
        }
        done = WaitUntil([&] { return ReadStats(stats, &n, &first, &last) && n >= tuples; }, 600, 500);
      }
      if (!done) {
        fprintf(stderr, "storm_bench: run %s counted %llu of %llu tuples in 600 s\n%s\n", name.c_str(),
                static_cast<unsigned long long>(n), static_cast<unsigned long long>(tuples), storm.LogTail().c_str());
        return 1;
      }
      Run r{p, wrapped, 0, (last - first) / 1000.0};
      r.tuples_per_s = r.seconds > 0 ? static_cast<double>(n) / r.seconds : 0;
      runs.push_back(r);
      printf("  pair %d %-8s %10.0f tuples/s (%.2f s)\n", p + 1, wrapped ? "wrapped" : "plain", r.tuples_per_s, r.seconds);
      fflush(stdout);
      if (Status killed = storm.Kill(name, 0); !killed) {
        fprintf(stderr, "storm_bench: %s\n", killed.message().c_str());
        return 1;
      }
    }
  }
  std::vector<double> plain, wrapped;
  for (const Run& r : runs) (r.wrapped ? wrapped : plain).push_back(r.tuples_per_s);
  double mp = Median(plain), mw = Median(wrapped);
  double overhead = mp > 0 ? 100.0 * (1 - mw / mp) : 0;
  if (overhead > -0.05 && overhead < 0.05) overhead = 0;  // not "-0.0%"
  printf("median: plain %.0f tuples/s, wrapped %.0f tuples/s: the wrapper costs %.1f%% of the throughput\n", mp, mw, overhead);
  if (!out.empty()) {
    utsname u{};
    ::uname(&u);
    char date[64];
    std::time_t now = std::time(nullptr);
    std::strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", std::gmtime(&now));
    std::ofstream md(out, std::ios::app);
    md << "## The " << topology << " topology\n\n`make bench-storm` (TOPOLOGY=" << topology << ", PAIRS=" << pairs << ", TUPLES=" << tuples
       << ") on " << date << ", "
       << u.nodename << " (" << u.machine << ", Linux " << u.release << ", " << ::sysconf(_SC_NPROCESSORS_ONLN)
       << " cores), Storm 2.8.3.\n\n| pair | mode | tuples/s | seconds |\n| --- | --- | ---: | ---: |\n";
    for (const Run& r : runs) {
      char line[160];
      snprintf(line, sizeof line, "| %d | %s | %.0f | %.2f |\n", r.pair + 1, r.wrapped ? "TailsafeBolt" : "bare bolt", r.tuples_per_s, r.seconds);
      md << line;
    }
    char summary[256];
    snprintf(summary, sizeof summary, "\nMedians: bare %.0f tuples/s, TailsafeBolt %.0f tuples/s; the wrapper costs %.1f%%.\n", mp, mw,
             overhead);
    md << summary;
  }
  return 0;
}
