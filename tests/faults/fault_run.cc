#include "tests/faults/fault_run.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "common/placement.h"

namespace tailsafe::testing {

namespace {

constexpr double kWeblogRequestsPerHost = 250;  // per second, what the spout sends per agent host
constexpr const char* kBoltMaxRate = "400";      // requests a second each bolt analyses at most
constexpr double kRawBytesPerSecond = 20000;     // each raw appender
constexpr uint64_t kDataDirBytes = 512ull << 20;  // each agent's tmpfs

constexpr uint32_t kSessionMs = 2000;  // the coordinators' zookeeper_session_ms

struct KindInfo {
  FaultKind kind;
  const char* name;
  double min_hold, max_hold;  // seconds
  bool zookeeper_only = false;
};
// Holds: kills are restarted after up to 3 s (beyond host_timeout_ms = 1 s: sometimes declared
// dead, sometimes back in time); pauses are always longer than host_timeout_ms.
constexpr KindInfo kKinds[] = {
    {FaultKind::kKillBolt, "kill-bolt", 0.1, 2.0},
    {FaultKind::kKillAgent, "kill-agent", 0.1, 3.0},
    {FaultKind::kKillCoordinator, "kill-coordinator", 0.1, 3.0},
    {FaultKind::kPauseAgent, "pause-agent", 1.5, 4.0},
    {FaultKind::kPauseElected, "pause-elected", 1.5, 4.0},
    {FaultKind::kPartitionFull, "partition-full", 0.5, 5.0},
    {FaultKind::kPartitionOneWay, "partition-one-way", 0.5, 5.0},
    {FaultKind::kPartitionBridge, "partition-bridge", 0.5, 5.0},
    {FaultKind::kDiskFull, "disk-full", 1.0, 5.0},
    {FaultKind::kRotationStorm, "rotation-storm", 1.0, 4.0},
    // A leader stopped for longer than its session (kSessionMs) is replaced; killed, it may
    // come back before its session ends or after.
    {FaultKind::kKillLeader, "kill-leader", 0.1, 4.0, true},
    {FaultKind::kPauseLeader, "pause-leader", 2.5, 5.0, true},
    {FaultKind::kKillZookeeper, "kill-zookeeper", 0.5, 5.0, true},
    {FaultKind::kQuorumLoss, "quorum-loss", 0.5, 6.0, true},
    {FaultKind::kPartitionZookeeper, "partition-zookeeper", 0.5, 5.0, true},
};
constexpr const char* kQueuedEvents = "/proc/sys/fs/inotify/max_queued_events";
constexpr const char* kQueuedEventsSaved = "/var/tmp/tailsafe-faults.max_queued_events";
constexpr int kRunQueuedEvents = 64;  // small enough for a paused agent's queue to overflow
constexpr double kFollowSeconds = 5;  // an agent that is not paused sees a rotation within this

const KindInfo& Info(FaultKind k) {
  for (const KindInfo& i : kKinds)
    if (i.kind == k) return i;
  std::abort();
}

}  // namespace

const char* FaultName(FaultKind k) { return Info(k).name; }

std::vector<FaultKind> AllFaultKinds(bool zookeeper) {
  std::vector<FaultKind> out;
  for (const KindInfo& i : kKinds)
    if (zookeeper || !i.zookeeper_only) out.push_back(i.kind);
  return out;
}

Result<std::vector<FaultKind>> ParseFaultKinds(const std::string& list, bool zookeeper) {
  std::vector<FaultKind> out;
  std::istringstream in(list);
  for (std::string name; std::getline(in, name, ',');) {
    if (name.empty()) continue;
    bool found = false;
    for (const KindInfo& i : kKinds) {
      if (name == i.name) {
        if (i.zookeeper_only && !zookeeper) {
          return Status::Error("fault kind '" + name + "' needs the zookeeper store (TAILSAFE_FAULT_STORE=zookeeper)");
        }
        out.push_back(i.kind);
        found = true;
      }
    }
    if (!found) {
      std::string known;
      for (const KindInfo& i : kKinds) known += std::string(known.empty() ? "" : ", ") + i.name;
      return Status::Error("unknown fault kind '" + name + "' (known: " + known + ")");
    }
  }
  if (out.empty()) return Status::Error("no fault kinds in '" + list + "'");
  return out;
}

FaultRun::FaultRun(FaultOptions options) : options_(std::move(options)), rng_(options_.seed) {}

FaultRun::~FaultRun() {
  // Nothing may stay stopped or cut off: the cluster's destructor kills what runs.
  for (const Active& a : active_) (void)Heal(a);  // best effort: the cluster is going away
  if (network_) (void)network_->HealAll();
  spout_.Signal(SIGKILL);
  spout_.Wait();
  for (auto& w : appenders_) w->Hold(false);
  if (!queued_events_.empty()) {
    std::ofstream(kQueuedEvents) << queued_events_;
    ::unlink(kQueuedEventsSaved);
  }
}

double FaultRun::Now() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
}

