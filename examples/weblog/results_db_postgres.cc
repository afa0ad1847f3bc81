#include "examples/weblog/results_db_postgres.h"

#include <postgresql/libpq-fe.h>

#include <cctype>
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <random>
#include <thread>

namespace weblog {
namespace {

constexpr int kSchemaVersion = 1;
// pg_advisory_xact_lock(bigint) key held while the schema is checked or created: "weblog".
constexpr const char* kSchemaLock = "131277079638631";
// Attempts of one Apply (serialization failures, deadlocks, a lost connection), and the first
// pause between them (doubling, capped at kMaxBackoff): about 10 s in all.
constexpr int kApplyAttempts = 8;
constexpr auto kFirstBackoff = std::chrono::milliseconds(50);
constexpr auto kMaxBackoff = std::chrono::milliseconds(3000);

// Schema version 1. Statements are run one by one, in one transaction.
const char* const kSchema[] = {
    "CREATE TABLE weblog_schema(version integer NOT NULL)",
    "INSERT INTO weblog_schema VALUES (1)",
    R"sql(CREATE TABLE weblog_by_host(minute bigint NOT NULL, host text NOT NULL, requests bigint NOT NULL,
      bytes bigint NOT NULL, s1xx bigint NOT NULL, s2xx bigint NOT NULL, s3xx bigint NOT NULL,
      s4xx bigint NOT NULL, s5xx bigint NOT NULL, PRIMARY KEY(minute, host)))sql",
    R"sql(CREATE TABLE weblog_by_url(minute bigint NOT NULL, host text NOT NULL, path text NOT NULL,
      requests bigint NOT NULL, bytes bigint NOT NULL))sql",
    "CREATE UNIQUE INDEX weblog_by_url_key ON weblog_by_url(minute, host, md5(path))",
    R"sql(CREATE TABLE weblog_by_ip(minute bigint NOT NULL, ip text NOT NULL, requests bigint NOT NULL,
      bytes bigint NOT NULL, PRIMARY KEY(minute, ip)))sql",
    R"sql(CREATE TABLE weblog_recovered(minute bigint PRIMARY KEY, requests bigint NOT NULL,
      bytes bigint NOT NULL))sql",
    R"sql(CREATE TABLE weblog_processed(file_id text NOT NULL, start_off bigint NOT NULL, end_off bigint NOT NULL,
      PRIMARY KEY(file_id, start_off), CHECK (start_off < end_off)))sql",
    R"sql(CREATE TABLE weblog_hook_ranges(origin text NOT NULL, bolt text NOT NULL, generation bigint NOT NULL,
      from_off bigint NOT NULL, to_off bigint NOT NULL, file_id text NOT NULL, epoch bigint NOT NULL,
      recorded_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY(origin, bolt, generation, from_off, to_off)))sql",
    "CREATE TABLE weblog_counters(name text PRIMARY KEY, value bigint NOT NULL)",
    // The rule (results_db_postgres.h documents the signature and the caller's contract).
    R"sql(
CREATE FUNCTION weblog_apply(
    p_file_id text, p_start bigint, p_end bigint, p_recovered boolean,
    p_begins bigint[], p_minutes bigint[], p_hosts text[], p_paths text[], p_ips text[],
    p_statuses integer[], p_bytes bigint[],
    p_malformed bigint[] DEFAULT '{}',
    p_origin text DEFAULT NULL, p_bolt text DEFAULT NULL, p_generation bigint DEFAULT NULL,
    p_from bigint DEFAULT NULL, p_to bigint DEFAULT NULL, p_epoch bigint DEFAULT NULL,
    OUT counted bigint, OUT skipped bigint, OUT malformed bigint)
LANGUAGE plpgsql VOLATILE
SET search_path TO @SCHEMA@
AS $fn$
#variable_conflict error
DECLARE
  n bigint := coalesce(cardinality(p_begins), 0);
  batch text := format('batch [%s, %s) of file %s', p_start, p_end, p_file_id);
  cov_s bigint[];
  cov_e bigint[];
  fresh boolean[];
  lo bigint;
  hi bigint;
  hook_args integer := num_nonnulls(p_origin, p_bolt, p_generation, p_from, p_to, p_epoch);
