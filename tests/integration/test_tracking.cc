// Bolt liveness from pid files (issue 3): a tracked bolt's death is seen through its pidfd, and
// a pid file whose pid now belongs to an unrelated process is never taken for the bolt.
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "tests/support/cluster.h"

using namespace tailsafe;
using namespace tailsafe::testing;

namespace {

// Writes `pid` to `path` the way a bolt should: a temporary file renamed over it.
void WritePidFile(const std::string& path, pid_t pid) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    f << pid << "\n";
  }
  BOOST_REQUIRE(::rename(tmp.c_str(), path.c_str()) == 0);
}

void BackdateOneHour(const std::string& path) {
  struct timespec times[2];
  ::clock_gettime(CLOCK_REALTIME, &times[0]);
  times[0].tv_sec -= 3600;
  times[1] = times[0];
  BOOST_REQUIRE(::utimensat(AT_FDCWD, path.c_str(), times, 0) == 0);
}

Child Sleeper(const TestCluster& c) {
  auto child = Child::Spawn({"/bin/sleep", "600"}, c.root() + "/sleeper.log");
  BOOST_REQUIRE_MESSAGE(child.ok(), child.status().message());
  return std::move(child.value());
}

// The bolt's "process" object in agent 0's status, or null.
nlohmann::json Process(TestCluster& c) {
  auto st = c.AgentStatus(0);
  if (!st.ok() || (*st)["bolts"].empty()) return nullptr;
  return (*st)["bolts"][0].value("process", nlohmann::json());
}

bool WaitState(TestCluster& c, const std::string& state, pid_t pid, nlohmann::json* last) {
  return WaitUntil([&] {
    *last = Process(c);
    return last->is_object() && last->value("state", "") == state && last->value("pid", 0) == pid;
  }, 10);
}

boost::test_tools::assertion_result CanSetLastPid(boost::unit_test::test_unit_id) {
  boost::test_tools::assertion_result r(::geteuid() == 0 && ::access("/proc/sys/kernel/ns_last_pid", W_OK) == 0);
  if (!r) r.message() << "skipped: forcing a pid reuse needs root (/proc/sys/kernel/ns_last_pid)";
  return r;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(tracking)

BOOST_AUTO_TEST_CASE(pid_file_bolt_death_is_seen_and_a_new_pid_tracked) {
  ClusterOptions opt = TwoAgentsOneBolt();
  opt.pid_files = true;
  TestCluster c("track", opt);
  BOOST_REQUIRE(c.Start(0).ok());
  nlohmann::json p;
  BOOST_REQUIRE(WaitUntil([&] { p = Process(c); return p.is_object() && p.value("state", "") == "waiting"; }, 10));
  BOOST_TEST(p.value("detail", "").find("no pid file") != std::string::npos, p.dump());

  Child bolt = Sleeper(c);
  WritePidFile(c.PidFile(0, 0), bolt.pid());
  BOOST_REQUIRE_MESSAGE(WaitState(c, "running", bolt.pid(), &p), p.dump());
  pid_t first = bolt.pid();
  bolt.Signal(SIGKILL);
  bolt.Wait();
  BOOST_REQUIRE_MESSAGE(WaitState(c, "dead", first, &p), p.dump());
  BOOST_TEST(p.value("deaths", 0) == 1);
  BOOST_TEST(c.LogTail(0).find("process " + std::to_string(first) + " exited") != std::string::npos);

  // The bolt restarts and writes its new pid: tracked anew.
  Child again = Sleeper(c);
  WritePidFile(c.PidFile(0, 0), again.pid());
  BOOST_REQUIRE_MESSAGE(WaitState(c, "running", again.pid(), &p), p.dump());
  BOOST_TEST(p.value("deaths", 0) == 1);
  BOOST_TEST(c.Stop(0).ok());
}

// Acceptance 4, with the file's age standing in for the reuse: the process behind the pid
// started after the pid file was written, so it cannot be the process that wrote it.
BOOST_AUTO_TEST_CASE(pid_older_than_its_file_is_not_the_bolt) {
  ClusterOptions opt = TwoAgentsOneBolt();
  opt.pid_files = true;
  TestCluster c("reuse", opt);
  Child unrelated = Sleeper(c);
  WritePidFile(c.PidFile(0, 0), unrelated.pid());
  BackdateOneHour(c.PidFile(0, 0));
  BOOST_REQUIRE(c.Start(0).ok());
  nlohmann::json p;
  BOOST_REQUIRE_MESSAGE(WaitState(c, "dead", unrelated.pid(), &p), p.dump());
  BOOST_TEST(p.value("detail", "").find("the pid was reused") != std::string::npos, p.dump());
  BOOST_TEST(c.LogTail(0).find("the pid was reused") != std::string::npos, c.LogTail(0));
  // Killing the unrelated process is not a bolt death.
  unrelated.Signal(SIGKILL);
  unrelated.Wait();
  auto again = Process(c);
  BOOST_TEST(again.value("deaths", -1) == 0, again.dump());
  BOOST_TEST(c.Stop(0).ok());
}

// Acceptance 4 for real: the bolt dies while the agent is down and the kernel hands its pid to
// an unrelated process (forced with ns_last_pid, which needs root).
BOOST_AUTO_TEST_CASE(recycled_pid_of_an_unrelated_process_is_not_the_bolt, *boost::unit_test::precondition(CanSetLastPid)) {
  ClusterOptions opt = TwoAgentsOneBolt();
  opt.pid_files = true;
  TestCluster c("recycle", opt);
  Child bolt = Sleeper(c);
  pid_t pid = bolt.pid();
  WritePidFile(c.PidFile(0, 0), pid);
  // A bolt writes its pid file when it starts, long before it dies; start times have a 10 ms
  // resolution, so a pid reused within 10 ms of the file's writing could not be told apart.
  BackdateOneHour(c.PidFile(0, 0));
  bolt.Signal(SIGKILL);
  bolt.Wait();
  // Hand the freed pid to an unrelated process. Anything else forking meanwhile can take it, so
  // try a few times.
  Child unrelated;
  for (int attempt = 0; attempt < 20 && unrelated.pid() != pid; ++attempt) {
    if (unrelated.pid() > 0) {
      unrelated.Signal(SIGKILL);
      unrelated.Wait();
    }
    std::ofstream(("/proc/sys/kernel/ns_last_pid")) << pid - 1;
    unrelated = Sleeper(c);
  }
  // Other processes forking at this moment could take the pid every time; that is not a pass.
  BOOST_REQUIRE_MESSAGE(unrelated.pid() == pid, "could not get pid " << pid << " reused in 20 attempts");
  BOOST_REQUIRE(c.Start(0).ok());
  nlohmann::json p;
  BOOST_REQUIRE_MESSAGE(WaitState(c, "dead", pid, &p), p.dump());
  BOOST_TEST(p.value("detail", "").find("the pid was reused") != std::string::npos, p.dump());
  BOOST_TEST(c.Stop(0).ok());
}

BOOST_AUTO_TEST_SUITE_END()