void FaultRun::Log(const std::string& line) {
  char prefix[32];
  snprintf(prefix, sizeof prefix, "[faults %7.2fs] ", Now());
  fprintf(stderr, "%s%s\n", prefix, line.c_str());
  if (cluster_) std::ofstream(cluster_->root() + "/nemesis.log", std::ios::app) << prefix << line << "\n";
}

Status FaultRun::Start() {
  started_ = std::chrono::steady_clock::now();
  if (options_.hosts == 0) options_.hosts = 3 + static_cast<int>(rng_() % 3);
  std::vector<std::string> names = {"co"};
  if (options_.zookeeper) names.insert(names.end(), {"co2", "co3", "zk"});
  for (int i = 0; i < options_.hosts; ++i) names.push_back("h" + std::to_string(i + 1));
  auto net = VirtualNetwork::Create(names);
  if (!net) return net.status();
  network_ = std::move(*net);

  // Agents started from here on get small inotify queues. The value to restore is kept in a
  // file too, so that a run killed outright does not leave the machine with small queues: the
  // next run restores it.
  {
    std::ifstream saved(kQueuedEventsSaved);
    std::getline(saved, queued_events_);
    if (queued_events_.empty()) {
      std::ifstream in(kQueuedEvents);
      std::getline(in, queued_events_);
      std::ofstream(kQueuedEventsSaved) << queued_events_ << "\n";
    }
    std::ofstream out(kQueuedEvents);
    out << kRunQueuedEvents;
    if (queued_events_.empty() || !out.flush()) return Status::Error(std::string("cannot lower ") + kQueuedEvents);
  }
  ClusterOptions o = WeblogCluster(options_.hosts);
  o.network = network_.get();
  if (options_.zookeeper) {
    ZookeeperEnsemble::Options zo;
    zo.address = network_->Address("zk");
    zo.netns = network_->NamespacePath("zk");
    auto zk = ZookeeperEnsemble::Start("faults", zo);
    if (!zk) return zk.status();
    zk_ = std::move(*zk);
    if (!zk_->WaitServing(60)) return Status::Error("the ZooKeeper ensemble does not serve:\n" + zk_->LogTail(0));
    o.zookeeper = zk_->connect_string();
    o.coordinators = 3;
    o.zookeeper_session_ms = kSessionMs;
  }
  o.plain_bolts = 1;
  o.replicas = options_.replicas;
  o.data_dir_tmpfs_bytes = kDataDirBytes;
  // The checker reads every recorded range from /recoveries: none is folded away meanwhile.
  o.recoveries_kept = 1000000;
  cluster_ = std::make_unique<TestCluster>("faults", o);
  TestCluster& c = *cluster_;
  Log("seed " + std::to_string(options_.seed) + ", " + std::to_string(options_.hosts) + " agents, " +
      (options_.zookeeper ? "3 coordinators on ZooKeeper, " : "a coordinator on SQLite, ") +
      (options_.replicas ? "replicas = " + std::to_string(options_.replicas) + ", " : std::string()) +
      std::to_string(static_cast<int>(options_.seconds)) + " s of faults; files in " + c.root());

  input_ = c.root() + "/input.log";
  double rate = kWeblogRequestsPerHost * options_.hosts;
  input_requests_ = static_cast<uint64_t>(rate * options_.seconds);
  CommandResult gen = RunCommand(AbsBin("weblog-gen") + " -n " + std::to_string(input_requests_) + " --minutes " +
                                 std::to_string(std::max<uint64_t>(10, input_requests_ / 2000)) +
                                 " --malformed-every 5000 --seed " + std::to_string(options_.seed % 1000000 + 1) +
                                 " -o " + input_);
  if (gen.code != 0) return Status::Error("weblog-gen: " + gen.out);

  // Before the agents start: it writes the results database's path into their hooks.
  weblog_ = std::make_unique<WeblogDeployment>(c, std::vector<std::string>{"--commit-ms", "50", "--max-rate", kBoltMaxRate});
  for (int k = 0; k < c.coordinators(); ++k) {
    if (Status s = c.StartCoordinator(30, k); !s) return s;
  }
  if (!WaitUntil([&] { return c.LeadingCoordinator() >= 0 || !options_.zookeeper; }, 30, 100)) {
    return Status::Error("no coordinator instance leads:\n" + c.CoordinatorLogTail());
  }
  if (Status s = c.StartAll(); !s) return s;
  for (int i = 0; i < c.size(); ++i) {
    if (Status s = weblog_->StartBolt(i); !s) return s;
  }
  auto spout = weblog_->StartSpout(input_, std::to_string(static_cast<int>(rate)));
  if (!spout) return spout.status();
  spout_ = std::move(*spout);
  for (int i = 0; i < c.size(); ++i) {
    auto w = std::make_unique<RotatingAppender>(c.BoltFile(i, raw_bolt()),
                                                static_cast<uint64_t>(kRawBytesPerSecond * options_.seconds),
                                                options_.seed + static_cast<uint64_t>(i), kRawBytesPerSecond, 16384);
    w->Start();
    if (!w->error().empty()) return Status::Error("raw appender: " + w->error());
    appenders_.push_back(std::move(w));
  }
  return Status::Ok();
}

