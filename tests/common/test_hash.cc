// HashFileRange: the streaming file hash that POSITION windows use must equal the one-shot hash.
#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <random>
#include <string>

#include "common/fd.h"
#include "common/hash.h"

namespace tailsafe {
namespace {

struct TempFile {
  std::string path;
  Fd fd;
  explicit TempFile(const std::string& content) {
    char name[] = "/tmp/tailsafe-hash-XXXXXX";
    fd = Fd(::mkstemp(name));
    path = name;
    BOOST_REQUIRE(fd.valid());
    BOOST_REQUIRE(::write(fd.get(), content.data(), content.size()) == static_cast<ssize_t>(content.size()));
  }
  ~TempFile() { ::unlink(path.c_str()); }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(hash)

BOOST_AUTO_TEST_CASE(file_range_equals_one_shot_hash) {
  std::mt19937_64 rng(7);
  std::string content(700 * 1024 + 13, '\0');  // crosses the 256 KiB read chunks
  for (char& ch : content) ch = static_cast<char>(rng());
  TempFile f(content);
  for (auto [off, len] : {std::pair<uint64_t, uint64_t>{0, 0}, {0, 1}, {5, 4096}, {0, content.size()},
                          {262143, 262146}, {100, content.size() - 100}}) {
    Result<uint64_t> h = HashFileRange(f.fd.get(), off, len);
    BOOST_REQUIRE(h.ok());
    BOOST_TEST(*h == Hash64(std::string_view(content).substr(off, len)), "range " << off << "+" << len);
  }
}

BOOST_AUTO_TEST_CASE(file_range_past_the_end_is_an_error) {
  TempFile f(std::string(1000, 'x'));
  Result<uint64_t> h = HashFileRange(f.fd.get(), 900, 200);
  BOOST_REQUIRE(!h.ok());
  BOOST_TEST(h.status().message().find("ends at offset 1000") != std::string::npos, h.status().message());
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace tailsafe
