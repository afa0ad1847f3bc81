// Web access-log lines as the weblog application reads them, and the marker lines that
// weblog-bolt writes into its backup file.
//
// Request lines are Apache/nginx "combined", optionally prefixed by the virtual host
// (Apache's "vhost_combined", goaccess's VCOMBINED):
//
//   [VHOST[:PORT] ]IP IDENT USER [DD/Mon/YYYY:HH:MM:SS +ZZZZ] "REQUEST" STATUS BYTES "REFERER" "AGENT"
//
// The format is told apart per line by where the '[' of the time field falls (fourth field:
// combined; fifth: vhost_combined). The target host is the virtual host; a plain combined line
// has none, unless its request target is an absolute URI ("GET http://host/path HTTP/1.1"),
// and is counted under the host "-". Fields after the user agent (nginx formats often add some)
// are ignored. Quoted fields may hold backslash escapes (\" \\ \xHH), as both servers write them.
//
// Every line is untrusted: a line longer than kMaxLineBytes, with a control byte, an unterminated
// quote, an impossible date, a status outside 100-599, a byte count that is not a number or a
// request path that is not UTF-8 (paths are stored as text, and PostgreSQL takes only UTF-8) is
// malformed, and ParseLine says which and where. Nothing here allocates for a good line: a
// Request's views point into the line.
//
// Marker lines start with '#' (so goaccess and other log readers skip them as comments):
//
//   #tailsafe-weblog file=<16 hex> run=<16 hex> seq=<decimal>
//
// weblog-bolt writes one in front of every chunk it appends. `file` names the backup file for
// its whole life (a restarted bolt reuses it), so any marker in a recovered tail tells the hook
// which file, and so which byte offsets, the tail belongs to (examples/weblog/results_db.h).
// `run` and `seq` say which spout run sent the chunk's first line and its sequence number, so a
// restarted bolt can tell the spout where to resume (examples/weblog/backup_file.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace weblog {

constexpr size_t kMaxLineBytes = 16384;

struct Request {
  std::string_view host;    // target (virtual) host, without the port; "-" when unknown
  std::string_view ip;      // client address as logged (validated IPv4 or IPv6)
  int64_t minute = 0;       // UTC minutes since the Unix epoch
  std::string_view method;  // "-" when the request field is not "METHOD TARGET PROTOCOL"
  std::string_view path;    // request target without its query string; "-" as for method
  int status = 0;           // 100-599
  uint64_t bytes = 0;       // response bytes ("-" counts as 0)
};

// kComment: any other line starting with '#' (W3C-style headers); kBlank: empty or only spaces.
enum class LineKind { kRequest, kMarker, kComment, kBlank, kMalformed };

struct ParsedLine {
  LineKind kind = LineKind::kMalformed;
  Request request;    // kRequest
  std::string error;  // kMalformed: what is wrong, and at which column (1-based)
};

// Parses one line, without its newline.
ParsedLine ParseLine(std::string_view line);

struct Marker {
  std::string file_id;
  std::string run_id;
  uint64_t seq = 0;
};
// The marker in `line` (without its newline), or nothing if `line` is not a well-formed marker.
std::optional<Marker> ParseMarker(std::string_view line);
// The marker line, newline included.
std::string FormatMarker(const Marker& m);
// 16 lowercase hex digits from the system's random source.
std::string RandomId();

// UTC minutes since the epoch for a civil date and time, and back ("2026-11-18 10:05").
int64_t MinuteOf(int year, int month, int day, int hour, int minute);
std::string FormatMinute(int64_t minute);

}  // namespace weblog