uint64_t FaultRun::raw_bytes_written() const {
  uint64_t n = 0;
  for (const auto& w : appenders_) n += w->written();
  return n;
}

bool FaultRun::Busy(int target) const {
  for (const Active& a : active_)
    if (a.target == target && a.kind != FaultKind::kKillBolt && a.kind != FaultKind::kDiskFull) return true;
  return false;
}

std::vector<int> FaultRun::AgentsWithout(FaultKind kind) const {
  std::vector<int> out;
  for (int i = 0; i < cluster_->size(); ++i) {
    bool hit = false;
    for (const Active& a : active_) hit |= a.kind == kind && a.target == i;
    if (!hit) out.push_back(i);
  }
  return out;
}

int FaultRun::PickAgent(bool may_be_busy) {
  std::vector<int> free;
  for (int i = 0; i < cluster_->size(); ++i)
    if (may_be_busy || !Busy(i)) free.push_back(i);
  if (free.empty()) return -1;
  return free[rng_() % free.size()];
}

int FaultRun::ElectedAgent() {
  std::vector<int> running;
  for (int i = 0; i < cluster_->size(); ++i) {
    if (Busy(i) || !cluster_->Running(i)) continue;
    auto st = cluster_->AgentStatus(i);
    if (!st.ok() || !st->contains("recoveries")) continue;
    for (const auto& job : (*st)["recoveries"]) {
      if (job.value("phase", "") != "ended") {
        running.push_back(i);
        break;
      }
    }
  }
  if (running.empty()) return -1;
  return running[rng_() % running.size()];
}

