// The results database (examples/weblog/results_db.h) and weblog-bolt's backup file
// (examples/weblog/backup_file.h): every byte counted once, whoever commits it; a restarted
// bolt finds its file id and where the spout's run got to.
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "examples/weblog/backup_file.h"
#include "examples/weblog/generator.h"
#include "examples/weblog/log_format.h"
#include "examples/weblog/results_db.h"
#include "tests/support/cluster.h"

using namespace weblog;

namespace {

using TempDir = tailsafe::testing::ScopedTempDir;

// `n` generated request lines, whole.
std::string Lines(uint64_t n, uint64_t seed) {
  GeneratorOptions o;
  o.requests = n;
  o.minutes = 3;
  o.start_minute = MinuteOf(2026, 11, 18, 10, 0);
  o.seed = seed;
  Generator g(o);
  std::string out, line;
  while (g.Next(&line)) out += line;
  return out;
}

Batch MakeBatch(const std::string& file_id, const std::string& bytes, uint64_t base, size_t from, size_t to) {
  Batch b;
  b.file_id = file_id;
  b.start = base + from;
  b.end = base + to;
  LineCounts counts;
  AddLines(std::string_view(bytes).substr(from, to - from), base + from, &b, &counts, nullptr);
  return b;
}

Tally Expected(const std::string& bytes) {
  Tally t;
  Batch b = MakeBatch("x", bytes, 0, 0, bytes.size());
  for (const auto& l : b.requests) t.Add(l.request);
  return t;
}

// The offset just past the line containing byte `at`.
size_t LineEnd(const std::string& s, size_t at) { return s.find('\n', at) + 1; }

}  // namespace

BOOST_AUTO_TEST_SUITE(weblog_results_db)

BOOST_AUTO_TEST_CASE(overlapping_commits_count_every_line_once) {
  TempDir dir;
  auto db = ResultsDb::Open(dir.path + "/r.db");
  BOOST_TEST_REQUIRE(db.ok(), db.status().message());
  std::string bytes = Lines(3000, 1);
  size_t a = LineEnd(bytes, bytes.size() / 3), b = LineEnd(bytes, 2 * bytes.size() / 3);

  // The bolt commits [0, a); it dies before its checkpoint, so the hook gets [0, end).
  auto r1 = db->Apply(MakeBatch("f1", bytes, 0, 0, a), false);
  BOOST_TEST_REQUIRE(r1.ok(), r1.status().message());
  HookRange range{"h1", "bolt-1", 1, 0, bytes.size(), 3};
  auto r2 = db->Apply(MakeBatch("f1", bytes, 0, 0, bytes.size()), true, &range);
  BOOST_TEST_REQUIRE(r2.ok(), r2.status().message());
  BOOST_TEST(r2->skipped == r1->counted);
  BOOST_TEST(r1->counted + r2->counted == 3000u);
  // The same range again (at-least-once delivery), and a part of it: nothing new.
  auto r3 = db->Apply(MakeBatch("f1", bytes, 0, a, b), true, &range);
  BOOST_TEST_REQUIRE(r3.ok(), r3.status().message());
  BOOST_TEST(r3->counted == 0u);
  BOOST_TEST(*db->Recorded(range));
  BOOST_TEST(db->FileIdOf("h1", "bolt-1", 1)->value_or("") == "f1");
  BOOST_TEST(!db->FileIdOf("h1", "bolt-1", 2)->has_value());

  auto got = db->Load();
  BOOST_TEST_REQUIRE(got.ok());
  std::string diff = got->Diff(Expected(bytes));
  BOOST_TEST(diff.empty(), diff);
  // The counted intervals merged into one row.
  auto processed = db->Processed("f1");
  BOOST_TEST_REQUIRE(processed->size() == 1u);
  BOOST_TEST((processed->front() == std::pair<uint64_t, uint64_t>(0, bytes.size())));
  // The recovered series holds what the hook added, not what the bolt did.
  uint64_t recovered = 0;
  auto per_minute = db->RecoveredPerMinute();
  BOOST_TEST_REQUIRE(per_minute.ok());
  for (const auto& [m, n] : *per_minute) recovered += n;
  BOOST_TEST(recovered == r2->counted);
}

