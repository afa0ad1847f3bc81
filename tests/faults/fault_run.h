// FaultRun: a tailsafe cluster on hosts that are apart (one network namespace each, joined by
// a bridge), a workload, and a nemesis that injects faults into the real processes while the
// workload runs. The checker (checker.h) then says whether anything was lost.
//
// The hosts: a coordinator ("co") and 3 to 5 agents (h1..hN), each agent's data_dir on a tmpfs
// of its own (so one can be filled). With store = zookeeper, three coordinator instances
// ("co", "co2", "co3") on a 3-member ZooKeeper ensemble whose members share host "zk". Each agent host runs a weblog-bolt (bolt-1: pid file,
// checkpoint, weblog-analyze as its hook) fed by one weblog-spout, and a raw appender (bolt-2:
// a plain file a thread of this process appends to). The nemesis keeps up to two faults active
// at once, each healed after a random hold:
//   kill-bolt, kill-agent, kill-coordinator   SIGKILL, restarted when healed
//   pause-agent, pause-elected                SIGSTOP longer than host_timeout_ms, then SIGCONT;
//                                             pause-elected picks an agent running a recovery
//   partition-full, partition-one-way,        nftables rules in the namespaces: a host cut off
//   partition-bridge                          from everyone; one that hears nobody (but is
//                                             heard); the others split in two groups that only
//                                             one host sees both of
//   disk-full                                 a host's data_dir filled to the last byte
//   rotation-storm                            the raw appender's file rotated again and again
//                                             (rename or copytruncate, the seed picks each), as
//                                             fast as its agent follows; no kill or pause of
//                                             that agent meanwhile (see docs/reliability.md)
// and with store = zookeeper only:
//   kill-leader, pause-leader                 the leading instance SIGKILLed (restarted when
//                                             healed), or SIGSTOPped for longer than its session
//   kill-zookeeper, quorum-loss               one ensemble member SIGKILLed, or two of three
//                                             (no quorum); restarted when healed
//   partition-zookeeper                       nftables rules cut a coordinator instance (the
//                                             leader, when one leads) off from the ensemble,
//                                             not from the agents
// (kill-coordinator then kills any instance).
// For the whole run, inotify's max_queued_events is lowered (agents started under it get small
// queues, so pauses overflow them) and restored afterwards.
// Every choice comes from one seeded generator: the seed is printed and replays the schedule
// (the timing of the processes themselves is not replayed).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "common/status.h"
#include "tests/support/cluster.h"
#include "tests/support/virtual_network.h"
#include "tests/support/weblog_deployment.h"
#include "tests/support/zookeeper_ensemble.h"
#include "tests/faults/rotating_appender.h"

namespace tailsafe::testing {

enum class FaultKind {
  kKillBolt,
  kKillAgent,
  kKillCoordinator,
  kPauseAgent,
  kPauseElected,
  kPartitionFull,
  kPartitionOneWay,
  kPartitionBridge,
  kDiskFull,
  kRotationStorm,
  kKillLeader,
  kPauseLeader,
  kKillZookeeper,
  kQuorumLoss,
  kPartitionZookeeper,
};
const char* FaultName(FaultKind k);
// Every kind a run on this store can inject (the ZooKeeper kinds only with zookeeper).
std::vector<FaultKind> AllFaultKinds(bool zookeeper = false);
// "kill-agent,disk-full" -> kinds; an error naming an unknown one, or one of the ZooKeeper
// kinds without zookeeper.
Result<std::vector<FaultKind>> ParseFaultKinds(const std::string& list, bool zookeeper = false);

struct FaultOptions {
  uint64_t seed = 1;
  double seconds = 60;  // how long the nemesis runs
  int hosts = 0;        // agents; 0: the seed picks 3 to 5
  bool zookeeper = false;  // the coordinator's store: three instances on an ensemble, or SQLite
  uint32_t replicas = 0;   // every agent's [cluster] replicas; 0: every peer holds every stream
  std::vector<FaultKind> kinds = AllFaultKinds();
  int max_active = 2;  // faults active at once
};

// One injected fault, as the log and the figures report it.
struct FaultEvent {
  FaultKind kind;
  std::string target;
  double at = 0;    // seconds since the nemesis started
  double hold = 0;  // seconds until healed
};

class FaultRun {
 public:
  explicit FaultRun(FaultOptions options);
  ~FaultRun();