Status FaultRun::StartAgent(int i) { return cluster_->Start(i, 20); }

int FaultRun::FreeLeader() const {
  int k = cluster_->LeadingCoordinator();
  return k >= 0 && !held_instances_.count(k) ? k : -1;
}

int FaultRun::FreeInstance() {
  std::vector<int> free;
  for (int k = 0; k < cluster_->coordinators(); ++k)
    if (!held_instances_.count(k)) free.push_back(k);
  if (free.empty()) return -1;
  return free[rng_() % free.size()];
}

Status FaultRun::RestartBolt(int i) { return weblog_->StartBolt(i); }

Result<bool> FaultRun::Inject(FaultKind kind, Active* a) {
  TestCluster& c = *cluster_;
  a->kind = kind;
  switch (kind) {
    case FaultKind::kKillBolt: {
      // The bolt's target is its host; a bolt already down is not killed twice.
      std::vector<int> up = AgentsWithout(FaultKind::kKillBolt);
      if (up.empty()) return false;
      a->target = up[rng_() % up.size()];
      weblog_->bolt(a->target).Signal(SIGKILL);
      weblog_->bolt(a->target).Wait();
      return true;
    }
    case FaultKind::kKillAgent:
      if ((a->target = PickAgent()) < 0) return false;
      c.Kill(a->target, SIGKILL);
      return true;
    case FaultKind::kKillCoordinator:
    case FaultKind::kKillLeader:
    case FaultKind::kPauseLeader:
      a->instance = kind == FaultKind::kKillCoordinator ? FreeInstance() : FreeLeader();
      if (a->instance < 0) return false;
      held_instances_.insert(a->instance);
      c.KillCoordinator(kind == FaultKind::kPauseLeader ? SIGSTOP : SIGKILL, a->instance);
      return true;
    case FaultKind::kKillZookeeper:
    case FaultKind::kQuorumLoss: {
      if (zk_fault_) return false;
      std::vector<int> members = {0, 1, 2};
      std::shuffle(members.begin(), members.end(), rng_);
      members.resize(kind == FaultKind::kKillZookeeper ? 1 : 2);
      for (int m : members) zk_->Kill(m);
      a->members = members;
      zk_fault_ = true;
      return true;
    }
    case FaultKind::kPartitionZookeeper: {
      if (partitioned_) return false;
      a->instance = FreeLeader();
      if (a->instance < 0) a->instance = FreeInstance();
      if (a->instance < 0) return false;
      std::string co = InstanceName(a->instance);
      if (Status s = network_->Block("zk", co); !s) return s;
      if (Status s = network_->Block(co, "zk"); !s) return s;
      partitioned_ = true;
      return true;
    }
    case FaultKind::kPauseAgent:
    case FaultKind::kPauseElected:
      a->target = kind == FaultKind::kPauseElected ? ElectedAgent() : PickAgent();
      if (a->target < 0) return false;
      if (!c.Running(a->target)) return false;
      ::kill(c.Pid(a->target), SIGSTOP);
      return true;
    case FaultKind::kPartitionFull:
    case FaultKind::kPartitionOneWay: {
      if (partitioned_) return false;
      a->target = static_cast<int>(rng_() % static_cast<uint64_t>(c.size()));
      std::string me = c.AgentId(a->target);
      bool inbound = kind == FaultKind::kPartitionFull || rng_() % 2 == 0;
      bool outbound = kind == FaultKind::kPartitionFull || !inbound;
      for (const std::string& other : network_->hosts()) {
        if (other == me) continue;
        if (inbound) {
          if (Status s = network_->Block(me, other); !s) return s;
        }
        if (outbound) {
          if (Status s = network_->Block(other, me); !s) return s;
        }
      }
      partitioned_ = true;
      return true;
    }
    case FaultKind::kPartitionBridge: {
      if (partitioned_) return false;
      // One agent sees everyone; the coordinator and the rest are split in two groups that
      // cannot reach each other.
      a->target = static_cast<int>(rng_() % static_cast<uint64_t>(c.size()));
      std::vector<std::string> left = {"co"}, right;
      for (int i = 0; i < c.size(); ++i) {
        if (i == a->target) continue;
        (rng_() % 2 == 0 ? left : right).push_back(c.AgentId(i));
      }
      if (right.empty()) {  // both groups must hold someone
        right.push_back(left.back());
        left.pop_back();
      }
      for (const std::string& l : left) {
        for (const std::string& r : right) {
          if (Status s = network_->Block(l, r); !s) return s;
          if (Status s = network_->Block(r, l); !s) return s;
        }
      }
      partitioned_ = true;
      return true;
    }
    case FaultKind::kDiskFull: {
      std::vector<int> free = AgentsWithout(FaultKind::kDiskFull);
      if (free.empty()) return false;
      a->target = free[rng_() % free.size()];
      a->filler = c.DataDir(a->target) + "/fault-filler";
      if (Status s = FillFilesystem(a->filler); !s) return s;
      return true;
    }
    case FaultKind::kRotationStorm:
      // Its agent stays up and running meanwhile (Busy): see docs/reliability.md for why.
      if ((a->target = PickAgent()) < 0) return false;
      return true;
  }
  return false;
}

