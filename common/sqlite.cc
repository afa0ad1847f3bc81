#include "common/sqlite.h"

#include <sqlite3.h>

namespace tailsafe {

void Stmt::Free::operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
void Db::Free::operator()(sqlite3* db) const { sqlite3_close_v2(db); }

Stmt::Stmt(sqlite3_stmt* s, std::string context) : stmt_(s), context_(std::move(context)) {}

Stmt& Stmt::Bind(int index, int64_t v) {
  sqlite3_bind_int64(stmt_.get(), index, v);
  return *this;
}
Stmt& Stmt::Bind(int index, std::string_view v) {
  sqlite3_bind_text(stmt_.get(), index, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  return *this;
}

Result<bool> Stmt::Step() {
  int rc = sqlite3_step(stmt_.get());
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  sqlite3* db = sqlite3_db_handle(stmt_.get());
  return Status::Error(context_ + ": " + sqlite3_errmsg(db));
}

Status Stmt::Run() {
  Result<bool> r = Step();
  Reset();
  return r.ok() ? Status::Ok() : r.status();
}

int64_t Stmt::Int(int col) const { return sqlite3_column_int64(stmt_.get(), col); }
std::string Stmt::Text(int col) const {
  const unsigned char* t = sqlite3_column_text(stmt_.get(), col);
  return t ? std::string(reinterpret_cast<const char*>(t)) : std::string();
}
void Stmt::Reset() {
  sqlite3_reset(stmt_.get());
  sqlite3_clear_bindings(stmt_.get());
}

Result<Db> Db::Open(const std::string& path) {
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr);
  Db db;
  db.db_.reset(raw);
  db.path_ = path;
  if (rc != SQLITE_OK) {
    return Status::Error(path + ": cannot open database: " + (raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc)));
  }
  sqlite3_busy_timeout(raw, 5000);
  for (const char* pragma : {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL", "PRAGMA foreign_keys=ON"}) {
    if (Status s = db.Exec(pragma); !s) return s;
  }
  return db;
}

Status Db::Exec(std::string_view sql) {
  char* err = nullptr;
  std::string text(sql);
  int rc = sqlite3_exec(db_.get(), text.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = path_ + ": " + text.substr(0, 60) + ": " + (err ? err : sqlite3_errstr(rc));
    sqlite3_free(err);
    return Status::Error(msg);
  }
  return Status::Ok();
}

bool Db::LastErrorWasFull() const { return (sqlite3_extended_errcode(db_.get()) & 0xff) == SQLITE_FULL; }

Result<Stmt> Db::Prepare(std::string_view sql) {
  sqlite3_stmt* s = nullptr;
  int rc = sqlite3_prepare_v2(db_.get(), sql.data(), static_cast<int>(sql.size()), &s, nullptr);
  if (rc != SQLITE_OK) {
    return Status::Error(path_ + ": prepare '" + std::string(sql.substr(0, 60)) + "': " + sqlite3_errmsg(db_.get()));
  }
  return Stmt(s, path_ + ": '" + std::string(sql.substr(0, 40)) + "'");
}

}  // namespace tailsafe
