#include "tests/support/storm_cluster.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

namespace tailsafe::testing {

namespace {

constexpr const char* kJava = "/usr/bin/java";

std::string SourceDir() {
  const char* s = ::getenv("TAILSAFE_SOURCE_DIR");
  return s ? s : ".";
}
std::string StormHome() { return SourceDir() + "/build/storm-home"; }
std::string AdminJar() { return SourceDir() + "/storm/admin/target/tailsafe-storm-admin-0.1.0.jar"; }

std::string Quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string Tail(const std::string& path, size_t bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  in.seekg(0, std::ios::end);
  std::streamoff size = in.tellg();
  std::streamoff from = size > static_cast<std::streamoff>(bytes) ? size - static_cast<std::streamoff>(bytes) : 0;
  in.seekg(from);
  std::string text(static_cast<size_t>(size - from), '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  return text;
}

// The JVM options of every daemon and client: small heaps and a fast start, which is what a
// test cluster on two cores needs.
const std::vector<std::string> kSmallJvm = {"-Xss512k", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"};

}  // namespace

std::string StormMissing() {
  if (std::string why = VirtualNetwork::Unavailable(); !why.empty()) return "no network namespace for Storm: " + why;
  if (std::string why = ZookeeperMissing(); !why.empty()) return why;
  if (::access(kJava, X_OK) != 0) return std::string(kJava) + " is missing (make deps installs openjdk-17-jdk-headless)";
  if (::access((StormHome() + "/lib-worker").c_str(), R_OK) != 0) {
    return StormHome() + " is not laid out: run `make storm-home` (Storm's jars from Maven Central)";
  }
  if (::access(AdminJar().c_str(), R_OK) != 0) return AdminJar() + " is not built: run `make storm-home`";
  return "";
}

std::string StormCluster::home() const { return StormHome(); }

Result<std::unique_ptr<StormCluster>> StormCluster::Start(const std::string& name, Options options) {
  if (std::string missing = StormMissing(); !missing.empty()) return Status::Error(missing);
  std::unique_ptr<StormCluster> c(new StormCluster());
  c->options_ = options;
  c->dir_ = MakeTempDir("storm-" + name);
  if (c->dir_.empty()) return Status::Error("cannot make a temporary directory");
  Result<std::unique_ptr<VirtualNetwork>> net = VirtualNetwork::Create({"storm"});
  if (!net) return net.status().Context("the Storm cluster's network namespace");
  c->net_ = std::move(net.value());

  ZookeeperEnsemble::Options zo;
  zo.members = 1;
  zo.address = c->net_->Address("storm");
  zo.netns = c->net_->NamespacePath("storm");
  zo.tick_ms = 1000;
  auto zk = ZookeeperEnsemble::Start("storm-" + name, zo);
  if (!zk) return zk.status();
  c->zk_ = std::move(zk.value());
  if (!c->zk_->WaitServing(30)) return Status::Error("ZooKeeper did not serve within 30 s:\n" + c->zk_->LogTail(0));
  HostPort zk_at = c->zk_->members()[0];

  c->nimbus_port_ = FreePort();
  auto common = [&](std::ostream& y, const std::string& local_dir, const std::string& hostname) {
    y << "storm.zookeeper.servers: [\"" << zk_at.host << "\"]\n"
      << "storm.zookeeper.port: " << zk_at.port << "\n"
      << "storm.zookeeper.root: \"/storm\"\n"
      << "nimbus.seeds: [\"127.0.0.1\"]\n"
      << "nimbus.thrift.port: " << c->nimbus_port_ << "\n"
      << "storm.local.hostname: \"" << hostname << "\"\n"
      << "storm.local.dir: \"" << local_dir << "\"\n";
  };
  {
    std::ofstream y(c->dir_ + "/nimbus.yaml");
    common(y, c->dir_ + "/nimbus", "127.0.0.1");
    // rocksdbjni is left out of storm.home (storm/home/daemon/pom.xml): no metrics store.
    y << "storm.metricstore.class: \"org.apache.storm.metricstore.NoOpMetricStore\"\n"
      // A dead worker's tasks are given elsewhere within seconds, not minutes.
      << "nimbus.task.timeout.secs: 10\nnimbus.monitor.freq.secs: 2\nnimbus.task.launch.secs: 20\n"
      // Topology settings a supervisor's yaml cannot give: the LogWriter beside every worker.
      << "topology.worker.logwriter.childopts: \"-Xmx24m -Xss256k -XX:+UseSerialGC -XX:TieredStopAtLevel=1\"\n";
  }
  {
    std::ofstream y(c->dir_ + "/client.yaml");
    y << "nimbus.seeds: [\"127.0.0.1\"]\nnimbus.thrift.port: " << c->nimbus_port_ << "\n";
  }
  for (int s = 0; s < options.supervisors; ++s) {
    std::ofstream y(c->dir_ + "/supervisor-" + std::to_string(s + 1) + ".yaml");
    common(y, c->dir_ + "/supervisor-" + std::to_string(s + 1), Hostname(s));
    y << "supervisor.thrift.port: " << FreePort() << "\nsupervisor.slots.ports: [";
    for (int k = 0; k < options.slots; ++k) y << (k ? ", " : "") << FreePort();
    y << "]\n"
      // A dead worker is seen and started again within about a second; a dead supervisor's
      // session ends within 6 s.
      << "supervisor.heartbeat.frequency.secs: 1\nsupervisor.monitor.frequency.secs: 1\n"
      << "supervisor.worker.shutdown.sleep.secs: 1\nsupervisor.worker.start.timeout.secs: 60\n"
      << "supervisor.worker.timeout.secs: 15\nstorm.zookeeper.session.timeout: 6000\n"
      << "worker.childopts: \"-Xmx192m -Xss512k -XX:+UseSerialGC -XX:TieredStopAtLevel=1";
    if (static_cast<size_t>(s) < options.spools.size() && !options.spools[s].empty()) {
      y << " -Dtailsafe.spool.dir=" << options.spools[static_cast<size_t>(s)];
    }
    y << "\"\n";
  }
  if (Status st = c->SpawnDaemon("nimbus", "org.apache.storm.daemon.nimbus.Nimbus", c->dir_ + "/nimbus.yaml", "-Xmx256m"); !st) {
    return st;
  }
  for (int s = 0; s < options.supervisors; ++s) {
    std::string n = "supervisor-" + std::to_string(s + 1);
    if (Status st = c->SpawnDaemon(n, "org.apache.storm.daemon.supervisor.Supervisor", c->dir_ + "/" + n + ".yaml", "-Xmx192m"); !st) {
      return st;
    }
  }
  // Nimbus takes a few seconds to listen; StormAdmin retries its connection only briefly.
  Result<std::string> registered = Status::Error("not asked");
  bool ok = WaitUntil([&] {
    registered = c->Admin({"wait-supervisors", std::to_string(options.supervisors), "5"});
    return registered.ok();
  }, 90, 500);
  if (!ok) return Status::Error("the supervisors did not register within 90 s: " + registered.status().message() + "\n" + c->LogTail());
  return c;
}

Status StormCluster::SpawnDaemon(const std::string& name, const std::string& main_class, const std::string& yaml,
                                 const std::string& heap) {
  std::string logs = dir_ + "/logs/" + name;
  RunCommand("mkdir -p " + Quote(logs));
  std::vector<std::string> argv = {kJava, "-server", heap};
  argv.insert(argv.end(), kSmallJvm.begin(), kSmallJvm.end());
  for (std::string a : {"-Ddaemon.name=" + name, "-Dstorm.home=" + StormHome(), "-Dstorm.conf.file=" + yaml,
                        "-Dstorm.log.dir=" + logs, "-Dlogfile.name=" + name + ".log",
                        "-Dlog4j.configurationFile=" + StormHome() + "/log4j2/cluster.xml", std::string("-cp"),
                        StormHome() + "/lib/*", main_class}) {
    argv.push_back(a);
  }
  Result<Child> child = Child::Spawn(argv, logs + "/" + name + ".out", net_->NamespacePath("storm"));
  if (!child) return child.status().Context("starting " + name);
  daemons_.push_back(std::move(child.value()));
  return Status::Ok();
}

std::string StormCluster::netns() const { return net_ ? net_->Namespace("storm") : ""; }

std::string StormCluster::JavaCommand(const std::vector<std::string>& jvm_args) const {
  std::string cmd = "ip netns exec " + netns() + " " + kJava + " -Xmx256m";
  for (const std::string& a : kSmallJvm) cmd += " " + a;
  cmd += " -Dstorm.log.dir=" + Quote(dir_ + "/logs") + " -Dlogfile.name=client.log -Dlog4j.configurationFile=" +
         Quote(StormHome() + "/log4j2/cluster.xml");
  for (const std::string& a : jvm_args) cmd += " " + Quote(a);
  return cmd;
}

std::string StormCluster::AdminCommand() const {
  return JavaCommand() + " -cp " + Quote(StormHome() + "/lib-worker/*:" + AdminJar()) +
         " io.tailsafe.storm.admin.StormAdmin 127.0.0.1:" + std::to_string(nimbus_port_);
}

CommandResult StormCluster::RunJava(const std::string& extra_cp, const std::vector<std::string>& jvm_args,
                                    const std::string& main_class, const std::vector<std::string>& args) const {
  std::string cmd = JavaCommand(jvm_args) + " -cp " + Quote(StormHome() + "/lib-worker/*:" + extra_cp) + " " + main_class;
  for (const std::string& a : args) cmd += " " + Quote(a);
  return RunCommand(cmd + " 2>&1");
}

Result<std::string> StormCluster::Admin(const std::vector<std::string>& args) const {
  std::vector<std::string> all = {"127.0.0.1:" + std::to_string(nimbus_port_)};
  all.insert(all.end(), args.begin(), args.end());
  CommandResult r = RunJava(AdminJar(), {}, "io.tailsafe.storm.admin.StormAdmin", all);
  if (r.code != 0) return Status::Error("StormAdmin " + args[0] + " exited with " + std::to_string(r.code) + ": " + r.out);
  return r.out;
}

Status StormCluster::Submit(const std::string& jar, const std::string& main_class, const std::vector<std::string>& args) {
  CommandResult r = RunJava(jar, {"-Dstorm.jar=" + jar, "-Dstorm.conf.file=" + dir_ + "/client.yaml"}, main_class, args);
  if (r.code != 0) return Status::Error("submitting " + main_class + " exited with " + std::to_string(r.code) + ":\n" + r.out);
  return Status::Ok();
}

Result<std::vector<StormCluster::Task>> StormCluster::Placement(const std::string& topology) {
  Result<std::string> out = Admin({"placement", topology});
  if (!out) return out.status();
  std::vector<Task> tasks;
  std::istringstream lines(*out);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream f(line);
    Task t;
    std::string where;
    if (!(f >> t.component >> t.task >> where)) continue;  // a log line, not a task
    size_t colon = where.rfind(':');
    if (where != "?" && colon != std::string::npos) {
      t.host = where.substr(0, colon);
      t.port = std::atoi(where.c_str() + colon + 1);
    }
    tasks.push_back(t);
  }
  return tasks;
}

Status StormCluster::Rebalance(const std::string& topology, int wait_seconds, int workers) {
  Result<std::string> r = Admin({"rebalance", topology, std::to_string(wait_seconds), std::to_string(workers)});
  return r ? Status::Ok() : r.status();
}

Status StormCluster::Kill(const std::string& topology, int wait_seconds) {
  Result<std::string> r = Admin({"kill", topology, std::to_string(wait_seconds)});
  return r ? Status::Ok() : r.status();
}

int StormCluster::SupervisorOf(const std::string& host) const {
  for (int s = 0; s < options_.supervisors; ++s) {
    if (Hostname(s) == host) return s;
  }
  return -1;
}

std::string StormCluster::LogTail(size_t bytes) const {
  std::string out = "--- nimbus:\n" + Tail(dir_ + "/logs/nimbus/nimbus.log", bytes);
  for (int s = 0; s < options_.supervisors; ++s) {
    std::string n = "supervisor-" + std::to_string(s + 1);
    out += "--- " + n + ":\n" + Tail(dir_ + "/logs/" + n + "/" + n + ".log", bytes);
  }
  CommandResult workers = RunCommand("ls " + Quote(dir_) + "/logs/supervisor-*/workers-artifacts/*/*/worker.log 2>/dev/null");
  std::istringstream paths(workers.out);
  std::string p;
  while (std::getline(paths, p)) out += "--- " + p + ":\n" + Tail(p, bytes) + Tail(p + ".err", bytes / 2);
  return out;
}

StormCluster::~StormCluster() {
  // Every process of the namespace: workers and their LogWriters and ShellBolt subprocesses are
  // the supervisors' children, and would outlive them.
  if (net_) RunCommand("for p in $(ip netns pids " + net_->Namespace("storm") + "); do kill -9 $p; done");
  for (Child& d : daemons_) d.Wait();
  zk_.reset();
  net_.reset();
  if (!dir_.empty() && ::getenv("TAILSAFE_KEEP_TMP") == nullptr) RemoveTree(dir_);
}

}  // namespace tailsafe::testing