FaultRun::RawFollow FaultRun::RawGeneration(int i) {
  auto st = cluster_->AgentStatus(i);
  if (!st) return {};
  const auto& bolts = (*st)["bolts"];
  if (bolts.size() <= static_cast<size_t>(raw_bolt())) return {};
  const auto& b = bolts[static_cast<size_t>(raw_bolt())];
  return {b.value("generation", uint64_t{0}), b.value("origin_size", uint64_t{0})};
}

Status FaultRun::StormStep(Active& a) {
  RotatingAppender& w = *appenders_[static_cast<size_t>(a.target)];
  auto now = std::chrono::steady_clock::now();
  if (a.awaited_gen != 0) {
    if (RawGeneration(a.target).gen >= a.awaited_gen) {
      a.awaited_gen = 0;
      w.Hold(false);
    } else if (now > a.await_deadline) {
      w.Hold(false);
      violations_.push_back("at " + std::to_string(Now()) + " s: " + cluster_->AgentId(a.target) + " did not open " +
                            cluster_->BoltName(raw_bolt()) + " generation " + std::to_string(a.awaited_gen) +
                            " within " + std::to_string(kFollowSeconds) + " s of its rotation");
      a.awaited_gen = 0;
    }
    return Status::Ok();
  }
  if (now >= a.heal_at) return Status::Ok();  // over: no new rotation
  // A generation needs a byte or more: a rotation of an empty file is no rotation.
  if (w.current_bytes() == 0) return Status::Ok();
  // And its agent must have read some of them: a copytruncate of a generation the agent knows
  // nothing of (opened empty, its first bytes not read yet) regrows into what looks like
  // growth of that generation, which no agent can tell apart (docs/reliability.md). Rotating
  // only then is "no faster than the agent follows".
  RawFollow f = RawGeneration(a.target);
  if (f.gen != w.generations() || f.size == 0) return Status::Ok();
  RotationKind kind = rng_() % 2 == 0 ? RotationKind::kRename : RotationKind::kCopyTruncate;
  if (kind == RotationKind::kCopyTruncate) w.Hold(true);
  if (std::string e = w.Rotate(kind); !e.empty()) {
    w.Hold(false);
    return Status::Error("rotation-storm: " + e);
  }
  ++rotations_[RotationName(kind)];
  a.awaited_gen = w.generations();
  a.await_deadline = now + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                               std::chrono::duration<double>(kFollowSeconds));
  return Status::Ok();
}

