// ts-storm-cluster: a real Apache Storm cluster (and a PostgreSQL server) for scripts, from the
// tests' own harness (tests/support/storm_cluster.h, postgres_server.h), so that `make
// demo-storm` and benchmarks run the very cluster the integration tests do.
//
//   ts-storm-cluster DIR --spool PATH [--spool PATH ...] [--postgres] [--slots N]
//
// Starts a PostgreSQL server with a new, empty database (with --postgres), then ZooKeeper,
// Nimbus and one supervisor per --spool (its workers' tailsafe.spool.dir; supervisor 1 is the
// host 127.0.0.1, supervisor 2 localhost), all in a network namespace of their own. Once every
// supervisor is registered it writes DIR/cluster.env, prints "ready" and waits for SIGTERM or
// SIGINT; then it stops everything it started (every process of the namespace, the server) and
// exits 0. DIR/cluster.env, for `source`:
//
//   STORM_NETNS          the `ip netns` name of the namespace (Nimbus listens on its 127.0.0.1)
//   STORM_NIMBUS_PORT    Nimbus's thrift port
//   STORM_HOME           storm.home (Storm's jars: lib, lib-worker)
//   STORM_CLIENT_YAML    the client configuration naming Nimbus (storm.conf.file)
//   STORM_DIR            the cluster's directory (logs/: nimbus, supervisors, workers)
//   STORM_HOSTS          the supervisors' hostnames, in --spool order
//   PG_URI               the database's libpq URI (with --postgres)
//   storm_java ARGS...   runs java inside the namespace as the tests' Storm clients do (small
//                        heap, client logging); ARGS are the rest: -D..., -cp, main class, args
//   storm_admin ARGS...  storm/admin's StormAdmin against Nimbus: supervisors, placement
//                        TOPOLOGY, rebalance TOPOLOGY WAIT WORKERS, kill TOPOLOGY WAIT
//
// An error at start (no root, no `make storm-home`, a daemon that does not start) is said on
// standard error, and the exit status is 1; 2 for a usage error.
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "tests/support/postgres_server.h"
#include "tests/support/storm_cluster.h"

using namespace tailsafe::testing;

namespace {

volatile sig_atomic_t g_stop = 0;
void OnSignal(int) { g_stop = 1; }

int Usage(const char* why) {
  fprintf(stderr, "ts-storm-cluster: %s\nusage: ts-storm-cluster DIR --spool PATH [--spool PATH ...] [--postgres] [--slots N]\n",
          why);
  return 2;
}

// A value for a shell assignment: single-quoted.
std::string Sh(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argv[1][0] == '-') return Usage("say the directory for cluster.env first");
  std::string dir = argv[1];
  StormCluster::Options options;
  options.spools.clear();
  bool postgres = false;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--postgres") {
      postgres = true;
    } else if ((a == "--spool" || a == "--slots") && i + 1 < argc) {
      std::string v = argv[++i];
      if (a == "--spool") {
        options.spools.push_back(v);
      } else {
        options.slots = std::atoi(v.c_str());
        if (options.slots < 1) return Usage("--slots must be at least 1");
      }
    } else {
      return Usage(("unknown option or missing value: " + a).c_str());
    }
  }
  if (options.spools.empty()) return Usage("at least one --spool (one supervisor each)");
  options.supervisors = static_cast<int>(options.spools.size());
  if (options.supervisors > 2) return Usage("at most two supervisors (hostnames 127.0.0.1 and localhost)");

  // Handlers, not a blocked mask: the daemons must not inherit blocked signals. A signal during
  // the start is acted on once the start has finished or failed.
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_handler = OnSignal;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);

  if (std::string missing = StormMissing(); !missing.empty()) {
    fprintf(stderr, "ts-storm-cluster: this machine cannot run a Storm cluster: %s\n", missing.c_str());
    return 1;
  }
  std::unique_ptr<PostgresServer> pg;
  std::string pg_uri;
  if (postgres) {
    if (std::string missing = PostgresMissing(); !missing.empty()) {
      fprintf(stderr, "ts-storm-cluster: no PostgreSQL server: %s\n", missing.c_str());
      return 1;
    }
    auto started = PostgresServer::Start("storm-cluster");
    if (!started) {
      fprintf(stderr, "ts-storm-cluster: PostgreSQL: %s\n", started.status().message().c_str());
      return 1;
    }
    pg = std::move(started.value());
    auto uri = pg->NewDatabase("weblog");
    if (!uri) {
      fprintf(stderr, "ts-storm-cluster: a new PostgreSQL database: %s\n", uri.status().message().c_str());
      return 1;
    }
    pg_uri = *uri;
  }
  if (g_stop) return 0;
  auto started = StormCluster::Start("cluster", options);
  if (!started) {
    fprintf(stderr, "ts-storm-cluster: the Storm cluster did not start: %s\n", started.status().message().c_str());
    return 1;
  }
  std::unique_ptr<StormCluster> storm = std::move(started.value());
  if (g_stop) return 0;

  std::string env = dir + "/cluster.env", tmp = env + ".tmp";
  {
    std::ofstream out(tmp);
    out << "# ts-storm-cluster (pid " << ::getpid() << "): a Storm cluster in network namespace " << storm->netns() << "\n"
        << "STORM_NETNS=" << Sh(storm->netns()) << "\n"
        << "STORM_NIMBUS_PORT=" << storm->nimbus_port() << "\n"
        << "STORM_HOME=" << Sh(storm->home()) << "\n"
        << "STORM_CLIENT_YAML=" << Sh(storm->client_yaml()) << "\n"
        << "STORM_DIR=" << Sh(storm->dir()) << "\n"
        << "STORM_HOSTS=" << Sh(StormCluster::Hostname(0) + (options.supervisors > 1 ? " " + StormCluster::Hostname(1) : ""))
        << "\n"
        << "PG_URI=" << Sh(pg_uri) << "\n"
        << "storm_java() { " << storm->JavaCommand() << " \"$@\"; }\n"
        << "storm_admin() { " << storm->AdminCommand() << " \"$@\"; }\n";
    out.close();
    if (!out || std::rename(tmp.c_str(), env.c_str()) != 0) {
      fprintf(stderr, "ts-storm-cluster: cannot write %s: %s\n", env.c_str(), std::strerror(errno));
      return 1;
    }
  }
  printf("ready\n");
  fflush(stdout);
  sigset_t stop, old;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  sigprocmask(SIG_BLOCK, &stop, &old);
  while (!g_stop) sigsuspend(&old);
  sigprocmask(SIG_SETMASK, &old, nullptr);
  fprintf(stderr, "ts-storm-cluster: stopping the Storm cluster%s\n", pg ? " and PostgreSQL" : "");
  storm.reset();
  pg.reset();
  ::unlink(env.c_str());
  return 0;
}
