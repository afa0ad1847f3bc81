// The receiving side of the tail proof and of CUT (agent/replica_tail.h): what a POSITION says
// about a replica, and the job that sets a cut tail aside, truncates and hashes the new window.
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

#include "agent/replica_tail.h"
#include "common/hash.h"
#include "tests/support/cluster.h"

using namespace tailsafe;
using tailsafe::testing::ScopedTempDir;

namespace {

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(replica_tail)

BOOST_AUTO_TEST_CASE(position_window_covers_the_unverified_bytes_and_a_page_before) {
  Replica r;
  BOOST_TEST(PositionOf(r, 7).window_len == 0u);  // empty: nothing to prove
  r.durable = r.verified = 100;
  PositionMsg p = PositionOf(r, 7);
  BOOST_TEST(p.stream == 7u);
  BOOST_TEST(p.window_len == 100u);  // all of it, being under a page
  r.durable = r.verified = 1 << 20;
  BOOST_TEST(PositionOf(r, 7).window_len == kWindowHashBytes);
  r.durable = (1 << 20) + 5000;  // after a restart: 5000 bytes found on disk, unproven
  p = PositionOf(r, 7);
  BOOST_TEST(p.verified == uint64_t{1 << 20});
  BOOST_TEST(p.window_len == 5000 + kWindowHashBytes);
  r.verified = r.durable + 10;  // verified past durable (bytes written, not yet synced): capped
  BOOST_TEST(PositionOf(r, 7).verified == r.durable);
  PositionMsg cut = PositionAfterCut(1 << 20, 3);
  BOOST_TEST(cut.durable == uint64_t{1 << 20});
  BOOST_TEST(cut.verified == cut.durable);
  BOOST_TEST(cut.window_len == kWindowHashBytes);
}

BOOST_AUTO_TEST_CASE(a_cut_sets_the_tail_aside_truncates_and_hashes_the_new_window) {
  ScopedTempDir dir("tail");
  std::string path = dir.path + "/replica";
  std::string bytes;
  for (int i = 0; i < 20000; ++i) bytes += static_cast<char>('a' + i % 26);
  std::ofstream(path, std::ios::binary) << bytes;
  TailJob job;
  job.fd = std::make_shared<Fd>(::open(path.c_str(), O_RDWR | O_CLOEXEC));
  BOOST_REQUIRE(job.fd->valid());
  job.path = path;
  job.cut = true;
  job.cut_at = 12000;
  job.cut_len = 8000;
  job.aside = path + ".cut-1-1";
  job.position = PositionAfterCut(12000, 1);
  RunTailJob(&job);
  BOOST_REQUIRE_MESSAGE(job.cut_status.ok(), job.cut_status.message());
  BOOST_REQUIRE_MESSAGE(job.hash_status.ok(), job.hash_status.message());
  BOOST_TEST(Slurp(job.aside) == bytes.substr(12000));
  BOOST_TEST(Slurp(path) == bytes.substr(0, 12000));
  BOOST_TEST(job.position.window_hash == Hash64(bytes.data() + 12000 - kWindowHashBytes, kWindowHashBytes));

  // The set-aside file exists already: nothing is cut, and the error says where.
  TailJob again = job;
  again.cut_at = 4000;
  again.cut_len = 8000;
  again.cut_status = Status::Ok();
  RunTailJob(&again);
  BOOST_TEST(!again.cut_status.ok());
  BOOST_TEST(again.cut_status.message().find("cannot set aside the tail of " + path) != std::string::npos,
             again.cut_status.message());
  BOOST_TEST(Slurp(path).size() == 12000u);
}

BOOST_AUTO_TEST_SUITE_END()
