// Access-log parsing (examples/weblog/log_format.h): both formats, and hostile lines.
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <map>
#include <random>
#include <string>

#include "examples/weblog/generator.h"
#include "examples/weblog/log_format.h"

using namespace weblog;

namespace {

const std::string kVhost =
    "shop.example.com:443 81.2.69.160 - - [18/Nov/2026:10:05:59 +0100] \"GET /product/12?id=7 HTTP/1.1\" 200 5120 "
    "\"https://shop.example.com/\" \"Mozilla/5.0 (X11; Linux x86_64)\"";
const std::string kCombined =
    "2001:db8::1 - frank [18/Nov/2026:10:05:00 +0000] \"POST http://api.example.com:8080/v1/cart?x=1 HTTP/1.1\" 503 - "
    "\"-\" \"curl/7.88.1\" rt=0.002";

std::string Error(const std::string& line) {
  ParsedLine p = ParseLine(line);
  BOOST_TEST((p.kind == LineKind::kMalformed), "not malformed: " << line.substr(0, 80));
  return p.error;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(weblog_log_format)

BOOST_AUTO_TEST_CASE(vhost_combined_and_combined_lines_give_host_minute_path_status_bytes) {
  ParsedLine p = ParseLine(kVhost);
  BOOST_TEST_REQUIRE((p.kind == LineKind::kRequest), p.error);
  BOOST_TEST(p.request.host == "shop.example.com");
  BOOST_TEST(p.request.ip == "81.2.69.160");
  BOOST_TEST(FormatMinute(p.request.minute) == "2026-11-18 09:05");  // +0100 is an hour ahead of UTC
  BOOST_TEST(p.request.method == "GET");
  BOOST_TEST(p.request.path == "/product/12");  // the query string is not part of the URL counted
  BOOST_TEST(p.request.status == 200);
  BOOST_TEST(p.request.bytes == 5120u);

  p = ParseLine(kCombined);
  BOOST_TEST_REQUIRE((p.kind == LineKind::kRequest), p.error);
  BOOST_TEST(p.request.host == "api.example.com");  // from the absolute request target, port dropped
  BOOST_TEST(p.request.ip == "2001:db8::1");
  BOOST_TEST(p.request.path == "/v1/cart");
  BOOST_TEST(p.request.status == 503);
  BOOST_TEST(p.request.bytes == 0u);  // "-"

  p = ParseLine("10.0.0.1 - - [18/Nov/2026:10:05:00 +0000] \"-\" 400 0 \"-\" \"-\"");
  BOOST_TEST_REQUIRE((p.kind == LineKind::kRequest), p.error);
  BOOST_TEST(p.request.host == "-");  // combined, no absolute URI: no host
  BOOST_TEST(p.request.method == "-");
  BOOST_TEST(p.request.path == "-");

  // Escaped quotes inside quoted fields (Apache writes \", nginx \x22).
  p = ParseLine("10.0.0.1 - - [18/Nov/2026:10:05:00 +0000] \"GET /a\\\"b HTTP/1.1\" 200 1 \"-\" \"say \\\"hi\\\"\"");
  BOOST_TEST_REQUIRE((p.kind == LineKind::kRequest), p.error);
  BOOST_TEST(p.request.path == "/a\\\"b");
}

BOOST_AUTO_TEST_CASE(markers_comments_and_blank_lines_are_not_requests) {
  Marker m{"0123456789abcdef", "fedcba9876543210", 42};
  std::string line = FormatMarker(m);
  BOOST_TEST(line == "#tailsafe-weblog file=0123456789abcdef run=fedcba9876543210 seq=42\n");
  line.pop_back();
  auto back = ParseMarker(line);
  BOOST_TEST_REQUIRE(back.has_value());
  BOOST_TEST(back->file_id == m.file_id);
  BOOST_TEST(back->run_id == m.run_id);
  BOOST_TEST(back->seq == 42u);
  BOOST_TEST((ParseLine(line).kind == LineKind::kMarker));
  BOOST_TEST(!ParseMarker("#tailsafe-weblog file=0123456789abcdeX run=fedcba9876543210 seq=42"));
  BOOST_TEST(!ParseMarker("#tailsafe-weblog file=0123456789abcdef run=fedcba9876543210 seq=4x"));
  BOOST_TEST((ParseLine("#Fields: date time").kind == LineKind::kComment));
  BOOST_TEST((ParseLine("").kind == LineKind::kBlank));
  BOOST_TEST((ParseLine("   ").kind == LineKind::kBlank));
}

BOOST_AUTO_TEST_CASE(hostile_lines_are_malformed_with_a_message_naming_what_and_where) {
  BOOST_TEST(Error(std::string(20000, 'A')) == "line is 20000 bytes, longer than the limit of 16384");
  std::string binary = kVhost;
  binary[30] = '\0';
  BOOST_TEST(Error(binary) == "control byte 0x00 at column 31");
  BOOST_TEST(Error("10.0.0.1 - - [18/Nov/2026:10:05:00 +0000] \"GET / HTTP/1.1 200 1 \"-\" \"-") ==
             "expected a space after the request at column 66");
  BOOST_TEST(Error("10.0.0.1 - - [18/Nov/2026:10:05:00 +0000] \"GET / HTTP/1.1") == "unterminated quoted request at column 43");
  BOOST_TEST(Error("10.0.0.1 - - [31/Feb/2026:10:05:00 +0000] \"GET / HTTP/1.1\" 200 1 \"-\" \"-\"") ==
             "time '[31/Feb/2026:10:05:00 +0000]' is not a real date and time at column 14");
  BOOST_TEST(Error("10.0.0.1 - - [18/Foo/2026:10:05:00 +0000] \"GET / HTTP/1.1\" 200 1 \"-\" \"-\"") ==
             "time '[18/Foo/2026:10:05:00 +0000]' has no month named 'Foo' at column 14");
  BOOST_TEST(Error("10.0.0.1 - - [18/Nov/2026:10:05:00 +0000] \"GET / HTTP/1.1\" 999 1 \"-\" \"-\"") ==
             "status '999' is not a number from 100 to 599 at column 60");
  BOOST_TEST(Error("10.0.0.1 - - [18/Nov/2026:10:05:00 +0000] \"GET / HTTP/1.1\" 200 12k \"-\" \"-\"") ==
             "byte count '12k' is not a number at column 64");
  BOOST_TEST(Error("999.1.1.1 - - [18/Nov/2026:10:05:00 +0000] \"GET / HTTP/1.1\" 200 1 \"-\" \"-\"") ==
             "bad client address '999.1.1.1' at column 1");
  BOOST_TEST(Error("bad/host 10.0.0.1 - - [18/Nov/2026:10:05:00 +0000] \"GET / HTTP/1.1\" 200 1 \"-\" \"-\"") ==
             "bad virtual host 'bad/host' at column 1");
  BOOST_TEST(Error("GET /index.html") == "line ends before the time field at column 16");
  BOOST_TEST(Error("10.0.0.1 - - [18/Nov/2026:10:05:00 +0000] \"GET / HTTP/1.1\" 200 1 \"-\" \"-") ==
             "unterminated quoted user agent at column 70");
  BOOST_TEST(Error("a b c d e f g") == "expected '[' of the time field as field 4 or 5 at column 9");
}

BOOST_AUTO_TEST_CASE(every_truncation_and_every_byte_flip_is_handled_without_crashing) {
  // Every prefix of a good line but the whole is malformed (the last field is quoted).
  for (size_t n = 0; n < kVhost.size(); ++n) {
    ParsedLine p = ParseLine(kVhost.substr(0, n));
    BOOST_TEST((p.kind != LineKind::kRequest), "prefix of " << n << " bytes parsed as a request");
  }
  // Every byte of a good line, set to every value: a result, never a crash; a request only if
  // the line still has the shape.
  size_t requests = 0;
  for (size_t i = 0; i < kVhost.size(); ++i) {
    for (int v = 0; v < 256; ++v) {
      std::string s = kVhost;
      s[i] = static_cast<char>(v);
      ParsedLine p = ParseLine(s);
      if (p.kind == LineKind::kRequest) {
        ++requests;
        BOOST_TEST(p.request.status >= 100);
        BOOST_TEST(p.request.status <= 599);
      } else if (p.kind == LineKind::kMalformed) {
        BOOST_TEST(!p.error.empty());
      }
    }
  }
  BOOST_TEST(requests > 0u);
}

// Paths are stored as text, and PostgreSQL takes only UTF-8: a path that is not UTF-8 makes the
// line malformed (in every backend alike), one that is counts as logged.
BOOST_AUTO_TEST_CASE(a_path_that_is_not_utf8_is_malformed_and_one_that_is_counts) {
  auto line = [](const std::string& path, const std::string& agent = "-") {
    return "10.0.0.1 - - [18/Nov/2026:10:05:00 +0000] \"GET " + path + " HTTP/1.1\" 200 1 \"-\" \"" + agent + "\"";
  };
  for (const std::string good : {"/caf\xc3\xa9", "/\xe2\x82\xac/\xf0\x9f\x98\x80", "/\xed\x9f\xbf", "/\xf4\x8f\xbf\xbf"}) {
    const std::string text = line(good);  // the request's views point into it
    ParsedLine p = ParseLine(text);
    BOOST_TEST_REQUIRE((p.kind == LineKind::kRequest), p.error);
    BOOST_TEST(p.request.path == good);
  }
  // Column 49 is the path's second byte.
  BOOST_TEST(Error(line("/\xff")) == "request path is not UTF-8 at column 49");
  BOOST_TEST(Error(line("/\xc3")) == "request path is not UTF-8 at column 49");         // cut short
  BOOST_TEST(Error(line("/\xc0\xaf")) == "request path is not UTF-8 at column 49");     // overlong '/'
  BOOST_TEST(Error(line("/\xed\xa0\x80")) == "request path is not UTF-8 at column 49");  // a surrogate
  BOOST_TEST(Error(line("/\xf4\x90\x80\x80")) == "request path is not UTF-8 at column 49");  // above U+10FFFF
  BOOST_TEST(Error(line("/ok\xe2\x82")) == "request path is not UTF-8 at column 51");
  // Only what is stored must be UTF-8: the query string and the user agent are not.
  BOOST_TEST((ParseLine(line("/p?q=\xff")).kind == LineKind::kRequest));
  BOOST_TEST((ParseLine(line("/p", "agent \xff")).kind == LineKind::kRequest));
}

BOOST_AUTO_TEST_CASE(minutes_round_trip_through_the_civil_calendar) {
  BOOST_TEST(MinuteOf(1970, 1, 1, 0, 0) == 0);
  BOOST_TEST(FormatMinute(MinuteOf(2026, 11, 18, 23, 59)) == "2026-11-18 23:59");
  BOOST_TEST(FormatMinute(MinuteOf(2024, 2, 29, 12, 0)) == "2024-02-29 12:00");
  BOOST_TEST(MinuteOf(2026, 11, 18, 0, 0) - MinuteOf(2026, 11, 17, 0, 0) == 1440);
}

BOOST_AUTO_TEST_CASE(the_generator_writes_only_parseable_requests_along_its_plan) {
  GeneratorOptions o;
  o.requests = 20000;
  o.minutes = 30;
  o.start_minute = MinuteOf(2026, 11, 18, 6, 0);
  o.seed = 7;
  Generator g(o);
  uint64_t planned = 0;
  for (uint64_t n : g.per_minute()) planned += n;
  BOOST_TEST(planned == o.requests);
  std::map<int64_t, uint64_t> seen;
  std::string line;
  uint64_t lines = 0;
  while (g.Next(&line)) {
    ++lines;
    BOOST_REQUIRE(!line.empty() && line.back() == '\n');
    ParsedLine p = ParseLine(std::string_view(line).substr(0, line.size() - 1));
    BOOST_TEST_REQUIRE((p.kind == LineKind::kRequest), p.error << ": " << line);
    seen[p.request.minute - o.start_minute]++;
  }
  BOOST_TEST(lines == o.requests);
  for (uint32_t m = 0; m < o.minutes; ++m) BOOST_TEST(seen[m] == g.per_minute()[m]);

  // Same seed, same log; hostile lines come on top of the requests, and are all malformed.
  o.malformed_every = 100;
  Generator h(o);
  uint64_t requests = 0, malformed = 0;
  while (h.Next(&line)) {
    ParsedLine p = ParseLine(std::string_view(line).substr(0, line.size() - 1));
    if (p.kind == LineKind::kRequest) ++requests;
    if (p.kind == LineKind::kMalformed) ++malformed;
  }
  uint64_t lines_out = 0;
  Generator h2(o);
  while (h2.Next(&line)) {
    ++lines_out;
    BOOST_TEST(std::count(line.begin(), line.end(), '\n') == 1);  // a hostile line is still one line
  }
  BOOST_TEST(requests == o.requests);
  BOOST_TEST(malformed == lines_out - o.requests);
  BOOST_TEST(malformed == o.requests / 99);
}

BOOST_AUTO_TEST_SUITE_END()