BEGIN
  IF current_setting('transaction_isolation') <> 'read committed' THEN
    RAISE EXCEPTION 'weblog_apply runs in READ COMMITTED transactions only, not %',
      current_setting('transaction_isolation')
      USING ERRCODE = 'invalid_transaction_state',
            HINT = 'its per-file lock must come before the snapshot it reads the counted intervals with';
  END IF;
  IF p_file_id IS NULL OR p_file_id = '' THEN
    RAISE EXCEPTION 'a batch has no file id' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF p_start IS NULL OR p_end IS NULL OR p_start < 0 OR p_end < p_start OR p_recovered IS NULL THEN
    RAISE EXCEPTION '%: start, end and recovered must be set, 0 <= start <= end', batch
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF p_begins IS NULL OR p_minutes IS NULL OR p_hosts IS NULL OR p_paths IS NULL OR p_ips IS NULL
     OR p_statuses IS NULL OR p_bytes IS NULL OR p_malformed IS NULL THEN
    RAISE EXCEPTION '%: a line array is NULL (an empty batch passes empty arrays)', batch
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF cardinality(p_minutes) <> n OR cardinality(p_hosts) <> n OR cardinality(p_paths) <> n
     OR cardinality(p_ips) <> n OR cardinality(p_statuses) <> n OR cardinality(p_bytes) <> n THEN
    RAISE EXCEPTION '%: the line arrays differ in length (begins %, minutes %, hosts %, paths %, ips %, statuses %, bytes %)',
      batch, n, cardinality(p_minutes), cardinality(p_hosts), cardinality(p_paths), cardinality(p_ips),
      cardinality(p_statuses), cardinality(p_bytes)
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF EXISTS (SELECT 1 FROM unnest(p_begins, p_minutes, p_hosts, p_paths, p_ips, p_statuses, p_bytes)
                             AS l(b, m, h, pa, ip, st, nb)
              WHERE l.b IS NULL OR l.b < p_start OR l.b >= p_end OR l.m IS NULL OR l.h IS NULL OR l.pa IS NULL
                 OR l.ip IS NULL OR l.st IS NULL OR l.st < 100 OR l.st > 599 OR l.nb IS NULL OR l.nb < 0) THEN
    RAISE EXCEPTION '%: a request line begins outside the batch, has a NULL, a status outside 100-599 or negative bytes',
      batch USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF EXISTS (SELECT 1 FROM unnest(p_malformed) AS m(o) WHERE m.o IS NULL OR m.o < p_start OR m.o >= p_end) THEN
    RAISE EXCEPTION '%: a malformed line''s offset is NULL or outside the batch', batch
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF EXISTS (SELECT 1 FROM (SELECT t.o, lag(t.o) OVER (ORDER BY t.i) AS prev
                              FROM unnest(p_begins) WITH ORDINALITY AS t(o, i)) x WHERE x.o <= x.prev)
     OR EXISTS (SELECT 1 FROM (SELECT t.o, lag(t.o) OVER (ORDER BY t.i) AS prev
                                 FROM unnest(p_malformed) WITH ORDINALITY AS t(o, i)) x WHERE x.o <= x.prev) THEN
    RAISE EXCEPTION '%: line offsets are not strictly increasing', batch USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF EXISTS (SELECT 1 FROM unnest(p_begins) AS b(o) JOIN unnest(p_malformed) AS m(o) ON b.o = m.o) THEN
    RAISE EXCEPTION '%: an offset is both a request and a malformed line', batch
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF hook_args NOT IN (0, 6) THEN
    RAISE EXCEPTION '%: the hook range (origin, bolt, generation, from, to, epoch) is all NULL or all set, not % of 6',
      batch, hook_args USING ERRCODE = 'invalid_parameter_value';
  END IF;

  -- Writers of the same file take turns from here to their commit.
  PERFORM pg_advisory_xact_lock(2003987559, hashtext(p_file_id));

  SELECT coalesce(array_agg(p.start_off ORDER BY p.start_off), '{}'),
         coalesce(array_agg(p.end_off ORDER BY p.start_off), '{}')
    INTO cov_s, cov_e
    FROM weblog_processed p
   WHERE p.file_id = p_file_id AND p.start_off < p_end AND p.end_off > p_start;

  SELECT coalesce(array_agg(NOT EXISTS (SELECT 1 FROM unnest(cov_s, cov_e) AS c(s, e) WHERE c.s <= t.o AND t.o < c.e)
                            ORDER BY t.i), '{}')
    INTO fresh
    FROM unnest(p_begins) WITH ORDINALITY AS t(o, i);
  counted := (SELECT count(*) FROM unnest(fresh) AS f(k) WHERE f.k);
  skipped := n - counted;
  malformed := (SELECT count(*) FROM unnest(p_malformed) AS m(o)
                 WHERE NOT EXISTS (SELECT 1 FROM unnest(cov_s, cov_e) AS c(s, e) WHERE c.s <= m.o AND m.o < c.e));

  -- Tables in a fixed order and rows in key order, so that writers of different files do not
  -- deadlock on the rows they share.
  IF counted > 0 THEN
    INSERT INTO weblog_by_host AS t (minute, host, requests, bytes, s1xx, s2xx, s3xx, s4xx, s5xx)
    SELECT l.m, l.h, count(*), sum(l.nb)::bigint,
           count(*) FILTER (WHERE l.st / 100 = 1), count(*) FILTER (WHERE l.st / 100 = 2),
           count(*) FILTER (WHERE l.st / 100 = 3), count(*) FILTER (WHERE l.st / 100 = 4),
           count(*) FILTER (WHERE l.st / 100 = 5)
      FROM unnest(p_minutes, p_hosts, p_statuses, p_bytes, fresh) AS l(m, h, st, nb, k)
     WHERE l.k GROUP BY l.m, l.h ORDER BY l.m, l.h
    ON CONFLICT (minute, host) DO UPDATE SET
      requests = t.requests + excluded.requests, bytes = t.bytes + excluded.bytes,
      s1xx = t.s1xx + excluded.s1xx, s2xx = t.s2xx + excluded.s2xx, s3xx = t.s3xx + excluded.s3xx,
      s4xx = t.s4xx + excluded.s4xx, s5xx = t.s5xx + excluded.s5xx;

    INSERT INTO weblog_by_url AS t (minute, host, path, requests, bytes)
    SELECT l.m, l.h, l.pa, count(*), sum(l.nb)::bigint
      FROM unnest(p_minutes, p_hosts, p_paths, p_bytes, fresh) AS l(m, h, pa, nb, k)
     WHERE l.k GROUP BY l.m, l.h, l.pa ORDER BY l.m, l.h, md5(l.pa)
    ON CONFLICT (minute, host, md5(path)) DO UPDATE SET
      requests = t.requests + excluded.requests, bytes = t.bytes + excluded.bytes;

    INSERT INTO weblog_by_ip AS t (minute, ip, requests, bytes)
    SELECT l.m, l.ip, count(*), sum(l.nb)::bigint
      FROM unnest(p_minutes, p_ips, p_bytes, fresh) AS l(m, ip, nb, k)
     WHERE l.k GROUP BY l.m, l.ip ORDER BY l.m, l.ip
    ON CONFLICT (minute, ip) DO UPDATE SET
      requests = t.requests + excluded.requests, bytes = t.bytes + excluded.bytes;

    IF p_recovered THEN
      INSERT INTO weblog_recovered AS t (minute, requests, bytes)
      SELECT l.m, count(*), sum(l.nb)::bigint
        FROM unnest(p_minutes, p_bytes, fresh) AS l(m, nb, k)
       WHERE l.k GROUP BY l.m ORDER BY l.m
      ON CONFLICT (minute) DO UPDATE SET
        requests = t.requests + excluded.requests, bytes = t.bytes + excluded.bytes;
    END IF;
  END IF;
  IF malformed > 0 THEN
    INSERT INTO weblog_counters AS t (name, value) VALUES ('malformed_lines', malformed)
    ON CONFLICT (name) DO UPDATE SET value = t.value + excluded.value;
  END IF;

  -- [p_start, p_end) is counted now: one interval with every one it overlaps or touches.
  IF p_start < p_end THEN
    SELECT least(p_start, min(p.start_off)), greatest(p_end, max(p.end_off)) INTO lo, hi
      FROM weblog_processed p
     WHERE p.file_id = p_file_id AND p.start_off <= p_end AND p.end_off >= p_start;
    DELETE FROM weblog_processed p
     WHERE p.file_id = p_file_id AND p.start_off <= p_end AND p.end_off >= p_start;
    INSERT INTO weblog_processed (file_id, start_off, end_off) VALUES (p_file_id, lo, hi);
  END IF;

  IF hook_args = 6 THEN
    INSERT INTO weblog_hook_ranges (origin, bolt, generation, from_off, to_off, file_id, epoch)
    VALUES (p_origin, p_bolt, p_generation, p_from, p_to, p_file_id, p_epoch)
    ON CONFLICT DO NOTHING;
  END IF;
