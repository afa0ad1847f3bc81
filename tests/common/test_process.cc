// Pid files, process start times and pidfds (common/process.h).
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "common/process.h"

using namespace tailsafe;

namespace {

// A child that waits for a signal; killed and reaped by the destructor.
struct Child {
  pid_t pid = -1;
  Child() {
    pid = ::fork();
    if (pid == 0) {
      ::pause();
      ::_exit(0);
    }
  }
  ~Child() {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  }
};

struct timespec Now() {
  struct timespec ts;
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return ts;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(process)

BOOST_AUTO_TEST_CASE(pid_text_is_a_decimal_pid_with_optional_whitespace) {
  BOOST_TEST(*ParsePid("1234\n") == 1234);
  BOOST_TEST(*ParsePid("  42 \r\n") == 42);
  BOOST_TEST(ParsePid("").status().message() == "it is empty");
  BOOST_TEST(ParsePid(" \n").status().message() == "it is empty");
  BOOST_TEST(ParsePid("12x").status().message() == "'12x' is not a decimal pid");
  BOOST_TEST(ParsePid("-5").status().message() == "-5 is not a valid pid");
  BOOST_TEST(ParsePid("1").status().message() == "1 is not a valid pid");
  BOOST_TEST(ParsePid("99999999").status().message() == "99999999 is not a valid pid");
  BOOST_TEST(ParsePid("1 2").status().message() == "'1 2' is not a decimal pid");
  BOOST_TEST(ParsePid(std::string("\x01\xff", 2)).status().message() == "'?\?' is not a decimal pid");
}

BOOST_AUTO_TEST_CASE(pid_file_errors_name_the_file) {
  std::string missing = "/nonexistent-tailsafe-dir/bolt.pid";
  auto r = ReadPidFile(missing);
  BOOST_REQUIRE(!r.ok());
  BOOST_TEST(r.status().message().find(missing) != std::string::npos, r.status().message());
  char tmpl[] = "/tmp/tailsafe-pid-XXXXXX";
  int fd = ::mkstemp(tmpl);
  BOOST_REQUIRE(fd >= 0);
  BOOST_REQUIRE(::write(fd, "abc\n", 4) == 4);
  ::close(fd);
  auto bad = ReadPidFile(tmpl);
  ::unlink(tmpl);
  BOOST_REQUIRE(!bad.ok());
  BOOST_TEST(bad.status().message() == std::string("pid file ") + tmpl + ": 'abc' is not a decimal pid");
}

BOOST_AUTO_TEST_CASE(start_time_orders_processes) {
  auto self = ProcessStartBoottimeNs(::getpid());
  BOOST_REQUIRE(self.ok());
  Child child;
  auto theirs = ProcessStartBoottimeNs(child.pid);
  BOOST_REQUIRE(theirs.ok());
  BOOST_TEST(*theirs >= *self);
  BOOST_TEST(*theirs <= RealtimeToBoottimeNs(Now()));
}

BOOST_AUTO_TEST_CASE(a_pid_file_older_than_its_process_is_refused) {
  Child child;
  struct timespec written = Now();
  auto ok = OpenBoltProcess(child.pid, written);
  BOOST_REQUIRE_MESSAGE(ok.ok(), ok.status().message());
  BOOST_TEST(ok->pid == child.pid);
  BOOST_TEST(PidfdAlive(ok->pidfd.get()));

  // The same process behind a pid file written an hour before it started: a reused pid.
  struct timespec hour_ago = written;
  hour_ago.tv_sec -= 3600;
  auto reused = OpenBoltProcess(child.pid, hour_ago);
  BOOST_REQUIRE(!reused.ok());
  BOOST_TEST(reused.status().message().find("not the bolt (the pid was reused)") != std::string::npos,
             reused.status().message());
}

BOOST_AUTO_TEST_CASE(pidfd_reports_the_exit) {
  Child child;
  auto p = OpenBoltProcess(child.pid, Now());
  BOOST_REQUIRE(p.ok());
  ::kill(child.pid, SIGKILL);
  ::waitpid(child.pid, nullptr, 0);
  child.pid = -1;
  BOOST_TEST(!PidfdAlive(p->pidfd.get()));
  auto gone = OpenBoltProcess(p->pid, Now());
  BOOST_REQUIRE(!gone.ok());
  BOOST_TEST(gone.status().message().find(std::to_string(p->pid)) != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
