// The tailsafe-storm header as weblog-analyze reads it (examples/weblog/storm_header.h): what
// the Java writer (GenerationHeader.line()) writes parses, everything broken is an error naming
// what, and the first line of a file comes back with pread, the descriptor's offset untouched.
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "common/fd.h"
#include "examples/weblog/storm_header.h"
#include "tests/support/cluster.h"

using namespace weblog;

namespace {

// As GenerationHeader.line() writes it, without the newline.
const std::string kHeader =
    "#tailsafe-storm v=1 file=0123456789abcdef topology=web+log%2Fprod component=count task=7 format=raw "
    "spec=rO0ABXNyAA==";

std::string Error(const std::string& line) {
  auto h = ParseStormHeader(line);
  BOOST_TEST(!h.ok(), "parsed: " << line);
  return h.ok() ? "" : h.status().message();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(weblog_storm_header)

BOOST_AUTO_TEST_CASE(a_header_as_the_java_writer_writes_it_gives_the_file_id) {
  auto h = ParseStormHeader(kHeader);
  BOOST_TEST_REQUIRE(h.ok(), h.status().message());
  BOOST_TEST(h->file_id == "0123456789abcdef");
  BOOST_TEST(h->topology == "web log/prod");  // URL-decoded, as URLDecoder does
  BOOST_TEST(h->component == "count");
  BOOST_TEST(h->task == 7);
  BOOST_TEST(h->format == "raw");
  BOOST_TEST(IsRawFormat(*h));
  // No spec, a field name in the format, a CR before the newline, extra spaces, unknown keys
  // (a later v=1 writer may add some), a repeated key (the last wins, as in Java).
  auto g = ParseStormHeader("#tailsafe-storm  v=1 file=fedcba9876543210 topology=t component=c task=-3 "
                            "format=raw%3Aline  extra=1 task=12\r");
  BOOST_TEST_REQUIRE(g.ok(), g.status().message());
  BOOST_TEST(g->format == "raw:line");
  BOOST_TEST(IsRawFormat(*g));
  BOOST_TEST(g->task == 12);
  auto typed = ParseStormHeader("#tailsafe-storm v=1 file=fedcba9876543210 topology=t component=c task=0 format=typed");
  BOOST_TEST_REQUIRE(typed.ok());
  BOOST_TEST(!IsRawFormat(*typed));
  BOOST_TEST(IsStormHeader(kHeader));
  BOOST_TEST(!IsStormHeader("#tailsafe-weblog file=0123456789abcdef run=0123456789abcdef seq=0"));
}

BOOST_AUTO_TEST_CASE(a_broken_header_is_an_error_naming_what_is_wrong) {
  const std::string rest = " topology=t component=c task=1 format=raw";
  BOOST_TEST(Error("#tailsafe-weblog file=0123456789abcdef run=0123456789abcdef seq=0") ==
             "not a tailsafe-storm header: it does not start with '#tailsafe-storm'");
  BOOST_TEST(Error("#tailsafe-storm ") == "header token '' is not KEY=VALUE");
  BOOST_TEST(Error("#tailsafe-storm v=1 file=0123456789abcdef junk" + rest) == "header token 'junk' is not KEY=VALUE");
  BOOST_TEST(Error("#tailsafe-storm =1 file=0123456789abcdef" + rest) == "header token '=1' is not KEY=VALUE");
  BOOST_TEST(Error("#tailsafe-storm file=0123456789abcdef" + rest) == "header has no v=");
  BOOST_TEST(Error("#tailsafe-storm v=2 file=0123456789abcdef" + rest) == "header version '2' is not 1");
  BOOST_TEST(Error("#tailsafe-storm v=1" + rest) == "header has no file=");
  BOOST_TEST(Error("#tailsafe-storm v=1 file=0123456789abcdef topology=t component=c format=raw") ==
             "header has no task=");
  BOOST_TEST(Error("#tailsafe-storm v=1 file=0123456789ABCDEF" + rest) ==
             "header file id '0123456789ABCDEF' is not 16 hex digits");
  BOOST_TEST(Error("#tailsafe-storm v=1 file=0123456789abcde" + rest) ==
             "header file id '0123456789abcde' is not 16 hex digits");
  BOOST_TEST(Error("#tailsafe-storm v=1 file=../../etc/pass" + rest) ==
             "header file id '../../etc/pass' is not 16 hex digits");
  BOOST_TEST(Error("#tailsafe-storm v=1 file=0123456789abcdef topology=t component=c task=x1 format=raw") ==
             "header task 'x1' is not a number");
  BOOST_TEST(Error("#tailsafe-storm v=1 file=0123456789abcdef topology=t component=c task=2147483648 format=raw") ==
             "header task '2147483648' is not a number");
  BOOST_TEST(Error("#tailsafe-storm v=1 file=0123456789abcdef topology=a%zz component=c task=1 format=raw") ==
             "header topology 'a%zz' is not URL-encoded");
  BOOST_TEST(Error("#tailsafe-storm v=1 file=0123456789abcdef" + rest + " spec=abc!") == "header spec is not base64");
  BOOST_TEST(Error("#tailsafe-storm v=1 file=0123456789abcdef" + rest + " spec=abcde") == "header spec is not base64");
  // Bytes a hostile file could hold come back printable.
  BOOST_TEST(Error(std::string("#tailsafe-storm v=1 file=\x01\xff") + rest) ==
             "header file id '?" "?' is not 16 hex digits");
}

BOOST_AUTO_TEST_CASE(every_truncation_and_byte_flip_of_a_header_is_handled_without_crashing) {
  for (size_t n = 0; n <= kHeader.size(); ++n) {
    auto h = ParseStormHeader(kHeader.substr(0, n));
    if (h.ok()) BOOST_TEST(h->file_id.size() == 16u);
  }
  for (size_t i = 0; i < kHeader.size(); ++i) {
    for (int v = 0; v < 256; ++v) {
      std::string s = kHeader;
      s[i] = static_cast<char>(v);
      auto h = ParseStormHeader(s);
      if (h.ok()) {
        BOOST_TEST(h->file_id.size() == 16u);
      } else {
        BOOST_TEST(!h.status().message().empty());
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(the_first_line_comes_with_pread_and_leaves_the_offset_alone) {
  tailsafe::testing::ScopedTempDir dir;
  std::string path = dir.path + "/task-7.log";
  std::ofstream(path) << kHeader << "\r\n" << "10.0.0.1 - - [18/Nov/2026:10:05:00 +0000] \"GET / HTTP/1.1\" 200 1 \"-\" \"-\"\n";
  tailsafe::Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  BOOST_TEST_REQUIRE(fd.valid());
  BOOST_TEST_REQUIRE(::lseek(fd.get(), 17, SEEK_SET) == 17);
  auto line = ReadFirstLine(fd.get(), 1 << 20);
  BOOST_TEST_REQUIRE(line.ok(), line.status().message());
  BOOST_TEST_REQUIRE(line->has_value());
  BOOST_TEST((*line)->whole);
  BOOST_TEST((*line)->text == kHeader);
  BOOST_TEST(::lseek(fd.get(), 0, SEEK_CUR) == 17);
  // Cut at the limit: not whole, and no more than the limit.
  auto cut = ReadFirstLine(fd.get(), 20);
  BOOST_TEST_REQUIRE((cut.ok() && cut->has_value()));
  BOOST_TEST(!(*cut)->whole);
  BOOST_TEST((*cut)->text == kHeader.substr(0, 20));
  // A line of exactly the limit is whole.
  auto exact = ReadFirstLine(fd.get(), kHeader.size() + 1);  // the '\r' counts until it is dropped
  BOOST_TEST_REQUIRE((exact.ok() && exact->has_value()));
  BOOST_TEST((*exact)->whole);
  BOOST_TEST((*exact)->text == kHeader);
  // Not open, not a regular file, not open for reading, empty: nothing.
  BOOST_TEST(!ReadFirstLine(-1, 100)->has_value());
  BOOST_TEST(!ReadFirstLine(1000, 100)->has_value());
  int pipe_fds[2];
  BOOST_TEST_REQUIRE(::pipe2(pipe_fds, O_CLOEXEC) == 0);
  tailsafe::Fd r(pipe_fds[0]), w(pipe_fds[1]);
  BOOST_TEST(!ReadFirstLine(r.get(), 100)->has_value());
  tailsafe::Fd write_only(::open(path.c_str(), O_WRONLY | O_CLOEXEC));  // as a shell's 3> could leave
  BOOST_TEST(!ReadFirstLine(write_only.get(), 100)->has_value());
  std::ofstream(dir.path + "/empty");
  tailsafe::Fd empty(::open((dir.path + "/empty").c_str(), O_RDONLY | O_CLOEXEC));
  BOOST_TEST(!ReadFirstLine(empty.get(), 100)->has_value());
  // A first line without a newline at the file's end: not whole.
  std::ofstream(dir.path + "/cut") << "#tailsafe-storm v=1 fi";
  tailsafe::Fd cut_file(::open((dir.path + "/cut").c_str(), O_RDONLY | O_CLOEXEC));
  auto partial = ReadFirstLine(cut_file.get(), 100);
  BOOST_TEST_REQUIRE((partial.ok() && partial->has_value()));
  BOOST_TEST(!(*partial)->whole);
  BOOST_TEST((*partial)->text == "#tailsafe-storm v=1 fi");
}

BOOST_AUTO_TEST_SUITE_END()
