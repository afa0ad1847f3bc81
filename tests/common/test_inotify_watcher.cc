// InotifyWatcher (common/inotify_watcher.h) on a real inotify instance and libuv loop: shared
// watches, files followed through /proc/self/fd after a rename and an unlink, unsubscribing
// inside a callback, lingering. The routing rules themselves are test_watch_table.cc's.
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "common/fd.h"
#include "common/inotify_watcher.h"
#include "tests/support/cluster.h"

using namespace tailsafe;
using tailsafe::testing::ScopedTempDir;

namespace {

struct Loop {
  uv_loop_t loop{};
  Loop() { uv_loop_init(&loop); }
  ~Loop() {
    uv_run(&loop, UV_RUN_NOWAIT);  // close callbacks
    uv_loop_close(&loop);
  }
  // Runs the loop until `pred` holds, at most `seconds`.
  template <typename Pred>
  bool RunUntil(Pred pred, double seconds = 5) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(static_cast<int>(seconds * 1000));
    uv_timer_t tick;  // wakes the loop so the deadline is checked
    uv_timer_init(&loop, &tick);
    uv_timer_start(&tick, [](uv_timer_t*) {}, 10, 10);
    bool held = pred();
    while (!held && std::chrono::steady_clock::now() < deadline) {
      uv_run(&loop, UV_RUN_ONCE);
      held = pred();
    }
    uv_close(reinterpret_cast<uv_handle_t*>(&tick), nullptr);
    uv_run(&loop, UV_RUN_NOWAIT);
    return held;
  }
};

struct Seen {
  std::vector<std::string> names;  // one per event: its name, or "." for the watched inode's own
  std::vector<uint32_t> masks;
  int calls = 0;
  InotifyWatcher::Callback Callback() {
    return [this](std::span<const InotifyWatcher::Event> events) {
      ++calls;
      for (const auto& e : events) {
        names.push_back(e.name.empty() ? "." : std::string(e.name));
        masks.push_back(e.mask);
      }
    };
  }
  bool Has(const std::string& name) const {
    for (const auto& n : names) {
      if (n == name) return true;
    }
    return false;
  }
  bool HasMask(uint32_t bit) const {
    for (uint32_t m : masks) {
      if (m & bit) return true;
    }
    return false;
  }
};

void Touch(const std::string& path) { Fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644)); }

void Append(int fd, const std::string& s) { BOOST_REQUIRE(::write(fd, s.data(), s.size()) == static_cast<ssize_t>(s.size())); }

}  // namespace

BOOST_AUTO_TEST_SUITE(inotify_watcher)

BOOST_AUTO_TEST_CASE(subscribers_share_a_directory_and_one_leaving_keeps_the_others_watch) {
  ScopedTempDir dir("watcher");
  Loop l;
  InotifyWatcher w(&l.loop, 0);
  BOOST_REQUIRE(w.Start().ok());
  Seen a, b, c;
  auto sa = w.Subscribe(a.Callback());
  auto sb = w.Subscribe(b.Callback());
  auto sc = w.Subscribe(c.Callback());
  auto wa = sa.Add(dir.path, IN_CREATE | IN_ONLYDIR);
  auto wb = sb.Add(dir.path, IN_CREATE | IN_ONLYDIR, "b.log");  // only its own entry
  auto wc = sc.Add(dir.path, IN_CLOSE_WRITE | IN_ONLYDIR);
  BOOST_REQUIRE(wa.ok() && wb.ok() && wc.ok());
  BOOST_TEST(w.wds() == 1u);  // one kernel watch for the three
  BOOST_TEST(w.watches() == 3u);

  Touch(dir.path + "/a.log");
  Touch(dir.path + "/b.log");
  BOOST_REQUIRE(l.RunUntil([&] { return a.Has("b.log") && b.Has("b.log") && c.Has("b.log"); }));
  BOOST_TEST(a.Has("a.log"));
  BOOST_TEST(!b.Has("a.log"));  // not its name
  BOOST_TEST(!c.HasMask(IN_CREATE));  // c asked for closes only, though the kernel's mask has both

  // a leaves; b and c still watch (the kernel's watch must not have gone with a's).
  wa->Reset();
  BOOST_TEST(w.wds() == 1u);
  a.names.clear();
  Touch(dir.path + "/b.log.2");
  BOOST_REQUIRE(l.RunUntil([&] { return c.Has("b.log.2"); }));
  BOOST_TEST(a.names.empty());
  ::unlink((dir.path + "/b.log").c_str());
  Touch(dir.path + "/b.log");
  BOOST_REQUIRE(l.RunUntil([&] { return b.names.size() >= 2; }));

  wb->Reset();
  wc->Reset();
  BOOST_TEST(w.wds() == 0u);
  BOOST_TEST(w.watches() == 0u);
}

