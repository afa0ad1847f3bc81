// BoltTracker (agent/bolt_tracker.h) on a real libuv loop and inotify instance, with forked
// children as bolts: a pid file's process is tracked, and its death told once, with or without
// a successor; a pid file older than its process is refused (a reused pid); a bad or missing
// pid file leaves the bolt waiting; checkpoint readings name the process alive after the read.
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

#include "agent/bolt_tracker.h"
#include "common/checkpoint.h"
#include "common/inotify_watcher.h"
#include "tests/support/cluster.h"
#include "tests/support/test_loop.h"

using namespace tailsafe;
using tailsafe::testing::ScopedTempDir;
using tailsafe::testing::TestLoop;

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
  ~Child() { Kill(); }
  void Kill() {
    if (pid <= 0) return;
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    pid = -1;
  }
};

struct Death {
  std::string bolt;
  pid_t pid;
  bool successor;
};

struct Fixture {
  ScopedTempDir dir{"tracker"};
  TestLoop loop;
  InotifyWatcher watcher{loop.get(), 0};
  BoltConfig bolt;
  std::vector<Death> deaths;
  std::vector<std::pair<uint64_t, pid_t>> checkpoints;  // offset, writer
  std::unique_ptr<BoltTracker> tracker;

  Fixture() {
    BOOST_REQUIRE(watcher.Start().ok());
    bolt.name = "b1";
    bolt.file = dir.path + "/b1.log";
    bolt.pid_file = dir.path + "/b1.pid";
    bolt.checkpoint_file = dir.path + "/b1.checkpoint";
  }
  ~Fixture() {
    tracker.reset();
    watcher.Stop();
  }
  void Start() {
    // A long rescan: what the test sees comes from inotify and the pidfd, not the timer.
    tracker = std::make_unique<BoltTracker>(
        loop.get(), &watcher, std::vector<BoltConfig>{bolt}, 600000,
        [this](const std::string& b, const BoltProcess& p, bool successor) { deaths.push_back({b, p.pid, successor}); },
        [this](const std::string&, uint64_t offset, BoltTracker::Writer w) { checkpoints.push_back({offset, w.pid}); });
    BOOST_REQUIRE(tracker->Start().ok());
  }
  // Writes the pid file as a bolt does: whole, by rename.
  void WritePid(const std::string& text) {
    std::string tmp = bolt.pid_file + ".tmp";
    std::ofstream(tmp) << text;
    BOOST_REQUIRE(::rename(tmp.c_str(), bolt.pid_file.c_str()) == 0);
  }
  const BoltProcess& Proc() { return *tracker->Find("b1"); }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(bolt_tracker)

BOOST_AUTO_TEST_CASE(a_pid_files_process_is_tracked_and_its_death_told_once) {
  Fixture f;
  Child bolt;
  f.WritePid(std::to_string(bolt.pid) + "\n");
  f.Start();
  BOOST_TEST((f.Proc().state == ProcState::kRunning), f.Proc().detail);
  BOOST_TEST(f.Proc().pid == bolt.pid);
  BOOST_TEST(f.Proc().start_boottime_ns > 0u);

  // A checkpoint written while the process lives names it as the writer.
  BOOST_REQUIRE(WriteCheckpointFile(f.bolt.checkpoint_file, 4096).ok());
  BOOST_REQUIRE(f.loop.RunUntil([&] { return !f.checkpoints.empty(); }));
  BOOST_TEST(f.checkpoints[0].first == 4096u);
  BOOST_TEST(f.checkpoints[0].second == bolt.pid);
  BOOST_TEST(f.tracker->FindCheckpoint("b1")->offset == 4096u);

  pid_t pid = bolt.pid;
  bolt.Kill();
  BOOST_REQUIRE(f.loop.RunUntil([&] { return !f.deaths.empty(); }));
  BOOST_TEST(f.deaths.size() == 1u);
  BOOST_TEST(f.deaths[0].bolt == "b1");
  BOOST_TEST(f.deaths[0].pid == pid);
  BOOST_TEST(!f.deaths[0].successor);
  BOOST_TEST((f.Proc().state == ProcState::kDead));
  BOOST_TEST(f.Proc().deaths == 1u);
  // At the death its checkpoint is read again and told, now with no live writer.
  BOOST_REQUIRE(f.checkpoints.size() == 2u);
  BOOST_TEST(f.checkpoints[1].first == 4096u);
  BOOST_TEST(f.checkpoints[1].second == 0);

  // A pid file replaced by garbage afterwards: waiting for a usable one, no second death.
  BOOST_REQUIRE(::unlink(f.bolt.pid_file.c_str()) == 0);
  f.WritePid("garbage");
  BOOST_REQUIRE(f.loop.RunUntil([&] { return f.Proc().detail.find("'garbage'") != std::string::npos; }));
  BOOST_TEST((f.Proc().state == ProcState::kWaiting));
  BOOST_TEST(f.deaths.size() == 1u);
}

BOOST_AUTO_TEST_CASE(a_successor_in_the_pid_file_is_told_with_the_death_then_tracked) {
  Fixture f;
  Child first;
  f.WritePid(std::to_string(first.pid));
  f.Start();
  BOOST_REQUIRE((f.Proc().state == ProcState::kRunning));
  Child second;
  first.Kill();
  f.WritePid(std::to_string(second.pid));  // before the loop has seen the death
  BOOST_REQUIRE(f.loop.RunUntil([&] { return f.Proc().pid == second.pid && f.Proc().state == ProcState::kRunning; }));
  BOOST_REQUIRE(f.deaths.size() == 1u);
  BOOST_TEST(f.deaths[0].successor);
  pid_t second_pid = second.pid;
  second.Kill();
  BOOST_REQUIRE(f.loop.RunUntil([&] { return f.deaths.size() == 2u; }));
  BOOST_TEST(f.deaths[1].pid == second_pid);
  BOOST_TEST(f.Proc().deaths == 2u);
}

BOOST_AUTO_TEST_CASE(a_pid_file_written_before_its_process_started_names_a_reused_pid) {
  Fixture f;
  Child other;
  f.WritePid(std::to_string(other.pid));
  struct timespec times[2] = {{0, UTIME_OMIT}, {::time(nullptr) - 3600, 0}};  // an hour ago
  BOOST_REQUIRE(::utimensat(AT_FDCWD, f.bolt.pid_file.c_str(), times, 0) == 0);
  f.Start();
  BOOST_TEST((f.Proc().state == ProcState::kDead));
  BOOST_TEST(f.Proc().detail.find("after the pid file was written") != std::string::npos, f.Proc().detail);
  BOOST_TEST(f.deaths.empty());  // never tracked, so no death to tell
  f.WritePid(std::to_string(other.pid));  // written now: the same pid is the bolt
  BOOST_REQUIRE(f.loop.RunUntil([&] { return f.Proc().state == ProcState::kRunning; }));
  BOOST_TEST(f.Proc().pid == other.pid);
}

BOOST_AUTO_TEST_CASE(a_missing_or_bad_pid_file_leaves_the_bolt_waiting) {
  Fixture f;
  f.Start();
  BOOST_TEST((f.Proc().state == ProcState::kWaiting));
  BOOST_TEST(f.Proc().detail == "no pid file at " + f.bolt.pid_file);
  BOOST_TEST(f.tracker->FindCheckpoint("b1")->problem == "no checkpoint file yet");
  f.WritePid("not a pid\n");
  BOOST_REQUIRE(f.loop.RunUntil([&] { return f.Proc().detail != "no pid file at " + f.bolt.pid_file; }));
  BOOST_TEST((f.Proc().state == ProcState::kWaiting));
  BOOST_TEST(f.Proc().detail.find(f.bolt.pid_file) != std::string::npos, f.Proc().detail);
  BOOST_TEST(f.tracker->Find("nobody") == nullptr);
}

BOOST_AUTO_TEST_CASE(a_bad_checkpoint_keeps_the_last_good_offset) {
  Fixture f;
  f.Start();
  BOOST_REQUIRE(WriteCheckpointFile(f.bolt.checkpoint_file, 100).ok());
  BOOST_REQUIRE(f.loop.RunUntil([&] { return f.checkpoints.size() == 1u; }));
  BOOST_TEST(f.checkpoints[0].second == 0);  // no tracked process: no writer vouched for
  std::string tmp = f.bolt.checkpoint_file + ".tmp";
  std::ofstream(tmp) << "-5\n";
  BOOST_REQUIRE(::rename(tmp.c_str(), f.bolt.checkpoint_file.c_str()) == 0);
  BOOST_REQUIRE(f.loop.RunUntil([&] { return !f.tracker->FindCheckpoint("b1")->problem.empty(); }));
  const BoltCheckpoint* c = f.tracker->FindCheckpoint("b1");
  BOOST_TEST(c->known);
  BOOST_TEST(c->offset == 100u);
  BOOST_TEST(f.checkpoints.size() == 1u);
}

BOOST_AUTO_TEST_SUITE_END()
