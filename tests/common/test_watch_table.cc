// WatchTable (common/watch_table.h): who gets which inotify event, without the kernel. Watch
// descriptors here are numbers a test makes up, as the kernel would hand them out: one per inode.
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <sys/inotify.h>

#include <string>
#include <vector>

#include "common/watch_table.h"

using namespace tailsafe;

namespace {

using Id = WatchTable::Id;
using Raw = WatchTable::RawEvent;

// What one subscriber got: one entry per call, each "watch:mask:name" per event.
struct Log {
  std::vector<std::vector<std::string>> calls;
  WatchTable::Callback Callback() {
    return [this](std::span<const WatchTable::Event> events) {
      std::vector<std::string> call;
      for (const auto& e : events) {
        call.push_back(std::to_string(e.watch) + ":" + std::to_string(e.mask) + ":" + std::string(e.name));
      }
      calls.push_back(call);
    };
  }
  size_t events() const {
    size_t n = 0;
    for (const auto& c : calls) n += c.size();
    return n;
  }
};

std::string Ev(Id watch, uint32_t mask, const std::string& name = "") {
  return std::to_string(watch) + ":" + std::to_string(mask) + ":" + name;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(watch_table)

BOOST_AUTO_TEST_CASE(a_shared_wd_is_counted_and_leaves_the_kernel_with_its_last_watch) {
  WatchTable t;
  Log a, b;
  Id sa = t.AddSubscriber(a.Callback());
  Id sb = t.AddSubscriber(b.Callback());
  // Both watch the same directory: the kernel gave both wd 7.
  Id wa = t.AddWatch(sa, 7, IN_CREATE);
  Id wb = t.AddWatch(sb, 7, IN_CLOSE_WRITE);
  Id wa2 = t.AddWatch(sa, 7, IN_CREATE);  // the same subscriber twice: counted twice
  BOOST_TEST(t.wds() == 1u);
  BOOST_TEST(t.watches() == 3u);
  BOOST_TEST(t.MaskOf(7) == uint32_t{IN_CREATE | IN_CLOSE_WRITE});
  BOOST_TEST(t.RemoveWatch(wa) == -1);  // b's watch and a's second one still need wd 7
  BOOST_TEST(t.RemoveWatch(wa) == -1);  // removing twice changes nothing
  std::vector<Raw> burst = {{7, IN_CLOSE_WRITE, 0, "x.pid"}, {7, IN_CREATE, 0, "y"}};
  t.Dispatch(burst);
  BOOST_TEST(a.calls == (std::vector<std::vector<std::string>>{{Ev(wa2, IN_CREATE, "y")}}));
  BOOST_TEST(b.calls == (std::vector<std::vector<std::string>>{{Ev(wb, IN_CLOSE_WRITE, "x.pid")}}));
  BOOST_TEST(t.RemoveWatch(wb) == -1);
  BOOST_TEST(t.RemoveWatch(wa2) == 7);  // the last one: the caller removes wd 7 from the kernel
  BOOST_TEST(t.wds() == 0u);
  BOOST_TEST(t.MaskOf(7) == 0u);
}

BOOST_AUTO_TEST_CASE(removing_a_subscriber_returns_only_the_wds_nobody_else_watches) {
  WatchTable t;
  Log a, b;
  Id sa = t.AddSubscriber(a.Callback());
  Id sb = t.AddSubscriber(b.Callback());
  t.AddWatch(sa, 1, IN_CREATE);
  t.AddWatch(sa, 2, IN_MODIFY);
  t.AddWatch(sa, 2, IN_ATTRIB);
  t.AddWatch(sb, 1, IN_CREATE);
  std::vector<int> unwatch;
  t.RemoveSubscriber(sa, &unwatch);
  BOOST_TEST(unwatch == std::vector<int>{2});
  BOOST_TEST(t.subscribers() == 1u);
  BOOST_TEST(t.watches() == 1u);
  BOOST_TEST(t.AddWatch(sa, 3, IN_CREATE) == 0u);  // gone: no watch for it
  std::vector<Raw> burst = {{1, IN_CREATE, 0, "f"}, {2, IN_MODIFY, 0, ""}};
  t.Dispatch(burst);
  BOOST_TEST(a.calls.empty());
  BOOST_TEST(b.events() == 1u);
}

BOOST_AUTO_TEST_CASE(events_reach_only_the_watches_whose_mask_and_name_want_them) {
  WatchTable t;
  Log bolt1, bolt2, tracker;
  // Two bolts' sources watch their own names in one directory; the tracker the whole of it.
  Id w1 = t.AddWatch(t.AddSubscriber(bolt1.Callback()), 4, IN_CREATE | IN_MOVED_TO | IN_ATTRIB, "b1.log");
  Id w2 = t.AddWatch(t.AddSubscriber(bolt2.Callback()), 4, IN_CREATE | IN_MOVED_TO | IN_ATTRIB, "b2.log");
  Id wt = t.AddWatch(t.AddSubscriber(tracker.Callback()), 4, IN_CLOSE_WRITE | IN_MOVED_TO);
  std::vector<Raw> burst = {
      {4, IN_CREATE, 0, "b1.log"},       // bolt 1 only (the tracker does not ask for IN_CREATE)
      {4, IN_MOVED_TO, 9, "b2.ckpt"},    // the tracker only: nobody named it
      {4, IN_MOVED_TO, 10, "b2.log"},    // bolt 2 and the tracker
      {4, IN_CLOSE_WRITE, 0, "b1.log"},  // the tracker: the sources did not ask for it
      {4, IN_ATTRIB | IN_ISDIR, 0, ""},  // the directory itself: every watch asking for IN_ATTRIB
      {5, IN_CREATE, 0, "b1.log"},       // a wd nobody watches (removed earlier): dropped
  };
  t.Dispatch(burst);
  BOOST_TEST(bolt1.calls == (std::vector<std::vector<std::string>>{
                                {Ev(w1, IN_CREATE, "b1.log"), Ev(w1, IN_ATTRIB | IN_ISDIR)}}));
  BOOST_TEST(bolt2.calls == (std::vector<std::vector<std::string>>{
                                {Ev(w2, IN_MOVED_TO, "b2.log"), Ev(w2, IN_ATTRIB | IN_ISDIR)}}));
  BOOST_TEST(tracker.calls == (std::vector<std::vector<std::string>>{
                                  {Ev(wt, IN_MOVED_TO, "b2.ckpt"), Ev(wt, IN_MOVED_TO, "b2.log"),
                                   Ev(wt, IN_CLOSE_WRITE, "b1.log")}}));
}

BOOST_AUTO_TEST_CASE(one_call_per_burst_in_order_of_first_event) {
  WatchTable t;
  std::vector<std::string> order;
  Id sa = t.AddSubscriber([&](std::span<const WatchTable::Event> e) { order.push_back("a" + std::to_string(e.size())); });
  Id sb = t.AddSubscriber([&](std::span<const WatchTable::Event> e) { order.push_back("b" + std::to_string(e.size())); });
  t.AddWatch(sa, 1, IN_MODIFY);
  t.AddWatch(sb, 2, IN_MODIFY);
  std::vector<Raw> burst = {{2, IN_MODIFY, 0, ""}, {1, IN_MODIFY, 0, ""}, {2, IN_MODIFY, 0, ""}, {1, IN_MODIFY, 0, ""}};
  t.Dispatch(burst);
  BOOST_TEST(order == (std::vector<std::string>{"b2", "a2"}));
}

BOOST_AUTO_TEST_CASE(overflow_reaches_every_subscriber_once_and_last) {
  WatchTable t;
  Log a, b, idle;
  Id sa = t.AddSubscriber(a.Callback());
  Id sb = t.AddSubscriber(b.Callback());
  t.AddSubscriber(idle.Callback());  // watches nothing yet (its directory does not exist): still rescans
  Id wa = t.AddWatch(sa, 1, IN_MODIFY);
  t.AddWatch(sb, 2, IN_MODIFY);
  std::vector<Raw> burst = {{-1, IN_Q_OVERFLOW, 0, ""}, {1, IN_MODIFY, 0, ""}, {-1, IN_Q_OVERFLOW, 0, ""}};
  t.Dispatch(burst);
  BOOST_TEST(a.calls == (std::vector<std::vector<std::string>>{{Ev(wa, IN_MODIFY), Ev(0, IN_Q_OVERFLOW)}}));
  BOOST_TEST(b.calls == (std::vector<std::vector<std::string>>{{Ev(0, IN_Q_OVERFLOW)}}));
  BOOST_TEST(idle.calls == (std::vector<std::vector<std::string>>{{Ev(0, IN_Q_OVERFLOW)}}));
}

BOOST_AUTO_TEST_CASE(ignored_reaches_every_watch_of_the_wd_then_they_are_gone) {
  WatchTable t;
  Log a, b;
  Id sa = t.AddSubscriber(a.Callback());
  Id sb = t.AddSubscriber(b.Callback());
  Id wa = t.AddWatch(sa, 3, IN_CREATE, "f");
  Id wb = t.AddWatch(sb, 3, IN_CLOSE_WRITE);
  Id other = t.AddWatch(sb, 4, IN_CLOSE_WRITE);
  std::vector<Raw> burst = {{3, IN_DELETE_SELF, 0, ""}, {3, IN_IGNORED, 0, ""}};
  t.Dispatch(burst);
  // IN_DELETE_SELF was asked by neither; IN_IGNORED goes to both, whatever they asked.
  BOOST_TEST(a.calls == (std::vector<std::vector<std::string>>{{Ev(wa, IN_IGNORED)}}));
  BOOST_TEST(b.calls == (std::vector<std::vector<std::string>>{{Ev(wb, IN_IGNORED)}}));
  BOOST_TEST(!t.HasWatch(wa));
  BOOST_TEST(!t.HasWatch(wb));
  BOOST_TEST(t.HasWatch(other));
  BOOST_TEST(t.wds() == 1u);
  // Their handles still remove them later: nothing for the kernel (it dropped wd 3 itself).
  BOOST_TEST(t.RemoveWatch(wa) == -1);
  BOOST_TEST(t.RemoveWatch(wb) == -1);
  // The directory made again gets a new wd; a late event of the old one reaches nobody.
  Id wa2 = t.AddWatch(sa, 8, IN_CREATE, "f");
  std::vector<Raw> later = {{3, IN_CREATE, 0, "f"}, {8, IN_CREATE, 0, "f"}};
  t.Dispatch(later);
  BOOST_TEST(a.calls.back() == std::vector<std::string>{Ev(wa2, IN_CREATE, "f")});
}

BOOST_AUTO_TEST_CASE(a_callback_may_remove_any_watch_or_subscriber_its_own_included) {
  WatchTable t;
  Log b, c;
  Id wb = 0, wc = 0, sb = 0, sc = 0, wa = 0, sa = 0;
  std::vector<int> unwatch;
  int a_calls = 0;
  sa = t.AddSubscriber([&](std::span<const WatchTable::Event>) {
    ++a_calls;
    // First in line: gives b a second watch of wd 1 (it sees only later bursts), then drops b's
    // first one, c altogether, and itself (its own std::function is running).
    t.AddWatch(sb, 1, IN_MODIFY);
    BOOST_TEST(t.RemoveWatch(wb) == -1);  // a, c and b's new watch still hold wd 1
    t.RemoveSubscriber(sc, &unwatch);
    t.RemoveSubscriber(sa, &unwatch);
  });
  sb = t.AddSubscriber(b.Callback());
  sc = t.AddSubscriber(c.Callback());
  wa = t.AddWatch(sa, 1, IN_MODIFY);
  wb = t.AddWatch(sb, 1, IN_MODIFY);
  Id wb2 = t.AddWatch(sb, 2, IN_MODIFY);
  wc = t.AddWatch(sc, 1, IN_MODIFY);
  std::vector<Raw> burst = {{1, IN_MODIFY, 0, ""}, {2, IN_MODIFY, 0, ""}, {-1, IN_Q_OVERFLOW, 0, ""}};
  t.Dispatch(burst);
  BOOST_TEST(a_calls == 1);
  // b: its removed watch's event is not delivered; the other watch's and the overflow are.
  BOOST_TEST(b.calls == (std::vector<std::vector<std::string>>{{Ev(wb2, IN_MODIFY), Ev(0, IN_Q_OVERFLOW)}}));
  BOOST_TEST(c.calls.empty());  // removed before its turn
  BOOST_TEST(unwatch.empty());  // b's new watch keeps wd 1
  BOOST_TEST(!t.HasWatch(wa));
  BOOST_TEST(!t.HasWatch(wc));
  BOOST_TEST(t.subscribers() == 1u);
  t.Dispatch(burst);
  BOOST_TEST(a_calls == 1);
  BOOST_TEST(b.calls.size() == 2u);
  BOOST_TEST(b.calls.back().size() == 3u);  // wd 1 through its new watch, wd 2, the overflow
}

BOOST_AUTO_TEST_CASE(a_callback_removing_the_last_watch_of_a_wd_hands_it_back) {
  WatchTable t;
  Id w = 0;
  int removed = -2;
  Id s = t.AddSubscriber([&](std::span<const WatchTable::Event>) { removed = t.RemoveWatch(w); });
  w = t.AddWatch(s, 6, IN_MODIFY);
  std::vector<Raw> burst = {{6, IN_MODIFY, 0, ""}, {6, IN_MODIFY, 0, ""}};
  t.Dispatch(burst);
  BOOST_TEST(removed == 6);
  BOOST_TEST(t.wds() == 0u);
}

BOOST_AUTO_TEST_SUITE_END()