END
$fn$)sql",
};

const char* const kApply =
    "SELECT counted, skipped, malformed FROM weblog_apply($1::text, $2::bigint, $3::bigint, $4::boolean, "
    "$5::bigint[], $6::bigint[], $7::text[], $8::text[], $9::text[], $10::integer[], $11::bigint[], $12::bigint[], "
    "$13::text, $14::text, $15::bigint, $16::bigint, $17::bigint, $18::bigint)";

struct ConnFree {
  void operator()(PGconn* c) const { PQfinish(c); }
};
struct ResultFree {
  void operator()(PGresult* r) const { PQclear(r); }
};
using Conn = std::unique_ptr<PGconn, ConnFree>;
using PgResult = std::unique_ptr<PGresult, ResultFree>;

// libpq's messages end in a newline and may span lines; one line for ours.
std::string OneLine(const char* text) {
  std::string out;
  for (const char* p = text ? text : ""; *p; ++p) {
    if (*p == '\n') {
      out += "; ";
      while (p[1] == '\t' || p[1] == ' ') ++p;
    } else {
      out += *p;
    }
  }
  while (out.size() >= 2 && out.compare(out.size() - 2, 2, "; ") == 0) out.resize(out.size() - 2);
  return out;
}

std::string ArrayOf(const std::vector<int64_t>& values) {
  std::string out = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ',';
    out += std::to_string(values[i]);
  }
  return out + "}";
}

