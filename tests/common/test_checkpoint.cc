// Checkpoint files (common/checkpoint.h): parsing, clear errors, atomic writes.
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "common/checkpoint.h"

using namespace tailsafe;

BOOST_AUTO_TEST_SUITE(checkpoint)

BOOST_AUTO_TEST_CASE(offsets_parse_and_bad_text_is_named) {
  BOOST_TEST(*ParseCheckpoint("0\n") == 0u);
  BOOST_TEST(*ParseCheckpoint(" 123456789012 \n") == 123456789012u);
  BOOST_TEST(*ParseCheckpoint("9223372036854775807") == 9223372036854775807u);
  BOOST_TEST(ParseCheckpoint("").status().message() == "it is empty");
  BOOST_TEST(ParseCheckpoint("9223372036854775808").status().message() ==
             "offset 9223372036854775808 is too large");
  BOOST_TEST(ParseCheckpoint("99999999999999999999999").status().message() ==
             "offset 99999999999999999999999 is too large");
  BOOST_TEST(ParseCheckpoint("-1").status().message() == "'-1' is not a decimal byte offset");
  BOOST_TEST(ParseCheckpoint("12 34").status().message() == "'12 34' is not a decimal byte offset");
  BOOST_TEST(ParseCheckpoint("0x10").status().message() == "'0x10' is not a decimal byte offset");
}

BOOST_AUTO_TEST_CASE(write_then_read_round_trips_and_leaves_no_temporary) {
  char tmpl[] = "/tmp/tailsafe-ckpt-XXXXXX";
  BOOST_REQUIRE(::mkdtemp(tmpl) != nullptr);
  std::string dir = tmpl;
  std::string path = dir + "/bolt-1.ckpt";
  BOOST_REQUIRE(WriteCheckpointFile(path, 4096).ok());
  BOOST_TEST(*ReadCheckpointFile(path) == 4096u);
  BOOST_REQUIRE(WriteCheckpointFile(path, 8192).ok());
  BOOST_TEST(*ReadCheckpointFile(path) == 8192u);
  int entries = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    (void)e;
    ++entries;
  }
  BOOST_TEST(entries == 1);
  std::ofstream(path) << "garbage";
  auto bad = ReadCheckpointFile(path);
  BOOST_REQUIRE(!bad.ok());
  BOOST_TEST(bad.status().message() == "checkpoint file " + path + ": 'garbage' is not a decimal byte offset");
  BOOST_TEST(WriteCheckpointFile(dir + "/missing-dir/x.ckpt", 1).message().find("missing-dir") != std::string::npos);
  std::filesystem::remove_all(dir);
}

BOOST_AUTO_TEST_SUITE_END()
