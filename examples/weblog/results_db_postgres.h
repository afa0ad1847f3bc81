// The results database on a PostgreSQL server (examples/weblog/results_db.h has the rule): for
// bolts and hooks on hosts that share no file. `--db` is a libpq connection URI:
//
//   postgresql://[USER[:PASSWORD]@][HOST][:PORT][/DBNAME][?PARAM=VALUE&...]   (or postgres://)
//   postgresql:///weblog?host=/run/postgresql          (a Unix-socket directory as the host)
//
// Messages name the URI with its password (and any *password= parameter) replaced by ***, and
// what libpq or the server said. Programs block in libpq: they are standalone processes, never
// on an event loop. Unless the URI says otherwise, connecting gives up after 10 s, and a server
// that stops answering over TCP after about a minute (keepalives, tcp_user_timeout).
//
// The schema is created when missing, in one transaction under an advisory lock (so that
// several programs starting at once create it once), in the connection's current_schema() (the
// first of its search_path that exists; the role needs CREATE there the first time), and
// weblog_apply is pinned to that schema (SET search_path), whoever calls it. It is versioned:
// table weblog_schema(version) holds 1; any other version is refused by name, as the SQLite
// backend refuses an unknown user_version. Tables (each `weblog_` + the name in results_db.h):
//
//   weblog_by_host(minute bigint, host text, requests bigint, bytes bigint, s1xx..s5xx bigint)
//                                              key (minute, host)
//   weblog_by_url(minute, host, path text, requests, bytes)   key (minute, host, md5(path)):
//                                              a path may be longer than a btree entry may be
//   weblog_by_ip(minute, ip text, requests, bytes)            key (minute, ip)
//   weblog_recovered(minute, requests, bytes)                 key (minute)
//   weblog_processed(file_id text, start_off bigint, end_off bigint)   key (file_id, start_off)
//   weblog_hook_ranges(origin, bolt, generation, from_off, to_off, file_id, epoch, recorded_at)
//   weblog_counters(name text, value bigint)                  'malformed_lines'
//
// `minute` is UTC minutes since the Unix epoch (log_format.h). Text is UTF-8: weblog's parser
// takes a request whose path is not UTF-8 for malformed, so every key stores as it was logged.
//
// ## weblog_apply: the one way to write counts
//
// The exactly-once rule lives in ONE PL/pgSQL function, created with the schema, so that every
// writer (this backend, and a Java Storm bolt over JDBC) applies it the same way:
//
//   weblog_apply(
//     p_file_id text, p_start bigint, p_end bigint, p_recovered boolean,
//     p_begins bigint[], p_minutes bigint[], p_hosts text[], p_paths text[], p_ips text[],
//     p_statuses integer[], p_bytes bigint[],
//     p_malformed bigint[] DEFAULT '{}',
//     p_origin text DEFAULT NULL, p_bolt text DEFAULT NULL, p_generation bigint DEFAULT NULL,
//     p_from bigint DEFAULT NULL, p_to bigint DEFAULT NULL, p_epoch bigint DEFAULT NULL,
//     OUT counted bigint, OUT skipped bigint, OUT malformed bigint)
//
//   SELECT counted, skipped, malformed FROM weblog_apply(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?);
//
// Arguments: one batch, whole lines [p_start, p_end) of the backup file p_file_id (the 16 hex
// digits of its `#tailsafe-weblog file=` markers or of its `#tailsafe-storm ... file=` header).
// Line i is a request beginning at byte p_begins[i] of the file, in minute p_minutes[i], to
// host p_hosts[i] (the virtual host without port, or '-'), path p_paths[i] (without query
// string), from client p_ips[i], with status p_statuses[i] (100-599) and p_bytes[i] response
// bytes (>= 0). The seven arrays have one element per request line and no NULL; p_begins is
// strictly increasing and inside [p_start, p_end). p_malformed: the offsets of the batch's
// malformed lines, strictly increasing, inside the batch, none a request's. Marker, comment
// and blank lines appear in neither. p_recovered: true for a recovery hook (its counts also go
// to weblog_recovered), false for a bolt. The six hook arguments are all NULL (a bolt, or a
// hook's batch before its last) or all set (a hook's last batch: TAILSAFE_ORIGIN, _BOLT,
// _GENERATION, _FROM, _TO, _EPOCH), and then the range is recorded in weblog_hook_ranges.
// A broken argument raises SQLSTATE 22023 (invalid_parameter_value) naming it, before
// anything is written.
//
// What it does, in the caller's transaction: takes the file's transaction-scoped advisory lock,
// pg_advisory_xact_lock(2003987559, hashtext(p_file_id)) (held until the caller's transaction
// ends; two file ids with the same hash only wait for each other); reads the file's counted
// intervals overlapping the batch; counts the request lines whose offset lies in none of them
// (and the malformed lines likewise) into weblog_by_host, _by_url, _by_ip (and
// weblog_recovered if p_recovered; weblog_counters 'malformed_lines'), each in key order; marks
// [p_start, p_end) counted, merged with every interval it overlaps or touches; records the
// hook range if given. Returns one row: counted (request lines counted now), skipped (request
// lines counted before by someone), malformed (malformed lines counted now).
//
// The caller's contract:
// - READ COMMITTED only (PostgreSQL's default; anything else raises SQLSTATE 25000): each
//   statement in the function takes a fresh snapshot after the lock, so it sees the commit of
//   whoever held the lock before. Under REPEATABLE READ the snapshot would predate the lock.
// - Commit right after (autocommit does): the lock and the counts are released together.
//   Other writes of the caller's may share the transaction, which then is the unit of
//   exactly-once; apply at most one file per transaction (or files in a fixed order).
// - On SQLSTATE 40001 (serialization_failure) or 40P01 (deadlock_detected), or a connection
//   lost before the commit was acknowledged, roll back and call again with the same arguments,
//   a bounded number of times: whatever committed is skipped, so a repeat never counts twice.
//   Any other error is permanent for this batch.
#pragma once

#include <memory>
#include <string>

#include "examples/weblog/results_db.h"

namespace weblog {

// Connects to `uri` (IsPostgresTarget) and creates or checks the schema.
Result<std::unique_ptr<ResultsDb>> OpenPostgresResultsDb(const std::string& uri);

// `uri` for messages: a password in its user info, and the value of any parameter whose name
// contains "password", replaced by ***.
std::string RedactPostgresUri(const std::string& uri);

}  // namespace weblog
