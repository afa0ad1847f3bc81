// The origin's reads of a bolt's directory (agent/bolt_files.h): a generation's file found
// again after a restart, and a copytruncate copy told apart from a file that only begins alike.
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ctime>
#include <fstream>
#include <memory>
#include <optional>
#include <string>

#include "agent/bolt_files.h"
#include "common/hash.h"
#include "common/wire.h"
#include "tests/support/cluster.h"

using namespace tailsafe;
using tailsafe::testing::ScopedTempDir;

namespace {

std::string Bytes(size_t n, char salt) {
  std::string s;
  for (size_t i = 0; i < n; ++i) s += static_cast<char>('a' + (i * 7 + static_cast<size_t>(salt)) % 26);
  return s;
}

void Write(const std::string& path, const std::string& content, time_t mtime) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
  struct timespec times[2] = {{mtime, 0}, {mtime, 0}};
  BOOST_REQUIRE(::utimensat(AT_FDCWD, path.c_str(), times, 0) == 0);
}

// A generation read to `size` bytes of `path`, its head and window recorded as BoltSource does.
std::shared_ptr<Generation> ReadTo(const std::string& path, uint64_t size) {
  auto g = std::make_shared<Generation>("bolt-1", 1, 1);
  struct stat st;
  BOOST_REQUIRE(::stat(path.c_str(), &st) == 0);
  g->Open(std::make_shared<Fd>(OpenForReading(path)), st.st_dev, st.st_ino, size, 0);
  ExtendHead(*g);
  RecordWindow(*g);
  return g;
}

