#include "examples/weblog/results_db.h"

#include "examples/weblog/results_db_postgres.h"
#include "examples/weblog/results_db_sqlite.h"

namespace weblog {

void AddLines(std::string_view bytes, uint64_t base, Batch* batch, LineCounts* counts,
              const std::function<void(uint64_t, const std::string&)>& on_malformed) {
  size_t pos = 0;
  while (pos < bytes.size()) {
    size_t nl = bytes.find('\n', pos);
    size_t end = nl == std::string_view::npos ? bytes.size() : nl;
    ParsedLine p = ParseLine(bytes.substr(pos, end - pos));
    uint64_t offset = base + pos;
    switch (p.kind) {
      case LineKind::kRequest:
        batch->requests.push_back({offset, p.request});
        ++counts->requests;
        break;
      case LineKind::kMalformed:
        batch->malformed.push_back(offset);
        ++counts->malformed;
        if (on_malformed) on_malformed(offset, p.error);
        break;
      case LineKind::kMarker:
        ++counts->markers;
        break;
      case LineKind::kComment:
      case LineKind::kBlank:
        ++counts->other;
        break;
    }
    pos = end + 1;
  }
}

bool IsPostgresTarget(std::string_view target) {
  return target.starts_with("postgresql://") || target.starts_with("postgres://");
}

Result<std::unique_ptr<ResultsDb>> ResultsDb::Open(const std::string& target) {
  if (IsPostgresTarget(target)) return OpenPostgresResultsDb(target);
  return OpenSqliteResultsDb(target);
}

std::string CheckBatch(const Batch& batch) {
  auto range = [&] {
    return " [" + std::to_string(batch.start) + ", " + std::to_string(batch.end) + ") of file " + batch.file_id;
  };
  if (batch.file_id.empty()) return "a batch has no file id";
  if (batch.end < batch.start) return "batch" + range() + " ends before it starts";
  uint64_t last = 0;
  bool first = true;
  for (const Batch::Line& line : batch.requests) {
    if (line.begin < batch.start || line.begin >= batch.end)
      return "a request line at offset " + std::to_string(line.begin) + " is outside batch" + range();
    if (!first && line.begin <= last)
      return "request lines of batch" + range() + " are not in increasing order of offset (" +
             std::to_string(line.begin) + " after " + std::to_string(last) + ")";
    last = line.begin;
    first = false;
  }
  first = true;
  for (uint64_t offset : batch.malformed) {
    if (offset < batch.start || offset >= batch.end)
      return "a malformed line at offset " + std::to_string(offset) + " is outside batch" + range();
    if (!first && offset <= last)
      return "malformed lines of batch" + range() + " are not in increasing order of offset";
    last = offset;
    first = false;
  }
  // A line is a request or malformed, not both.
  for (size_t r = 0, m = 0; r < batch.requests.size() && m < batch.malformed.size();) {
    if (batch.requests[r].begin == batch.malformed[m])
      return "offset " + std::to_string(batch.malformed[m]) + " of batch" + range() + " is both a request and a malformed line";
    batch.requests[r].begin < batch.malformed[m] ? ++r : ++m;
  }
  return "";
}

Result<ApplyResult> ResultsDb::Apply(const Batch& batch, bool recovered, const HookRange* range) {
  if (std::string why = CheckBatch(batch); !why.empty()) return Status::Error(name() + ": " + why);
  return ApplyChecked(batch, recovered, range);
}

}  // namespace weblog
