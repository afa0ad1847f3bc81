#include "tests/support/zookeeper_ensemble.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>

#include "common/fd.h"
#include "coordinator/zk_client.h"

namespace tailsafe::testing {

namespace {

constexpr const char* kJava = "/usr/bin/java";
constexpr const char* kZookeeperJar = "/usr/share/java/zookeeper.jar";  // its manifest names its dependencies
constexpr const char* kLoggerJar = "/usr/share/java/slf4j-simple.jar";

// Sends a four-letter word to address:port and returns the reply ("" if none within 1 s).
std::string FourLetterWord(const std::string& address, uint16_t port, const char* word) {
  Fd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!s) return "";
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  if (::inet_pton(AF_INET, address.c_str(), &a.sin_addr) != 1) return "";
  if (::connect(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 && errno != EINPROGRESS) return "";
  pollfd p{s.get(), POLLOUT, 0};
  if (::poll(&p, 1, 1000) != 1 || (p.revents & (POLLERR | POLLHUP))) return "";
  if (::send(s.get(), word, 4, MSG_NOSIGNAL) != 4) return "";
  std::string out;
  char buf[4096];
  for (;;) {
    p = {s.get(), POLLIN, 0};
    if (::poll(&p, 1, 1000) != 1) return out;
    ssize_t n = ::recv(s.get(), buf, sizeof buf, 0);
    if (n <= 0) return out;
    out.append(buf, static_cast<size_t>(n));
  }
}

// Runs `issue` on a fresh session and turns a loop until `done` is set or 30 s pass.
template <typename Issue>
Status OneRequest(const std::string& connect, Issue issue) {
  std::vector<HostPort> members;
  size_t start = 0;
  for (;;) {
    size_t comma = connect.find(',', start);
    Result<HostPort> hp = ParseHostPort(connect.substr(start, comma == std::string::npos ? comma : comma - start));
    if (!hp) return hp.status();
    members.push_back(*hp);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  uv_loop_t loop;
  uv_loop_init(&loop);
  Status result = Status::Error("no answer from " + connect);
  {
    ZkClient zk(&loop, {members, 4000});
    bool done = false;
    bool issued = false;
    zk.on_state = [&](ZkClient::State s) {
      if (s == ZkClient::State::kConnected && !issued) {
        issued = true;
        if (!issue(zk, [&](Status st) {
              result = st;
              done = true;
            })) {
          result = Status::Error("the request could not be queued");
          done = true;
        }
      } else if (s == ZkClient::State::kExpired) {
        done = true;
      }
    };
    if (Status s = zk.Start(); !s) return s;
    uv_timer_t tick;
    uv_timer_init(&loop, &tick);
    uv_timer_start(&tick, [](uv_timer_t*) {}, 20, 20);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (!done && std::chrono::steady_clock::now() < deadline) uv_run(&loop, UV_RUN_ONCE);
    uv_close(reinterpret_cast<uv_handle_t*>(&tick), nullptr);
    zk.Close();
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  return result;
}

}  // namespace

Result<std::vector<std::string>> ZkChildren(const std::string& connect, const std::string& path) {
  std::vector<std::string> names;
  Status s = OneRequest(connect, [&](ZkClient& zk, auto done) {
    return zk.Children(path, nullptr, [&, done](int rc, std::vector<std::string> n) {
      names = std::move(n);
      done(rc == ZOK ? Status::Ok() : Status::Error("ls " + path + ": " + ZkError(rc)));
    });
  });
  if (!s) return s;
  return names;
}

Status ZkDelete(const std::string& connect, const std::string& path) {
  return OneRequest(connect, [&](ZkClient& zk, auto done) {
    return zk.Delete(path, -1, [&, done](int rc) {
      done(rc == ZOK ? Status::Ok() : Status::Error("delete " + path + ": " + ZkError(rc)));
    });
  });
}

std::string ZookeeperMissing() {
  if (::access(kJava, X_OK) != 0) return std::string(kJava) + " is missing (make deps installs the zookeeper package, which brings Java)";
  if (::access(kZookeeperJar, R_OK) != 0) {
    return std::string(kZookeeperJar) + " is missing (make deps installs Debian's zookeeper package)";
  }
  return "";
}

Result<std::unique_ptr<ZookeeperEnsemble>> ZookeeperEnsemble::Start(const std::string& name, Options options) {
  if (std::string missing = ZookeeperMissing(); !missing.empty()) return Status::Error(missing);
  std::unique_ptr<ZookeeperEnsemble> e(new ZookeeperEnsemble());
  e->options_ = options;
  e->dir_.path = MakeTempDir("zk-" + name);
  if (e->dir_.path.empty()) return Status::Error("cannot make a temporary directory");
  e->members_.resize(static_cast<size_t>(options.members));
  for (int i = 0; i < options.members; ++i) {
    Member& m = e->members_[static_cast<size_t>(i)];
    m.id = i + 1;
    m.client_port = FreePort();
    m.peer_port = FreePort();
    m.election_port = FreePort();
    m.dir = e->dir_.path + "/member-" + std::to_string(m.id);
    m.cfg = m.dir + "/zoo.cfg";
    m.log = m.dir + "/zookeeper.log";
    if (::mkdir(m.dir.c_str(), 0755) != 0 || ::mkdir((m.dir + "/data").c_str(), 0755) != 0) {
      return Status::Error("cannot make " + m.dir);
    }
    std::ofstream(m.dir + "/data/myid") << m.id << "\n";
  }
  for (Member& m : e->members_) {
    std::ofstream cfg(m.cfg);
    cfg << "tickTime=" << options.tick_ms << "\n"
        << "initLimit=20\nsyncLimit=10\n"
        << "dataDir=" << m.dir << "/data\n"
        << "clientPort=" << m.client_port << "\n"
        << "clientPortAddress=" << options.address << "\n"
        << "minSessionTimeout=" << options.min_session_ms << "\n"
        << "maxSessionTimeout=" << options.max_session_ms << "\n"
        << "admin.enableServer=false\n"
        << "4lw.commands.whitelist=srvr,ruok\n"
        // A member that comes back joins fast; a lost quorum is noticed within a few ticks.
        << "cnxTimeout=1000\n";
    if (options.members > 1) {
      for (const Member& peer : e->members_) {
        cfg << "server." << peer.id << "=" << options.address << ":" << peer.peer_port << ":" << peer.election_port << "\n";
      }
    }
  }
  for (Member& m : e->members_) {
    if (Status s = e->Spawn(m); !s) return s;
  }
  return e;
}

Status ZookeeperEnsemble::Spawn(Member& m) {
  std::vector<std::string> argv = {kJava,
                                   "-Xmx96m",
                                   "-XX:+UseSerialGC",
                                   "-XX:TieredStopAtLevel=1",  // starts faster; a test ensemble does little work
                                   "-cp",
                                   std::string(kZookeeperJar) + ":" + kLoggerJar,
                                   "-Dorg.slf4j.simpleLogger.defaultLogLevel=info",
                                   "-Dzookeeper.admin.enableServer=false",
                                   "-Dzookeeper.jmx.log4j.disable=true",
                                   "org.apache.zookeeper.server.quorum.QuorumPeerMain",
                                   m.cfg};
  Result<Child> child = Child::Spawn(argv, m.log, options_.netns);
  if (!child) return child.status().Context("zookeeper member " + std::to_string(m.id));
  m.child = std::move(child.value());
  m.paused = false;
  return Status::Ok();
}

ZookeeperEnsemble::~ZookeeperEnsemble() {
  for (Member& m : members_) {
    if (m.paused) m.child.Signal(SIGCONT);
    m.child.Signal(SIGKILL);
    m.child.Wait();
  }
}

std::string ZookeeperEnsemble::connect_string() const {
  std::string out;
  for (const Member& m : members_) out += (out.empty() ? "" : ",") + options_.address + ":" + std::to_string(m.client_port);
  return out;
}

std::vector<HostPort> ZookeeperEnsemble::members() const {
  std::vector<HostPort> out;
  for (const Member& m : members_) out.push_back({options_.address, m.client_port});
  return out;
}

std::string ZookeeperEnsemble::Mode(int i) const {
  const Member& m = members_.at(static_cast<size_t>(i));
  if (m.paused) return "";
  std::string reply = FourLetterWord(options_.address, m.client_port, "srvr");
  size_t at = reply.find("Mode: ");
  if (at == std::string::npos) return "";
  size_t end = reply.find('\n', at);
  return reply.substr(at + 6, end == std::string::npos ? end : end - at - 6);
}

int ZookeeperEnsemble::Leader() const {
  for (int i = 0; i < size(); ++i) {
    std::string mode = Mode(i);
    if (mode == "leader" || mode == "standalone") return i;
  }
  return -1;
}

bool ZookeeperEnsemble::WaitServing(double seconds) const {
  return WaitUntil([&] {
    int leaders = 0, serving = 0;
    for (int i = 0; i < size(); ++i) {
      std::string mode = Mode(i);
      leaders += (mode == "leader" || mode == "standalone") ? 1 : 0;
      serving += mode.empty() ? 0 : 1;
    }
    return leaders == 1 && serving > size() / 2;
  }, seconds, 100);
}

void ZookeeperEnsemble::Kill(int i) {
  Member& m = members_.at(static_cast<size_t>(i));
  if (m.paused) m.child.Signal(SIGCONT);
  m.child.Signal(SIGKILL);
  m.child.Wait();
  m.paused = false;
}

void ZookeeperEnsemble::Pause(int i) {
  Member& m = members_.at(static_cast<size_t>(i));
  m.child.Signal(SIGSTOP);
  m.paused = true;
}

void ZookeeperEnsemble::Resume(int i) {
  Member& m = members_.at(static_cast<size_t>(i));
  m.child.Signal(SIGCONT);
  m.paused = false;
}

Status ZookeeperEnsemble::Restart(int i) {
  Member& m = members_.at(static_cast<size_t>(i));
  if (m.child.running()) return Status::Error("zookeeper member " + std::to_string(m.id) + " is still running");
  return Spawn(m);
}

bool ZookeeperEnsemble::running(int i) { return members_.at(static_cast<size_t>(i)).child.running(); }

std::string ZookeeperEnsemble::LogTail(int i, size_t bytes) const {
  std::string all = ReadAll(members_.at(static_cast<size_t>(i)).log);
  return all.size() > bytes ? all.substr(all.size() - bytes) : all;
}

}  // namespace tailsafe::testing