// An array literal of text elements, each quoted ("..." with \ and " escaped).
template <typename Get>
std::string TextArrayOf(size_t n, Get get) {
  std::string out = "{";
  for (size_t i = 0; i < n; ++i) {
    if (i > 0) out += ',';
    out += '"';
    for (char c : get(i)) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  return out + "}";
}

int64_t I(uint64_t v) { return static_cast<int64_t>(v); }

uint64_t U(const PGresult* r, int row, int col) {
  return static_cast<uint64_t>(std::strtoull(PQgetvalue(r, row, col), nullptr, 10));
}
int64_t S(const PGresult* r, int row, int col) { return std::strtoll(PQgetvalue(r, row, col), nullptr, 10); }

// Where `uri` holds secrets, as [begin, end) in order: the password of its user info, and the
// value of every parameter whose name contains "password".
std::vector<std::pair<size_t, size_t>> SecretSpans(const std::string& uri) {
  std::vector<std::pair<size_t, size_t>> out;
  size_t scheme = uri.find("://");
  if (scheme == std::string::npos) return out;
  size_t auth = scheme + 3;
  size_t auth_end = std::min(uri.find_first_of("/?", auth), uri.size());
  size_t at = uri.rfind('@', auth_end);
  if (at != std::string::npos && at >= auth) {
    size_t colon = uri.find(':', auth);
    if (colon != std::string::npos && colon < at) out.emplace_back(colon + 1, at);
  }
  for (size_t q = uri.find('?', auth); q != std::string::npos && q < uri.size();) {
    size_t end = std::min(uri.find('&', q + 1), uri.size());
    size_t eq = uri.find('=', q + 1);
    if (eq < end && uri.substr(q + 1, eq - q - 1).find("password") != std::string::npos) out.emplace_back(eq + 1, end);
    q = end;
  }
  return out;
}

// `text` with every secret of `uri`, raw or percent-decoded, replaced by ***.
std::string Scrub(std::string text, const std::string& uri) {
  for (auto [begin, end] : SecretSpans(uri)) {
    std::string secret = uri.substr(begin, end - begin);
    std::string decoded;
    for (size_t i = 0; i < secret.size(); ++i) {
      if (secret[i] == '%' && i + 2 < secret.size() && isxdigit(static_cast<unsigned char>(secret[i + 1])) &&
          isxdigit(static_cast<unsigned char>(secret[i + 2]))) {
        decoded += static_cast<char>(std::stoi(secret.substr(i + 1, 2), nullptr, 16));
        i += 2;
      } else {
        decoded += secret[i];
      }
    }
    for (const std::string* s : {&secret, &decoded}) {
      if (s->empty()) continue;
      for (size_t at = text.find(*s); at != std::string::npos; at = text.find(*s, at + 3)) text.replace(at, s->size(), "***");
    }
  }
  return text;
}

class PostgresResultsDb final : public ResultsDb {
 public:
  static Result<std::unique_ptr<ResultsDb>> Open(const std::string& uri);

  Result<std::optional<std::string>> FileIdOf(const std::string& origin, const std::string& bolt,
                                              uint64_t generation) override;
  Result<bool> Recorded(const HookRange& range) override;
  Result<Tally> Load() override;
  Result<std::map<int64_t, uint64_t>> RecoveredPerMinute() override;
  Result<uint64_t> Counter(const std::string& name) override;
  Result<std::vector<std::pair<uint64_t, uint64_t>>> Processed(const std::string& file_id) override;
  const std::string& name() const override { return name_; }

 protected:
  Result<ApplyResult> ApplyChecked(const Batch& batch, bool recovered, const HookRange* range) override;

 private:
  Status Connect();
  Status CheckSchema();
  // One statement; `what` names it in an error. Parameters are text (nullptr: NULL).
  Result<PgResult> Run(const std::string& what, const char* sql, const std::vector<const char*>& params = {});
  Status Error(const std::string& what, const PGresult* r) const;
  Status ConnectionError(const std::string& what) const;

  std::string uri_;   // never in a message: it may hold a password
  std::string name_;  // RedactPostgresUri(uri_)
  Conn conn_;
};

Status PostgresResultsDb::ConnectionError(const std::string& what) const {
  return Status::Error(name_ + ": " + what + ": " + Scrub(OneLine(PQerrorMessage(conn_.get())), uri_));
}

Status PostgresResultsDb::Error(const std::string& what, const PGresult* r) const {
  const char* primary = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
  if (primary == nullptr) return ConnectionError(what);
  std::string msg = name_ + ": " + what + ": " + OneLine(primary);
  if (const char* detail = PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL)) msg += " (" + OneLine(detail) + ")";
  if (const char* hint = PQresultErrorField(r, PG_DIAG_MESSAGE_HINT)) msg += "; hint: " + OneLine(hint);
  if (const char* state = PQresultErrorField(r, PG_DIAG_SQLSTATE)) msg += " [SQLSTATE " + std::string(state) + "]";
  return Status::Error(Scrub(msg, uri_));
}

