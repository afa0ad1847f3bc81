// StormCluster: a real Apache Storm cluster for the tests, the demo and the benchmark, from
// Storm's released jars (TAILSAFE_SOURCE_DIR/build/storm-home, laid out from Maven Central by
// `make storm-home`; storm/home/pom.xml): Debian's ZooKeeper, Nimbus, and N supervisors, each
// a "host" with its own storm.local.dir, slots, thrift port, hostname (127.0.0.1, localhost:
// names that resolve, since workers reach each other by them) and spool directory, given to
// its workers as -Dtailsafe.spool.dir. Topologies are submitted through StormSubmitter (a
// topology's own main) and watched and moved with storm/admin's StormAdmin.
//
// Storm binds every interface and has no setting against it, so the cluster runs in a network
// namespace of its own (a VirtualNetwork host): nothing it opens is reachable from outside this
// machine. The destructor kills every process in that namespace: daemons, the workers and
// their LogWriters, and ShellBolt subprocesses.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "tests/support/cluster.h"
#include "tests/support/process.h"
#include "tests/support/virtual_network.h"
#include "tests/support/zookeeper_ensemble.h"

namespace tailsafe::testing {

// Why this machine cannot run a Storm cluster (not root, no Java, no storm home or admin jar:
// run `make storm-home`), or "" if it can.
std::string StormMissing();

class StormCluster {
 public:
  struct Options {
    int supervisors = 2;
    int slots = 2;                    // worker slots per supervisor
    std::vector<std::string> spools;  // per supervisor: its workers' tailsafe.spool.dir ("" none)
  };
  // Starts ZooKeeper, Nimbus and the supervisors; returns once every supervisor is registered.
  static Result<std::unique_ptr<StormCluster>> Start(const std::string& name, Options options);
  ~StormCluster();
  StormCluster(const StormCluster&) = delete;
  StormCluster& operator=(const StormCluster&) = delete;

  const std::string& dir() const { return dir_; }
  std::string home() const;  // storm.home
  // The hostname supervisor s registers under: 127.0.0.1, localhost.
  static std::string Hostname(int s) { return s == 0 ? "127.0.0.1" : "localhost"; }
  // The supervisor of a hostname Placement gives; -1 if none.
  int SupervisorOf(const std::string& host) const;

  // Runs `main_class` of `jar` (a topology's main, which calls StormSubmitter) inside the
  // cluster's namespace, with -Dstorm.jar=jar, Storm's client class path plus the jar, and
  // storm.conf.file naming Nimbus; waits until it exits 0 (its output in the error if not).
  Status Submit(const std::string& jar, const std::string& main_class, const std::vector<std::string>& args);

  struct Task {
    std::string component;
    int task = 0;
    std::string host;  // "" while unplaced
    int port = 0;
  };
  // Where each task of `topology`'s own components runs now.
  Result<std::vector<Task>> Placement(const std::string& topology);
  Status Rebalance(const std::string& topology, int wait_seconds, int workers);
  Status Kill(const std::string& topology, int wait_seconds);

  // The last bytes of Nimbus's, each supervisor's and each worker's logs, for failure messages.
  std::string LogTail(size_t bytes = 2000) const;

  // For programs outside this process (ts-storm-cluster, the demo): the `ip netns` name of the
  // namespace every daemon and worker runs in, Nimbus's thrift port there (on 127.0.0.1), and
  // the client configuration naming it (storm.conf.file for a topology's main).
  std::string netns() const;
  uint16_t nimbus_port() const { return nimbus_port_; }
  std::string client_yaml() const { return dir_ + "/client.yaml"; }
  // The shell command line, up to its class path, that runs a Java program inside the namespace
  // as Submit and the StormAdmin calls do (small heap, Storm's client logging under dir()/logs),
  // with `jvm_args`; a caller appends -cp, the main class and its arguments.
  std::string JavaCommand(const std::vector<std::string>& jvm_args = {}) const;
  // The shell command line of StormAdmin against this cluster's Nimbus; its arguments follow
  // (supervisors, placement TOPOLOGY, rebalance ..., kill ...).
  std::string AdminCommand() const;

 private:
  StormCluster() = default;
  Status SpawnDaemon(const std::string& name, const std::string& main_class, const std::string& yaml, const std::string& heap);
  // Runs a Java program inside the namespace on lib-worker plus `extra_cp`; its output.
  CommandResult RunJava(const std::string& extra_cp, const std::vector<std::string>& jvm_args, const std::string& main_class,
                        const std::vector<std::string>& args) const;
  Result<std::string> Admin(const std::vector<std::string>& args) const;

  Options options_;
  std::string dir_;
  std::unique_ptr<VirtualNetwork> net_;
  std::unique_ptr<ZookeeperEnsemble> zk_;
  uint16_t nimbus_port_ = 0;
  std::vector<Child> daemons_;  // nimbus, then the supervisors
};

}  // namespace tailsafe::testing
