// weblog-analyze as a hook on its own, run as the agent runs it: the tail on standard input,
// TAILSAFE_* in the environment, the whole generation file as descriptor 3 (agent/hook_process.h).
// A tail of a raw-format tailsafe-storm file has no marker lines: its file id comes from the
// file's `#tailsafe-storm` header (examples/weblog/storm_header.h), the id the topology's own
// bolt counts under, so what the bolt counted is skipped. A header that cannot be read is a
// permanent error (exit 3) that counts nothing. Each case runs on SQLite, and on PostgreSQL
// where Debian's server is installed.
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <fstream>
#include <string>
#include <vector>

#include "tests/support/cluster.h"
#include "tests/support/postgres_server.h"
#include "tests/support/weblog_deployment.h"

using namespace tailsafe;
using namespace tailsafe::testing;

namespace {

const std::string kFileId = "0123456789abcdef";
const std::string kHeader = "#tailsafe-storm v=1 file=" + kFileId +
                            " topology=weblog component=count task=3 format=raw spec=rO0ABXNyAA==\n";

// The results databases to run on: a SQLite file in `dir`, and a new PostgreSQL database if
// this machine can start a server.
std::vector<std::string> Targets(const std::string& dir, const std::string& name) {
  std::vector<std::string> out = {dir + "/results.db"};
  if (!PostgresMissing().empty()) {
    BOOST_TEST_MESSAGE("PostgreSQL part skipped: " << PostgresMissing());
    return out;
  }
  std::string why;
  PostgresServer* server = SharedPostgres(&why);
  BOOST_TEST_REQUIRE(server != nullptr, why);
  auto db = server->NewDatabase(name);
  BOOST_TEST_REQUIRE(db.ok(), db.status().message());
  out.push_back(*db);
  return out;
}

struct HookRun {
  std::string origin = "h1", bolt = "weblog/count/task-3";
  uint64_t generation = 1;
};

// Runs the hook on bytes [from, to) of `file`, with `file` as descriptor 3 unless `no_fd3`.
CommandResult RunHook(const std::string& db, const std::string& file, uint64_t from, uint64_t to, const HookRun& h,
                      bool no_fd3 = false) {
  std::string all = ReadAll(file);
  std::string tail = file + ".tail";
  std::ofstream(tail, std::ios::binary) << all.substr(from, to - from);
  std::string cmd = "cd / && env -i TAILSAFE_ORIGIN=" + h.origin + " TAILSAFE_BOLT=" + h.bolt +
                    " TAILSAFE_GENERATION=" + std::to_string(h.generation) + " TAILSAFE_FROM=" + std::to_string(from) +
                    " TAILSAFE_TO=" + std::to_string(to) + " TAILSAFE_EPOCH=1 " + AbsBin("weblog-analyze") +
                    " hook --db '" + db + "' < " + tail + (no_fd3 ? " 3<&-" : " 3< " + file);
  return RunCommand(cmd);
}

CommandResult Compare(const std::string& db, const std::string& input) {
  return RunCommand(AbsBin("weblog-analyze") + " compare --db '" + db + "' " + input);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(weblog_hook)

BOOST_AUTO_TEST_CASE(a_storm_raw_tail_is_counted_under_its_header_file_id_from_descriptor_3) {
  ScopedTempDir dir("weblog-hook");
  std::string input = dir.path + "/input.log";
  CommandResult gen = RunCommand(AbsBin("weblog-gen") + " -n 3000 --minutes 5 -o " + input);
  BOOST_REQUIRE_MESSAGE(gen.code == 0, gen.out);
  std::string lines = ReadAll(input);
  std::string file = dir.path + "/task-3.log";
  std::ofstream(file, std::ios::binary) << kHeader << lines;
  uint64_t start = kHeader.size(), end = start + lines.size();
  uint64_t mid = start + lines.find('\n', lines.size() / 3) + 1;
  size_t first_part = 0;
  for (size_t at = 0; at < mid - start; at = lines.find('\n', at) + 1) ++first_part;

  for (const std::string& db : Targets(dir.path, "storm_tail")) {
    BOOST_TEST_CONTEXT("results database " << db) {
      // The topology's own bolt counted [start, mid) of the file under the header's id (a hook
      // of another bolt name plays it here, finding the id the same way).
      HookRun bolt;
      bolt.bolt = "the-topology-itself";
      CommandResult b = RunHook(db, file, start, mid, bolt);
      BOOST_TEST_REQUIRE(b.code == 0, b.out);
      BOOST_TEST(b.out.find("counted " + std::to_string(first_part) + " requests, 0 already counted") !=
                     std::string::npos, b.out);
      BOOST_TEST(b.out.find("(file " + kFileId + ")") != std::string::npos, b.out);
      // The task dies with its checkpoint at `start`: the hook gets all of it, and counts only
      // what the bolt had not.
      CommandResult h = RunHook(db, file, start, end, HookRun{});
      BOOST_TEST_REQUIRE(h.code == 0, h.out);
      BOOST_TEST(h.out.find("counted " + std::to_string(3000 - first_part) + " requests, " +
                            std::to_string(first_part) + " already counted") != std::string::npos, h.out);
      BOOST_TEST(h.out.find("(file " + kFileId + ")") != std::string::npos, h.out);
      // A tail from the file's start holds the header itself: the same id.
      HookRun again;
      again.generation = 2;  // no earlier range to take the id from
      CommandResult a = RunHook(db, file, 0, end, again, /*no_fd3=*/true);
      BOOST_TEST_REQUIRE(a.code == 0, a.out);
      BOOST_TEST(a.out.find("counted 0 requests, 3000 already counted") != std::string::npos, a.out);
      CommandResult cmp = Compare(db, input);
      BOOST_TEST(cmp.code == 0, cmp.out);
      BOOST_TEST(cmp.out.find("EQUAL: 3000 requests") == 0, cmp.out);
    }
  }
}

BOOST_AUTO_TEST_CASE(a_weblog_tail_that_starts_inside_a_chunk_takes_the_id_of_the_files_first_marker) {
  ScopedTempDir dir("weblog-hook");
  CommandResult gen = RunCommand(AbsBin("weblog-gen") + " -n 400 --minutes 2 -o " + dir.path + "/input.log");
  BOOST_REQUIRE_MESSAGE(gen.code == 0, gen.out);
  std::string lines = ReadAll(dir.path + "/input.log");
  // One chunk, as weblog-bolt writes it; the tail starts at its second request.
  std::string marker = "#tailsafe-weblog file=" + kFileId + " run=00000000000000aa seq=0\n";
  std::string file = dir.path + "/bolt-1.log";
  std::ofstream(file, std::ios::binary) << marker << lines;
  uint64_t from = marker.size() + lines.find('\n') + 1;
  for (const std::string& db : Targets(dir.path, "weblog_mid_chunk")) {
    BOOST_TEST_CONTEXT("results database " << db) {
      CommandResult h = RunHook(db, file, from, marker.size() + lines.size(), HookRun{});
      BOOST_TEST_REQUIRE(h.code == 0, h.out);
      BOOST_TEST(h.out.find("counted 399 requests, 0 already counted, 0 malformed lines (file " + kFileId + ")") !=
                     std::string::npos, h.out);
    }
  }
}

BOOST_AUTO_TEST_CASE(a_broken_storm_header_is_a_permanent_error_that_counts_nothing) {
  ScopedTempDir dir("weblog-hook");
  const std::string request =
      "www.example.com:443 10.0.0.1 - - [18/Nov/2026:10:05:00 +0000] \"GET / HTTP/1.1\" 200 1 \"-\" \"-\"\n";
  struct {
    std::string header, says;
  } cases[] = {
      {"#tailsafe-storm v=1 file=NOTHEX0123456789 topology=t component=c task=1 format=raw\n",
       "cannot be read: header file id 'NOTHEX0123456789' is not 16 hex digits"},
      {"#tailsafe-storm v=2 file=" + kFileId + " topology=t component=c task=1 format=raw\n",
       "cannot be read: header version '2' is not 1"},
      {"#tailsafe-storm v=1 file=" + kFileId + " topology=t component=c task=1 format=typed\n",
       "the file's records are in format 'typed'"},
  };
  for (const std::string& db : Targets(dir.path, "storm_broken")) {
    for (const auto& k : cases) {
      BOOST_TEST_CONTEXT("results database " << db << ", header " << k.header) {
        std::string file = dir.path + "/task.log";
        std::ofstream(file, std::ios::binary | std::ios::trunc) << k.header << request << request;
        // From descriptor 3 (a tail after the header), and in the tail itself (one from 0).
        for (uint64_t from : {static_cast<uint64_t>(k.header.size()), uint64_t{0}}) {
          CommandResult h = RunHook(db, file, from, k.header.size() + 2 * request.size(), HookRun{});
          BOOST_TEST(h.code == 3, h.out);
          BOOST_TEST(h.out.find(k.says) != std::string::npos, h.out);
          BOOST_TEST(h.out.find("tailsafectl retry") != std::string::npos, h.out);
        }
      }
    }
    CommandResult cmp = Compare(db, "/dev/null");  // nothing was counted
    BOOST_TEST(cmp.out.find("EQUAL: 0 requests") == 0, cmp.out);
  }
}

// Without descriptor 3 (an older agent) and without markers, the hook counts as it always did:
// under an id of the range's own, saying so.
BOOST_AUTO_TEST_CASE(without_descriptor_3_a_tail_without_markers_counts_under_the_range) {
  ScopedTempDir dir("weblog-hook");
  std::string input = dir.path + "/input.log";
  CommandResult gen = RunCommand(AbsBin("weblog-gen") + " -n 200 --minutes 2 -o " + input);
  BOOST_REQUIRE_MESSAGE(gen.code == 0, gen.out);
  std::string file = dir.path + "/task.log";
  std::ofstream(file, std::ios::binary) << kHeader << ReadAll(input);
  CommandResult h = RunHook(dir.path + "/results.db", file, kHeader.size(), FileSize(file), HookRun{}, /*no_fd3=*/true);
  BOOST_TEST(h.code == 0, h.out);
  BOOST_TEST(h.out.find("no marker line in the input, no file header") != std::string::npos, h.out);
  BOOST_TEST(h.out.find("(file range:h1/weblog/count/task-3/1)") != std::string::npos, h.out);
}

BOOST_AUTO_TEST_SUITE_END()
