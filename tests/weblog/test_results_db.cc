// The results database (examples/weblog/results_db.h) and weblog-bolt's backup file
// (examples/weblog/backup_file.h): every byte counted once, whoever commits it, on both
// backends; a restarted bolt finds its file id and where the spout's run got to.
//
// The cases about the database are written once (template functions on a backend) and run in
// two suites, weblog_results_db/sqlite and weblog_results_db/postgres; the second starts a
// throwaway PostgreSQL server (tests/support/postgres_server.h), one for the whole binary, and a
// fresh database per case. It is skipped, saying why, where Debian's postgresql is missing.
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <random>
#include <string>
#include <thread>

#include "common/sqlite.h"
#include "examples/weblog/backup_file.h"
#include "examples/weblog/generator.h"
#include "examples/weblog/log_format.h"
#include "examples/weblog/results_db.h"
#include "examples/weblog/results_db_postgres.h"
#include "tests/support/cluster.h"
#include "tests/support/postgres_server.h"

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

// The backends: each makes fresh databases (as --db targets) and knows how to mark one with a
// schema version this program does not know.
struct Sqlite {
  TempDir dir{"results-db"};
  int made = 0;
  std::string Fresh() { return dir.path + "/r" + std::to_string(++made) + ".db"; }
  static void SetVersion(const std::string& target, int version) {
    auto db = tailsafe::Db::Open(target);
    BOOST_REQUIRE(db.ok());
    BOOST_REQUIRE(db->Exec("PRAGMA user_version = " + std::to_string(version)).ok());
  }
};

struct Postgres {
  std::string Fresh() {
    std::string why;
    auto* server = tailsafe::testing::SharedPostgres(&why);
    BOOST_TEST_REQUIRE(server != nullptr, why);
    auto uri = server->NewDatabase(boost::unit_test::framework::current_test_case().p_name);
    BOOST_TEST_REQUIRE(uri.ok(), uri.status().message());
    return *uri;
  }
  static void SetVersion(const std::string& target, int version) {
    auto r = tailsafe::testing::PgQuery(target, "CREATE TABLE weblog_schema(version integer NOT NULL); "
                                                "INSERT INTO weblog_schema VALUES (" + std::to_string(version) + ")");
    BOOST_TEST_REQUIRE(r.ok(), r.status().message());
  }
};

std::unique_ptr<ResultsDb> OpenOrFail(const std::string& target) {
  auto db = ResultsDb::Open(target);
  BOOST_TEST_REQUIRE(db.ok(), db.status().message());
  return std::move(*db);
}

