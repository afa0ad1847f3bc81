// ReplicaSync (agent/replica_sync.h): which replica files of a commit share one syncfs and which
// are fdatasync'd each; and on real files, that the counts say which was used.
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "agent/replica_sync.h"
#include "tests/support/cluster.h"

using namespace tailsafe;
using tailsafe::testing::ScopedTempDir;

namespace {

std::vector<std::vector<size_t>> Files(const std::vector<SyncStep>& steps, bool syncfs) {
  std::vector<std::vector<size_t>> out;
  for (const SyncStep& s : steps) {
    if (s.syncfs == syncfs) out.push_back(s.files);
  }
  return out;
}

std::vector<std::shared_ptr<Fd>> OpenFiles(const std::string& dir, int n) {
  std::vector<std::shared_ptr<Fd>> fds;
  for (int i = 0; i < n; ++i) {
    std::string path = dir + "/r" + std::to_string(i);
    auto fd = std::make_shared<Fd>(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
    BOOST_REQUIRE(fd->valid());
    BOOST_REQUIRE(::write(fd->get(), "line\n", 5) == 5);
    fds.push_back(fd);
  }
  return fds;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(replica_sync)

BOOST_AUTO_TEST_CASE(files_below_the_threshold_on_their_filesystem_are_fdatasynced_each) {
  // Device 7 has 3 files (the threshold), device 9 has 2: only 7's share a syncfs.
  auto steps = PlanSync({7, 9, 7, 9, 7}, 3);
  BOOST_TEST(Files(steps, true) == std::vector<std::vector<size_t>>({{0, 2, 4}}));
  BOOST_TEST(Files(steps, false) == std::vector<std::vector<size_t>>({{1, 3}}));
}

BOOST_AUTO_TEST_CASE(each_filesystem_at_the_threshold_gets_its_own_syncfs_in_first_seen_order) {
  auto steps = PlanSync({9, 7, 7, 9}, 2);
  BOOST_REQUIRE(steps.size() == 2u);
  BOOST_TEST(steps[0].syncfs);
  BOOST_TEST(steps[0].files == std::vector<size_t>({0, 3}));
  BOOST_TEST(steps[1].syncfs);
  BOOST_TEST(steps[1].files == std::vector<size_t>({1, 2}));
}

BOOST_AUTO_TEST_CASE(zero_means_never_and_an_unknown_filesystem_is_synced_alone) {
  BOOST_TEST(Files(PlanSync({7, 7, 7, 7}, 0), true).empty());
  BOOST_TEST(Files(PlanSync({7, 7, 7, 7}, 0), false) == std::vector<std::vector<size_t>>({{0, 1, 2, 3}}));
  // Two files whose fstat failed are not "one filesystem".
  auto steps = PlanSync({kUnknownDevice, kUnknownDevice, 7, 7}, 2);
  BOOST_TEST(Files(steps, true) == std::vector<std::vector<size_t>>({{2, 3}}));
  BOOST_TEST(Files(steps, false) == std::vector<std::vector<size_t>>({{0, 1}}));
  BOOST_TEST(PlanSync({}, 4).empty());
}

BOOST_AUTO_TEST_CASE(real_files_take_one_syncfs_from_the_threshold_and_none_below_it) {
  ScopedTempDir dir{"replica-sync"};
  auto fds = OpenFiles(dir.path, 4);
  SyncCounts below;
  BOOST_TEST(SyncFiles(fds, 5, &below).ok());
  BOOST_TEST(below.filesystem_syncs == 0u);
  SyncCounts at;
  BOOST_TEST(SyncFiles(fds, 4, &at).ok());
  BOOST_TEST(at.filesystem_syncs == 1u);
  BOOST_TEST(at.syncfs_fallbacks == 0u);
  SyncCounts never;
  BOOST_TEST(SyncFiles(fds, 0, &never).ok());
  BOOST_TEST(never.filesystem_syncs == 0u);
}

BOOST_AUTO_TEST_CASE(a_file_that_cannot_be_synced_fails_the_commit_naming_it) {
  // A closed descriptor stands for a file whose sync fails: with syncfs too, its fallback
  // fdatasync reports the failure.
  ScopedTempDir dir{"replica-sync"};
  auto fds = OpenFiles(dir.path, 3);
  fds.push_back(std::make_shared<Fd>());
  for (uint32_t threshold : {0u, 1u}) {
    SyncCounts counts;
    Status s = SyncFiles(fds, threshold, &counts);
    BOOST_TEST(!s.ok());
    BOOST_TEST(s.message().find("fdatasync of a replica file") != std::string::npos, s.message());
  }
}

BOOST_AUTO_TEST_SUITE_END()
