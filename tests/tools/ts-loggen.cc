// ts-loggen: appends access-log lines to a file, as a bolt would, for the demo and tests.
//
//   ts-loggen FILE BYTES [--rate MBPS] [--seed N] [--max-write BYTES]
//
// Writes BYTES bytes in writes of random size (1 byte up to --max-write, so some end mid-line)
// at --rate MB/s (0 = as fast as possible). Exits 0 when done.
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "tests/support/loglines.h"

using namespace tailsafe::testing;

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: ts-loggen FILE BYTES [--rate MBPS] [--seed N] [--max-write BYTES]\n");
    return 2;
  }
  const char* path = argv[1];
  char* end = nullptr;
  unsigned long long total = strtoull(argv[2], &end, 10);
  if (*end != '\0') {
    fprintf(stderr, "ts-loggen: BYTES '%s' is not a number\n", argv[2]);
    return 2;
  }
  double rate = 0;
  uint64_t seed = 1;
  size_t max_write = 1 << 20;
  for (int i = 3; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--rate")) rate = atof(argv[i + 1]);
    else if (!strcmp(argv[i], "--seed")) seed = strtoull(argv[i + 1], nullptr, 10);
    else if (!strcmp(argv[i], "--max-write")) max_write = strtoull(argv[i + 1], nullptr, 10);
    else {
      fprintf(stderr, "ts-loggen: unknown option %s\n", argv[i]);
      return 2;
    }
  }
  int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) {
    fprintf(stderr, "ts-loggen: %s: %s\n", path, strerror(errno));
    return 1;
  }
  LogLines lines(seed);
  std::mt19937_64 rng(seed * 7919);
  std::string buf;
  unsigned long long written = 0;
  auto start = std::chrono::steady_clock::now();
  while (written < total) {
    size_t n = RandomWriteSize(rng, max_write);
    if (n > total - written) n = static_cast<size_t>(total - written);
    if (buf.size() < n) lines.AppendBytes(&buf, n - buf.size() + 4096);
    ssize_t w = write(fd, buf.data(), n);
    if (w < 0) {
      fprintf(stderr, "ts-loggen: write %s: %s\n", path, strerror(errno));
      return 1;
    }
    buf.erase(0, static_cast<size_t>(w));
    written += static_cast<unsigned long long>(w);
    if (rate > 0) {
      auto due = start + std::chrono::duration<double>(static_cast<double>(written) / (rate * 1e6));
      std::this_thread::sleep_until(due);  // pacing a workload, not waiting for a condition
    }
  }
  close(fd);
  return 0;
}
