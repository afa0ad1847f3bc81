// weblog-gen: writes a realistic web access log (vhost_combined) for the demo, the tests and
// the benchmark (examples/weblog/generator.h).
#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "examples/weblog/generator.h"
#include "examples/weblog/log_format.h"

using namespace weblog;

int main(int argc, char** argv) {
  GeneratorOptions o;
  std::string start = "2026-11-18 06:00", out = "-";
  CLI::App app{"weblog-gen: write a realistic web access log (vhost_combined)"};
  app.add_option("--requests,-n", o.requests, "requests to write")->check(CLI::Range(uint64_t{1}, uint64_t{1} << 40))->capture_default_str();
  app.add_option("--minutes", o.minutes, "spread them over this many minutes")->check(CLI::Range(1, 1440 * 366))->capture_default_str();
  app.add_option("--start", start, "first minute, UTC, as YYYY-MM-DD HH:MM")->capture_default_str();
  app.add_option("--seed", o.seed, "random seed (same seed, same log)")->capture_default_str();
  app.add_option("--malformed-every", o.malformed_every, "make every Nth line a hostile, malformed one (0: none)");
  app.add_option("--output,-o", out, "file to write ('-': stdout)")->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  int y, mo, d, h, mi;
  char extra;
  if (sscanf(start.c_str(), "%4d-%2d-%2d %2d:%2d%c", &y, &mo, &d, &h, &mi, &extra) != 5 || mo < 1 || mo > 12 || d < 1 ||
      d > 31 || h > 23 || mi > 59) {
    fprintf(stderr, "weblog-gen: --start '%s' is not YYYY-MM-DD HH:MM\n", start.c_str());
    return 2;
  }
  o.start_minute = MinuteOf(y, mo, d, h, mi);
  FILE* f = out == "-" ? stdout : fopen(out.c_str(), "we");
  if (f == nullptr) {
    fprintf(stderr, "weblog-gen: %s: %s\n", out.c_str(), strerror(errno));
    return 1;
  }
  Generator g(o);
  std::string line;
  while (g.Next(&line)) fwrite(line.data(), 1, line.size(), f);
  if (fflush(f) != 0 || (f != stdout && fclose(f) != 0)) {
    fprintf(stderr, "weblog-gen: %s: %s\n", out.c_str(), strerror(errno));
    return 1;
  }
  return 0;
}
