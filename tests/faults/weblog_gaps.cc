#include "tests/faults/weblog_gaps.h"

#include <algorithm>
#include <utility>

#include "common/sqlite.h"
#include "examples/weblog/log_format.h"
#include "tests/support/cluster.h"

namespace tailsafe::testing {
namespace {

constexpr std::string_view kMarkerFile = "#tailsafe-weblog file=";
constexpr size_t kMaxGapsShown = 3;  // per file: CI shows the end of a failed run's output

// Request (and malformed) lines: every non-empty line that is not a marker or comment.
bool IsRequestLine(std::string_view line) { return !line.empty() && line[0] != '#'; }

uint64_t CountRequestLines(std::string_view text) {
  uint64_t n = 0;
  for (size_t pos = 0; pos < text.size();) {
    size_t nl = text.find('\n', pos);
    size_t end = nl == std::string_view::npos ? text.size() : nl;
    n += IsRequestLine(text.substr(pos, end - pos));
    pos = end + 1;
  }
  return n;
}

// The input's requests (what the spout sends) and malformed lines (what it skips).
std::pair<uint64_t, uint64_t> InputRequests(std::string_view text) {
  uint64_t requests = 0, malformed = 0;
  for (size_t pos = 0; pos < text.size();) {
    size_t nl = text.find('\n', pos);
    size_t end = nl == std::string_view::npos ? text.size() : nl;
    weblog::LineKind kind = weblog::ParseLine(text.substr(pos, end - pos)).kind;
    requests += kind == weblog::LineKind::kRequest;
    malformed += kind == weblog::LineKind::kMalformed;
    pos = end + 1;
  }
  return {requests, malformed};
}

// The file id of the first marker in `text`, or "".
std::string FileId(std::string_view text) {
  size_t at = text.find(kMarkerFile);
  if (at == std::string_view::npos) return "";
  return std::string(text.substr(at + kMarkerFile.size(), 16));
}

struct Span {
  uint64_t from = 0, to = 0;
};

Result<std::vector<Span>> Intervals(Db& db, const std::string& sql, const std::string& file_id) {
  auto q = db.Prepare(sql);
  if (!q.ok()) return q.status();
  q->Bind(1, file_id);
  std::vector<Span> out;
  for (;;) {
    auto row = q->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    out.push_back({static_cast<uint64_t>(q->Int(0)), static_cast<uint64_t>(q->Int(1))});
  }
  return out;
}

// The spans of `text` not covered by `counted` (sorted) that hold request lines, and how many.
std::vector<std::pair<Span, uint64_t>> Uncounted(std::string_view text, const std::vector<Span>& counted) {
  std::vector<std::pair<Span, uint64_t>> out;
  uint64_t at = 0;
  auto add = [&](uint64_t from, uint64_t to) {
    if (to <= from) return;
    // Lines that begin in [from, to).
    uint64_t n = 0;
    size_t pos = from == 0 ? 0 : text.find('\n', from - 1);
    pos = pos == std::string_view::npos ? text.size() : (from == 0 ? 0 : pos + 1);
    while (pos < to && pos < text.size()) {
      size_t nl = text.find('\n', pos);
      size_t end = nl == std::string_view::npos ? text.size() : nl;
      n += IsRequestLine(text.substr(pos, end - pos));
      pos = end + 1;
    }
    if (n > 0) out.push_back({{from, to}, n});
  };
  for (const Span& s : counted) {
    add(at, std::min<uint64_t>(s.from, text.size()));
    at = std::max(at, s.to);
  }
  add(at, text.size());
  return out;
}

std::string Range(uint64_t from, uint64_t to) { return "[" + std::to_string(from) + ", " + std::to_string(to) + ")"; }

// The recoveries of `host`'s weblog bolt whose ranges touch [from, to), one line each.
std::string RecoveriesTouching(const std::map<std::string, nlohmann::json>& recoveries, const std::string& host,
                               uint64_t from, uint64_t to) {
  std::string out;
  for (const auto& [path, d] : recoveries) {
    if (d.value("origin", "") != host || d.value("bolt", "") != "bolt-1") continue;
    uint64_t f = d.value("from", uint64_t{0}), t = d.value("to", uint64_t{0});
    if (t <= from || f >= to) continue;
    out += "      recovery " + path.substr(path.rfind('/') + 1) + ": generation " +
           std::to_string(d.value("generation", uint64_t{0})) + " " + Range(f, t) + " delivered_to " +
           std::to_string(d.value("delivered_to", uint64_t{0})) + ", " + d.value("state", "?") + " under epoch " +
           std::to_string(d.value("epoch", uint64_t{0})) + " by " + d.value("agent", "?") + " (" + d.value("cause", "?") +
           ")\n";
  }
  return out.empty() ? "      no recovery's range touches it\n" : out;
}

}  // namespace

std::string WeblogGaps(const std::vector<WeblogFile>& files, const std::string& db_path,
                       const std::map<std::string, nlohmann::json>& recoveries, const std::string& input) {
  std::string out = "where the missing requests are (tests/faults/weblog_gaps.h):\n";
  auto db = Db::Open(db_path);
  if (!db.ok()) return out + "  " + db.status().message() + "\n";
  uint64_t in_files = 0;
  for (const WeblogFile& f : files) {
    std::string text = ReadAll(f.path);
    in_files += CountRequestLines(text);
    std::string id = FileId(text);
    out += "  " + f.host + " " + f.path + ": " + std::to_string(text.size()) + " bytes, file id " +
           (id.empty() ? "(no marker)" : id) + "\n";
    if (id.empty()) continue;
    auto counted = Intervals(*db, "SELECT start, end FROM processed WHERE file_id = ?1 ORDER BY start", id);
    auto hooked = Intervals(*db, "SELECT from_off, to_off FROM hook_ranges WHERE file_id = ?1 ORDER BY from_off", id);
    if (!counted.ok() || !hooked.ok()) {
      out += "    " + (counted.ok() ? hooked.status() : counted.status()).message() + "\n";
      continue;
    }
    out += "    counted: " + std::to_string(counted->size()) + " interval(s); hook ranges recorded: " +
           std::to_string(hooked->size()) + "\n";
    auto gaps = Uncounted(text, *counted);
    for (size_t i = 0; i < gaps.size() && i < kMaxGapsShown; ++i) {
      const auto& [span, lines] = gaps[i];
      out += "    uncounted " + Range(span.from, span.to) + ": " + std::to_string(lines) + " request line(s)\n";
      out += RecoveriesTouching(recoveries, f.host, span.from, span.to);
    }
    if (gaps.size() > kMaxGapsShown) out += "    ... and " + std::to_string(gaps.size() - kMaxGapsShown) + " more\n";
  }
  auto [in_input, malformed] = InputRequests(ReadAll(input));
  out += "  request lines: " + std::to_string(in_files) + " in the backup files, " + std::to_string(in_input) +
         " in the input" + (in_files < in_input ? " (some never reached a backup file)" : "") + "; " +
         std::to_string(malformed) + " malformed input line(s), which the spout skips\n";
  return out;
}

}  // namespace tailsafe::testing
