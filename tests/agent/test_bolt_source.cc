// BoltSource (agent/bolt_source.h): how one bolt's source applies what fstat and stat say to
// its generations. A new inode at the path is a rotation (the old generation is read to its
// end, then sealed once quiet and not open for writing); a shrink is a truncation (a copy found
// continues the old generation; without one it ends, sealed if every peer has it, else lost);
// divergence ends the active generation and the file goes on as a new one. The transition rules
// themselves are pinned in test_generation_transition.cc; here, what the source does with them.
// Runs a real source on a libuv loop over a temporary directory and calls Check() itself.
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "agent/bolt_source.h"
#include "tests/support/cluster.h"
#include "tests/support/test_loop.h"

using namespace tailsafe;
using tailsafe::testing::ScopedTempDir;
using tailsafe::testing::TestLoop;

namespace {

struct Fixture {
  ScopedTempDir dir{"bolt_source"};
  TestLoop loop;
  InotifyWatcher watcher{loop.get(), 0};
  AgentConfig agent;
  BoltConfig bolt;
  uint32_t next_stream = 1;
  uint64_t acked = 0;  // what every peer has of every generation
  int changed = 0;
  std::vector<uint64_t> lost;
  std::unique_ptr<BoltSource> source;

  Fixture() {
    BOOST_REQUIRE(watcher.Start().ok());
    agent.id = "h1";
    agent.rescan_interval_ms = 600000;  // what the tests see comes from Check(), not the timer
    agent.seal_after_ms = 600000;       // no seal unless a test asks for one
    bolt.name = "b";
    bolt.file = dir.path + "/b.log";
  }
  ~Fixture() {
    if (source) source->Stop();
    source.reset();
    watcher.Stop();
  }

  static void Write(const std::string& path, const std::string& bytes) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
  }
  static void Append(const std::string& path, const std::string& bytes) {
    std::ofstream(path, std::ios::binary | std::ios::app) << bytes;
  }
  void Start(std::vector<OriginGenRow> rows = {}) {
    BoltSource::Hooks hooks;
    hooks.changed = [this](const Generation*) { ++changed; };
    hooks.min_acked = [this](const Generation&) { return acked; };
    hooks.min_cursor = [](const Generation&) { return UINT64_MAX; };
    hooks.lost = [this](const Generation& g) { lost.push_back(g.gen); };
    hooks.request_commit = [] {};
    source = std::make_unique<BoltSource>(loop.get(), &watcher, bolt, agent, hooks, &next_stream,
                                          std::make_shared<EncodeSlots>(kAgentEncodeJobs));
    BOOST_REQUIRE(source->Start(rows).ok());
  }
  const Generation& Gen(size_t i) const {
    BOOST_REQUIRE(i < source->generations().size());
    return *source->generations()[i];
  }
  size_t Count() const { return source->generations().size(); }
  // Every row durable, as a commit would make it.
  void Commit() {
    Committer::Batch batch;
    source->Collect(&batch);
    for (auto& f : batch.on_durable) f();
  }
};

}  // namespace

BOOST_FIXTURE_TEST_SUITE(bolt_source, Fixture)

BOOST_AUTO_TEST_CASE(a_file_found_starts_a_generation_and_fstat_tells_its_growth) {
  Start();
  BOOST_TEST(Count() == 0u);  // no file yet
  BOOST_TEST(source->active() == nullptr);
  Write(bolt.file, "first\n");
  source->Check();
  BOOST_REQUIRE_EQUAL(Count(), 1u);
  BOOST_TEST(Gen(0).gen == 1u);
  BOOST_TEST(Gen(0).active());
  BOOST_TEST(Gen(0).size() == 6u);
  BOOST_TEST(source->active() == &Gen(0));
  BOOST_TEST(!Gen(0).shippable());  // not before its row is durable
  Commit();
  BOOST_TEST(Gen(0).shippable());
  int before = changed;
  Append(bolt.file, "second\n");
  source->Check();
  BOOST_TEST(Gen(0).size() == 13u);
  BOOST_TEST(changed > before);  // the peers are told
  before = changed;
  source->Check();  // nothing new: nothing to tell
  BOOST_TEST(changed == before);
}