Status PostgresResultsDb::Connect() {
  // Defaults first; the URI (expanded from dbname) overrides them. Over TCP, a server that
  // stops answering is given up within about a minute instead of TCP's quarter of an hour.
  const char* keys[] = {"connect_timeout",    "fallback_application_name", "client_encoding",
                        "keepalives_idle",    "keepalives_interval",       "keepalives_count",
                        "tcp_user_timeout",   "dbname",                    nullptr};
  const char* values[] = {"10", "weblog", "UTF8", "30", "10", "3", "60000", uri_.c_str(), nullptr};
  conn_.reset(PQconnectdbParams(keys, values, /*expand_dbname=*/1));
  if (!conn_) return Status::Error(name_ + ": cannot connect: out of memory");
  if (PQstatus(conn_.get()) != CONNECTION_OK) return ConnectionError("cannot connect");
  // weblog_apply refuses any other isolation (results_db_postgres.h says why).
  auto r = Run("setting READ COMMITTED", "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ COMMITTED");
  return r.ok() ? Status::Ok() : r.status();
}

Result<PgResult> PostgresResultsDb::Run(const std::string& what, const char* sql, const std::vector<const char*>& params) {
  PgResult r(PQexecParams(conn_.get(), sql, static_cast<int>(params.size()), nullptr, params.data(), nullptr, nullptr, 0));
  ExecStatusType st = r ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return r;
  return Error(what, r.get());
}