BOOST_AUTO_TEST_CASE(an_open_file_watched_through_proc_self_fd_reports_after_rename_and_unlink) {
  ScopedTempDir dir("watcher");
  Loop l;
  InotifyWatcher w(&l.loop, 0);
  BOOST_REQUIRE(w.Start().ok());
  std::string path = dir.path + "/bolt.log";
  Fd writer(::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
  Fd reader(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  BOOST_REQUIRE(writer && reader);
  Seen s;
  auto sub = w.Subscribe(s.Callback());
  auto watch = sub.Add("/proc/self/fd/" + std::to_string(reader.get()), IN_MODIFY | IN_MOVE_SELF | IN_DELETE_SELF);
  BOOST_REQUIRE(watch.ok());
  // A second watch of the same inode (a new generation opened on the same file) shares the wd.
  Fd reader2(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  auto watch2 = sub.Add("/proc/self/fd/" + std::to_string(reader2.get()), IN_MODIFY);
  BOOST_REQUIRE(watch2.ok());
  BOOST_TEST(w.wds() == 1u);
  watch2->Reset();

  BOOST_REQUIRE(::rename(path.c_str(), (path + ".1").c_str()) == 0);
  BOOST_REQUIRE(l.RunUntil([&] { return s.HasMask(IN_MOVE_SELF); }));
  Append(writer.get(), "after the rename\n");
  BOOST_REQUIRE(l.RunUntil([&] { return s.HasMask(IN_MODIFY); }));
  s.masks.clear();
  BOOST_REQUIRE(::unlink((path + ".1").c_str()) == 0);
  Append(writer.get(), "after the unlink\n");
  BOOST_REQUIRE(l.RunUntil([&] { return s.HasMask(IN_MODIFY); }));
}

BOOST_AUTO_TEST_CASE(a_callback_may_unsubscribe_itself_and_others) {
  ScopedTempDir dir("watcher");
  Loop l;
  InotifyWatcher w(&l.loop, 0);
  BOOST_REQUIRE(w.Start().ok());
  Seen b, sentinel;
  InotifyWatcher::Subscription sa, sb;
  InotifyWatcher::Watch wa;
  int a_calls = 0;
  sa = w.Subscribe([&](std::span<const InotifyWatcher::Event>) {
    ++a_calls;
    sb.Reset();  // another subscriber, whose turn has not come yet
    wa.Reset();  // its own watch
    sa.Reset();  // and itself, while its callback runs
  });
  sb = w.Subscribe(b.Callback());
  auto ss = w.Subscribe(sentinel.Callback());
  wa = std::move(sa.Add(dir.path, IN_CREATE | IN_ONLYDIR).value());
  auto wb = sb.Add(dir.path, IN_CREATE | IN_ONLYDIR);
  auto ws = ss.Add(dir.path, IN_CREATE | IN_ONLYDIR);
  BOOST_REQUIRE(wb.ok() && ws.ok());
  Touch(dir.path + "/one");
  BOOST_REQUIRE(l.RunUntil([&] { return sentinel.Has("one"); }));
  Touch(dir.path + "/two");
  BOOST_REQUIRE(l.RunUntil([&] { return sentinel.Has("two"); }));
  BOOST_TEST(a_calls == 1);
  BOOST_TEST(b.calls == 0);  // removed before its turn in the first burst
  BOOST_TEST(w.subscribers() == 1u);
  BOOST_TEST(w.wds() == 1u);  // the sentinel's
  wb->Reset();                // a stale handle: nothing happens
}

BOOST_AUTO_TEST_CASE(lingering_reads_a_burst_of_writes_as_one) {
  ScopedTempDir dir("watcher");
  Loop l;
  InotifyWatcher w(&l.loop, 1000);
  BOOST_REQUIRE(w.Start().ok());
  std::string path = dir.path + "/bolt.log";
  Fd writer(::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
  Seen s;
  auto sub = w.Subscribe(s.Callback());
  auto watch = sub.Add("/proc/self/fd/" + std::to_string(writer.get()), IN_MODIFY);
  BOOST_REQUIRE(watch.ok());
  // Ten writes 10 ms apart, from the loop itself: without the linger, each would be read alone.
  struct Writes {
    int fd;
    int left = 10;
  } writes{writer.get()};
  uv_timer_t paced;
  uv_timer_init(&l.loop, &paced);
  paced.data = &writes;
  uv_timer_start(&paced, [](uv_timer_t* t) {
    auto* wr = static_cast<Writes*>(t->data);
    if (wr->left-- > 0) Append(wr->fd, "a line\n");
  }, 10, 10);
  BOOST_REQUIRE(l.RunUntil([&] { return s.calls > 0; }));
  BOOST_TEST(writes.left <= 0);  // all ten were written before the first read
  uv_close(reinterpret_cast<uv_handle_t*>(&paced), nullptr);
  BOOST_TEST(s.calls == 1);
  BOOST_TEST(s.names.size() == 1u);  // the kernel merged the ten IN_MODIFY while the poll paused
}

BOOST_AUTO_TEST_CASE(handles_outliving_their_watcher_do_nothing) {
  ScopedTempDir dir("watcher");
  Loop l;
  InotifyWatcher::Subscription sub;
  InotifyWatcher::Watch watch;
  {
    InotifyWatcher w(&l.loop, 0);
    BOOST_REQUIRE(w.Start().ok());
    Seen s;
    sub = w.Subscribe(s.Callback());
    watch = std::move(sub.Add(dir.path, IN_CREATE | IN_ONLYDIR).value());
  }
  BOOST_TEST(!sub.Add(dir.path, IN_CREATE).ok());
  watch.Reset();
  sub.Reset();
}

BOOST_AUTO_TEST_CASE(a_watcher_that_could_not_start_refuses_watches_clearly) {
  Loop l;
  InotifyWatcher w(&l.loop, 0);  // never started
  Seen s;
  auto sub = w.Subscribe(s.Callback());
  int err = 0;
  auto watch = sub.Add("/tmp", IN_CREATE, "", &err);
  BOOST_REQUIRE(!watch.ok());
  BOOST_TEST(watch.status().message() == "cannot watch /tmp: no inotify instance");
  BOOST_TEST(err == EBADF);
}

BOOST_AUTO_TEST_SUITE_END()