Status FaultRun::Heal(const Active& a) {
  TestCluster& c = *cluster_;
  switch (a.kind) {
    case FaultKind::kKillBolt:
      return RestartBolt(a.target);
    case FaultKind::kKillAgent:
      return StartAgent(a.target);
    case FaultKind::kKillCoordinator:
    case FaultKind::kKillLeader:
      held_instances_.erase(a.instance);
      return c.StartCoordinator(20, a.instance);
    case FaultKind::kPauseLeader:
      held_instances_.erase(a.instance);
      c.KillCoordinator(SIGCONT, a.instance);
      return Status::Ok();
    case FaultKind::kKillZookeeper:
    case FaultKind::kQuorumLoss:
      zk_fault_ = false;
      for (int m : a.members) {
        if (Status s = zk_->Restart(m); !s) return s;
      }
      return Status::Ok();
    case FaultKind::kPauseAgent:
    case FaultKind::kPauseElected:
      ::kill(c.Pid(a.target), SIGCONT);
      return Status::Ok();
    case FaultKind::kPartitionFull:
    case FaultKind::kPartitionOneWay:
    case FaultKind::kPartitionBridge:
    case FaultKind::kPartitionZookeeper:
      partitioned_ = false;
      return network_->HealAll();
    case FaultKind::kDiskFull:
      if (::unlink(a.filler.c_str()) != 0) return ErrnoStatus("unlink " + a.filler);
      return Status::Ok();
    case FaultKind::kRotationStorm:
      appenders_[static_cast<size_t>(a.target)]->Hold(false);  // the last rotation is followed later
      return Status::Ok();
  }
  return Status::Ok();
}

void FaultRun::SampleInvariant() {
  TestCluster& c = *cluster_;
  for (int o = 0; o < c.size(); ++o) {
    if (Busy(o) || !c.Running(o)) continue;
    auto st = c.AgentStatus(o);
    if (!st) continue;
    ++samples_;
    const auto& bolts = (*st)["bolts"];
    for (int b = 0; b < static_cast<int>(bolts.size()) && b < c.bolts(); ++b) {
      uint64_t gen = bolts[static_cast<size_t>(b)].value("generation", uint64_t{0});
      if (gen == 0) continue;
      for (const auto& p : bolts[static_cast<size_t>(b)]["peers"]) {
        std::string id = p.value("peer", "");
        int holder = std::atoi(id.c_str() + 1) - 1;
        if (holder < 0 || holder >= c.size()) continue;
        uint64_t acked = p.value("acked", uint64_t{0});
        // Read after the status: a replica only grows, so this is never an older size.
        uint64_t on_disk = FileSize(c.ReplicaFile(holder, o, b, gen));
        if (acked > on_disk) {
          violations_.push_back("at " + std::to_string(Now()) + " s: " + c.AgentId(o) + "/" + c.BoltName(b) +
                                " generation " + std::to_string(gen) + ": " + id + " acknowledged " +
                                std::to_string(acked) + " bytes but its replica holds " + std::to_string(on_disk));
        }
      }
    }
  }
}

Result<bool> FaultRun::TryInject(FaultKind kind, std::chrono::steady_clock::time_point now) {
  Active a;
  Result<bool> injected = Inject(kind, &a);
  if (!injected) return Status::Error(std::string(FaultName(kind)) + ": " + injected.status().message());
  if (!*injected) return false;
  const KindInfo& info = Info(kind);
  std::uniform_real_distribution<double> unit(0, 1);
  double hold = info.min_hold + (info.max_hold - info.min_hold) * unit(rng_);
  a.heal_at = now + std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(hold));
  std::string target = "coordinator";
  if (a.target >= 0) {
    target = cluster_->AgentId(a.target);
  } else if (a.instance >= 0) {
    target = InstanceName(a.instance);
  } else if (!a.members.empty()) {
    target = "zk member";
    for (size_t i = 0; i < a.members.size(); ++i) target += (i ? ", " : " ") + std::to_string(a.members[i] + 1);
  }
  events_.push_back({kind, target, Now(), hold});
  Log("fault " + std::to_string(events_.size()) + ": " + FaultName(kind) + " " + target + " for " +
      std::to_string(hold).substr(0, 4) + " s");
  active_.push_back(a);
  return true;
}