Status PostgresResultsDb::CheckSchema() {
  if (auto r = Run("BEGIN", "BEGIN"); !r.ok()) return r.status();
  auto fail = [this](Status s) {
    (void)Run("ROLLBACK", "ROLLBACK");
    return s;
  };
  std::string lock = std::string("SELECT pg_advisory_xact_lock(") + kSchemaLock + ")";
  if (auto r = Run("locking the schema", lock.c_str()); !r.ok()) return fail(r.status());
  auto exists = Run("looking for the schema", "SELECT to_regclass('weblog_schema') IS NOT NULL");
  if (!exists.ok()) return fail(exists.status());
  if (std::strcmp(PQgetvalue(exists->get(), 0, 0), "t") == 0) {
    auto v = Run("reading the schema version", "SELECT version FROM weblog_schema");
    if (!v.ok()) return fail(v.status());
    if (PQntuples(v->get()) != 1)
      return fail(Status::Error(name_ + ": table weblog_schema holds " + std::to_string(PQntuples(v->get())) +
                                " rows, not one version"));
    int64_t version = S(v->get(), 0, 0);
    if (version != kSchemaVersion)
      return fail(Status::Error(name_ + ": results database schema version " + std::to_string(version) +
                                ", this program knows " + std::to_string(kSchemaVersion)));
  } else {
    // Created where unqualified names go; the function looks there whoever calls it.
    auto schema = Run("finding the schema to create tables in", "SELECT quote_ident(current_schema())");
    if (!schema.ok()) return fail(schema.status());
    if (PQgetisnull(schema->get(), 0, 0))
      return fail(Status::Error(name_ + ": no schema of the search_path exists to create the weblog tables in"));
    std::string ident = PQgetvalue(schema->get(), 0, 0);
    for (std::string sql : kSchema) {
      if (size_t at = sql.find("@SCHEMA@"); at != std::string::npos) sql.replace(at, 8, ident);
      if (auto r = Run("creating the schema", sql.c_str()); !r.ok()) return fail(r.status());
    }
  }
  if (auto r = Run("COMMIT", "COMMIT"); !r.ok()) return fail(r.status());
  return Status::Ok();
}

Result<std::unique_ptr<ResultsDb>> PostgresResultsDb::Open(const std::string& uri) {
  auto db = std::make_unique<PostgresResultsDb>();
  db->uri_ = uri;
  db->name_ = RedactPostgresUri(uri);
  if (Status s = db->Connect(); !s) return s;
  if (Status s = db->CheckSchema(); !s) return s;
  return std::unique_ptr<ResultsDb>(std::move(db));
}

