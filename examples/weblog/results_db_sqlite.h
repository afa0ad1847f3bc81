// The results database in a SQLite file (examples/weblog/results_db.h has the rule): the
// embedded default, for programs that share a filesystem. Several processes may write at once:
// each Apply is one BEGIN IMMEDIATE transaction, so writers take turns (WAL mode,
// synchronous=FULL: a commit is a promise). The schema version is the database's user_version.
#pragma once

#include <memory>
#include <string>

#include "examples/weblog/results_db.h"

namespace weblog {

// Opens or creates the database file at `path`.
Result<std::unique_ptr<ResultsDb>> OpenSqliteResultsDb(const std::string& path);

}  // namespace weblog