Status FaultRun::RunNemesis() {
  TestCluster& c = *cluster_;
  auto start = std::chrono::steady_clock::now();
  auto end = start + std::chrono::duration<double>(options_.seconds);
  auto next_inject = start;
  auto next_sample = start;
  std::uniform_real_distribution<double> unit(0, 1);
  while (std::chrono::steady_clock::now() < end) {
    auto now = std::chrono::steady_clock::now();
    // Heal what is due.
    for (size_t k = 0; k < active_.size();) {
      // A storm ends once its agent followed its last rotation: released earlier, a
      // copy-truncated file could regrow past what the agent read before it saw the shrink.
      bool following = active_[k].kind == FaultKind::kRotationStorm && active_[k].awaited_gen != 0;
      if (active_[k].heal_at <= now && !following) {
        Active a = active_[k];
        active_.erase(active_.begin() + static_cast<long>(k));
        if (Status s = Heal(a); !s) return Status::Error(std::string("healing ") + FaultName(a.kind) + ": " + s.message());
      } else {
        ++k;
      }
    }
    // Anything that died without being told to is a crash.
    for (int i = 0; i < c.size(); ++i) {
      bool killed = false;
      for (const Active& a : active_) killed |= a.kind == FaultKind::kKillAgent && a.target == i;
      if (!killed && !c.Running(i)) {
        return Status::Error("agent " + c.AgentId(i) + " " + c.AgentExit(i) + " on its own at " + std::to_string(Now()) + " s:\n" +
                             c.LogTail(i));
      }
    }
    for (int k = 0; k < c.coordinators(); ++k) {
      if (!held_instances_.count(k) && !c.CoordinatorRunning(k)) {
        return Status::Error("coordinator " + InstanceName(k) + " " + c.CoordinatorExit(k) + " on its own at " + std::to_string(Now()) +
                             " s:\n" + c.CoordinatorLogTail());
      }
    }
    if (static_cast<int>(active_.size()) < options_.max_active && now >= next_inject) {
      FaultKind kind = options_.kinds[rng_() % options_.kinds.size()];
      Result<bool> injected = TryInject(kind, now);
      if (!injected) return injected.status();
      // An agent runs a recovery only for a moment now and then: a pause-elected that found
      // none is injected as soon as the sampling sees one.
      if (!*injected && kind == FaultKind::kPauseElected) pending_pause_elected_ = true;
      double gap = 0.2 + 1.0 * unit(rng_);
      next_inject = now + std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(gap));
    }
    for (Active& a : active_) {
      if (a.kind != FaultKind::kRotationStorm) continue;
      if (Status s = StormStep(a); !s) return s;
    }
    if (now >= next_sample) {
      SampleInvariant();
      if (pending_pause_elected_ && static_cast<int>(active_.size()) < options_.max_active) {
        Result<bool> injected = TryInject(FaultKind::kPauseElected, now);
        if (!injected) return injected.status();
        pending_pause_elected_ = !*injected;
      }
      next_sample = now + std::chrono::milliseconds(500);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the nemesis's clock tick, not a wait for a condition
  }
  return Status::Ok();
}