BOOST_AUTO_TEST_CASE(a_new_file_at_the_path_is_a_rotation_and_the_old_one_is_read_to_its_end) {
  Write(bolt.file, "one\n");
  Start();
  BOOST_REQUIRE(::rename(bolt.file.c_str(), (bolt.file + ".1").c_str()) == 0);
  Append(bolt.file + ".1", "late\n");  // the bolt had not reopened yet
  Write(bolt.file, "two\n");
  source->Check();
  BOOST_REQUIRE_EQUAL(Count(), 2u);
  BOOST_TEST((Gen(0).state() == GenState::kRetired));
  BOOST_TEST(Gen(0).size() == 9u);
  BOOST_TEST(Gen(1).active());
  BOOST_TEST(Gen(1).gen == 2u);
  BOOST_TEST(Gen(1).size() == 4u);
  BOOST_TEST(source->stats().rotations == 1u);
  BOOST_TEST(lost.empty());
}

BOOST_AUTO_TEST_CASE(a_rotated_away_generation_is_sealed_once_it_is_quiet_and_not_open_for_writing) {
  agent.seal_after_ms = 20;
  Write(bolt.file, "one\n");
  Start();
  BOOST_REQUIRE(::rename(bolt.file.c_str(), (bolt.file + ".1").c_str()) == 0);
  Write(bolt.file, "two\n");
  source->Check();
  BOOST_REQUIRE_EQUAL(Count(), 2u);
  BOOST_REQUIRE(loop.RunUntil([&] { return Gen(0).sealed(); }));  // the seal timer's Check
  BOOST_TEST(Gen(0).final_size() == 4u);
  BOOST_TEST(Gen(1).active());  // the bolt's file is never sealed by quiet
}

BOOST_AUTO_TEST_CASE(a_generation_still_open_for_writing_elsewhere_is_not_sealed) {
  agent.seal_after_ms = 20;
  Write(bolt.file, "one\n");
  Start();
  BOOST_REQUIRE(::rename(bolt.file.c_str(), (bolt.file + ".1").c_str()) == 0);
  // The bolt keeps the rotated file open for writing (any descriptor open for writing makes the
  // kernel refuse the read lease, this process's own too; the test owns the file, so it may ask).
  FILE* writer = ::fopen((bolt.file + ".1").c_str(), "a");
  BOOST_REQUIRE(writer != nullptr);
  Write(bolt.file, "two\n");
  source->Check();
  BOOST_REQUIRE(loop.RunUntil([&] { return Gen(0).seal_check_ns() != 0; }));  // deferred
  BOOST_TEST(!Gen(0).sealed());
  ::fclose(writer);
  BOOST_REQUIRE(loop.RunUntil([&] { return Gen(0).sealed(); }));
}

BOOST_AUTO_TEST_CASE(a_truncation_every_peer_has_seals_the_generation_and_the_inode_goes_on_as_the_next) {
  Write(bolt.file, "0123456789\n");
  Start();
  Commit();
  acked = 11;
  BOOST_REQUIRE(::truncate(bolt.file.c_str(), 0) == 0);
  Append(bolt.file, "new\n");
  source->Check();
  BOOST_TEST(source->stats().truncations == 1u);
  BOOST_TEST(lost.empty());
  BOOST_REQUIRE_EQUAL(Count(), 2u);
  BOOST_TEST(Gen(0).sealed());
  BOOST_TEST(Gen(0).final_size() == 11u);
  BOOST_TEST(!Gen(0).fd());  // the inode is the next generation's now
  BOOST_TEST(Gen(1).gen == 2u);
  BOOST_TEST(Gen(1).active());
  BOOST_TEST(Gen(1).size() == 4u);  // from offset 0
  Commit();  // its sealed row durable: every peer has it all, so it closes
  source->ReleaseAcked();
  BOOST_REQUIRE_EQUAL(Count(), 1u);
  BOOST_TEST(Gen(0).gen == 2u);
}

BOOST_AUTO_TEST_CASE(a_truncation_before_the_peers_have_it_and_without_a_copy_loses_the_generation) {
  Write(bolt.file, "0123456789\n");
  Start();
  Commit();
  acked = 5;
  BOOST_REQUIRE(::truncate(bolt.file.c_str(), 2) == 0);
  source->Check();
  BOOST_REQUIRE_EQUAL(Count(), 2u);
  BOOST_TEST((Gen(0).state() == GenState::kLost));
  BOOST_TEST(lost == std::vector<uint64_t>{1});  // told before it is marked
  BOOST_TEST(source->stats().generations_lost == 1u);
  BOOST_TEST(Gen(1).active());
  BOOST_TEST(Gen(1).size() == 2u);
}