  // Makes the network and the cluster, starts the coordinator, the agents, the bolts, the
  // spout and the appenders.
  Status Start();
  // Runs the nemesis for options.seconds, sampling the acknowledgement invariant as it goes.
  Status RunNemesis();
  // Heals every fault, restarts what is down, lets the workload finish (spout done, appenders
  // done, bolts stopped cleanly), and waits for replication and recoveries to settle.
  Status HealAndSettle(double seconds);
  // Stops every agent and the coordinator with SIGTERM: an error unless each exits 0.
  Status StopAll();

  TestCluster& cluster() { return *cluster_; }
  WeblogDeployment& weblog() { return *weblog_; }
  const FaultOptions& options() const { return options_; }
  const std::string& input() const { return input_; }
  uint64_t input_requests() const { return input_requests_; }
  const std::vector<FaultEvent>& events() const { return events_; }
  // Invariant violations seen during the run (acknowledged bytes missing from a replica).
  const std::vector<std::string>& violations() const { return violations_; }
  uint64_t invariant_samples() const { return samples_; }
  uint64_t raw_bytes_written() const;
  // Agent i's raw appender (its last bolt), and rotations done, by kind.
  const RotatingAppender& appender(int i) const { return *appenders_[static_cast<size_t>(i)]; }
  int raw_bolt() const { return cluster_->bolts() - 1; }
  const std::map<std::string, int>& rotations() const { return rotations_; }
  void Keep() { cluster_->Keep(); }

 private:
  struct Active {
    FaultKind kind;
    int target = -1;  // agent index; -1: the coordinator or the network
    int instance = -1;  // the coordinator instance it holds, or -1
    std::vector<int> members;  // the ensemble members it killed
    std::chrono::steady_clock::time_point heal_at;
    std::string filler;  // disk-full: the file that fills the tmpfs
    // rotation-storm: the generation the agent must open before the next rotation (0: none
    // awaited), and by when.
    uint64_t awaited_gen = 0;
    std::chrono::steady_clock::time_point await_deadline;
  };
  double Now() const;
  // False if this kind has no target now (everything it could hit is already down).
  Result<bool> Inject(FaultKind kind, Active* a);
  // Inject, then log it, count it and hold it for a random time; false as Inject.
  Result<bool> TryInject(FaultKind kind, std::chrono::steady_clock::time_point now);
  Status Heal(const Active& a);
  bool Busy(int target) const;  // a fault already holds this agent
  int PickAgent(bool may_be_busy = false);
  std::vector<int> AgentsWithout(FaultKind kind) const;  // agents no active fault of `kind` holds
  int ElectedAgent();  // an agent with a recovery not yet ended, or -1
  Status StartAgent(int i);
  // A coordinator instance no fault holds now: the leader (-1 if none leads or it is held), or
  // any (-1 if all are held).
  int FreeLeader() const;
  int FreeInstance();
  std::string InstanceName(int k) const { return TestCluster::CoordinatorHost(k); }
  Status RestartBolt(int i);
  void SampleInvariant();
  // One step of an active rotation storm: rotate again once the agent followed the last one.
  Status StormStep(Active& a);
  // The raw bolt's generation agent i is on (0 if unknown) and how many of its bytes it read.
  struct RawFollow {
    uint64_t gen = 0;
    uint64_t size = 0;
  };
  RawFollow RawGeneration(int i);
  void Log(const std::string& line);

  FaultOptions options_;
  std::mt19937_64 rng_;
  std::unique_ptr<VirtualNetwork> network_;
  std::unique_ptr<ZookeeperEnsemble> zk_;  // with options.zookeeper
  std::unique_ptr<TestCluster> cluster_;
  std::unique_ptr<WeblogDeployment> weblog_;
  Child spout_;
  std::vector<std::unique_ptr<RotatingAppender>> appenders_;
  std::map<std::string, int> rotations_;
  std::string queued_events_;  // max_queued_events before the run, restored after
  std::string input_;
  uint64_t input_requests_ = 0;
  std::vector<Active> active_;
  std::vector<FaultEvent> events_;
  std::vector<std::string> violations_;
  uint64_t samples_ = 0;
  bool partitioned_ = false;
  std::set<int> held_instances_;  // coordinator instances a fault holds (killed, stopped)
  bool zk_fault_ = false;         // a fault holds ensemble members
  bool pending_pause_elected_ = false;  // picked while no agent ran a recovery: injected later
  std::chrono::steady_clock::time_point started_;
};

}  // namespace tailsafe::testing