BOOST_AUTO_TEST_CASE(a_later_commit_inside_a_gap_counts_only_the_gap_and_other_files_are_apart) {
  TempDir dir;
  auto db = ResultsDb::Open(dir.path + "/r.db");
  BOOST_TEST_REQUIRE(db.ok(), db.status().message());
  std::string bytes = Lines(2000, 2);
  size_t a = LineEnd(bytes, bytes.size() / 4), b = LineEnd(bytes, bytes.size() / 2);
  BOOST_TEST_REQUIRE(db->Apply(MakeBatch("f1", bytes, 0, 0, a), false).ok());
  BOOST_TEST_REQUIRE(db->Apply(MakeBatch("f1", bytes, 0, b, bytes.size()), false).ok());
  BOOST_TEST(db->Processed("f1")->size() == 2u);
  auto r = db->Apply(MakeBatch("f1", bytes, 0, 0, bytes.size()), true);
  BOOST_TEST_REQUIRE(r.ok());
  BOOST_TEST(db->Processed("f1")->size() == 1u);
  // The same bytes under another file id are another file's: counted again.
  BOOST_TEST_REQUIRE(db->Apply(MakeBatch("f2", bytes, 0, 0, bytes.size()), false).ok());
  Tally twice = Expected(bytes);
  twice.Merge(Expected(bytes));
  std::string diff = db->Load()->Diff(twice);
  BOOST_TEST(diff.empty(), diff);
}

BOOST_AUTO_TEST_CASE(a_database_of_an_unknown_schema_version_is_refused_by_name) {
  TempDir dir;
  std::string path = dir.path + "/r.db";
  {
    auto db = tailsafe::Db::Open(path);
    BOOST_REQUIRE(db.ok());
    BOOST_REQUIRE(db->Exec("PRAGMA user_version = 9").ok());
  }
  auto db = ResultsDb::Open(path);
  BOOST_TEST_REQUIRE(!db.ok());
  BOOST_TEST(db.status().message() == path + ": results database schema version 9, this program knows 1");
}

BOOST_AUTO_TEST_CASE(a_restarted_bolt_keeps_its_file_id_and_resumes_the_spout_run) {
  TempDir dir;
  std::string path = dir.path + "/bolt.log";
  std::string lines = Lines(10, 3);
  std::string id;
  {
    auto f = BackupFile::Open(path);
    BOOST_TEST_REQUIRE(f.ok(), f.status().message());
    id = f->file_id();
    BOOST_TEST(id.size() == 16u);
    BOOST_TEST(f->ResumeSeq("00000000000000aa") == 0u);
    BOOST_TEST_REQUIRE(f->Append("00000000000000aa", 0, 10, lines).ok());
    BOOST_TEST_REQUIRE(f->Append("00000000000000aa", 10, 10, lines).ok());
  }
  {
    auto f = BackupFile::Open(path);
    BOOST_TEST_REQUIRE(f.ok(), f.status().message());
    BOOST_TEST(f->file_id() == id);
    BOOST_TEST(f->ResumeSeq("00000000000000aa") == 20u);
    BOOST_TEST(f->ResumeSeq("00000000000000bb") == 0u);  // another spout run starts over
    BOOST_TEST(f->repaired_fragment() == 0u);
  }
  // A crash inside a write leaves half a line: it is ended, and not taken for a request.
  {
    int fd = ::open(path.c_str(), O_WRONLY | O_APPEND);
    std::string half = FormatMarker(Marker{id, "00000000000000aa", 20}) + lines.substr(0, lines.find('\n') + 1) +
                       lines.substr(0, 40);
    BOOST_REQUIRE(::write(fd, half.data(), half.size()) == static_cast<ssize_t>(half.size()));
    ::close(fd);
  }
  for (int round = 0; round < 2; ++round) {
    auto f = BackupFile::Open(path);
    BOOST_TEST_REQUIRE(f.ok(), f.status().message());
    BOOST_TEST(f->file_id() == id);
    BOOST_TEST(f->ResumeSeq("00000000000000aa") == 21u);
    BOOST_TEST(f->repaired_fragment() == (round == 0 ? 40u : 0u));
  }
  std::ifstream in(path);
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  BOOST_TEST(all.back() == '\n');
  // A file weblog-bolt did not write: a new id, nothing to resume.
  std::string foreign = dir.path + "/foreign.log";
  std::ofstream(foreign) << lines;
  auto f = BackupFile::Open(foreign);
  BOOST_TEST_REQUIRE(f.ok());
  BOOST_TEST(f->file_id() != id);
  BOOST_TEST(f->ResumeSeq("00000000000000aa") == 0u);
}

BOOST_AUTO_TEST_SUITE_END()
