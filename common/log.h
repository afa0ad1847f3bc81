// Logging to stderr, one line per message, written with a single write(2).
//
// Lines carry a syslog priority prefix ("<3>") that journald understands when the daemon runs
// under systemd; on a terminal the prefix is replaced by a timestamp. Never log a secret.
#pragma once

#include <string>
#include <string_view>

namespace tailsafe {

enum class LogLevel { kError = 3, kWarning = 4, kNotice = 5, kInfo = 6, kDebug = 7 };

void SetLogLevel(LogLevel level);
LogLevel GetLogLevel();
// Parses "error|warning|notice|info|debug"; false on anything else.
bool ParseLogLevel(std::string_view text, LogLevel* out);
// The program name and identity shown on each line: "tailsafe-agent[host-a]".
void SetLogIdent(std::string ident);

void LogPrintf(LogLevel level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

}  // namespace tailsafe

#define TS_LOG(level, ...)                                                          \
  do {                                                                              \
    if (static_cast<int>(level) <= static_cast<int>(::tailsafe::GetLogLevel()))     \
      ::tailsafe::LogPrintf(level, __VA_ARGS__);                                    \
  } while (0)
#define LOG_ERROR(...) TS_LOG(::tailsafe::LogLevel::kError, __VA_ARGS__)
#define LOG_WARN(...) TS_LOG(::tailsafe::LogLevel::kWarning, __VA_ARGS__)
#define LOG_NOTICE(...) TS_LOG(::tailsafe::LogLevel::kNotice, __VA_ARGS__)
#define LOG_INFO(...) TS_LOG(::tailsafe::LogLevel::kInfo, __VA_ARGS__)
#define LOG_DEBUG(...) TS_LOG(::tailsafe::LogLevel::kDebug, __VA_ARGS__)
