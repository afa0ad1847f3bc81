// PostgresServer: a throwaway PostgreSQL server for the tests, from Debian's postgresql-15
// (/usr/lib/postgresql/15/bin): initdb into a fresh temporary directory (trust authentication,
// superuser `postgres`, UTF-8), then postgres listening only on a Unix socket in that directory
// (no TCP port to collide with; fsync off: nothing here must survive a power cut). PostgreSQL
// refuses to run as root, so as root (CI) both run as the `postgres` system user; otherwise as
// the current user. The server dies with the test process (SIGKILL on the parent's death); the
// destructor stops it and removes the directory, and Start removes the directories of servers
// that died with an earlier, killed test run.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "tests/support/cluster.h"

namespace tailsafe::testing {

// Why this machine cannot start a server (the package or the `postgres` user is missing), or
// "" if it can.
std::string PostgresMissing();

class PostgresServer {
 public:
  // initdb, start, and wait (up to 60 s) until the server accepts connections.
  static Result<std::unique_ptr<PostgresServer>> Start(const std::string& name);
  ~PostgresServer();
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  // libpq's URI for database `db` on this server: postgresql:///DB?host=SOCKETDIR&port=5432&user=postgres
  std::string Uri(const std::string& db) const;
  // Creates a new, empty database named after `name` (made unique) and returns its URI.
  Result<std::string> NewDatabase(const std::string& name);
  const std::string& dir() const { return dir_.path; }
  // The end of the server's log, for messages.
  std::string LogTail(size_t bytes = 4000) const;

 private:
  PostgresServer() = default;

  ScopedTempDir dir_{"postgres"};
  pid_t pid_ = -1;
  int databases_ = 0;
};

// One server for the whole test process, started at the first call (nullptr and `why` if it
// could not be); it is stopped when the process exits.
PostgresServer* SharedPostgres(std::string* why);

// Runs `sql` (one or more statements) on `uri` and returns the rows of the last one as text
// (NULL as ""); an error names the statement and what the server said.
Result<std::vector<std::vector<std::string>>> PgQuery(const std::string& uri, const std::string& sql);

}  // namespace tailsafe::testing
