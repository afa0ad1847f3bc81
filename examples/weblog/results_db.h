// The weblog results database: the counts, and which bytes of which backup file they came from,
// so that every request is counted exactly once however the bytes reach it. One interface, two
// backends: SQLite, a file beside the programs (the embedded default,
// examples/weblog/results_db_sqlite.h), and PostgreSQL, a server that bolts and hooks on many
// hosts share (examples/weblog/results_db_postgres.h). `--db` names either.
//
// Two parties count a bolt's backup file: the bolt itself, as it processes what it appended,
// and the recovery hook (weblog-analyze), which gets the tail a dead bolt left unprocessed. A
// bolt commits its counts and then writes its checkpoint; if it dies between the two, the
// checkpoint is behind what was counted, and the hook gets bytes that are already counted. A
// range can also reach a hook twice (tailsafe runs hooks at least once per range), and a
// restarted bolt appends to the same file while a hook recovers the old tail.
//
// So counting is keyed by bytes, not by who counts (the rule, the same in both backends): table
// `processed` holds, per backup file (its `file` id from the marker lines,
// examples/weblog/log_format.h, or a tailsafe-storm header, storm_header.h), the byte intervals
// whose requests are counted. Apply() runs one write transaction that, holding the file's
// interval list against every other writer, reads the intervals overlapping the batch, counts
// only the lines that begin outside them, adds the counts, and records the batch's [start, end)
// as counted. Whoever commits first counts a line; everyone after skips it. Adjacent intervals
// are merged, so a file normally has one row.
//
// Tables: by_host(minute, host, requests, bytes, s1xx..s5xx), by_url(minute, host, path,
// requests, bytes), by_ip(minute, ip, requests, bytes); recovered(minute, requests, bytes): the
// part of the counts that hooks added (the report's "without tailsafe" curve is the total minus
// this); hook_ranges: every (origin, bolt, generation, from, to) a hook recorded, with the file
// id it resolved; counters(name, value): malformed lines counted. (PostgreSQL prefixes each
// name with `weblog_`, since its database is often shared.)
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

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
  std::vector<Line> requests;       // in increasing order of `begin`
  std::vector<uint64_t> malformed;  // offsets of malformed lines, increasing
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

// True if `target` is a PostgreSQL connection URI (postgresql:// or postgres://), which --db
// then means; anything else is a SQLite file's path.
bool IsPostgresTarget(std::string_view target);

class ResultsDb {
 public:
  virtual ~ResultsDb() = default;

  // Opens `target` (a SQLite path or a PostgreSQL URI, IsPostgresTarget) and creates the schema
  // if it is missing. An error names the file or server (never a password) and what is wrong,
  // including a schema version this program does not know.
  static Result<std::unique_ptr<ResultsDb>> Open(const std::string& target);

  // In one transaction: counts the batch's lines not yet counted, and marks [start, end) of the
  // file as counted. `recovered`: the counts also go to the recovered series (hooks). `range`:
  // also records the hook range (its last batch). A batch whose offsets are out of order or
  // outside [start, end) is refused before anything is written. Safe against every other
  // writer of the same database, and safe to repeat after an error of unknown outcome.
  Result<ApplyResult> Apply(const Batch& batch, bool recovered, const HookRange* range = nullptr);

  // The file id a recorded range of (origin, bolt, generation) resolved, if any.
  virtual Result<std::optional<std::string>> FileIdOf(const std::string& origin, const std::string& bolt,
                                                      uint64_t generation) = 0;
  // True if exactly this range was recorded.
  virtual Result<bool> Recorded(const HookRange& range) = 0;

  virtual Result<Tally> Load() = 0;
  virtual Result<std::map<int64_t, uint64_t>> RecoveredPerMinute() = 0;
  virtual Result<uint64_t> Counter(const std::string& name) = 0;
  // Counted intervals of a file, in order.
  virtual Result<std::vector<std::pair<uint64_t, uint64_t>>> Processed(const std::string& file_id) = 0;

  // The database, for messages: the SQLite file's path, or the URI without its password.
  virtual const std::string& name() const = 0;

 protected:
  // Apply() after the batch is checked.
  virtual Result<ApplyResult> ApplyChecked(const Batch& batch, bool recovered, const HookRange* range) = 0;
};

// Why `batch` breaks Apply's preconditions, or "" if it does not.
std::string CheckBatch(const Batch& batch);

}  // namespace weblog
