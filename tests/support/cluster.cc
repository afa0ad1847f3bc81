#include "tests/support/cluster.h"
#include "tests/support/prometheus_check.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <random>
#include <set>
#include <sstream>

#include "common/cluster_key.h"
#include "common/control_client.h"
#include "common/fd.h"

namespace tailsafe::testing {

namespace {

// Binds 127.0.0.1:port (0: any) and returns the port bound, or 0.
uint16_t TryBind(uint16_t port) {
  Fd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return 0;
  socklen_t len = sizeof a;
  ::getsockname(s.get(), reinterpret_cast<sockaddr*>(&a), &len);
  return ntohs(a.sin_port);
}

}  // namespace

// A port the kernel would hand out itself (bind to port 0) is in the ephemeral range, where
// every outgoing connection of the machine (agents to peers, clients to ZooKeeper) also takes
// its local port: between this choice and the listener's bind one of them may take it. So the
// ports come from below that range, each handed out once per process.
uint16_t FreePort() {
  static std::set<uint16_t> given;
  static std::minstd_rand rng(static_cast<unsigned>(::getpid()) * 7919u + static_cast<unsigned>(::time(nullptr)));
  unsigned low = 32768;
  std::ifstream("/proc/sys/net/ipv4/ip_local_port_range") >> low;
  if (low > 12000) {
    unsigned first = 10000, span = low - first;
    for (int attempt = 0; attempt < 500; ++attempt) {
      auto port = static_cast<uint16_t>(first + rng() % span);
      if (given.count(port) || TryBind(port) == 0) continue;
      given.insert(port);
      return port;
    }
  }
  for (int attempt = 0; attempt < 100; ++attempt) {
    uint16_t port = TryBind(0);
    if (port != 0 && given.insert(port).second) return port;
  }
  return 0;
}

std::string MakeTempDir(const std::string& name) {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/var/tmp") + "/tailsafe-" + name + "-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr) return "";
  return buf.data();
}

void RemoveTree(const std::string& path) {
  if (path.size() < 8 || path.find("/tailsafe-") == std::string::npos) return;  // never anything else
  std::string cmd = "rm -rf '" + path + "'";
  int rc = std::system(cmd.c_str());
  (void)rc;
}