BOOST_AUTO_TEST_CASE(after_copytruncate_the_generation_continues_from_its_copy) {
  std::string bytes = "line one\nline two\nline three\n";
  Write(bolt.file, bytes);
  Start();
  Commit();
  Write(bolt.file + ".1", bytes + "tail\n");  // the copy, with what the bolt wrote meanwhile
  BOOST_REQUIRE(::truncate(bolt.file.c_str(), 0) == 0);
  source->Check();
  BOOST_TEST(source->stats().copies_found == 1u);
  BOOST_TEST(lost.empty());
  BOOST_REQUIRE_EQUAL(Count(), 2u);
  // Read to its end from the copy, and sealed only once that is quiet for seal_after_ms.
  BOOST_TEST((Gen(0).state() == GenState::kRetired));
  BOOST_TEST(Gen(0).size() == bytes.size() + 5);
  BOOST_TEST(Gen(1).active());
  BOOST_TEST(Gen(1).size() == 0u);
}

BOOST_AUTO_TEST_CASE(divergence_ends_the_active_generation_and_the_file_goes_on_as_a_new_one) {
  Write(bolt.file, "0123456789\n");
  Start();
  Commit();
  source->Diverged(const_cast<Generation&>(Gen(0)), "replica differs at 4");
  BOOST_REQUIRE_EQUAL(Count(), 2u);
  BOOST_TEST((Gen(0).state() == GenState::kLost));
  BOOST_TEST(lost == std::vector<uint64_t>{1});
  BOOST_TEST(Gen(1).active());
  BOOST_TEST(Gen(1).gen == 2u);
  BOOST_TEST(Gen(1).size() == 11u);  // the whole file again, from offset 0
  BOOST_TEST(source->stats().divergences == 1u);
  source->Diverged(const_cast<Generation&>(Gen(0)), "again");  // already lost: nothing more
  BOOST_TEST(source->stats().divergences == 1u);
  BOOST_TEST(Count() == 2u);
}

BOOST_AUTO_TEST_CASE(a_checkpoint_before_the_file_applies_to_the_generation_found_next) {
  Start();
  source->SetCheckpoint(3);
  BOOST_TEST(source->checkpointed() == nullptr);
  Write(bolt.file, "abcdef\n");
  source->Check();
  BOOST_REQUIRE(source->checkpointed() != nullptr);
  BOOST_TEST(source->checkpointed()->gen == 1u);
  BOOST_TEST(source->checkpointed()->checkpoint() == 3u);
}

BOOST_AUTO_TEST_CASE(bytes_written_to_a_retired_bolts_sealed_file_are_counted_not_shipped) {
  Write(bolt.file, "kept\n");
  Start();
  source->Retire();
  BOOST_TEST(source->retiring());
  BOOST_TEST(Gen(0).sealed());
  BOOST_TEST(Gen(0).final_size() == 5u);
  Append(bolt.file, "more\n");
  source->Check();  // a retired source only looks at acknowledgements
  BOOST_TEST(Gen(0).known_size() == 5u);
  BOOST_TEST(!source->Drained());
  acked = 5;
  Commit();
  source->ReleaseAcked();
  Commit();  // the released row
  BOOST_TEST(source->Drained());
}

BOOST_AUTO_TEST_CASE(a_generation_restored_from_its_row_is_found_again_at_its_path) {
  Write(bolt.file, "before the restart\n");
  struct stat st;
  BOOST_REQUIRE(::stat(bolt.file.c_str(), &st) == 0);
  OriginGenRow row;
  row.bolt = "b";
  row.gen = 4;
  row.dev = st.st_dev;
  row.ino = st.st_ino;
  Append(bolt.file, "and after\n");
  Start({row});
  BOOST_REQUIRE_EQUAL(Count(), 1u);
  BOOST_TEST(Gen(0).gen == 4u);
  BOOST_TEST(Gen(0).active());
  BOOST_TEST(Gen(0).persisted());
  BOOST_TEST(Gen(0).size() == 29u);
  BOOST_TEST(source->next_gen() == 5u);
}

BOOST_AUTO_TEST_SUITE_END()
