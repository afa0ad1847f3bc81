// WeblogGaps (tests/faults/weblog_gaps.h) on a backup file and results database made by hand.
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <fstream>

#include "common/sqlite.h"
#include "tests/faults/weblog_gaps.h"
#include "tests/support/cluster.h"

using namespace tailsafe;
using namespace tailsafe::testing;

BOOST_AUTO_TEST_SUITE(weblog_gaps)

BOOST_AUTO_TEST_CASE(names_the_uncounted_bytes_the_recoveries_that_touch_them_and_lines_never_written) {
  ScopedTempDir dir("weblog-gaps");
  const std::string marker = "#tailsafe-weblog file=00112233aabbccdd run=0123456789abcdef seq=0\n";
  auto line = [](char page) {
    return std::string("10.0.0.1 - - [18/Nov/2026:10:05:00 +0000] \"GET /") + page + " HTTP/1.1\" 200 5 \"-\" \"-\"\n";
  };
  const std::string a = line('a'), b = line('b'), c = line('c');
  const uint64_t n = a.size();
  std::ofstream(dir.path + "/bolt.log") << marker << a << b << c;  // b is at [marker + n, marker + 2n)
  // The spout skips the malformed line: it is not counted as a request that never arrived.
  std::ofstream(dir.path + "/input.log") << a << b << c << line('d') << "GET /malformed\n";
  uint64_t m = marker.size();
  auto db = Db::Open(dir.path + "/results.db");
  BOOST_REQUIRE(db.ok());
  BOOST_REQUIRE(db->Exec("CREATE TABLE processed(file_id TEXT, start INTEGER, end INTEGER);"
                         "CREATE TABLE hook_ranges(origin TEXT, bolt TEXT, generation INTEGER, from_off INTEGER,"
                         " to_off INTEGER, file_id TEXT, epoch INTEGER);"
                         "INSERT INTO processed VALUES('00112233aabbccdd', 0, " + std::to_string(m + n) + "),"
                         "('00112233aabbccdd', " + std::to_string(m + 2 * n) + ", " + std::to_string(m + 3 * n) + ");").ok());
  std::map<std::string, nlohmann::json> recoveries{
      {"/recoveries/7", {{"origin", "h2"}, {"bolt", "bolt-1"}, {"generation", 1}, {"from", m + n}, {"to", m + 3 * n},
                         {"delivered_to", m + 3 * n}, {"state", "recovered"}, {"epoch", 3}, {"agent", "h1"}, {"cause", "process died"}}},
      {"/recoveries/8", {{"origin", "h2"}, {"bolt", "bolt-1"}, {"from", 0}, {"to", m}}}};
  std::string report = WeblogGaps({{"h2", dir.path + "/bolt.log"}}, dir.path + "/results.db", recoveries, dir.path + "/input.log");
  BOOST_TEST(report.find("file id 00112233aabbccdd") != std::string::npos, report);
  BOOST_TEST(report.find("counted: 2 interval(s); hook ranges recorded: 0") != std::string::npos, report);
  std::string gap = "uncounted [" + std::to_string(m + n) + ", " + std::to_string(m + 2 * n) + "): 1 request line(s)";
  BOOST_TEST(report.find(gap) != std::string::npos, report);
  BOOST_TEST(report.find("recovery 7: generation 1 [" + std::to_string(m + n)) != std::string::npos, report);
  BOOST_TEST(report.find("recovery 8") == std::string::npos, report);
  BOOST_TEST(report.find("request lines: 3 in the backup files, 4 in the input (some never reached a backup file); "
                         "1 malformed input line(s), which the spout skips") != std::string::npos,
             report);
}

BOOST_AUTO_TEST_SUITE_END()
