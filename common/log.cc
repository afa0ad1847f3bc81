#include "common/log.h"

#include <unistd.h>

#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <ctime>
#include <mutex>

namespace tailsafe {
namespace {

std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};
std::mutex g_ident_mu;
std::string g_ident = "tailsafe";

}  // namespace

void SetLogLevel(LogLevel level) { g_level = static_cast<int>(level); }
LogLevel GetLogLevel() { return static_cast<LogLevel>(g_level.load()); }

bool ParseLogLevel(std::string_view text, LogLevel* out) {
  struct Entry { std::string_view name; LogLevel level; };
  static constexpr Entry kLevels[] = {{"error", LogLevel::kError}, {"warning", LogLevel::kWarning},
                                      {"notice", LogLevel::kNotice}, {"info", LogLevel::kInfo},
                                      {"debug", LogLevel::kDebug}};
  for (const auto& e : kLevels) {
    if (e.name == text) {
      *out = e.level;
      return true;
    }
  }
  return false;
}

void SetLogIdent(std::string ident) {
  std::lock_guard<std::mutex> lock(g_ident_mu);
  g_ident = std::move(ident);
}

void LogPrintf(LogLevel level, const char* fmt, ...) {
  char buf[4096];
  int n;
  {
    std::lock_guard<std::mutex> lock(g_ident_mu);
    if (isatty(STDERR_FILENO)) {
      timespec ts;
      clock_gettime(CLOCK_REALTIME, &ts);
      tm tm;
      localtime_r(&ts.tv_sec, &tm);
      n = snprintf(buf, sizeof buf, "%02d:%02d:%02d.%03ld %s: ", tm.tm_hour, tm.tm_min, tm.tm_sec,
                   ts.tv_nsec / 1000000, g_ident.c_str());
    } else {
      n = snprintf(buf, sizeof buf, "<%d>%s: ", static_cast<int>(level), g_ident.c_str());
    }
  }
  if (n < 0) return;
  size_t used = static_cast<size_t>(n) < sizeof buf ? static_cast<size_t>(n) : sizeof buf - 1;
  va_list ap;
  va_start(ap, fmt);
  int m = vsnprintf(buf + used, sizeof buf - used, fmt, ap);
  va_end(ap);
  if (m < 0) return;
  used += static_cast<size_t>(m);
  if (used > sizeof buf - 2) used = sizeof buf - 2;  // truncate overlong lines
  buf[used++] = '\n';
  // One write per line so lines from concurrent threads never interleave.
  ssize_t ignored = ::write(STDERR_FILENO, buf, used);
  (void)ignored;
}

}  // namespace tailsafe
