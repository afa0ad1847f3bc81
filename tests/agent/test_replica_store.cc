// ReplicaStore (agent/replica_store.h): where a replica lives, what each commit records of it,
// and what a restart trusts of a file found on disk. Driven without a loop: the test collects
// the batch a commit would take and runs its callbacks as the committer would after the sync.
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <string>
#include <vector>

#include "agent/replica_store.h"
#include "common/wire.h"
#include "tests/support/cluster.h"

using namespace tailsafe;
using tailsafe::testing::ScopedTempDir;

namespace {

struct Store {
  ScopedTempDir dir{"replicas"};
  int requests = 0;
  std::vector<uint64_t> durable_seen;  // on_durable's replica sizes, in order
  ReplicaStore store{dir.path, [this] { ++requests; }};

  Store() { store.on_durable = [this](Replica& r) { durable_seen.push_back(r.durable); }; }
  // Collects a batch and runs its callbacks, as a commit that succeeded does.
  Committer::Batch Commit() {
    Committer::Batch b;
    store.Collect(&b);
    for (auto& cb : b.on_durable) cb();
    return b;
  }
  // Appends `bytes` as a DATA frame does (agent/replica_server.cc).
  void Append(Replica& r, const std::string& bytes) {
    BOOST_REQUIRE(::pwrite(r.fd->get(), bytes.data(), bytes.size(), static_cast<off_t>(r.written)) ==
                  static_cast<ssize_t>(bytes.size()));
    r.written += bytes.size();
    r.verified = r.written;
    store.MarkDirty(r);
  }
  // A replica file left by an earlier run.
  void Plant(const std::string& origin, const std::string& bolt, uint64_t gen, const std::string& bytes) {
    for (const std::string& d : {std::string("/replicas"), "/replicas/" + origin, "/replicas/" + origin + "/" + bolt}) {
      BOOST_REQUIRE(::mkdir((dir.path + d).c_str(), 0755) == 0 || errno == EEXIST);
    }
    std::ofstream(PathOf(origin, bolt, gen), std::ios::binary) << bytes;
  }
  std::string PathOf(const std::string& origin, const std::string& bolt, uint64_t gen) const {
    return dir.path + "/replicas/" + origin + "/" + bolt + "/" + GenerationFileName(gen);
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(replica_store)

BOOST_AUTO_TEST_CASE(generation_file_names_sort_in_generation_order) {
  BOOST_TEST(GenerationFileName(3) == "00000000000000000003");
  BOOST_TEST(GenerationFileName(UINT64_MAX) == "18446744073709551615");
  BOOST_TEST(GenerationFileName(9) < GenerationFileName(10));
}

BOOST_AUTO_TEST_CASE(a_new_replica_is_created_synced_and_recorded_by_its_first_commit) {
  Store s;
  BOOST_REQUIRE(s.store.Init({}, {}).ok());
  auto r = s.store.Open("h1", "bolt-a", 3);
  BOOST_REQUIRE_MESSAGE(r.ok(), r.status().message());
  Replica& rep = **r;
  BOOST_TEST(rep.path == s.PathOf("h1", "bolt-a", 3));
  BOOST_TEST(testing::FileSize(rep.path) == 0u);
  BOOST_TEST(s.requests >= 1);  // the first commit records its row
  Committer::Batch b = s.Commit();
  BOOST_REQUIRE(b.rows.replicas.size() == 1u);
  BOOST_TEST(b.rows.replicas[0].origin == "h1");
  BOOST_TEST(b.rows.replicas[0].gen == 3u);
  BOOST_TEST(b.rows.replicas[0].durable == 0u);
  BOOST_TEST(!b.rows.replicas[0].sealed);
  BOOST_TEST(b.files.size() == 1u);
  BOOST_TEST(b.dirs.size() >= 2u);  // the new origin and bolt directories' entries
  BOOST_TEST(rep.in_db);

  // Bytes become durable when their commit completes, and only then; a small advance is synced
  // but not recorded (recording costs a transaction, see kRecordEveryBytes).
  s.Append(rep, "hello\n");
  BOOST_TEST(rep.durable == 0u);
  Committer::Batch b2;
  s.store.Collect(&b2);
  BOOST_TEST(b2.rows.replicas.empty());
  BOOST_TEST(b2.files.size() == 1u);
  BOOST_TEST(b2.dirs.empty());
  BOOST_TEST(rep.durable == 0u);
  for (auto& cb : b2.on_durable) cb();
  BOOST_TEST(rep.durable == 6u);
  BOOST_TEST(rep.recorded == 0u);
  BOOST_TEST(s.durable_seen == std::vector<uint64_t>({0, 6}), "on_durable once per commit");

  // A seal is recorded with the durable size, and is durable once that commit completes.
  rep.sealed = true;
  s.store.MarkDirty(rep);
  BOOST_TEST(!rep.sealed_durable);
  Committer::Batch b3 = s.Commit();
  BOOST_REQUIRE(b3.rows.replicas.size() == 1u);
  BOOST_TEST(b3.rows.replicas[0].durable == 6u);
  BOOST_TEST(b3.rows.replicas[0].sealed);
  BOOST_TEST(rep.sealed_durable);
  BOOST_TEST(rep.recorded == 6u);
  BOOST_TEST(testing::ReadAll(rep.path) == "hello\n");
}

BOOST_AUTO_TEST_CASE(record_all_records_every_unrecorded_size_for_a_clean_stop) {
  Store s;
  BOOST_REQUIRE(s.store.Init({}, {}).ok());
  auto r = s.store.Open("h1", "b", 1);
  BOOST_REQUIRE(r.ok());
  s.Commit();
  s.Append(**r, "abc");
  s.Commit();
  BOOST_TEST((*r)->recorded == 0u);
  s.store.RecordAll();
  Committer::Batch b = s.Commit();
  BOOST_REQUIRE(b.rows.replicas.size() == 1u);
  BOOST_TEST(b.rows.replicas[0].durable == 3u);
  BOOST_TEST((*r)->recorded == 3u);
  s.store.RecordAll();  // nothing left to record: no row, no commit needed
  BOOST_TEST(s.Commit().rows.replicas.empty());
}

BOOST_AUTO_TEST_CASE(after_a_restart_bytes_past_the_recorded_size_are_kept_but_unverified) {
  Store s;
  std::string path = s.PathOf("h1", "b", 2);
  s.Plant("h1", "b", 2, "0123456789");
  BOOST_REQUIRE(s.store.Init({{"h1", "b", 2, 6, false}}, {}).ok());
  const Replica& known = *s.store.replicas().at({"h1", "b", 2});
  BOOST_TEST(!known.fd);  // not opened until a session asks
  BOOST_TEST(known.durable == 6u);
  auto r = s.store.Open("h1", "b", 2);
  BOOST_REQUIRE_MESSAGE(r.ok(), r.status().message());
  BOOST_TEST((*r)->written == 10u);
  BOOST_TEST((*r)->verified == 6u);  // the POSITION window proves the other 4 (agent/replica_tail.h)
  BOOST_TEST((*r)->durable == 6u);
  BOOST_TEST((*r)->dirty);  // the next commit syncs the unverified bytes
  Committer::Batch b = s.Commit();
  BOOST_TEST(b.files.size() == 1u);
  BOOST_TEST(b.rows.replicas.empty());  // only proven bytes are ever recorded
  BOOST_TEST((*r)->durable == 10u);
  BOOST_TEST(testing::FileSize(path) == 10u);
}

BOOST_AUTO_TEST_CASE(a_file_shorter_than_its_recorded_size_is_recorded_again_smaller_and_unsealed) {
  Store s;
  s.Plant("h1", "b", 4, "abc");
  BOOST_REQUIRE(s.store.Init({{"h1", "b", 4, 6, true}}, {}).ok());
  auto r = s.store.Open("h1", "b", 4);
  BOOST_REQUIRE_MESSAGE(r.ok(), r.status().message());
  BOOST_TEST((*r)->verified == 3u);
  BOOST_TEST(!(*r)->sealed);  // the origin sends the lost bytes and seals again
  Committer::Batch b = s.Commit();
  BOOST_REQUIRE(b.rows.replicas.size() == 1u);
  BOOST_TEST(b.rows.replicas[0].durable == 3u);
  BOOST_TEST(!b.rows.replicas[0].sealed);
}

BOOST_AUTO_TEST_CASE(more_unverified_bytes_than_a_position_can_prove_are_cut) {
  Store s;
  s.Plant("h1", "b", 5, "0123456789");
  std::string path = s.PathOf("h1", "b", 5);
  BOOST_REQUIRE(::truncate(path.c_str(), static_cast<off_t>(10 + kMaxUnverifiedBytes + 1)) == 0);  // sparse
  BOOST_REQUIRE(s.store.Init({{"h1", "b", 5, 10, false}}, {}).ok());
  auto r = s.store.Open("h1", "b", 5);
  BOOST_REQUIRE_MESSAGE(r.ok(), r.status().message());
  BOOST_TEST((*r)->written == 10u);
  BOOST_TEST(testing::FileSize(path) == 10u);
  BOOST_TEST(testing::ReadAll(path) == "0123456789");
}

BOOST_AUTO_TEST_CASE(a_symlink_planted_in_the_replica_tree_is_refused_not_followed) {
  Store s;
  ScopedTempDir elsewhere("elsewhere");
  BOOST_REQUIRE(::mkdir((s.dir.path + "/replicas").c_str(), 0755) == 0);
  BOOST_REQUIRE(::symlink(elsewhere.path.c_str(), (s.dir.path + "/replicas/h1").c_str()) == 0);
  BOOST_REQUIRE(s.store.Init({}, {}).ok());
  auto r = s.store.Open("h1", "b", 1);
  BOOST_REQUIRE(!r.ok());
  BOOST_TEST(r.status().message().find(s.dir.path + "/replicas/h1") != std::string::npos, r.status().message());
  BOOST_TEST(::access((elsewhere.path + "/b").c_str(), F_OK) != 0);  // nothing made through it

  // A generation that is not a regular file is refused too.
  BOOST_REQUIRE(::mkdir((s.dir.path + "/replicas/h2").c_str(), 0755) == 0);
  BOOST_REQUIRE(::mkdir((s.dir.path + "/replicas/h2/b").c_str(), 0755) == 0);
  BOOST_REQUIRE(::mkfifo(s.PathOf("h2", "b", 1).c_str(), 0644) == 0);
  auto fifo = s.store.Open("h2", "b", 1);
  BOOST_REQUIRE(!fifo.ok());
  BOOST_TEST(fifo.status().message().find("not a regular file") != std::string::npos, fifo.status().message());
}

BOOST_AUTO_TEST_CASE(an_idle_replica_is_closed_and_reopened_without_losing_bytes) {
  Store s;
  BOOST_REQUIRE(s.store.Init({}, {}).ok());
  auto r = s.store.Open("h1", "b", 1);
  BOOST_REQUIRE(r.ok());
  s.Append(**r, "abcdef");
  s.store.MaybeClose(**r);
  BOOST_TEST(bool((*r)->fd));  // not yet durable: kept open
  s.Commit();
  s.store.MaybeClose(**r);
  BOOST_TEST(!(*r)->fd);
  auto again = s.store.Open("h1", "b", 1);
  BOOST_REQUIRE(again.ok());
  BOOST_TEST(again->get() == r->get());  // the same replica
  BOOST_TEST((*again)->written == 6u);
  BOOST_TEST((*again)->verified == 6u);
  BOOST_TEST(!(*again)->dirty);
}

BOOST_AUTO_TEST_CASE(a_checkpoint_of_an_older_generation_or_unchanged_is_ignored) {
  Store s;
  BOOST_REQUIRE(s.store.Init({}, {{"h1", "b", 4, 100}}).ok());
  s.store.SetCheckpoint("h1", "b", 3, 500);  // older generation: stale
  s.store.SetCheckpoint("h1", "b", 4, 100);  // unchanged
  BOOST_TEST(s.requests == 0);
  s.store.SetCheckpoint("h1", "b", 4, 150);
  s.store.SetCheckpoint("h1", "b", 5, 10);
  BOOST_TEST(s.requests == 2);
  BOOST_TEST(s.store.checkpoints().at({"h1", "b"}).gen == 5u);
  Committer::Batch b = s.Commit();
  BOOST_REQUIRE(b.rows.checkpoints.size() == 2u);
  BOOST_TEST(b.rows.checkpoints[1].offset == 10u);
}

// Retention (the coordinator's "retain" plan): what goes, when, and what an OPEN meanwhile gets.
BOOST_AUTO_TEST_CASE(retain_deletes_sealed_idle_replicas_below_the_plan_and_nothing_else) {
  Store s;
  for (uint64_t g : {1, 2, 3}) s.Plant("h1", "b", g, std::string(g * 10, 'x'));
  s.Plant("h1", "c", 1, "c1");
  s.Plant("h2", "b", 1, "other origin");
  BOOST_REQUIRE(s.store.Init({{"h1", "b", 1, 10, true}, {"h1", "b", 2, 20, true}, {"h1", "b", 3, 30, false},
                              {"h1", "c", 1, 2, true}, {"h2", "b", 1, 12, true}},
                             {})
                    .ok());
  s.requests = 0;
  s.store.Retain({{{"h1", "b"}, 3}});
  BOOST_TEST(s.requests == 1, "a commit is asked for");
  BOOST_TEST(s.store.retention_stats().bolts_planned == 1u);
  Committer::Batch b;
  s.store.Collect(&b);
  BOOST_REQUIRE(b.rows.replicas.size() == 2u);
  for (const ReplicaRow& row : b.rows.replicas) {
    BOOST_TEST(row.remove);
    BOOST_TEST(row.origin == "h1");
    BOOST_TEST(row.bolt == "b");
    BOOST_TEST(row.gen < 3u);
  }
  BOOST_TEST(b.unlink == std::vector<std::string>({s.PathOf("h1", "b", 1), s.PathOf("h1", "b", 2)}));
  BOOST_TEST(s.store.replicas().size() == 3u);  // h1/b/3 (not below), h1/c/1 (not planned), h2/b/1
  BOOST_TEST(s.store.replicas().count({"h1", "b", 3}) == 1u);
  // Until the commit is durable, the deleted replica cannot be opened again: its file is about
  // to be unlinked.
  auto refused = s.store.Open("h1", "b", 2);
  BOOST_REQUIRE(!refused.ok());
  BOOST_TEST(refused.status().message().find("being deleted") != std::string::npos, refused.status().message());
  BOOST_TEST(s.store.retention_stats().deleted == 0u, "counted once durable");
  for (const std::string& path : b.unlink) BOOST_REQUIRE(::unlink(path.c_str()) == 0);  // as the committer does
  for (auto& cb : b.on_durable) cb();
  BOOST_TEST(s.store.retention_stats().deleted == 2u);
  BOOST_TEST(s.store.retention_stats().bytes_deleted == 30u);
  BOOST_TEST(testing::ReadAll(s.PathOf("h1", "c", 1)) == "c1");
  // Nothing more to delete: the next commit carries no deletion.
  s.store.Retain({{{"h1", "b"}, 3}});
  BOOST_TEST(s.Commit().rows.replicas.empty());
  // Once durable, the generation can be opened again (the origin would send it whole).
  auto again = s.store.Open("h1", "b", 2);
  BOOST_REQUIRE_MESSAGE(again.ok(), again.status().message());
  BOOST_TEST((*again)->written == 0u);
}

BOOST_AUTO_TEST_CASE(a_replica_in_use_is_deleted_once_it_is_idle) {
  Store s;
  s.Plant("h1", "b", 1, "0123456789");
  s.Plant("h1", "b", 2, "abc");
  BOOST_REQUIRE(s.store.Init({{"h1", "b", 1, 10, true}, {"h1", "b", 2, 3, true}}, {}).ok());
  Replica& one = *s.store.replicas().at({"h1", "b", 1});
  Replica& two = *s.store.replicas().at({"h1", "b", 2});
  one.busy = true;              // a window hash runs on it
  two.position_pending = true;  // a session's OPEN is owed its POSITION
  s.store.Retain({{{"h1", "b"}, 5}});
  BOOST_TEST(s.Commit().rows.replicas.empty());
  BOOST_TEST(s.store.replicas().size() == 2u);
  one.busy = false;
  s.requests = 0;
  s.store.MaybeClose(one);
  BOOST_TEST(s.requests == 1, "an idle replica under the plan asks for the commit that deletes it");
  Committer::Batch b = s.Commit();
  BOOST_REQUIRE(b.rows.replicas.size() == 1u);
  BOOST_TEST(b.rows.replicas[0].gen == 1u);
  BOOST_TEST(b.rows.replicas[0].remove);
  BOOST_TEST(s.store.replicas().count({"h1", "b", 2}) == 1u);
}

BOOST_AUTO_TEST_CASE(deletable_needs_a_recorded_seal_and_nothing_pending) {
  Replica r;
  r.gen = 2;
  r.sealed = r.sealed_durable = true;
  BOOST_TEST(Deletable(r, 3));
  BOOST_TEST(!Deletable(r, 2), "only generations below the plan's");
  Replica unsealed = r;
  unsealed.sealed_durable = false;
  BOOST_TEST(!Deletable(unsealed, 3), "a seal not yet recorded");
  Replica unsynced = r;
  unsynced.written = 5;
  BOOST_TEST(!Deletable(unsynced, 3), "bytes not yet durable");
  Replica dirty = r;
  dirty.dirty = true;
  BOOST_TEST(!Deletable(dirty, 3), "a commit will record it");
}

BOOST_AUTO_TEST_CASE(a_new_plan_replaces_the_old_one_whole) {
  Store s;
  s.Plant("h1", "b", 1, "x");
  BOOST_REQUIRE(s.store.Init({{"h1", "b", 1, 1, true}}, {}).ok());
  s.store.Retain({{{"h1", "b"}, 2}});
  s.store.Retain({});  // a new leader that knows less
  BOOST_TEST(s.Commit().rows.replicas.empty());
  BOOST_TEST(s.store.replicas().size() == 1u);
  BOOST_TEST(s.store.retention_stats().bolts_planned == 0u);
}

BOOST_AUTO_TEST_SUITE_END()
