// Running under systemd: both daemons speak sd_notify (READY=1 once serving, WATCHDOG=1 from
// their loops at half of WatchdogSec, STOPPING=1 on SIGTERM). The test plays systemd: it binds
// the NOTIFY_SOCKET datagram socket itself and reads what each daemon says, by sender pid.
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/fd.h"
#include "tests/support/cluster.h"

using namespace tailsafe;
using namespace tailsafe::testing;

namespace {

// A NOTIFY_SOCKET for the daemons started while it is in the environment.
class FakeSystemd {
 public:
  explicit FakeSystemd(const std::string& path) : path_(path) {
    fd_.Reset(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    BOOST_REQUIRE(fd_);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    BOOST_REQUIRE(path.size() < sizeof(addr.sun_path));
    std::memcpy(addr.sun_path, path.c_str(), path.size());
    BOOST_REQUIRE(::bind(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
    int on = 1;
    BOOST_REQUIRE(::setsockopt(fd_.get(), SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)) == 0);
  }
  // Daemons started from now on notify here, with a watchdog of `watchdog_usec`.
  void Export(uint64_t watchdog_usec) {
    ::setenv("NOTIFY_SOCKET", path_.c_str(), 1);
    ::setenv("WATCHDOG_USEC", std::to_string(watchdog_usec).c_str(), 1);
  }
  static void Unexport() {
    ::unsetenv("NOTIFY_SOCKET");
    ::unsetenv("WATCHDOG_USEC");
  }
  // Reads datagrams until `pid` has sent `times` containing `what`, or `seconds` pass.
  bool WaitFor(pid_t pid, const std::string& what, double seconds, size_t times = 1) {
    uint64_t deadline = NowNs() + static_cast<uint64_t>(seconds * 1e9);
    for (;;) {
      if (Count(pid, what) >= times) return true;
      uint64_t now = NowNs();
      if (now >= deadline) return false;
      pollfd p{fd_.get(), POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>((deadline - now) / 1000000 + 1)) <= 0) continue;
      char buf[4096];
      alignas(cmsghdr) char control[CMSG_SPACE(sizeof(ucred))];
      iovec iov{buf, sizeof(buf)};
      msghdr msg{};
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      msg.msg_control = control;
      msg.msg_controllen = sizeof(control);
      ssize_t n = ::recvmsg(fd_.get(), &msg, MSG_DONTWAIT);
      if (n < 0) continue;
      pid_t from = 0;
      for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
          ucred cred;
          std::memcpy(&cred, CMSG_DATA(c), sizeof(cred));
          from = cred.pid;
        }
      }
      said_[from].emplace_back(buf, static_cast<size_t>(n));
    }
  }
  size_t Count(pid_t pid, const std::string& what) {
    size_t n = 0;
    for (const std::string& m : said_[pid]) n += m.find(what) != std::string::npos;
    return n;
  }
  std::string Said(pid_t pid) {
    std::string out;
    for (const std::string& m : said_[pid]) out += "[" + m + "] ";
    return out.substr(0, 2000);
  }

 private:
  std::string path_;
  Fd fd_;
  std::map<pid_t, std::vector<std::string>> said_;
};

}  // namespace

BOOST_AUTO_TEST_SUITE(operations)

BOOST_AUTO_TEST_CASE(daemons_tell_systemd_ready_watchdog_and_stopping) {
  ClusterOptions o = TwoAgentsOneBolt();
  o.coordinator = true;
  TestCluster c("ops-notify", o);
  FakeSystemd systemd(c.root() + "/notify.sock");
  systemd.Export(200000);  // WatchdogSec=200ms: a ping every 100 ms
  Status started = c.StartCoordinator();
  Status agent = started ? c.Start(0) : started;
  FakeSystemd::Unexport();
  BOOST_REQUIRE_MESSAGE(started, started.message() + "\n" + c.CoordinatorLogTail());
  BOOST_REQUIRE_MESSAGE(agent, agent.message() + "\n" + c.LogTail(0));
  BOOST_REQUIRE(c.Start(1));  // not under the fake systemd: says nothing there

  pid_t a = c.Pid(0);
  BOOST_TEST(systemd.WaitFor(a, "READY=1", 10), systemd.Said(a));
  BOOST_TEST(systemd.WaitFor(a, "STATUS=agent h1 on 127.0.0.1:", 1), systemd.Said(a));
  // The watchdog pings come from each daemon's loop: several of them while it serves.
  BOOST_TEST(systemd.WaitFor(a, "WATCHDOG=1", 10, 3), systemd.Said(a));
  pid_t k = c.CoordinatorPid();
  BOOST_TEST(systemd.WaitFor(k, "READY=1", 10), systemd.Said(k));
  BOOST_TEST(systemd.WaitFor(k, "STATUS=coordinator of cluster", 1), systemd.Said(k));
  BOOST_TEST(systemd.WaitFor(k, "WATCHDOG=1", 10, 3), systemd.Said(k));
  BOOST_TEST(systemd.Count(c.Pid(1), "READY=1") == 0u);

  BOOST_REQUIRE(c.Stop(0));
  BOOST_TEST(systemd.WaitFor(a, "STOPPING=1", 5), systemd.Said(a));
  BOOST_REQUIRE(c.StopCoordinator());
  BOOST_TEST(systemd.WaitFor(k, "STOPPING=1", 5), systemd.Said(k));
}

BOOST_AUTO_TEST_SUITE_END()
