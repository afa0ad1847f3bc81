// BoltWatch (agent/bolt_watch.h): which events about one bolt call for a Check(). Its own entry
// in the directory does, other entries do not; writes to an open generation's inode do, also
// after the file was renamed away; an inode no generation holds any more is no longer watched.
// Runs a real InotifyWatcher on a libuv loop over a temporary directory.
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <deque>
#include <fstream>
#include <functional>
#include <memory>
#include <string>

#include "agent/bolt_watch.h"
#include "tests/support/cluster.h"
#include "tests/support/test_loop.h"

using namespace tailsafe;
using tailsafe::testing::ScopedTempDir;
using tailsafe::testing::TestLoop;

namespace {

struct Fixture {
  ScopedTempDir dir{"bolt_watch"};
  TestLoop loop;
  InotifyWatcher watcher{loop.get(), 0};
  int checks = 0;
  bool last_path_may_differ = false;
  BoltWatch watch{&watcher, "b", [this](bool path) {
                    ++checks;
                    last_path_may_differ = path;
                  }};

  Fixture() { BOOST_REQUIRE(watcher.Start().ok()); }
  ~Fixture() {
    watch.Stop();
    watcher.Stop();
  }
  void Append(const std::string& name, const std::string& bytes) {
    std::ofstream(dir.path + "/" + name, std::ios::binary | std::ios::app) << bytes;
  }
  // A generation holding NAME open, as BoltSource makes one.
  std::shared_ptr<Generation> Open(const std::string& name, uint64_t gen) {
    auto g = std::make_shared<Generation>("b", gen, static_cast<uint32_t>(gen));
    int fd = ::open((dir.path + "/" + name).c_str(), O_RDONLY | O_CLOEXEC);
    BOOST_REQUIRE(fd >= 0);
    struct stat st;
    BOOST_REQUIRE(::fstat(fd, &st) == 0);
    g->Open(std::make_shared<Fd>(fd), st.st_dev, st.st_ino, static_cast<uint64_t>(st.st_size), 0);
    return g;
  }
  // Runs the loop until a check comes (events are delivered by the loop).
  bool Checked() {
    int before = checks;
    return loop.RunUntil([&] { return checks > before; });
  }
  // Absence without a fixed wait: what happened before `news` (an event that calls for a check)
  // was read from the one inotify queue first, so once its check came, the events this watch
  // took since `before` are the news's alone if the rest was ignored.
  uint64_t EventsUpToCheck(uint64_t before, const std::function<void()>& news) {
    news();
    BOOST_REQUIRE(Checked());
    return watch.events() - before;
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(bolt_watch)

BOOST_FIXTURE_TEST_CASE(the_bolt_s_own_entry_calls_for_a_check_other_entries_do_not, Fixture) {
  watch.Start(dir.path, "b.log");
  BOOST_TEST(watch.started());
  Append("other.log", "x");
  Append("b.ckpt", "1");
  // b.log's creation is its one event (IN_CREATE; writes are not watched on the directory).
  BOOST_TEST(EventsUpToCheck(0, [&] { Append("b.log", "hello\n"); }) == 1u, "other files are noise");
  BOOST_TEST(checks == 1);
  BOOST_TEST(watch.overflows() == 0u);
}

BOOST_FIXTURE_TEST_CASE(an_open_generation_reports_its_writes_also_after_a_rename, Fixture) {
  Append("b.log", "first\n");
  watch.Start(dir.path, "b.log");
  auto g = Open("b.log", 1);
  watch.WatchInode(*g);
  watch.WatchInode(*g);  // once per inode
  Append("b.log", "more\n");
  BOOST_TEST(Checked(), "a write");
  BOOST_TEST(!last_path_may_differ, "a write alone leaves the path naming the same file");
  BOOST_REQUIRE(::rename((dir.path + "/b.log").c_str(), (dir.path + "/b.log.1").c_str()) == 0);
  BOOST_TEST(Checked(), "the rename of the bolt's entry");
  BOOST_TEST(last_path_may_differ);
  Append("b.log.1", "late\n");
  BOOST_TEST(Checked(), "a write to the rotated-away generation");
  // Still open: kept. Closed: its inode is forgotten, and its writes are no longer news.
  watch.ForgetClosedInodes({g});
  Append("b.log.1", "still\n");
  BOOST_TEST(Checked());
  watch.ForgetClosedInodes({});
  uint64_t before = watch.events();
  Append("b.log.1", "later\n");
  BOOST_TEST(EventsUpToCheck(before, [&] { Append("b.log", "new file\n"); }) == 1u);
}

BOOST_FIXTURE_TEST_CASE(a_missing_directory_is_watched_once_it_exists_and_a_move_follows_the_file, Fixture) {
  std::string sub = dir.path + "/later";
  watch.Start(sub, "b.log");  // warns: the rescan's Retry() tries again
  watch.Retry();
  BOOST_REQUIRE(::mkdir(sub.c_str(), 0755) == 0);
  watch.Retry();
  Append("later/b.log", "x");
  BOOST_TEST(Checked());
  watch.MoveTo(dir.path, "c.log");
  uint64_t before = watch.events();
  BOOST_REQUIRE(::unlink((sub + "/b.log").c_str()) == 0);  // news, had the old directory been watched
  BOOST_TEST(EventsUpToCheck(before, [&] { Append("c.log", "z"); }) == 1u,
             "the old path's directory is no longer watched");
  watch.Stop();
  BOOST_TEST(!watch.started());
}

BOOST_AUTO_TEST_SUITE_END()
