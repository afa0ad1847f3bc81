#include "examples/weblog/results_db_sqlite.h"

#include <chrono>
#include <thread>

#include "common/sqlite.h"

namespace weblog {
namespace {

constexpr int kSchemaVersion = 1;

const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS by_host(minute INTEGER NOT NULL, host TEXT NOT NULL, requests INTEGER NOT NULL,
  bytes INTEGER NOT NULL, s1xx INTEGER NOT NULL, s2xx INTEGER NOT NULL, s3xx INTEGER NOT NULL,
  s4xx INTEGER NOT NULL, s5xx INTEGER NOT NULL, PRIMARY KEY(minute, host)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS by_url(minute INTEGER NOT NULL, host TEXT NOT NULL, path TEXT NOT NULL,
  requests INTEGER NOT NULL, bytes INTEGER NOT NULL, PRIMARY KEY(minute, host, path)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS by_ip(minute INTEGER NOT NULL, ip TEXT NOT NULL, requests INTEGER NOT NULL,
  bytes INTEGER NOT NULL, PRIMARY KEY(minute, ip)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS recovered(minute INTEGER PRIMARY KEY, requests INTEGER NOT NULL, bytes INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS processed(file_id TEXT NOT NULL, start INTEGER NOT NULL, end INTEGER NOT NULL,
  PRIMARY KEY(file_id, start)) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS processed_end ON processed(file_id, end);
CREATE TABLE IF NOT EXISTS hook_ranges(origin TEXT NOT NULL, bolt TEXT NOT NULL, generation INTEGER NOT NULL,
  from_off INTEGER NOT NULL, to_off INTEGER NOT NULL, file_id TEXT NOT NULL, epoch INTEGER NOT NULL,
  recorded_unix_ms INTEGER NOT NULL, PRIMARY KEY(origin, bolt, generation, from_off, to_off)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS counters(name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
)sql";

int64_t I(uint64_t v) { return static_cast<int64_t>(v); }

class SqliteResultsDb final : public ResultsDb {
 public:
  static Result<std::unique_ptr<ResultsDb>> Open(const std::string& path);

  Result<std::optional<std::string>> FileIdOf(const std::string& origin, const std::string& bolt,
                                              uint64_t generation) override;
  Result<bool> Recorded(const HookRange& range) override;
  Result<Tally> Load() override;
  Result<std::map<int64_t, uint64_t>> RecoveredPerMinute() override;
  Result<uint64_t> Counter(const std::string& name) override;
  Result<std::vector<std::pair<uint64_t, uint64_t>>> Processed(const std::string& file_id) override;
  const std::string& name() const override { return db_.path(); }

 protected:
  Result<ApplyResult> ApplyChecked(const Batch& batch, bool recovered, const HookRange* range) override;

 private:
  Status Prepare();
  Result<ApplyResult> ApplyLocked(const Batch& batch, bool recovered, const HookRange* range);
  Status MarkProcessed(const std::string& file_id, uint64_t a, uint64_t b);

  tailsafe::Db db_;
  tailsafe::Stmt covered_, host_, url_, ip_, recovered_, counter_, range_, range_get_, file_of_;
  tailsafe::Stmt left_, right_, extend_, delete_, insert_;
};

Result<std::unique_ptr<ResultsDb>> SqliteResultsDb::Open(const std::string& path) {
  // Several bolts and hooks open the same database; switching a new one to WAL needs it alone
  // for a moment, and SQLite reports "locked" then without waiting: try again for a while.
  auto db = tailsafe::Db::Open(path);
  for (int i = 0; i < 200 && !db.ok() && db.status().message().find("locked") != std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10 + i));
    db = tailsafe::Db::Open(path);
  }
  if (!db.ok()) return db.status();
  auto r = std::make_unique<SqliteResultsDb>();
  r->db_ = std::move(*db);
  auto version = r->db_.Prepare("PRAGMA user_version");
  if (!version.ok()) return version.status();
  auto row = version->Step();
  if (!row.ok()) return row.status();
  int64_t v = version->Int(0);
  version->Reset();
  if (v != 0 && v != kSchemaVersion)
    return Status::Error(path + ": results database schema version " + std::to_string(v) + ", this program knows " +
                         std::to_string(kSchemaVersion));
  if (v == 0) {
    if (Status s = r->db_.Exec("BEGIN IMMEDIATE"); !s) return s;
    Status s = r->db_.Exec(kSchema);
    if (s) s = r->db_.Exec("PRAGMA user_version = " + std::to_string(kSchemaVersion));
    if (!s) {
      (void)r->db_.Exec("ROLLBACK");
      return s;
    }
    if (Status c = r->db_.Exec("COMMIT"); !c) return c;
  }
  if (Status s = r->Prepare(); !s) return s;
  return std::unique_ptr<ResultsDb>(std::move(r));
}

Status SqliteResultsDb::Prepare() {
  struct {
    tailsafe::Stmt* stmt;
    const char* sql;
  } all[] = {
      {&covered_, "SELECT start, end FROM processed WHERE file_id = ?1 AND start < ?3 AND end > ?2 ORDER BY start"},
      {&host_,
       "INSERT INTO by_host VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT(minute, host) DO UPDATE SET "
       "requests = requests + excluded.requests, bytes = bytes + excluded.bytes, s1xx = s1xx + excluded.s1xx, "
       "s2xx = s2xx + excluded.s2xx, s3xx = s3xx + excluded.s3xx, s4xx = s4xx + excluded.s4xx, "
       "s5xx = s5xx + excluded.s5xx"},
      {&url_,
       "INSERT INTO by_url VALUES(?1, ?2, ?3, ?4, ?5) ON CONFLICT(minute, host, path) DO UPDATE SET "
       "requests = requests + excluded.requests, bytes = bytes + excluded.bytes"},
      {&ip_,
       "INSERT INTO by_ip VALUES(?1, ?2, ?3, ?4) ON CONFLICT(minute, ip) DO UPDATE SET "
       "requests = requests + excluded.requests, bytes = bytes + excluded.bytes"},
      {&recovered_,
       "INSERT INTO recovered VALUES(?1, ?2, ?3) ON CONFLICT(minute) DO UPDATE SET "
       "requests = requests + excluded.requests, bytes = bytes + excluded.bytes"},
      {&counter_,
       "INSERT INTO counters VALUES(?1, ?2) ON CONFLICT(name) DO UPDATE SET value = value + excluded.value"},
      {&range_, "INSERT OR IGNORE INTO hook_ranges VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"},
      {&range_get_,
       "SELECT 1 FROM hook_ranges WHERE origin = ?1 AND bolt = ?2 AND generation = ?3 AND from_off = ?4 AND "
       "to_off = ?5"},
      {&file_of_, "SELECT file_id FROM hook_ranges WHERE origin = ?1 AND bolt = ?2 AND generation = ?3 LIMIT 1"},
      {&left_, "SELECT start FROM processed WHERE file_id = ?1 AND end = ?2"},
      {&right_, "SELECT end FROM processed WHERE file_id = ?1 AND start = ?2"},
      {&extend_, "UPDATE processed SET end = ?3 WHERE file_id = ?1 AND start = ?2"},
      {&delete_, "DELETE FROM processed WHERE file_id = ?1 AND start = ?2"},
      {&insert_, "INSERT INTO processed VALUES(?1, ?2, ?3)"},
  };
  for (auto& [stmt, sql] : all) {
    auto s = db_.Prepare(sql);
    if (!s.ok()) return s.status();
    *stmt = std::move(*s);
  }
  return Status::Ok();
}

Result<ApplyResult> SqliteResultsDb::ApplyChecked(const Batch& batch, bool recovered, const HookRange* range) {
  if (Status s = db_.Exec("BEGIN IMMEDIATE"); !s) return s;
  auto r = ApplyLocked(batch, recovered, range);
  if (!r.ok()) {
    (void)db_.Exec("ROLLBACK");
    return r;
  }
  if (Status s = db_.Exec("COMMIT"); !s) {
    (void)db_.Exec("ROLLBACK");
    return s;
  }
  return r;
}

Result<ApplyResult> SqliteResultsDb::ApplyLocked(const Batch& batch, bool recovered, const HookRange* range) {
  // The intervals already counted that overlap this batch, in order.
  std::vector<std::pair<uint64_t, uint64_t>> covered;
  covered_.Bind(1, batch.file_id).Bind(2, I(batch.start)).Bind(3, I(batch.end));
  for (;;) {
    auto row = covered_.Step();
    if (!row.ok()) {
      covered_.Reset();
      return row.status();
    }
    if (!*row) break;
    covered.emplace_back(static_cast<uint64_t>(covered_.Int(0)), static_cast<uint64_t>(covered_.Int(1)));
  }
  covered_.Reset();
  auto is_covered = [&covered](uint64_t offset) {
    for (const auto& [a, b] : covered)
      if (a <= offset && offset < b) return true;
    return false;
  };

  ApplyResult result;
  Tally tally;
  for (const Batch::Line& line : batch.requests) {
    if (is_covered(line.begin)) {
      ++result.skipped;
    } else {
      tally.Add(line.request);
      ++result.counted;
    }
  }
  for (uint64_t offset : batch.malformed)
    if (!is_covered(offset)) ++result.malformed;

  for (const auto& [k, v] : tally.by_host()) {
    host_.Bind(1, k.first).Bind(2, k.second).Bind(3, I(v.requests)).Bind(4, I(v.bytes));
    for (int s = 0; s < 5; ++s) host_.Bind(5 + s, I(v.status[static_cast<size_t>(s)]));
    if (Status s = host_.Run(); !s) return s;
  }
  for (const auto& [k, v] : tally.by_url()) {
    url_.Bind(1, std::get<0>(k)).Bind(2, std::get<1>(k)).Bind(3, std::get<2>(k)).Bind(4, I(v.requests)).Bind(5, I(v.bytes));
    if (Status s = url_.Run(); !s) return s;
  }
  for (const auto& [k, v] : tally.by_ip()) {
    ip_.Bind(1, k.first).Bind(2, k.second).Bind(3, I(v.requests)).Bind(4, I(v.bytes));
    if (Status s = ip_.Run(); !s) return s;
  }
  if (recovered) {
    for (const auto& [k, v] : tally.by_host()) {
      recovered_.Bind(1, k.first).Bind(2, I(v.requests)).Bind(3, I(v.bytes));
      if (Status s = recovered_.Run(); !s) return s;
    }
  }
  if (result.malformed > 0) {
    counter_.Bind(1, std::string_view("malformed_lines")).Bind(2, I(result.malformed));
    if (Status s = counter_.Run(); !s) return s;
  }

  // Mark the uncovered parts of [start, end) as counted.
  uint64_t pos = batch.start;
  for (const auto& [a, b] : covered) {
    if (a > pos) {
      if (Status s = MarkProcessed(batch.file_id, pos, std::min(a, batch.end)); !s) return s;
    }
    pos = std::max(pos, b);
  }
  if (pos < batch.end) {
    if (Status s = MarkProcessed(batch.file_id, pos, batch.end); !s) return s;
  }

  if (range != nullptr) {
    int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    range_.Bind(1, range->origin).Bind(2, range->bolt).Bind(3, I(range->generation)).Bind(4, I(range->from));
    range_.Bind(5, I(range->to)).Bind(6, batch.file_id).Bind(7, I(range->epoch)).Bind(8, now_ms);
    if (Status s = range_.Run(); !s) return s;
  }
  return result;
}

Status SqliteResultsDb::MarkProcessed(const std::string& file_id, uint64_t a, uint64_t b) {
  if (a >= b) return Status::Ok();
  std::optional<int64_t> left, right_end;
  left_.Bind(1, file_id).Bind(2, I(a));
  auto l = left_.Step();
  if (l.ok() && *l) left = left_.Int(0);
  left_.Reset();
  if (!l.ok()) return l.status();
  right_.Bind(1, file_id).Bind(2, I(b));
  auto r = right_.Step();
  if (r.ok() && *r) right_end = right_.Int(0);
  right_.Reset();
  if (!r.ok()) return r.status();

  int64_t end = right_end ? *right_end : I(b);
  if (right_end) {
    delete_.Bind(1, file_id).Bind(2, I(b));
    if (Status s = delete_.Run(); !s) return s;
  }
  if (left) {
    extend_.Bind(1, file_id).Bind(2, *left).Bind(3, end);
    return extend_.Run();
  }
  insert_.Bind(1, file_id).Bind(2, I(a)).Bind(3, end);
  return insert_.Run();
}

Result<std::optional<std::string>> SqliteResultsDb::FileIdOf(const std::string& origin, const std::string& bolt,
                                                         uint64_t generation) {
  file_of_.Bind(1, origin).Bind(2, bolt).Bind(3, I(generation));
  auto row = file_of_.Step();
  std::optional<std::string> id;
  if (row.ok() && *row) id = file_of_.Text(0);
  file_of_.Reset();
  if (!row.ok()) return row.status();
  return id;
}

Result<bool> SqliteResultsDb::Recorded(const HookRange& range) {
  range_get_.Bind(1, range.origin).Bind(2, range.bolt).Bind(3, I(range.generation)).Bind(4, I(range.from));
  range_get_.Bind(5, I(range.to));
  auto row = range_get_.Step();
  bool found = row.ok() && *row;
  range_get_.Reset();
  if (!row.ok()) return row.status();
  return found;
}

Result<Tally> SqliteResultsDb::Load() {
  Tally t;
  auto hosts = db_.Prepare("SELECT minute, host, requests, bytes, s1xx, s2xx, s3xx, s4xx, s5xx FROM by_host");
  if (!hosts.ok()) return hosts.status();
  for (;;) {
    auto row = hosts->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    HostCounts& h = t.by_host()[{hosts->Int(0), hosts->Text(1)}];
    h.requests = static_cast<uint64_t>(hosts->Int(2));
    h.bytes = static_cast<uint64_t>(hosts->Int(3));
    for (int s = 0; s < 5; ++s) h.status[static_cast<size_t>(s)] = static_cast<uint64_t>(hosts->Int(4 + s));
  }
  auto urls = db_.Prepare("SELECT minute, host, path, requests, bytes FROM by_url");
  if (!urls.ok()) return urls.status();
  for (;;) {
    auto row = urls->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    Counts& c = t.by_url()[{urls->Int(0), urls->Text(1), urls->Text(2)}];
    c.requests = static_cast<uint64_t>(urls->Int(3));
    c.bytes = static_cast<uint64_t>(urls->Int(4));
  }
  auto ips = db_.Prepare("SELECT minute, ip, requests, bytes FROM by_ip");
  if (!ips.ok()) return ips.status();
  for (;;) {
    auto row = ips->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    Counts& c = t.by_ip()[{ips->Int(0), ips->Text(1)}];
    c.requests = static_cast<uint64_t>(ips->Int(2));
    c.bytes = static_cast<uint64_t>(ips->Int(3));
  }
  return t;
}

Result<std::map<int64_t, uint64_t>> SqliteResultsDb::RecoveredPerMinute() {
  std::map<int64_t, uint64_t> out;
  auto q = db_.Prepare("SELECT minute, requests FROM recovered");
  if (!q.ok()) return q.status();
  for (;;) {
    auto row = q->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    out[q->Int(0)] = static_cast<uint64_t>(q->Int(1));
  }
  return out;
}

Result<uint64_t> SqliteResultsDb::Counter(const std::string& name) {
  auto q = db_.Prepare("SELECT value FROM counters WHERE name = ?1");
  if (!q.ok()) return q.status();
  q->Bind(1, name);
  auto row = q->Step();
  if (!row.ok()) return row.status();
  return *row ? static_cast<uint64_t>(q->Int(0)) : 0;
}

Result<std::vector<std::pair<uint64_t, uint64_t>>> SqliteResultsDb::Processed(const std::string& file_id) {
  std::vector<std::pair<uint64_t, uint64_t>> out;
  auto q = db_.Prepare("SELECT start, end FROM processed WHERE file_id = ?1 ORDER BY start");
  if (!q.ok()) return q.status();
  q->Bind(1, file_id);
  for (;;) {
    auto row = q->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    out.emplace_back(static_cast<uint64_t>(q->Int(0)), static_cast<uint64_t>(q->Int(1)));
  }
  return out;
}

}  // namespace

Result<std::unique_ptr<ResultsDb>> OpenSqliteResultsDb(const std::string& path) { return SqliteResultsDb::Open(path); }

}  // namespace weblog