Status FaultRun::HealAndSettle(double seconds) {
  TestCluster& c = *cluster_;
  for (Active& a : active_) {
    if (a.kind != FaultKind::kRotationStorm) continue;
    a.heal_at = std::chrono::steady_clock::now();  // no new rotation
    while (a.awaited_gen != 0) {  // StormStep ends the wait by kFollowSeconds at the latest
      if (Status s = StormStep(a); !s) return s;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the nemesis's tick
    }
  }
  while (!active_.empty()) {
    Active a = active_.back();
    active_.pop_back();
    if (Status s = Heal(a); !s) return Status::Error(std::string("healing ") + FaultName(a.kind) + ": " + s.message());
  }
  if (Status s = network_->HealAll(); !s) return s;
  if (zk_ && !zk_->WaitServing(60)) return Status::Error("the ensemble does not serve after healing:\n" + zk_->LogTail(0));
  if (!WaitUntil([&] { return !options_.zookeeper || c.LeadingCoordinator() >= 0; }, seconds, 200)) {
    return Status::Error("no coordinator instance leads " + std::to_string(seconds) + " s after healing:\n" +
                         c.CoordinatorLogTail());
  }
  Log("healed; letting the workload finish");
  if (!WaitUntil([&] { return !spout_.running(); }, seconds, 200)) {
    return Status::Error("the spout did not finish within " + std::to_string(seconds) + " s after healing: " +
                         ReadAll(weblog_->SpoutLog()));
  }
  if (spout_.exit_code() != 0) return Status::Error("weblog-spout failed: " + ReadAll(weblog_->SpoutLog()));
  for (auto& w : appenders_) {
    w->Join();
    if (!w->error().empty()) return Status::Error("raw appender: " + w->error());
  }
  if (Status s = weblog_->StopBolts(); !s) return s;
  Log("workload done; waiting until every byte is acknowledged by every peer");
  for (int o = 0; o < c.size(); ++o) {
    for (int b = 0; b < c.bolts(); ++b) {
      if (!c.WaitAcked(o, b, seconds)) {
        return Status::Error(c.AgentId(o) + "/" + c.BoltName(b) + " was not acknowledged by every peer within " +
                             std::to_string(seconds) + " s after healing:\n" + c.LogTail(o));
      }
    }
  }
  // Rotated generations too: every holder holds each one whole (the checker compares the bytes).
  std::vector<std::string> members;
  for (int i = 0; i < c.size(); ++i) members.push_back(c.AgentId(i));
  std::string missing;
  bool whole = WaitUntil([&] {
    for (int o = 0; o < c.size(); ++o) {
      const auto& contents = appenders_[static_cast<size_t>(o)]->contents();
      for (int h = 0; h < c.size(); ++h) {
        if (!HoldsStream(c.AgentId(h), c.AgentId(o), c.BoltName(raw_bolt()), members, options_.replicas)) continue;
        for (size_t g = 0; h != o && g < contents.size(); ++g) {
          if (FileSize(c.ReplicaFile(h, o, raw_bolt(), g + 1)) < contents[g].size()) {
            missing = c.AgentId(h) + "'s replica of " + c.AgentId(o) + "/" + c.BoltName(raw_bolt()) + " generation " +
                      std::to_string(g + 1);
            return false;
          }
        }
      }
    }
    return true;
  }, seconds, 200);
  if (!whole) return Status::Error(missing + " is not whole " + std::to_string(seconds) + " s after healing");
  Log("replicated; waiting for recoveries to settle");
  if (weblog_->WaitRecoveriesSettled(seconds) < 0) {
    return Status::Error("recoveries did not settle within " + std::to_string(seconds) + " s:\n" + c.CoordinatorLogTail());
  }
  return Status::Ok();
}

Status FaultRun::StopAll() {
  TestCluster& c = *cluster_;
  Status first;
  for (int i = 0; i < c.size(); ++i) {
    Status s = c.Stop(i, 20);
    if (first.ok() && !s.ok()) first = s;
  }
  for (int k = 0; k < c.coordinators(); ++k) {
    Status s = c.StopCoordinator(20, k);
    if (first.ok() && !s.ok()) first = s;
  }
  return first;
}

}  // namespace tailsafe::testing