uint64_t FileSize(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

Status FillFilesystem(const std::string& file) {
  int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoStatus("open " + file);
  struct statvfs vfs;
  if (::fstatvfs(fd, &vfs) == 0) {
    off_t free_bytes = static_cast<off_t>(vfs.f_bavail * vfs.f_frsize);
    if (free_bytes > 0) (void)::posix_fallocate(fd, 0, free_bytes);  // most of it at once
  }
  ::lseek(fd, 0, SEEK_END);
  char zero[4096] = {0};
  while (::write(fd, zero, sizeof zero) > 0) {
  }
  while (::write(fd, zero, 1) > 0) {
  }
  int err = errno;
  ::close(fd);
  if (err != ENOSPC) return ErrnoStatus("filling " + file + " stopped before the disk was full", err);
  return Status::Ok();
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

bool FilesEqual(const std::string& a, const std::string& b, std::string* why) {
  std::ifstream fa(a, std::ios::binary), fb(b, std::ios::binary);
  if (!fa) {
    *why = a + ": cannot open";
    return false;
  }
  if (!fb) {
    *why = b + ": cannot open";
    return false;
  }
  std::vector<char> ba(1 << 20), bb(1 << 20);
  uint64_t offset = 0;
  for (;;) {
    fa.read(ba.data(), static_cast<std::streamsize>(ba.size()));
    fb.read(bb.data(), static_cast<std::streamsize>(bb.size()));
    size_t na = static_cast<size_t>(fa.gcount()), nb = static_cast<size_t>(fb.gcount());
    size_t n = std::min(na, nb);
    if (std::memcmp(ba.data(), bb.data(), n) != 0) {
      size_t i = 0;
      while (ba[i] == bb[i]) ++i;
      *why = a + " and " + b + " differ at byte " + std::to_string(offset + i);
      return false;
    }
    if (na != nb) {
      *why = a + " (" + std::to_string(FileSize(a)) + " bytes) and " + b + " (" + std::to_string(FileSize(b)) +
             " bytes) differ in length";
      return false;
    }
    if (na == 0) return true;
    offset += na;
  }
}

std::string Sha256(const std::string& path) {
  std::string cmd = "sha256sum '" + path + "' 2>/dev/null";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return "?";
  char buf[128] = {0};
  size_t n = fread(buf, 1, 64, p);
  ::pclose(p);
  return std::string(buf, n);
}

TestCluster::TestCluster(const std::string& name, ClusterOptions options) : options_(std::move(options)) {
  root_ = MakeTempDir(name);
  const char* keep = std::getenv("TAILSAFE_KEEP_TMP");
  keep_ = keep && *keep == '1';
  agents_.resize(static_cast<size_t>(options_.agents));
  for (int i = 0; i < options_.agents; ++i) ports_.push_back(FreePort());
  for (int i = -1; i < options_.agents; ++i) metrics_ports_.push_back(options_.metrics ? FreePort() : 0);
  // One cluster key shared by every node, as `tailsafectl keygen` would make it.
  if (Status s = WriteNewClusterKey(KeyPath(), false); !s) {
    fprintf(stderr, "test cluster: %s\n", s.message().c_str());
    std::abort();
  }
  if (options_.coordinator) {
    int n = options_.zookeeper.empty() ? 1 : options_.coordinators;
    coordinators_.resize(static_cast<size_t>(n));
    for (int k = 0; k < n; ++k) {
      coordinator_ports_.push_back(FreePort());
      coordinator_metrics_ports_.push_back(k == 0 && options_.metrics ? MetricsPort(-1) : (n > 1 ? FreePort() : 0));
      coordinator_http_ports_.push_back(options_.status_page ? FreePort() : 0);
    }
    for (int k = 0; k < n; ++k) {
      std::ofstream cfg(CoordinatorConfigPath(k));
      cfg << "[cluster]\nname = \"test\"\nkey_file = \"" << KeyPath() << "\"\n\n[coordinator]\nlisten = \""
          << CoordinatorInstance(k) << "\"\nstate_dir = \"" << root_ << "/coordinator" << (k ? std::to_string(k + 1) : "")
          << "\"\nhost_timeout_ms = " << options_.host_timeout_ms << "\n";
      if (options_.recoveries_kept) cfg << "recoveries_kept = " << options_.recoveries_kept << "\n";
      if (options_.replica_grace_ms >= 0) cfg << "replica_grace_ms = " << options_.replica_grace_ms << "\n";
      if (options_.shrink_grace_ms >= 0) cfg << "shrink_grace_ms = " << options_.shrink_grace_ms << "\n";
      if (coordinator_metrics_ports_[static_cast<size_t>(k)]) {
        cfg << "metrics_listen = \"" << CoordinatorHostAddress(k) << ":" << coordinator_metrics_ports_[static_cast<size_t>(k)] << "\"\n";
      }
      if (coordinator_http_ports_[static_cast<size_t>(k)]) {
        cfg << "http_listen = \"" << CoordinatorHostAddress(k) << ":" << coordinator_http_ports_[static_cast<size_t>(k)] << "\"\n";
        if (!options_.status_token.empty()) {
          std::string token_file = root_ + "/http-token";
          std::ofstream(token_file) << options_.status_token << "\n";
          cfg << "http_token_file = \"" << token_file << "\"\n";
        }
      }
      if (!options_.zookeeper.empty()) {
        cfg << "store = \"zookeeper\"\nzookeeper = \"" << options_.zookeeper << "\"\nzookeeper_root = \"/tailsafe-test/"
            << root_.substr(root_.rfind('/') + 1) << "\"\nzookeeper_session_ms = " << options_.zookeeper_session_ms << "\n";
      }
    }
  }
  for (int i = 0; i < options_.agents; ++i) {
    std::string dir = root_ + "/" + AgentId(i);
    ::mkdir(dir.c_str(), 0755);
    ::mkdir((dir + "/spool").c_str(), 0755);
    if (options_.data_dir_tmpfs_bytes) {
      ::mkdir(DataDir(i).c_str(), 0755);
      CommandResult m = RunCommand("mount -t tmpfs -o size=" + std::to_string(options_.data_dir_tmpfs_bytes) +
                                   " tailsafe-test " + DataDir(i));
      if (m.code != 0) {
        fprintf(stderr, "test cluster: mounting a tmpfs on %s: %s\n", DataDir(i).c_str(), m.out.c_str());
        std::abort();
      }
      mounts_.push_back(DataDir(i));
    } else if (options_.data_dir_ext4_bytes) {
      ::mkdir(DataDir(i).c_str(), 0755);
      std::string image = dir + "/data.ext4";
      CommandResult m = RunCommand("truncate -s " + std::to_string(options_.data_dir_ext4_bytes) + " " + image +
                                   " && mkfs.ext4 -q -F " + image + " && mount -o loop " + image + " " + DataDir(i));
      if (m.code != 0) {
        fprintf(stderr, "test cluster: mounting an ext4 image on %s: %s\n", DataDir(i).c_str(), m.out.c_str());
        std::abort();
      }
      mounts_.push_back(DataDir(i));
    }
    std::ostringstream c;
    c << "[cluster]\nname = \"test\"\nkey_file = \"" << KeyPath() << "\"\n";
    if (options_.replicas) c << "replicas = " << options_.replicas << "\n";
    if (options_.coordinator) {
      c << "coordinator = [";
      for (int k = 0; k < coordinators(); ++k) c << (k ? ", " : "") << "\"" << CoordinatorInstance(k) << "\"";
      c << "]\n";
    }
    c << "\n[agent]\nid = \"" << AgentId(i) << "\"\nlisten = \"" << HostAddress(i) << ":" << ports_[i]
      << "\"\ndata_dir = \"" << DataDir(i) << "\"\npeers = [";
    bool first = true;
    for (int j = 0; j < options_.agents && options_.static_peers; ++j) {
      if (j == i) continue;
      c << (first ? "" : ", ") << "\"" << AgentId(j) << "@" << HostAddress(j) << ":" << ports_[j] << "\"";
      first = false;
    }
    c << "]\nreconnect_max_ms = 200\n";
    if (options_.metrics) c << "metrics_listen = \"" << HostAddress(i) << ":" << MetricsPort(i) << "\"\n";
    if (options_.window_bytes) c << "window_bytes = " << options_.window_bytes << "\n";
    if (options_.rescan_interval_ms) c << "rescan_interval_ms = " << options_.rescan_interval_ms << "\n";
    if (options_.seal_after_ms) c << "seal_after_ms = " << options_.seal_after_ms << "\n";
    if (options_.linger_ms) c << "linger_ms = " << options_.linger_ms << "\n";
    if (options_.commit_interval_ms) c << "commit_interval_ms = " << options_.commit_interval_ms << "\n";
    if (options_.hook_timeout_ms) c << "hook_timeout_ms = " << options_.hook_timeout_ms << "\n";
    if (options_.hook_retry_ms) c << "hook_retry_ms = " << options_.hook_retry_ms << "\n";
    if (options_.hook_attempts) c << "hook_attempts = " << options_.hook_attempts << "\n";
    if (options_.hooks) {
      ::mkdir((root_ + "/hooks").c_str(), 0755);
      if (!options_.hook_argv.empty()) {
        c << "\n[hooks]\ntest = [";
        for (size_t a = 0; a < options_.hook_argv.size(); ++a) c << (a ? ", " : "") << "\"" << options_.hook_argv[a] << "\"";
        c << "]\n";
      } else {
        char* bin = ::realpath(BinDir().c_str(), nullptr);
        c << "\n[hooks]\ntest = [\"" << (bin ? bin : BinDir().c_str()) << "/tests/ts-hook\", \"" << HookDir(i) << "\"";
        ::free(bin);
        for (const std::string& a : options_.hook_args) c << ", \"" << a << "\"";
        c << "]\n";
      }
    }
    for (int b = 0; b < options_.bolts_per_agent; ++b) {
      c << "\n[[bolt]]\nname = \"" << BoltName(b) << "\"\nfile = \"" << BoltFile(i, b) << "\"\n";
      if (options_.pid_files) c << "pid_file = \"" << PidFile(i, b) << "\"\n";
      if (options_.match_sleep) c << "match = { exe = \"/usr/bin/sleep\", arg = \"" << MatchArg(i, b) << "\" }\n";
      if (options_.checkpoint_files) c << "checkpoint_file = \"" << CheckpointFile(i, b) << "\"\n";
      if (options_.hooks) c << "hook = \"test\"\n";
    }
    for (int b = options_.bolts_per_agent; b < bolts(); ++b) {
      c << "\n[[bolt]]\nname = \"" << BoltName(b) << "\"\nfile = \"" << BoltFile(i, b) << "\"\n";
    }
    std::ofstream(ConfigPath(i)) << c.str();
  }
}

TestCluster::~TestCluster() {
  for (auto& a : agents_) {
    a.Signal(SIGKILL);
    a.Wait();
  }
  for (Child& co : coordinators_) {
    co.Signal(SIGCONT);
    co.Signal(SIGKILL);
    co.Wait();
  }
  for (const std::string& m : mounts_) {
    if (keep_) {  // keep the files: copy them off the tmpfs first
      RunCommand("cp -a '" + m + "' '" + m + ".kept'");
    }
    RunCommand("umount '" + m + "'");
  }
  if (keep_) {
    fprintf(stderr, "test cluster kept in %s\n", root_.c_str());
  } else {
    RemoveTree(root_);
  }
}

std::string TestCluster::HostAddress(int agent) const {
  if (!options_.network) return "127.0.0.1";
  return options_.network->Address(agent < 0 ? "co" : AgentId(agent));
}

std::string TestCluster::CoordinatorHostAddress(int k) const {
  if (!options_.network) return "127.0.0.1";
  return options_.network->Address(CoordinatorHost(k));
}

std::string TestCluster::PidFile(int agent, int bolt) const {
  return root_ + "/" + AgentId(agent) + "/spool/" + BoltName(bolt) + ".pid";
}

std::string TestCluster::CheckpointFile(int agent, int bolt) const {
  return root_ + "/" + AgentId(agent) + "/spool/" + BoltName(bolt) + ".ckpt";
}

std::string TestCluster::BoltFile(int agent, int bolt) const {
  return root_ + "/" + AgentId(agent) + "/spool/" + BoltName(bolt) + ".log";
}
std::string TestCluster::DataDir(int agent) const { return root_ + "/" + AgentId(agent) + "/data"; }
std::string TestCluster::ConfigPath(int agent) const { return root_ + "/" + AgentId(agent) + "/tailsafe.conf"; }
std::string TestCluster::LogPath(int agent) const { return root_ + "/" + AgentId(agent) + "/agent.log"; }
std::string TestCluster::ReplicaFile(int holder, int origin, int bolt, uint64_t gen) const {
  char name[32];
  snprintf(name, sizeof name, "%020llu", static_cast<unsigned long long>(gen));
  return DataDir(holder) + "/replicas/" + AgentId(origin) + "/" + BoltName(bolt) + "/" + name;
}

std::string TestCluster::CoordinatorAddress() const {
  std::string out;
  for (int k = 0; k < coordinators(); ++k) out += (k ? "," : "") + CoordinatorInstance(k);
  return out;
}

Status TestCluster::StartCoordinator(double ready_seconds, int k) {
  std::vector<std::string> argv = {BinDir() + "/tailsafe-coordinator", "-c", CoordinatorConfigPath(k), "--log-level",
                                   options_.log_level};
  Result<Child> c =
      Child::Spawn(argv, CoordinatorLogPath(k), options_.network ? options_.network->NamespacePath(CoordinatorHost(k)) : "");
  if (!c) return c.status();
  Child& co = coordinators_[static_cast<size_t>(k)];
  co = std::move(c.value());
  // Ready when it answers (its log may hold an earlier run's "ready" line): as the leader, or
  // saying that it does not lead.
  std::string ls = Ctl() + " ls / --timeout-ms 1000 --coordinator " + CoordinatorInstance(k) + " 2>&1";
  bool ready = WaitUntil([&] {
    if (!co.running()) return true;
    CommandResult r = RunCommand(ls);
    return r.code == 0 || r.out.find("does not lead") != std::string::npos;
  }, ready_seconds);
  if (!co.running()) return Status::Error("the coordinator exited at start:\n" + CoordinatorLogTail());
  if (!ready) return Status::Error("the coordinator did not start within the deadline:\n" + CoordinatorLogTail());
  return Status::Ok();
}

void TestCluster::KillCoordinator(int sig, int k) {
  Child& co = coordinators_[static_cast<size_t>(k)];
  co.Signal(sig);
  if (sig != SIGSTOP && sig != SIGCONT) co.Wait();
}

Status TestCluster::StopCoordinator(double seconds, int k) {
  Child& co = coordinators_[static_cast<size_t>(k)];
  // A coordinator that ended before it was asked to (a crash) is told apart from one that
  // ended badly on SIGTERM: the two are different bugs.
  if (!co.running()) {
    return Status::Error("the coordinator had already ended before SIGTERM (" + co.Ended() + "):\n" + CoordinatorLogTail());
  }
  co.Signal(SIGTERM);
  if (!WaitUntil([&] { return !co.running(); }, seconds)) {
    return Status::Error("the coordinator did not stop after SIGTERM:\n" + CoordinatorLogTail());
  }
  if (co.exit_code() != 0) {
    return Status::Error("the coordinator " + co.Ended() + " after SIGTERM:\n" + CoordinatorLogTail());
  }
  return Status::Ok();
}

bool TestCluster::CoordinatorLeads(int k, uint64_t* term) const {
  uint16_t port = CoordinatorMetricsPort(k);
  if (port == 0) return false;
  // A stopped instance accepts the connection but never answers: ask briefly.
  Result<std::string> text = HttpGet(port, "/metrics", 0.5, CoordinatorHostAddress(k));
  if (!text) return false;
  Result<MetricSamples> m = ParsePrometheusText(*text);
  if (!m) return false;
  auto leading = m->find("tailsafe_coordinator_leading");
  if (leading == m->end() || leading->second != 1) return false;
  if (term) *term = static_cast<uint64_t>(m->count("tailsafe_coordinator_term") ? m->at("tailsafe_coordinator_term") : 0);
  return true;
}

int TestCluster::LeadingCoordinator(uint64_t* term) const {
  for (int k = 0; k < coordinators(); ++k) {
    if (CoordinatorLeads(k, term)) return k;
  }
  return -1;
}

std::string TestCluster::Ctl() const { return BinDir() + "/tailsafectl --key-file " + KeyPath(); }

Result<nlohmann::json> TestCluster::CoordinatorGet(const std::string& path) {
  CommandResult r = RunCommand(Ctl() + " get --json --timeout-ms 2000 --coordinator " +
                                CoordinatorAddress() + " '" + path + "'");
  if (r.code != 0) return Status::Error("tailsafectl get " + path + ": " + r.out);
  nlohmann::json doc = nlohmann::json::parse(r.out, nullptr, false);
  if (doc.is_discarded()) return Status::Error("tailsafectl get " + path + " printed no JSON: " + r.out);
  return doc;
}

Result<std::map<std::string, nlohmann::json>> TestCluster::CoordinatorDocs(const std::string& prefix) {
  CommandResult r = RunCommand(Ctl() + " status --cluster --json --timeout-ms 5000 --coordinator " + CoordinatorAddress() +
                               " 2>&1");
  if (r.code != 0) return Status::Error("tailsafectl status --json: " + r.out);
  nlohmann::json all = nlohmann::json::parse(r.out, nullptr, false);
  if (!all.is_object()) return Status::Error("tailsafectl status --json printed no JSON object: " + r.out.substr(0, 500));
  std::map<std::string, nlohmann::json> out;
  for (auto it = all.begin(); it != all.end(); ++it) {
    if (it.key().rfind(prefix, 0) == 0) out[it.key()] = it.value();
  }
  return out;
}

std::string TestCluster::CoordinatorLogTail(size_t bytes) const {
  std::string out;
  for (int k = 0; k < std::max(coordinators(), 1); ++k) {
    std::ifstream f(CoordinatorLogPath(k));
    std::string all((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    if (coordinators() > 1) out += "--- coordinator " + std::to_string(k + 1) + "\n";
    out += all.size() > bytes ? all.substr(all.size() - bytes) : all;
  }
  return out;
}

Status TestCluster::Start(int i, double ready_seconds) {
  std::vector<std::string> argv = {BinDir() + "/tailsafe-agent", "-c", ConfigPath(i), "--log-level", options_.log_level};
  Result<Child> c =
      Child::Spawn(argv, LogPath(i), options_.network ? options_.network->NamespacePath(AgentId(i)) : "");
  if (!c) return c.status();
  agents_[static_cast<size_t>(i)] = std::move(c.value());
  bool ready = WaitUntil([&] { return !Running(i) || AgentStatus(i, 30000).ok(); }, ready_seconds);
  if (!Running(i)) return Status::Error("agent " + AgentId(i) + " exited at start:\n" + LogTail(i));
  if (!ready) return Status::Error("agent " + AgentId(i) + " did not answer within the deadline:\n" + LogTail(i));
  return Status::Ok();
}

void TestCluster::Kill(int i, int sig) {
  Child& a = agents_[static_cast<size_t>(i)];
  a.Signal(sig);
  if (sig != SIGSTOP && sig != SIGCONT) a.Wait();
}

Status TestCluster::Stop(int i, double seconds) {
  Child& a = agents_[static_cast<size_t>(i)];
  a.Signal(SIGTERM);
  if (!WaitUntil([&] { return !a.running(); }, seconds)) {
    return Status::Error("agent " + AgentId(i) + " did not stop after SIGTERM:\n" + LogTail(i));
  }
  if (a.exit_code() != 0) {
    return Status::Error("agent " + AgentId(i) + " exited with " + std::to_string(a.exit_code()) + ":\n" + LogTail(i));
  }
  return Status::Ok();
}

bool TestCluster::EditConfig(int agent, const std::string& from, const std::string& to) {
  std::ifstream in(ConfigPath(agent));
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t at = text.find(from);
  if (at == std::string::npos) return false;
  text.replace(at, from.size(), to);
  std::ofstream(ConfigPath(agent)) << text;
  return true;
}

void TestCluster::LetHeartbeatsPass(int agent, int beats) {
  int seen = 0;
  uint64_t last = 0;
  WaitUntil([&] {
    auto d = CoordinatorGet("/agents/" + AgentId(agent));
    if (!d.ok()) return false;
    uint64_t ago = d->value("last_heard_ms_ago", uint64_t{0});
    if (ago < last) ++seen;
    last = ago;
    return seen >= beats;
  }, 10, 5);
}

Result<std::string> TestCluster::Reload(int agent, const std::string& config) {
  std::ofstream(ConfigPath(agent), std::ios::binary) << config;
  const std::string done = "configuration reloaded: ", refused = " was not loaded, the running configuration stays: ";
  auto answers = [&](const std::string& text) {
    size_t n = 0;
    for (const std::string& needle : {done, refused}) {
      for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
    }
    return n;
  };
  std::string log = ReadAll(LogPath(agent));
  size_t before = answers(log);
  if (::kill(Pid(agent), SIGHUP) != 0) return Status::Error("SIGHUP to agent " + AgentId(agent) + ": " + strerror(errno));
  if (!WaitUntil([&] { return answers(log = ReadAll(LogPath(agent))) > before; }, 10)) {
    return Status::Error("no answer to SIGHUP\n" + LogTail(agent));
  }
  size_t a = log.rfind(done), b = log.rfind(refused);
  size_t at = a == std::string::npos ? b : (b == std::string::npos ? a : std::max(a, b));
  size_t begin = log.rfind('\n', at);
  return log.substr(begin == std::string::npos ? 0 : begin + 1, log.find('\n', at) - (begin + 1));
}

Status TestCluster::StartAll() {
  for (int i = 0; i < size(); ++i) {
    if (Status s = Start(i); !s) {  // most callers only require ok(): say why here
      fprintf(stderr, "test cluster: starting %s: %s\n", AgentId(i).c_str(), s.message().c_str());
      return s;
    }
  }
  return Status::Ok();
}

Status TestCluster::StopAll() {
  Status first;
  for (int i = 0; i < size(); ++i) {
    Status s = Stop(i);
    if (first.ok() && !s.ok()) first = s;
  }
  return first;
}

bool TestCluster::Running(int i) { return agents_[static_cast<size_t>(i)].running(); }

Result<nlohmann::json> TestCluster::AgentStatus(int i, int timeout_ms) {
  Result<std::string> r = ControlRequest(ControlSocket(i), "status", timeout_ms);
  if (!r) return r.status();
  nlohmann::json j = nlohmann::json::parse(*r, nullptr, false);
  if (j.is_discarded()) return Status::Error("status of " + AgentId(i) + " is not JSON");
  return j;
}

bool TestCluster::WaitAcked(int origin, int bolt, double seconds) {
  return WaitUntil([&] {
    auto st = AgentStatus(origin);
    if (!st) return false;
    uint64_t size = FileSize(BoltFile(origin, bolt));
    const auto& peers = (*st)["bolts"][bolt]["peers"];
    if (peers.empty()) return false;
    for (const auto& p : peers) {
      if (p["acked"].get<uint64_t>() != size) return false;
    }
    return true;
  }, seconds, 10);
}

bool TestCluster::AllReplicasMatch(std::string* why, uint64_t gen) {
  for (int o = 0; o < size(); ++o) {
    for (int b = 0; b < bolts(); ++b) {
      for (int h = 0; h < size(); ++h) {
        if (h == o) continue;
        if (!FilesEqual(BoltFile(o, b), ReplicaFile(h, o, b, gen), why)) return false;
      }
    }
  }
  return true;
}

std::string TestCluster::LogTail(int i, size_t bytes) const {
  std::ifstream in(LogPath(i), std::ios::binary);
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return s.size() > bytes ? s.substr(s.size() - bytes) : s;
}

}  // namespace tailsafe::testing
