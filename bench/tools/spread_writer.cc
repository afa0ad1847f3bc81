// spread_writer: many bolts each writing a little, the workload of bench/replicate's many-bolts
// phases (issue 24: an agent with 1,000 bolts each writing 5 KB/s against one bolt at the same
// total rate).
//
//   spread_writer --prefix PREFIX --files N --rate MBPS --seconds S [--write-size BYTES] [--seed N]
//
// Opens (creating them) PREFIX1.log ... PREFIXN.log (N up to 100000), keeps every one open as a bolt
// keeps its backup file, and appends access-log lines (tests/support/loglines.h) to them in
// turn, --write-size bytes per write (default 200: one line as it comes), paced against the
// start time so that all of them together write --rate MB/s (1 MB = 10^6 bytes) for --seconds.
// Prints one JSON object: {files, writes, total_bytes, seconds, mbps, behind_s} (behind_s: how
// far the pacing fell behind at worst, so a reader knows whether the rate was held).
// Exit 0 when it wrote everything, 1 on an error, 2 on a usage error.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "tests/support/loglines.h"

using tailsafe::NowNs;

namespace {

struct Options {
  std::string prefix;
  uint64_t files = 0;
  double rate = 0;
  double seconds = 0;
  size_t write_size = 200;
  uint64_t seed = 1;
};

[[noreturn]] void Usage(const std::string& why) {
  fprintf(stderr, "spread_writer: %s\n", why.c_str());
  fprintf(stderr, "usage: spread_writer --prefix PREFIX --files N --rate MBPS --seconds S [--write-size B] [--seed N]\n");
  exit(2);
}

double Number(const char* s, const std::string& what) {
  char* end = nullptr;
  double v = strtod(s, &end);
  if (end == s || *end != '\0' || !std::isfinite(v) || v < 0) Usage(what + ": '" + s + "' is not a number >= 0");
  return v;
}

Options Parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; i += 2) {
    std::string a = argv[i];
    if (i + 1 >= argc) Usage("missing value after " + a);
    const char* v = argv[i + 1];
    if (a == "--prefix") o.prefix = v;
    else if (a == "--files") o.files = static_cast<uint64_t>(Number(v, a));
    else if (a == "--rate") o.rate = Number(v, a);
    else if (a == "--seconds") o.seconds = Number(v, a);
    else if (a == "--write-size") o.write_size = static_cast<size_t>(Number(v, a));
    else if (a == "--seed") o.seed = static_cast<uint64_t>(Number(v, a));
    else Usage("unknown option " + a);
  }
  if (o.prefix.empty()) Usage("--prefix is required");
  if (o.files < 1 || o.files > 100000) Usage("--files must be 1 to 100000");
  if (o.rate <= 0 || o.seconds <= 0) Usage("--rate and --seconds must be above 0");
  if (o.write_size < 1 || o.write_size > (1 << 20)) Usage("--write-size must be 1 to 1048576");
  return o;
}

std::string FileName(const std::string& prefix, uint64_t i) { return prefix + std::to_string(i) + ".log"; }

}  // namespace

int main(int argc, char** argv) {
  Options o = Parse(argc, argv);
  std::vector<int> fds;
  for (uint64_t i = 1; i <= o.files; ++i) {
    std::string path = FileName(o.prefix, i);
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
      fprintf(stderr, "spread_writer: open %s: %s\n", path.c_str(), strerror(errno));
      return 1;
    }
    fds.push_back(fd);
  }
  // A pool of whole lines, written cyclically in --write-size pieces.
  tailsafe::testing::LogLines lines(o.seed);
  std::string pool;
  lines.AppendBytes(&pool, 16 << 20);
  const uint64_t total = static_cast<uint64_t>(o.rate * 1e6 * o.seconds);
  const double ns_per_byte = 1e3 / o.rate;  // 1e9 ns / (rate * 1e6 bytes)
  uint64_t written = 0, writes = 0;
  size_t pos = 0;
  double behind_s = 0;
  uint64_t start = NowNs();
  while (written < total) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(o.write_size, total - written));
    if (pos + n > pool.size()) pos = 0;
    int fd = fds[writes % fds.size()];
    if (::write(fd, pool.data() + pos, n) != static_cast<ssize_t>(n)) {
      fprintf(stderr, "spread_writer: write to %s: %s\n", FileName(o.prefix, writes % fds.size() + 1).c_str(),
              strerror(errno));
      return 1;
    }
    pos += n;
    written += n;
    ++writes;
    uint64_t due = start + static_cast<uint64_t>(static_cast<double>(written) * ns_per_byte);
    uint64_t now = NowNs();
    if (due > now + 1000000) {  // ahead by over a millisecond: sleep (not after every write)
      std::this_thread::sleep_for(std::chrono::nanoseconds(due - now));
    } else if (now > due) {
      behind_s = std::max(behind_s, static_cast<double>(now - due) / 1e9);
    }
  }
  double seconds = static_cast<double>(NowNs() - start) / 1e9;
  for (int fd : fds) ::close(fd);
  nlohmann::json out = {{"files", o.files},       {"writes", writes},
                        {"total_bytes", written}, {"seconds", seconds},
                        {"mbps", static_cast<double>(written) / 1e6 / seconds}, {"behind_s", behind_s}};
  printf("%s\n", out.dump().c_str());
  return 0;
}