template <typename Backend>
void OverlappingCommitsCountEveryLineOnce() {
  Backend backend;
  auto db = OpenOrFail(backend.Fresh());
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
  BOOST_TEST_REQUIRE(got.ok(), got.status().message());
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

template <typename Backend>
void ALaterCommitInsideAGapCountsOnlyTheGap() {
  Backend backend;
  auto db = OpenOrFail(backend.Fresh());
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
  // Malformed lines count once too, and an empty batch only records its hook range.
  std::string bad = "not a request\n" + Lines(10, 3) + "GET /index.html\n";
  auto m1 = db->Apply(MakeBatch("f3", bad, 0, 0, bad.size()), false);
  auto m2 = db->Apply(MakeBatch("f3", bad, 0, 0, bad.size()), true);
  BOOST_TEST_REQUIRE((m1.ok() && m2.ok()));
  BOOST_TEST(m1->malformed == 2u);
  BOOST_TEST(m2->malformed == 0u);
  BOOST_TEST(*db->Counter("malformed_lines") == 2u);
  HookRange empty{"h2", "bolt-9", 4, 100, 100, 1};
  BOOST_TEST_REQUIRE(db->Apply(MakeBatch("f4", "", 100, 0, 0), true, &empty).ok());
  BOOST_TEST(*db->Recorded(empty));
  BOOST_TEST(db->Processed("f4")->empty());
}

template <typename Backend>
void AnUnknownSchemaVersionIsRefusedByName() {
  Backend backend;
  std::string target = backend.Fresh();
  Backend::SetVersion(target, 9);
  auto db = ResultsDb::Open(target);
  BOOST_TEST_REQUIRE(!db.ok());
  BOOST_TEST(db.status().message() == target + ": results database schema version 9, this program knows 1");
}

template <typename Backend>
void ABrokenBatchIsRefusedBeforeAnythingIsWritten() {
  Backend backend;
  auto db = OpenOrFail(backend.Fresh());
  std::string bytes = Lines(20, 4);
  Batch outside = MakeBatch("f1", bytes, 0, 0, bytes.size());
  outside.end = outside.requests.back().begin;  // the last line begins at the end
  Batch twice = MakeBatch("f1", bytes, 0, 0, bytes.size());
  twice.requests.push_back(twice.requests.back());  // one line twice would count twice
  Batch both = MakeBatch("f1", bytes, 0, 0, bytes.size());
  both.malformed.push_back(both.requests.front().begin);
  Batch backwards = MakeBatch("f1", bytes, 0, 0, bytes.size());
  backwards.end = 0;
  backwards.requests.clear();
  backwards.start = 10;
  Batch nameless = MakeBatch("", bytes, 0, 0, bytes.size());
  for (const Batch* b : {&outside, &twice, &both, &backwards, &nameless}) {
    auto r = db->Apply(*b, false);
    BOOST_TEST(!r.ok());
    if (!r.ok()) BOOST_TEST(r.status().message().find(db->name() + ": ") == 0, r.status().message());
  }
  BOOST_TEST(db->Load()->empty());
  BOOST_TEST(db->Processed("f1")->empty());
}

// Writers of one file at once, as bolts and hooks on several hosts are: threads, each with its
// own connection, apply random overlapping batches of two files (which share every count row);
// each line must end up counted exactly once, and the counted reports add up to that.
template <typename Backend>
void ConcurrentWritersCountEveryLineOnce() {
  Backend backend;
  std::string target = backend.Fresh();
  std::string bytes = Lines(4000, 5);
  std::vector<size_t> ends;  // every line end
  for (size_t at = 0; at < bytes.size(); at = LineEnd(bytes, at)) ends.push_back(LineEnd(bytes, at));
  constexpr int kThreads = 6;
  constexpr int kBatches = 30;
  std::vector<std::unique_ptr<ResultsDb>> dbs;
  for (int t = 0; t < kThreads; ++t) dbs.push_back(OpenOrFail(target));
  std::atomic<uint64_t> counted[2] = {0, 0}, recovered_counted{0};
  std::atomic<int> go{0};
  std::vector<std::string> errors(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(static_cast<uint64_t>(t) * 7919 + 1);
      const std::string file = t % 2 == 0 ? "even" : "odd";
      const bool hook = t >= 2;  // two bolts, four hooks
      while (go.load() == 0) std::this_thread::yield();  // all start together
      for (int i = 0; i < kBatches + 1 && errors[static_cast<size_t>(t)].empty(); ++i) {
        size_t a = 0, b = bytes.size();  // the last batch covers the whole file
        if (i < kBatches) {
          size_t x = rng() % ends.size(), y = rng() % ends.size();
          a = std::min(x, y) == 0 ? 0 : ends[std::min(x, y) - 1];
          b = ends[std::max(x, y)];
        }
        HookRange range{"h" + std::to_string(t), "bolt", 1, a, b, 1};
        auto r = dbs[static_cast<size_t>(t)]->Apply(MakeBatch(file, bytes, 0, a, b), hook, hook ? &range : nullptr);
        if (!r.ok()) {
          errors[static_cast<size_t>(t)] = r.status().message();
        } else {
          counted[t % 2] += r->counted;
          if (hook) recovered_counted += r->counted;
        }
      }
    });
  }
  go = 1;
  for (auto& th : threads) th.join();
  for (const std::string& e : errors) BOOST_TEST(e.empty(), e);
  BOOST_TEST(counted[0].load() == 4000u);
  BOOST_TEST(counted[1].load() == 4000u);
  auto got = dbs[0]->Load();
  BOOST_TEST_REQUIRE(got.ok(), got.status().message());
  Tally twice = Expected(bytes);
  twice.Merge(Expected(bytes));
  std::string diff = got->Diff(twice);
  BOOST_TEST(diff.empty(), diff);
  for (const char* file : {"even", "odd"}) {
    auto processed = dbs[0]->Processed(file);
    BOOST_TEST_REQUIRE(processed->size() == 1u);
    BOOST_TEST((processed->front() == std::pair<uint64_t, uint64_t>(0, bytes.size())));
  }
  auto per_minute = dbs[0]->RecoveredPerMinute();
  BOOST_TEST_REQUIRE(per_minute.ok(), per_minute.status().message());
  uint64_t recovered = 0;
  for (const auto& [m, n] : *per_minute) recovered += n;
  BOOST_TEST(recovered == recovered_counted.load());
}