Result<ApplyResult> PostgresResultsDb::ApplyChecked(const Batch& batch, bool recovered, const HookRange* range) {
  const size_t n = batch.requests.size();
  std::vector<int64_t> begins(n), minutes(n), statuses(n), bytes(n), malformed;
  for (size_t i = 0; i < n; ++i) {
    const Batch::Line& l = batch.requests[i];
    begins[i] = I(l.begin);
    minutes[i] = l.request.minute;
    statuses[i] = l.request.status;
    bytes[i] = I(l.request.bytes);
  }
  for (uint64_t m : batch.malformed) malformed.push_back(I(m));
  auto field = [&](std::string_view Request::*f) {
    return TextArrayOf(n, [&](size_t i) { return batch.requests[i].request.*f; });
  };
  std::string texts[] = {batch.file_id,
                         std::to_string(batch.start),
                         std::to_string(batch.end),
                         recovered ? "true" : "false",
                         ArrayOf(begins),
                         ArrayOf(minutes),
                         field(&Request::host),
                         field(&Request::path),
                         field(&Request::ip),
                         ArrayOf(statuses),
                         ArrayOf(bytes),
                         ArrayOf(malformed)};
  std::string hook[6];
  if (range != nullptr) {
    hook[0] = range->origin;
    hook[1] = range->bolt;
    hook[2] = std::to_string(range->generation);
    hook[3] = std::to_string(range->from);
    hook[4] = std::to_string(range->to);
    hook[5] = std::to_string(range->epoch);
  }
  std::vector<const char*> params;
  for (const std::string& t : texts) params.push_back(t.c_str());
  for (const std::string& h : hook) params.push_back(range != nullptr ? h.c_str() : nullptr);

  std::string what = "applying batch [" + std::to_string(batch.start) + ", " + std::to_string(batch.end) +
                     ") of file " + batch.file_id;
  std::minstd_rand jitter(std::random_device{}());
  auto backoff = std::chrono::milliseconds(kFirstBackoff);
  for (int attempt = 1;; ++attempt) {
    // One statement in autocommit: it is its own transaction, so the file's lock is released
    // at its commit.
    PgResult r(PQexecParams(conn_.get(), kApply, static_cast<int>(params.size()), nullptr, params.data(), nullptr,
                            nullptr, 0));
    if (r && PQresultStatus(r.get()) == PGRES_TUPLES_OK && PQntuples(r.get()) == 1) {
      ApplyResult out;
      out.counted = U(r.get(), 0, 0);
      out.skipped = U(r.get(), 0, 1);
      out.malformed = U(r.get(), 0, 2);
      return out;
    }
    const char* state = r ? PQresultErrorField(r.get(), PG_DIAG_SQLSTATE) : nullptr;
    bool lost = PQstatus(conn_.get()) != CONNECTION_OK;
    bool transient = lost || (state != nullptr && (std::strcmp(state, "40001") == 0 || std::strcmp(state, "40P01") == 0));
    Status error = r && PQresultStatus(r.get()) == PGRES_TUPLES_OK
                       ? Status::Error(name_ + ": " + what + ": weblog_apply returned no row")
                       : Error(what, r.get());
    if (!transient || attempt == kApplyAttempts)
      return attempt > 1 ? error.Context("after " + std::to_string(attempt) + " attempts") : error;
    // A repeat is safe whatever the last attempt did: what committed is skipped.
    std::this_thread::sleep_for(backoff + std::chrono::milliseconds(jitter() % 50));
    backoff = std::min<std::chrono::milliseconds>(backoff * 2, kMaxBackoff);
    if (lost) {
      PQreset(conn_.get());
      if (PQstatus(conn_.get()) == CONNECTION_OK) {
        auto set = Run("setting READ COMMITTED", "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ COMMITTED");
        (void)set;  // a failure shows in the next attempt
      }
    }
  }
}

Result<std::optional<std::string>> PostgresResultsDb::FileIdOf(const std::string& origin, const std::string& bolt,
                                                                 uint64_t generation) {
  std::string gen = std::to_string(generation);
  auto r = Run("looking up the file id of a recorded range",
               "SELECT file_id FROM weblog_hook_ranges WHERE origin = $1 AND bolt = $2 AND generation = $3::bigint "
               "LIMIT 1",
               {origin.c_str(), bolt.c_str(), gen.c_str()});
  if (!r.ok()) return r.status();
  if (PQntuples(r->get()) == 0) return std::optional<std::string>();
  return std::optional<std::string>(PQgetvalue(r->get(), 0, 0));
}

