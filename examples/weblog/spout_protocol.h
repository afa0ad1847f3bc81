// What weblog-spout and weblog-bolt say to each other over the bolt's Unix stream socket.
//
//   spout -> bolt   "hello weblog-spout/1 run=<16 hex>\n"   once, first
//   bolt -> spout   "resume <seq>\n"                         once, the answer
//   spout -> bolt   request lines, each ending in '\n'; the first is number <seq>
//   bolt -> spout   "ack <seq>\n"                            every request before <seq> is in
//                                                            the bolt's backup file
//
// The spout numbers the requests it sends each bolt from 0 in each of its runs, and keeps every
// request until the bolt acknowledges it. A bolt that dies loses only what sat in the socket:
// the restarted bolt reads from its backup file how far the run got (backup_file.h) and says
// so in "resume", and the spout sends again from there. So every request reaches a backup
// file exactly once, and tailsafe takes it from there.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace weblog {

constexpr std::string_view kHelloPrefix = "hello weblog-spout/1 run=";

inline std::string FormatHello(const std::string& run_id) { return std::string(kHelloPrefix) + run_id + "\n"; }

// "resume 12\n" -> 12 (without the newline); nothing if malformed.
inline std::optional<uint64_t> ParseNumbered(std::string_view line, std::string_view word) {
  if (line.substr(0, word.size()) != word || line.size() <= word.size() + 1 || line[word.size()] != ' ')
    return std::nullopt;
  std::string_view digits = line.substr(word.size() + 1);
  if (digits.size() > 19) return std::nullopt;
  uint64_t v = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  return v;
}

// The run id in a hello line (without the newline); nothing if malformed.
inline std::optional<std::string> ParseHello(std::string_view line) {
  if (line.substr(0, kHelloPrefix.size()) != kHelloPrefix) return std::nullopt;
  std::string_view id = line.substr(kHelloPrefix.size());
  if (id.size() != 16) return std::nullopt;
  for (char c : id)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return std::nullopt;
  return std::string(id);
}

}  // namespace weblog