// copytruncate in DIR: the copy bolt.log.1 holding `copy`, a decoy that begins like it but
// differs at bytes 18000-18099 (and is the most recent), then bolt.log truncated and written
// again; what FindCopyInDir finds for `g`.
std::optional<FoundCopy> CopytruncateWithDecoy(const std::string& dir, const std::string& copy, const Generation& g) {
  Write(dir + "/bolt.log.1", copy, 2000);
  std::string decoy = copy.substr(0, g.size());
  decoy.replace(18000, 100, std::string(100, '#'));
  Write(dir + "/bolt.log.decoy", decoy, 3000);
  Write(dir + "/bolt.log", Bytes(10, 2), 4000);
  return FindCopyInDir(dir, "bolt.log", g);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(bolt_files)

BOOST_AUTO_TEST_CASE(head_and_window_are_recorded_from_the_file) {
  ScopedTempDir dir("bolt_files");
  std::string content = Bytes(20000, 1);
  Write(dir.path + "/bolt.log", content, 1000);
  auto g = ReadTo(dir.path + "/bolt.log", 15000);
  BOOST_TEST(g->head_len() == kHeadBytes);
  BOOST_TEST(g->head_hash() == Hash64(content.substr(0, kHeadBytes)));
  BOOST_TEST(g->window_len() == kWindowHashBytes);
  BOOST_TEST(g->window_end() == 15000u);
  BOOST_TEST(g->window_hash() == Hash64(content.substr(15000 - kWindowHashBytes, kWindowHashBytes)));
  auto small = ReadTo(dir.path + "/bolt.log", 100);
  BOOST_TEST(small->window_len() == 100u);
  BOOST_TEST(HeadMatches(g->fd()->get(), g->head_len(), g->head_hash()));
  BOOST_TEST(!HeadMatches(g->fd()->get(), g->head_len(), g->head_hash() + 1));
}

BOOST_AUTO_TEST_CASE(a_head_that_cannot_be_read_is_told_apart_from_a_changed_one) {
  ScopedTempDir dir("bolt_files");
  std::string content = Bytes(8000, 3);
  Write(dir.path + "/bolt.log", content, 1000);
  auto g = ReadTo(dir.path + "/bolt.log", 8000);
  int fd = g->fd()->get();
  BOOST_TEST((ReadHead(fd, g->head_len(), g->head_hash()) == HeadCheck::kSame));
  BOOST_TEST((ReadHead(fd, g->head_len(), g->head_hash() + 1) == HeadCheck::kChanged));
  // A read that fails (EISDIR here, EIO on a failing disk) proves nothing about the bytes.
  Fd dir_fd(::open(dir.path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  BOOST_REQUIRE(dir_fd);
  BOOST_TEST((ReadHead(dir_fd.get(), g->head_len(), g->head_hash()) == HeadCheck::kUnreadable));
  // Shorter than the head now (truncated under the read): the next fstat will say so.
  BOOST_REQUIRE(::truncate((dir.path + "/bolt.log").c_str(), 10) == 0);
  BOOST_TEST((ReadHead(fd, g->head_len(), g->head_hash()) == HeadCheck::kUnreadable));
  BOOST_TEST((ReadHead(fd, 0, 0) == HeadCheck::kSame));
}

BOOST_AUTO_TEST_CASE(a_copy_must_hold_the_generation_s_bytes_before_its_last_known_size) {
  ScopedTempDir dir("bolt_files");
  std::string content = Bytes(20000, 1);
  std::string path = dir.path + "/bolt.log";
  Write(path, content, 1000);
  auto g = ReadTo(path, 20000);
  // The decoy begins like the generation and is as long, but is not its copy: its bytes before
  // the generation's last known size differ.
  std::optional<FoundCopy> copy = CopytruncateWithDecoy(dir.path, content + "more", *g);
  BOOST_REQUIRE(copy.has_value());
  BOOST_TEST(copy->name == "bolt.log.1");
  BOOST_TEST(copy->size == content.size() + 4);

  // With only the decoy there is no copy: the generation is lost, not continued from it.
  BOOST_REQUIRE(::unlink((dir.path + "/bolt.log.1").c_str()) == 0);
  BOOST_TEST(!FindCopyInDir(dir.path, "bolt.log", *g).has_value());
}

BOOST_AUTO_TEST_CASE(the_window_is_read_again_only_when_it_is_small_or_a_refresh_behind) {
  ScopedTempDir dir("bolt_files");
  std::string content = Bytes(200000, 4);
  std::string path = dir.path + "/bolt.log";
  Write(path, content, 1000);
  auto small = ReadTo(path, 100);
  BOOST_TEST(WindowStale(*small), "a window of the whole small file grows with it");
  auto g = ReadTo(path, 20000);
  BOOST_TEST(!WindowStale(*g));
  g->Grow(20000 + kWindowRefreshBytes - 1, 0);
  BOOST_TEST(!WindowStale(*g), "a line's growth does not read the window again");
  g->Grow(20000 + kWindowRefreshBytes, 0);
  BOOST_TEST(WindowStale(*g));

  // A window behind the size still finds the copy, and still tells a decoy from it.
  auto lagging = ReadTo(path, 20000);
  lagging->Grow(60000, 0);
  std::optional<FoundCopy> copy = CopytruncateWithDecoy(dir.path, content.substr(0, 60000), *lagging);
  BOOST_REQUIRE(copy.has_value());
  BOOST_TEST(copy->name == "bolt.log.1");
}

BOOST_AUTO_TEST_CASE(without_a_window_the_head_alone_decides) {
  // A generation restored after a restart has no window in memory: its head decides, as before.
  ScopedTempDir dir("bolt_files");
  std::string content = Bytes(20000, 1);
  Write(dir.path + "/bolt.log.1", content, 2000);
  OriginGenRow row{"bolt-1", 1, 1, 1, kHeadBytes, Hash64(content.substr(0, kHeadBytes)), GenState::kActive, 0};
  auto g = Generation::FromRow(row, GenState::kActive, 1, 0);
  std::optional<FoundCopy> copy = FindCopyInDir(dir.path, "bolt.log", *g);
  BOOST_REQUIRE(copy.has_value());
  BOOST_TEST(copy->name == "bolt.log.1");
}

BOOST_AUTO_TEST_CASE(a_file_is_found_again_at_its_path_renamed_or_not_when_its_head_changed) {
  ScopedTempDir dir("bolt_files");
  std::string content = Bytes(9000, 1);
  std::string path = dir.path + "/bolt.log";
  Write(path, content, 1000);
  struct stat st;
  BOOST_REQUIRE(::stat(path.c_str(), &st) == 0);
  OriginGenRow row{"bolt-1", 1, st.st_dev, st.st_ino, kHeadBytes, Hash64(content.substr(0, kHeadBytes)),
                   GenState::kActive, 0};
  FileAgain at_path = FindFileAgain(path, dir.path, row);
  BOOST_TEST(static_cast<bool>(at_path.fd));
  BOOST_TEST(!at_path.renamed);
  BOOST_TEST(at_path.size == 9000u);
  BOOST_REQUIRE(::rename(path.c_str(), (dir.path + "/bolt.log.1").c_str()) == 0);
  FileAgain renamed = FindFileAgain(path, dir.path, row);
  BOOST_TEST(static_cast<bool>(renamed.fd));
  BOOST_TEST(renamed.renamed);
  row.head_hash += 1;  // rewritten in place while the agent was down
  FileAgain changed = FindFileAgain(path, dir.path, row);
  BOOST_TEST(!changed.fd);
  BOOST_TEST(changed.head_changed);
  row.ino += 1000000;  // gone
  BOOST_TEST(!FindFileAgain(path, dir.path, row).fd);
}

BOOST_AUTO_TEST_SUITE_END()
