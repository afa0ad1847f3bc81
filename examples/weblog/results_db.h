// The weblog results database (SQLite): the counts, and which bytes of which backup file they
// came from, so that every request is counted exactly once however the bytes reach it.
//
// Two parties count a bolt's backup file: the bolt itself, as it processes what it appended,
// and the recovery hook (weblog-analyze), which gets the tail a dead bolt left unprocessed. A
// bolt commits its counts and then writes its checkpoint; if it dies between the two, the
// checkpoint is behind what was counted, and the hook gets bytes that are already counted. A
// range can also reach a hook twice (tailsafe runs hooks at least once per range), and a
// restarted bolt appends to the same file while a hook recovers the old tail.
//
// So counting is keyed by bytes, not by who counts: table `processed` holds, per backup file
// (its `file` id from the marker lines, examples/weblog/log_format.h), the byte intervals whose
// requests are counted. Apply() runs one write transaction that reads the intervals overlapping
// the batch, counts only the lines outside them, adds the counts, and records the batch's
// uncovered bytes as counted. Whoever commits first counts a line; everyone after skips it.
// Adjacent intervals are merged, so a file normally has one row.
//
// Tables: by_host(minute, host, requests, bytes, s1xx..s5xx), by_url(minute, host, path,
// requests, bytes), by_ip(minute, ip, requests, bytes); recovered(minute, requests, bytes): the
// part of the counts that hooks added (the report's "without tailsafe" curve is the total minus
// this); hook_ranges: every (origin, bolt, generation, from, to) a hook recorded, with the file
// id it resolved; counters(name, value): malformed lines counted.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/sqlite.h"
#include "common/status.h"
#include "examples/weblog/tally.h"

namespace weblog {

using tailsafe::Result;
using tailsafe::Status;

// One batch of a backup file's bytes: whole lines in [start, end).
struct Batch {
  std::string file_id;
  uint64_t start = 0;
  uint64_t end = 0;
  struct Line {
    uint64_t begin = 0;  // offset of the line's first byte in the file
    Request request;
  };
  std::vector<Line> requests;
  std::vector<uint64_t> malformed;  // offsets of malformed lines
};

// Parses `bytes` (whole lines; the first starts at file offset `base`) into `batch`: requests
// and malformed lines; markers, comments and blank lines count in `counts` only. The batch's
// requests point into `bytes`, which must outlive it. `on_malformed(offset, error)` is called
// for each malformed line (may be empty).
void AddLines(std::string_view bytes, uint64_t base, Batch* batch, LineCounts* counts,
              const std::function<void(uint64_t, const std::string&)>& on_malformed);

// A recovery range, as tailsafe's hook environment names it.
struct HookRange {
  std::string origin;
  std::string bolt;
  uint64_t generation = 0;
  uint64_t from = 0;
  uint64_t to = 0;
  uint64_t epoch = 0;
};

struct ApplyResult {
  uint64_t counted = 0;    // requests counted now
  uint64_t skipped = 0;    // requests already counted by an earlier commit
  uint64_t malformed = 0;  // malformed lines counted now
};

class ResultsDb {
 public:
  // Opens or creates the database; an error names the file and what is wrong (including a
  // schema this version does not know).
  static Result<ResultsDb> Open(const std::string& path);

  // In one transaction: counts the batch's lines not yet counted, and marks [start, end) of the
  // file as counted. `recovered`: the counts also go to the recovered series (hooks). `range`:
  // also records the hook range (its last batch).
  Result<ApplyResult> Apply(const Batch& batch, bool recovered, const HookRange* range = nullptr);

  // The file id a recorded range of (origin, bolt, generation) resolved, if any.
  Result<std::optional<std::string>> FileIdOf(const std::string& origin, const std::string& bolt, uint64_t generation);
  // True if exactly this range was recorded.
  Result<bool> Recorded(const HookRange& range);

  Result<Tally> Load();
  Result<std::map<int64_t, uint64_t>> RecoveredPerMinute();
  Result<uint64_t> Counter(const std::string& name);
  // Counted intervals of a file, in order.
  Result<std::vector<std::pair<uint64_t, uint64_t>>> Processed(const std::string& file_id);

  const std::string& path() const { return db_.path(); }

 private:
  Status Prepare();
  Result<ApplyResult> ApplyLocked(const Batch& batch, bool recovered, const HookRange* range);
  Status MarkProcessed(const std::string& file_id, uint64_t a, uint64_t b);

  tailsafe::Db db_;
  tailsafe::Stmt covered_, host_, url_, ip_, recovered_, counter_, range_, range_get_, file_of_;
  tailsafe::Stmt left_, right_, extend_, delete_, insert_;
};

}  // namespace weblog