boost::test_tools::assertion_result HavePostgres(boost::unit_test::test_unit_id) {
  std::string missing = tailsafe::testing::PostgresMissing();
  boost::test_tools::assertion_result r(missing.empty());
  if (!r) r.message() << "skipped: " << missing;
  return r;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(weblog_results_db)

// Each backend's suite runs every case above.
#define WEBLOG_RESULTS_DB_CASES(Backend)                                                                          \
  BOOST_AUTO_TEST_CASE(overlapping_commits_count_every_line_once) { OverlappingCommitsCountEveryLineOnce<Backend>(); } \
  BOOST_AUTO_TEST_CASE(a_later_commit_inside_a_gap_counts_only_the_gap_and_other_files_are_apart) {               \
    ALaterCommitInsideAGapCountsOnlyTheGap<Backend>();                                                             \
  }                                                                                                                \
  BOOST_AUTO_TEST_CASE(a_database_of_an_unknown_schema_version_is_refused_by_name) {                               \
    AnUnknownSchemaVersionIsRefusedByName<Backend>();                                                              \
  }                                                                                                                \
  BOOST_AUTO_TEST_CASE(a_broken_batch_is_refused_before_anything_is_written) {                                     \
    ABrokenBatchIsRefusedBeforeAnythingIsWritten<Backend>();                                                       \
  }                                                                                                                \
  BOOST_AUTO_TEST_CASE(concurrent_writers_of_one_file_count_every_line_once) {                                     \
    ConcurrentWritersCountEveryLineOnce<Backend>();                                                                \
  }

BOOST_AUTO_TEST_SUITE(sqlite)
WEBLOG_RESULTS_DB_CASES(Sqlite)
BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(postgres, *boost::unit_test::precondition(HavePostgres))
WEBLOG_RESULTS_DB_CASES(Postgres)

// The rule as a Java bolt calls it over JDBC: the SQL of results_db_postgres.h, verbatim.
BOOST_AUTO_TEST_CASE(weblog_apply_called_in_sql_follows_the_same_rule) {
  std::string uri = Postgres().Fresh();
  OpenOrFail(uri);  // creates the schema
  // Lines at 0 and 120 (and a malformed one at 60) of [0, 200); then [100, 300), whose line at
  // 120 is counted already, with the hook range.
  const std::string first =
      "SELECT counted, skipped, malformed FROM weblog_apply('00000000000000aa', 0, 200, false, "
      "ARRAY[0, 120]::bigint[], ARRAY[29871360, 29871361]::bigint[], ARRAY['www.example.com', '-'], "
      "ARRAY['/caf\xc3\xa9', '/a\"b\\c'], ARRAY['10.0.0.1', '2001:db8::1'], ARRAY[200, 404], "
      "ARRAY[5120, 0]::bigint[], ARRAY[60]::bigint[])";
  auto r1 = tailsafe::testing::PgQuery(uri, first);
  BOOST_TEST_REQUIRE(r1.ok(), r1.status().message());
  BOOST_TEST((r1->at(0) == std::vector<std::string>{"2", "0", "1"}));
  auto r2 = tailsafe::testing::PgQuery(
      uri, "SELECT * FROM weblog_apply(p_file_id => '00000000000000aa', p_start => 100, p_end => 300, "
           "p_recovered => true, p_begins => '{120, 250}', p_minutes => '{29871361, 29871362}', "
           "p_hosts => '{-, www.example.com}', p_paths => '{/a\\\"b\\\\c, /}', p_ips => '{2001:db8::1, 10.0.0.2}', "
           "p_statuses => '{404, 301}', p_bytes => '{0, 7}', p_malformed => '{}', p_origin => 'h1', "
           "p_bolt => 'bolt-1', p_generation => 3, p_from => 100, p_to => 300, p_epoch => 9)");
  BOOST_TEST_REQUIRE(r2.ok(), r2.status().message());
  BOOST_TEST((r2->at(0) == std::vector<std::string>{"1", "1", "0"}));
  // What the C++ side reads back is what the SQL wrote, text exactly as given.
  auto db = OpenOrFail(uri);
  auto got = db->Load();
  BOOST_TEST_REQUIRE(got.ok(), got.status().message());
  BOOST_TEST(got->requests() == 3u);
  BOOST_TEST(got->by_url().count({29871360, "www.example.com", "/caf\xc3\xa9"}) == 1u);
  BOOST_TEST(got->by_url().count({29871361, "-", "/a\"b\\c"}) == 1u);
  BOOST_TEST(got->by_host().at({29871361, "-"}).status[3] == 1u);
  BOOST_TEST(*db->Counter("malformed_lines") == 1u);
  BOOST_TEST((*db->Processed("00000000000000aa") == std::vector<std::pair<uint64_t, uint64_t>>{{0, 300}}));
  BOOST_TEST(db->FileIdOf("h1", "bolt-1", 3)->value_or("") == "00000000000000aa");
  BOOST_TEST(db->RecoveredPerMinute()->at(29871362) == 1u);

  // A broken argument is SQLSTATE 22023, naming it, and writes nothing.
  auto bad = tailsafe::testing::PgQuery(
      uri, "SELECT * FROM weblog_apply('00000000000000bb', 0, 10, false, '{0, 5}', '{1}', '{a}', '{/}', '{1.1.1.1}', "
           "'{200}', '{1}')");
  BOOST_TEST_REQUIRE(!bad.ok());
  BOOST_TEST(bad.status().message().find("the line arrays differ in length") != std::string::npos,
             bad.status().message());
  auto half_hook = tailsafe::testing::PgQuery(
      uri, "SELECT * FROM weblog_apply('00000000000000bb', 0, 10, false, '{}', '{}', '{}', '{}', '{}', '{}', '{}', "
           "'{}', 'h1')");
  BOOST_TEST_REQUIRE(!half_hook.ok());
  BOOST_TEST(half_hook.status().message().find("all NULL or all set, not 1 of 6") != std::string::npos,
             half_hook.status().message());
  // Anything but READ COMMITTED is refused: its snapshot would come before the file's lock.
  auto rr = tailsafe::testing::PgQuery(
      uri, "BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT * FROM weblog_apply('00000000000000bb', 0, 0, false, "
           "'{}', '{}', '{}', '{}', '{}', '{}', '{}')");
  BOOST_TEST_REQUIRE(!rr.ok());
  BOOST_TEST(rr.status().message().find("READ COMMITTED transactions only, not repeatable read") != std::string::npos,
             rr.status().message());
  BOOST_TEST(db->Processed("00000000000000bb")->empty());
}

// The server ends the connection (a restart, a failover, an administrator): Apply connects
// again and applies the batch; a repeat of one that did commit counts nothing.
BOOST_AUTO_TEST_CASE(a_batch_is_applied_again_on_a_new_connection_when_the_server_closed_the_old) {
  std::string uri = Postgres().Fresh();
  auto db = OpenOrFail(uri);
  std::string bytes = Lines(500, 6);
  size_t half = LineEnd(bytes, bytes.size() / 2);
  auto terminate = [&] {
    auto r = tailsafe::testing::PgQuery(uri, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                             "WHERE datname = current_database() AND pid <> pg_backend_pid()");
    BOOST_TEST_REQUIRE(r.ok(), r.status().message());
    BOOST_TEST_REQUIRE(r->size() == 1u);  // the ResultsDb's connection
  };
  terminate();
  auto r1 = db->Apply(MakeBatch("f1", bytes, 0, 0, half), false);
  BOOST_TEST_REQUIRE(r1.ok(), r1.status().message());
  terminate();
  auto r2 = db->Apply(MakeBatch("f1", bytes, 0, 0, bytes.size()), true);
  BOOST_TEST_REQUIRE(r2.ok(), r2.status().message());
  BOOST_TEST(r1->counted + r2->counted == 500u);
  BOOST_TEST(r2->skipped == r1->counted);
  std::string diff = db->Load()->Diff(Expected(bytes));
  BOOST_TEST(diff.empty(), diff);
}

BOOST_AUTO_TEST_CASE(connection_errors_name_the_server_and_never_the_password) {
  std::string uri = Postgres().Fresh();
  // A database that does not exist, with a password in the user info and in a parameter.
  std::string wrong = uri.substr(0, uri.find('?')) + "_gone" + uri.substr(uri.find('?')) + "&password=hunter2%21";
  wrong.insert(wrong.find("://") + 3, "postgres:s3cr%2Fet@");
  auto db = ResultsDb::Open(wrong);
  BOOST_TEST_REQUIRE(!db.ok());
  const std::string& msg = db.status().message();
  BOOST_TEST(msg.find("s3cr") == std::string::npos, msg);
  BOOST_TEST(msg.find("hunter2") == std::string::npos, msg);
  BOOST_TEST(msg.find("postgres:***@") != std::string::npos, msg);
  BOOST_TEST(msg.find("password=***") != std::string::npos, msg);
  BOOST_TEST(msg.find("cannot connect: connection to server on socket") != std::string::npos, msg);
  BOOST_TEST(msg.find("_gone\" does not exist") != std::string::npos, msg);
}
BOOST_AUTO_TEST_SUITE_END()

// Which --db means which backend, and what a message may show of a URI: no server needed.
BOOST_AUTO_TEST_CASE(a_uri_names_postgresql_and_its_password_never_shows) {
  BOOST_TEST(IsPostgresTarget("postgresql://db1/weblog"));
  BOOST_TEST(IsPostgresTarget("postgres:///weblog?host=/run/postgresql"));
  BOOST_TEST(!IsPostgresTarget("/var/lib/weblog/results.db"));
  BOOST_TEST(!IsPostgresTarget("postgresql.db"));
  BOOST_TEST(RedactPostgresUri("postgresql://weblog:pa%40ss@db1:5432/weblog?sslmode=require") ==
             "postgresql://weblog:***@db1:5432/weblog?sslmode=require");
  BOOST_TEST(RedactPostgresUri("postgres://u:p@h1,h2/db?password=x&sslpassword=y&application_name=a") ==
             "postgres://u:***@h1,h2/db?password=***&sslpassword=***&application_name=a");
  BOOST_TEST(RedactPostgresUri("postgresql:///weblog?host=/run/postgresql") == "postgresql:///weblog?host=/run/postgresql");
  BOOST_TEST(RedactPostgresUri("postgresql://weblog@db1/weblog") == "postgresql://weblog@db1/weblog");
  BOOST_TEST(RedactPostgresUri("postgresql://db1/w?password=") == "postgresql://db1/w?password=***");
  // libpq quotes parts of a URI it cannot parse, the password included: not in our messages.
  for (const char* bad : {"postgresql://u:pa%zzword@h/db", "postgresql://u:password1@[h/db",
                          "postgresql://h/db?password=hunter2&nonsense=1"}) {
    auto db = ResultsDb::Open(bad);
    BOOST_TEST_REQUIRE(!db.ok());
    const std::string& msg = db.status().message();
    BOOST_TEST(msg.find("cannot connect: ") != std::string::npos, msg);
    BOOST_TEST(msg.find("pa%zz") == std::string::npos, msg);
    BOOST_TEST(msg.find("password1") == std::string::npos, msg);
    BOOST_TEST(msg.find("hunter2") == std::string::npos, msg);
  }
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