Result<bool> PostgresResultsDb::Recorded(const HookRange& range) {
  std::string gen = std::to_string(range.generation), from = std::to_string(range.from), to = std::to_string(range.to);
  auto r = Run("looking up a recorded range",
               "SELECT 1 FROM weblog_hook_ranges WHERE origin = $1 AND bolt = $2 AND generation = $3::bigint AND "
               "from_off = $4::bigint AND to_off = $5::bigint",
               {range.origin.c_str(), range.bolt.c_str(), gen.c_str(), from.c_str(), to.c_str()});
  if (!r.ok()) return r.status();
  return PQntuples(r->get()) > 0;
}

Result<Tally> PostgresResultsDb::Load() {
  Tally t;
  auto hosts = Run("reading weblog_by_host",
                   "SELECT minute, host, requests, bytes, s1xx, s2xx, s3xx, s4xx, s5xx FROM weblog_by_host");
  if (!hosts.ok()) return hosts.status();
  for (int i = 0, n = PQntuples(hosts->get()); i < n; ++i) {
    const PGresult* r = hosts->get();
    HostCounts& h = t.by_host()[{S(r, i, 0), PQgetvalue(r, i, 1)}];
    h.requests = U(r, i, 2);
    h.bytes = U(r, i, 3);
    for (int s = 0; s < 5; ++s) h.status[static_cast<size_t>(s)] = U(r, i, 4 + s);
  }
  auto urls = Run("reading weblog_by_url", "SELECT minute, host, path, requests, bytes FROM weblog_by_url");
  if (!urls.ok()) return urls.status();
  for (int i = 0, n = PQntuples(urls->get()); i < n; ++i) {
    const PGresult* r = urls->get();
    Counts& c = t.by_url()[{S(r, i, 0), PQgetvalue(r, i, 1), PQgetvalue(r, i, 2)}];
    c.requests = U(r, i, 3);
    c.bytes = U(r, i, 4);
  }
  auto ips = Run("reading weblog_by_ip", "SELECT minute, ip, requests, bytes FROM weblog_by_ip");
  if (!ips.ok()) return ips.status();
  for (int i = 0, n = PQntuples(ips->get()); i < n; ++i) {
    const PGresult* r = ips->get();
    Counts& c = t.by_ip()[{S(r, i, 0), PQgetvalue(r, i, 1)}];
    c.requests = U(r, i, 2);
    c.bytes = U(r, i, 3);
  }
  return t;
}

Result<std::map<int64_t, uint64_t>> PostgresResultsDb::RecoveredPerMinute() {
  auto r = Run("reading weblog_recovered", "SELECT minute, requests FROM weblog_recovered");
  if (!r.ok()) return r.status();
  std::map<int64_t, uint64_t> out;
  for (int i = 0, n = PQntuples(r->get()); i < n; ++i) out[S(r->get(), i, 0)] = U(r->get(), i, 1);
  return out;
}

Result<uint64_t> PostgresResultsDb::Counter(const std::string& name) {
  auto r = Run("reading weblog_counters", "SELECT value FROM weblog_counters WHERE name = $1", {name.c_str()});
  if (!r.ok()) return r.status();
  return PQntuples(r->get()) > 0 ? U(r->get(), 0, 0) : uint64_t{0};
}

Result<std::vector<std::pair<uint64_t, uint64_t>>> PostgresResultsDb::Processed(const std::string& file_id) {
  auto r = Run("reading weblog_processed",
               "SELECT start_off, end_off FROM weblog_processed WHERE file_id = $1 ORDER BY start_off",
               {file_id.c_str()});
  if (!r.ok()) return r.status();
  std::vector<std::pair<uint64_t, uint64_t>> out;
  for (int i = 0, n = PQntuples(r->get()); i < n; ++i) out.emplace_back(U(r->get(), i, 0), U(r->get(), i, 1));
  return out;
}

}  // namespace

Result<std::unique_ptr<ResultsDb>> OpenPostgresResultsDb(const std::string& uri) {
  return PostgresResultsDb::Open(uri);
}

std::string RedactPostgresUri(const std::string& uri) {
  std::string out = uri;
  auto spans = SecretSpans(uri);
  for (auto it = spans.rbegin(); it != spans.rend(); ++it) out.replace(it->first, it->second - it->first, "***");
  return out;
}

}  // namespace weblog
