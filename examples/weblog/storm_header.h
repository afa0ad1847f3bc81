// The first line of a backup file that tailsafe-storm's TailsafeBolt writes (Java,
// storm/src/main/java/io/tailsafe/storm/GenerationHeader.java), as weblog-analyze reads it:
//
//   #tailsafe-storm v=1 file=<16 hex> topology=NAME component=ID task=N format=NAME [spec=BASE64]
//
// Tokens are KEY=VALUE separated by spaces; topology, component and format are URL-encoded.
// `file` names the file for good, as a weblog marker's `file=` does, so a hook counting a tail
// of a raw-format Storm file (one access-log line per tuple, no marker lines) keys the counted
// byte intervals by it (examples/weblog/results_db.h), the same id the topology's own bolt
// counts under. The line starts with '#', so the log parser takes it for a comment.
//
// Parsing follows the Java reader: the prefix, then tokens; v must be 1; file, topology,
// component, task and format must be there; unknown keys are accepted (a later v=1 writer may
// add some), a repeated key keeps its last value. Anything else is an error naming what is
// wrong, with the offending text made printable.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace weblog {

struct StormHeader {
  std::string file_id;  // 16 lowercase hex digits
  std::string topology;
  std::string component;
  int64_t task = 0;
  std::string format;   // "raw", "raw:FIELD", "typed", ...
};

constexpr std::string_view kStormHeaderPrefix = "#tailsafe-storm ";

// True if `line` claims to be a header (starts with the prefix), well-formed or not.
inline bool IsStormHeader(std::string_view line) { return line.starts_with(kStormHeaderPrefix); }

// Parses a header line (without its newline; a trailing '\r' is ignored).
tailsafe::Result<StormHeader> ParseStormHeader(std::string_view line);

// True if the header's records are raw lines, as weblog-analyze reads them ("raw", "raw:FIELD").
bool IsRawFormat(const StormHeader& h);

// The first line of the file open at `fd`, read with pread from offset 0 so that the
// descriptor's offset is left alone: at most `limit` bytes of it, without its newline, and
// whether it ended within them. Nothing if `fd` is not a regular file open for reading, or the
// file is empty; an error only if the file cannot be read.
struct FirstLine {
  std::string text;
  bool whole = false;  // a newline ended it within `limit` bytes
};
tailsafe::Result<std::optional<FirstLine>> ReadFirstLine(int fd, size_t limit);

}  // namespace weblog
