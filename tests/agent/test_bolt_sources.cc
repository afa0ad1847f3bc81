// BoltSources (agent/bolt_sources.h): the set of sources as bolts come and go. Each starts from
// its state.db rows so numbers never repeat; a removed bolt retires (sealed at its size now) and
// stays, still shipped, until every peer has it all, then moves to the drained list; one added
// back after it drained continues its numbering; a moved file rotates. Runs real sources on a
// libuv loop over a temporary directory.
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "agent/bolt_sources.h"
#include "tests/support/cluster.h"
#include "tests/support/test_loop.h"

using namespace tailsafe;
using tailsafe::testing::ScopedTempDir;
using tailsafe::testing::TestLoop;

namespace {

struct Fixture {
  ScopedTempDir dir{"bolt_sources"};
  TestLoop loop;
  InotifyWatcher watcher{loop.get(), 0};
  AgentConfig agent;
  std::unique_ptr<BoltSources> sources;
  uint64_t acked = 0;  // what every peer has of every generation
  int commits_requested = 0;

  Fixture() {
    BOOST_REQUIRE(watcher.Start().ok());
    agent.id = "h1";
    agent.rescan_interval_ms = 600000;  // what the tests see comes from Check(), not the timer
  }
  ~Fixture() {
    if (sources) sources->Stop();
    sources.reset();
    watcher.Stop();
  }

  std::string File(const std::string& name) const { return dir.path + "/" + name + ".log"; }
  static void Write(const std::string& path, const std::string& bytes) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
  }
  static void Append(const std::string& path, const std::string& bytes) {
    std::ofstream(path, std::ios::binary | std::ios::app) << bytes;
  }
  BoltConfig Bolt(const std::string& name) const {
    BoltConfig b;
    b.name = name;
    b.file = File(name);
    return b;
  }
  void Make(std::vector<OriginGenRow> rows) {
    BoltSource::Hooks hooks;
    hooks.changed = [](const Generation*) {};
    hooks.min_acked = [this](const Generation&) { return acked; };
    hooks.min_cursor = [](const Generation&) { return UINT64_MAX; };
    hooks.lost = [](const Generation&) {};
    hooks.request_commit = [this] { ++commits_requested; };
    sources = std::make_unique<BoltSources>(loop.get(), &watcher, &agent, hooks, std::move(rows));
  }
  BoltSource* Source(const std::string& name) const {
    for (const auto& s : sources->all()) {
      if (s->name() == name) return s.get();
    }
    return nullptr;
  }
  std::vector<std::string> Names() const {
    std::vector<std::string> names;
    for (const auto& s : sources->all()) names.push_back(s->name());
    return names;
  }
  // Commits every row as durable, as often as closing generations writes more.
  void CommitAll() {
    for (int i = 0; i < 3; ++i) {
      Committer::Batch batch;
      sources->Collect(&batch);
      for (auto& f : batch.on_durable) f();
      sources->ReleaseAcked();
    }
  }
};

