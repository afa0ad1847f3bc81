// A thin RAII wrapper over SQLite: a Db owns the connection, a Stmt owns a prepared statement.
// Every error names the database file and the statement that failed.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"

struct sqlite3;
struct sqlite3_stmt;

namespace tailsafe {

class Stmt {
 public:
  Stmt() = default;
  Stmt(sqlite3_stmt* s, std::string context);
  Stmt& Bind(int index, int64_t v);
  Stmt& Bind(int index, std::string_view v);
  // true: a row is available; false: done. Errors come back as a Status.
  Result<bool> Step();
  // Runs to completion (for statements without results) and resets.
  Status Run();
  int64_t Int(int col) const;
  std::string Text(int col) const;
  void Reset();

 private:
  struct Free { void operator()(sqlite3_stmt* s) const; };
  std::unique_ptr<sqlite3_stmt, Free> stmt_;
  std::string context_;
};

class Db {
 public:
  // Opens (creating if needed) `path` in WAL mode with synchronous=FULL: a commit is a promise.
  static Result<Db> Open(const std::string& path);
  Status Exec(std::string_view sql);
  Result<Stmt> Prepare(std::string_view sql);
  const std::string& path() const { return path_; }
  // The last failed statement failed because the disk (or the database's size limit) is full
  // (SQLITE_FULL). Read before anything else runs on this connection.
  bool LastErrorWasFull() const;

 private:
  struct Free { void operator()(sqlite3* db) const; };
  std::unique_ptr<sqlite3, Free> db_;
  std::string path_;
};

}  // namespace tailsafe