OriginGenRow Released(const std::string& bolt, uint64_t gen) {
  OriginGenRow row;
  row.bolt = bolt;
  row.gen = gen;
  row.state = GenState::kReleased;
  return row;
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(bolt_sources, Fixture)

BOOST_AUTO_TEST_CASE(each_bolt_starts_from_its_own_rows_so_numbers_never_repeat) {
  Write(File("a"), "a bytes\n");
  Write(File("b"), "b bytes\n");
  Make({Released("a", 4), Released("x", 9)});
  BOOST_REQUIRE(sources->Start({Bolt("a"), Bolt("b")}).ok());
  BOOST_TEST(Names() == (std::vector<std::string>{"a", "b"}));
  BOOST_REQUIRE_EQUAL(Source("a")->generations().size(), 1u);
  BOOST_TEST(Source("a")->generations().front()->gen == 5u);  // after state.db's 4
  BOOST_REQUIRE_EQUAL(Source("b")->generations().size(), 1u);
  BOOST_TEST(Source("b")->generations().front()->gen == 1u);  // another bolt's rows are not its own
  BOOST_TEST(sources->Contains("a"));
  BOOST_TEST(!sources->Contains("x"));
}

BOOST_AUTO_TEST_CASE(stream_ids_are_unique_across_every_bolt) {
  Write(File("a"), "a\n");
  Write(File("b"), "b\n");
  Make({});
  BOOST_REQUIRE(sources->Start({Bolt("a"), Bolt("b")}).ok());
  std::set<uint32_t> streams;
  for (const auto& s : sources->all()) {
    for (const auto& g : s->generations()) streams.insert(g->stream);
  }
  BOOST_TEST(streams.size() == 2u);  // peers share cached frames by stream id
}

BOOST_AUTO_TEST_CASE(a_removed_bolt_is_sealed_at_its_size_now_and_still_shipped_until_every_peer_has_it) {
  Write(File("a"), "kept\n");
  Write(File("b"), "0123456789");
  Make({});
  BOOST_REQUIRE(sources->Start({Bolt("a"), Bolt("b")}).ok());
  Append(File("b"), "ab");  // not seen by an event yet: the retirement reads it
  sources->Apply({Bolt("a")}, {});
  BoltSource* b = Source("b");
  BOOST_REQUIRE(b != nullptr);
  BOOST_TEST(b->retiring());
  BOOST_TEST(sources->Contains("b"));  // still in the set, still shipped
  BOOST_REQUIRE_EQUAL(b->generations().size(), 1u);
  const Generation& g = *b->generations().front();
  BOOST_TEST(g.sealed());
  BOOST_TEST(g.final_size() == 12u);
  Append(File("b"), "written after the removal");
  b->Check();
  BOOST_TEST(g.known_size() == 12u);  // nothing appended later is replicated
  BOOST_TEST(!Source("a")->retiring());

  sources->SweepDrained();
  BOOST_TEST(sources->Contains("b"));  // not yet: no peer has it
  acked = 12;
  CommitAll();
  BOOST_TEST(b->Drained());
  sources->SweepDrained();
  BOOST_TEST(!sources->Contains("b"));
  BOOST_TEST(Names() == (std::vector<std::string>{"a"}));
}

BOOST_AUTO_TEST_CASE(a_bolt_added_back_after_it_drained_continues_its_numbering) {
  Write(File("b"), "first life\n");
  Make({Released("b", 2)});  // state.db's rows at start: stale once it drained here
  BOOST_REQUIRE(sources->Start({Bolt("b")}).ok());
  BOOST_TEST(Source("b")->generations().front()->gen == 3u);
  sources->Apply({}, {});
  acked = UINT64_MAX;
  CommitAll();
  sources->SweepDrained();
  BOOST_REQUIRE(!sources->Contains("b"));

  Write(File("b"), "second life\n");
  sources->Apply({Bolt("b")}, {"b"});
  BoltSource* again = Source("b");
  BOOST_REQUIRE(again != nullptr);
  BOOST_TEST(!again->retiring());
  BOOST_REQUIRE_EQUAL(again->generations().size(), 1u);
  BOOST_TEST(again->generations().front()->gen == 4u);
  BOOST_TEST(again->generations().front()->size() == 12u);
}

BOOST_AUTO_TEST_CASE(a_bolt_whose_file_moved_rotates_to_the_new_path) {
  Write(File("b"), "old path\n");
  Make({});
  BOOST_REQUIRE(sources->Start({Bolt("b")}).ok());
  BoltConfig moved = Bolt("b");
  moved.file = File("b-new");
  Write(moved.file, "new path\n");
  sources->Apply({moved}, {});
  BoltSource* b = Source("b");
  BOOST_REQUIRE(b != nullptr);
  BOOST_TEST(!b->retiring());
  BOOST_TEST(b->path() == moved.file);
  BOOST_REQUIRE_EQUAL(b->generations().size(), 2u);
  BOOST_TEST((b->generations()[0]->state() == GenState::kRetired));  // read to its end, then sealed
  BOOST_TEST(b->generations()[1]->active());
  BOOST_TEST(b->generations()[1]->gen == 2u);
  BOOST_TEST(b->stats().rotations == 1u);
}

BOOST_AUTO_TEST_CASE(a_bolt_named_in_added_but_absent_from_the_list_is_not_started) {
  Make({});
  BOOST_REQUIRE(sources->Start({}).ok());
  sources->Apply({}, {"ghost"});
  BOOST_TEST(sources->all().empty());
}

BOOST_AUTO_TEST_CASE(collect_takes_the_rows_of_every_bolt) {
  Write(File("a"), "a\n");
  Write(File("b"), "b\n");
  Make({});
  BOOST_REQUIRE(sources->Start({Bolt("a"), Bolt("b")}).ok());
  Committer::Batch batch;
  sources->Collect(&batch);
  BOOST_REQUIRE_EQUAL(batch.rows.origin_gens.size(), 2u);
  BOOST_TEST(batch.rows.origin_gens[0].bolt == "a");
  BOOST_TEST(batch.rows.origin_gens[1].bolt == "b");
  for (auto& f : batch.on_durable) f();
  for (const auto& s : sources->all()) BOOST_TEST(s->generations().front()->shippable());
}

BOOST_AUTO_TEST_SUITE_END()
