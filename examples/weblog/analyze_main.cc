// weblog-analyze: the weblog analysis as a tailsafe recovery hook, and the reports.
//
//   weblog-analyze [hook] --db DB            the hook: the tail on stdin, TAILSAFE_* in the
//                                            environment; counts it exactly once
//   weblog-analyze report --db DB [--top N] [--by host|url|ip|all] [--format text|csv|json]
//   weblog-analyze compare --db DB LOG...    exit 0 if the database equals the analysis of LOG
//   weblog-analyze series --db DB [LOG...]   requests per minute: total, recovered by hooks,
//                                            without them (and in LOG), for charts
//
// DB is a SQLite file or a PostgreSQL URI (postgresql://...; results_db_postgres.h).
//
// How the hook counts exactly once, whoever else counted some of the same bytes, is in
// examples/weblog/results_db.h. It needs the tail's file id: from an earlier range of the same
// generation, else from a marker line in the tail (weblog-bolt's files), else, when the tail
// has no marker before its first request (a raw-format file of tailsafe-storm's TailsafeBolt),
// from the generation file's first line, its `#tailsafe-storm` header (storm_header.h): the
// agent gives every hook the whole generation file, read-only, as descriptor 3.
//
// The hook's exit status: 0 the tail is counted (or was, by someone); 1 a failure that may pass
// (the database, reading the input): tailsafe runs it again; 2 not run as a hook (the
// environment is missing); 3 the tail cannot be attributed, and trying again will not change
// that: the file's header says it is a tailsafe-storm file but is broken, or its records are not
// raw access-log lines. Nothing is counted then, not even under a makeshift id, since the
// topology's own bolt counts the same bytes under the header's id and a guess would count them
// twice. tailsafe treats 3 as any failure (it tries hook_attempts times, each failing the same
// way without writing, then shows the recovery failed); the message says what is wrong, and once
// the hook or the file is fixed, `tailsafectl retry /recoveries/N` runs it again.
#include <fcntl.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "common/names.h"
#include "examples/weblog/log_format.h"
#include "examples/weblog/program.h"
#include "examples/weblog/results_db.h"
#include "examples/weblog/storm_header.h"
#include "examples/weblog/tally.h"

using namespace weblog;

namespace {

constexpr size_t kCommitEvery = 32 << 20;  // a long tail is committed in parts of about this size
// A tailsafe-storm header carries its bolt serialised (spec=): allow for a large one.
constexpr size_t kMaxHeaderBytes = 16 << 20;
// The hook's exit statuses (the comment at the top).
constexpr int kExitRetry = 1;
constexpr int kExitNotAHook = 2;
constexpr int kExitPermanent = 3;

#define Log(...) Logf("weblog-analyze", __VA_ARGS__)

bool EnvNumber(const char* name, uint64_t* out, std::string* err) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') {
    *err = std::string(name) + " is not set (weblog-analyze runs as a tailsafe hook, which sets it)";
    return false;
  }
  char* end = nullptr;
  errno = 0;
  unsigned long long n = strtoull(v, &end, 10);
  if (errno != 0 || *end != '\0' || v[0] == '-') {
    *err = std::string(name) + "='" + v + "' is not a decimal number";
    return false;
  }
  *out = n;
  return true;
}

bool EnvString(const char* name, std::string* out, std::string* err) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') {
    *err = std::string(name) + " is not set (weblog-analyze runs as a tailsafe hook, which sets it)";
    return false;
  }
  *out = v;
  return true;
}

// Where a tail's file id came from, or why it cannot be had.
enum class IdFrom { kNone, kFound, kPermanent, kRetry };

// The file id in a `#tailsafe-storm` header line; logs why not.
IdFrom FromStormHeader(const char* name, const char* where, std::string_view line, bool whole, std::string* id) {
  auto h = whole ? ParseStormHeader(line) : tailsafe::Result<StormHeader>(Status::Error(
                                                "header is longer than " + std::to_string(kMaxHeaderBytes) + " bytes"));
  if (!h.ok()) {
    Log("%s: %s is a tailsafe-storm header that cannot be read: %s; not counting this tail (a guessed file id "
        "would count again what the topology counted), exit %d: fix the file or this hook, then tailsafectl retry",
        name, where, h.status().message().c_str(), kExitPermanent);
    return IdFrom::kPermanent;
  }
  if (!IsRawFormat(*h)) {
    Log("%s: the file's records are in format '%s' (tailsafe-storm header of %s/%s task %lld), but weblog-analyze "
        "reads raw access-log lines (format=raw); not counting this tail, exit %d: make this bolt's hook one that "
        "reads its format (tailsafe-storm-replay), then tailsafectl retry",
        name, tailsafe::Printable(h->format, 40).c_str(), tailsafe::Printable(h->topology, 80).c_str(),
        tailsafe::Printable(h->component, 80).c_str(), static_cast<long long>(h->task), kExitPermanent);
    return IdFrom::kPermanent;
  }
  *id = h->file_id;
  return IdFrom::kFound;
}

// The file id in the generation file's first line (descriptor 3, `generation`): its
// tailsafe-storm header, or a weblog marker.
IdFrom FromGenerationFile(const char* name, int generation, std::string* id) {
  auto first = ReadFirstLine(generation, kMaxHeaderBytes);
  if (!first.ok()) {
    Log("%s: descriptor 3 (the generation file): %s", name, first.status().message().c_str());
    return IdFrom::kRetry;
  }
  if (!first->has_value()) return IdFrom::kNone;
  const FirstLine& line = **first;
  if (IsStormHeader(line.text)) return FromStormHeader(name, "the generation file's first line", line.text, line.whole, id);
  if (auto m = line.whole ? ParseMarker(line.text) : std::nullopt) {
    *id = m->file_id;
    return IdFrom::kFound;
  }
  return IdFrom::kNone;
}

int Hook(const std::string& db_path, const tailsafe::Fd& generation) {
  HookRange range;
  std::string err;
  if (!EnvString("TAILSAFE_ORIGIN", &range.origin, &err) || !EnvString("TAILSAFE_BOLT", &range.bolt, &err) ||
      !EnvNumber("TAILSAFE_GENERATION", &range.generation, &err) || !EnvNumber("TAILSAFE_FROM", &range.from, &err) ||
      !EnvNumber("TAILSAFE_TO", &range.to, &err) || !EnvNumber("TAILSAFE_EPOCH", &range.epoch, &err)) {
    Log("%s", err.c_str());
    return kExitNotAHook;
  }
  if (range.to < range.from) {
    Log("TAILSAFE_TO=%llu is before TAILSAFE_FROM=%llu", static_cast<unsigned long long>(range.to),
        static_cast<unsigned long long>(range.from));
    return kExitNotAHook;
  }
  char name[256];
  snprintf(name, sizeof name, "%s/%s generation %llu [%llu, %llu) epoch %llu", range.origin.c_str(), range.bolt.c_str(),
           static_cast<unsigned long long>(range.generation), static_cast<unsigned long long>(range.from),
           static_cast<unsigned long long>(range.to), static_cast<unsigned long long>(range.epoch));
  auto db = ResultsDb::Open(db_path);
  if (!db.ok()) {
    Log("%s", db.status().message().c_str());
    return kExitRetry;
  }
  // The file id: from an earlier range of this generation (a follow-up may start inside a
  // chunk), else from the input's markers or the generation file's header.
  auto known = (*db)->FileIdOf(range.origin, range.bolt, range.generation);
  if (!known.ok()) {
    Log("%s", known.status().message().c_str());
    return kExitRetry;
  }
  std::string file_id = known->value_or("");
  bool generation_read = false;

  std::string pending;          // input bytes from file offset `base`, not yet committed
  uint64_t base = range.from;   // file offset of pending[0]
  uint64_t read_total = 0;
  size_t scanned = 0;           // bytes of `pending` searched for a file id
  ApplyResult total;
  LineCounts counts;
  auto on_malformed = [&](uint64_t offset, const std::string& error) {
    if (counts.malformed <= 20)
      Log("%s: offset %llu: malformed line skipped: %s", name, static_cast<unsigned long long>(offset), error.c_str());
  };
  // Commits the whole lines of pending[0, upto) (the last batch also records the range).
  auto commit = [&](size_t upto, bool last) -> bool {
    Batch batch;
    batch.file_id = file_id;
    batch.start = base;
    batch.end = base + upto;
    AddLines(std::string_view(pending).substr(0, upto), base, &batch, &counts, on_malformed);
    auto r = (*db)->Apply(batch, /*recovered=*/true, last ? &range : nullptr);
    if (!r.ok()) {
      Log("%s: %s", name, r.status().message().c_str());
      return false;
    }
    total.counted += r->counted;
    total.skipped += r->skipped;
    total.malformed += r->malformed;
    pending.erase(0, upto);
    base += upto;
    scanned = 0;
    return true;
  };
  // Looks for the file id among the whole lines not yet searched: a marker, a tailsafe-storm
  // header (the tail starts at the file's start), or, at the first line to count before
  // either, the generation file's first line.
  auto find_id = [&]() -> IdFrom {
    for (;;) {
      size_t nl = pending.find('\n', scanned);
      if (nl == std::string::npos) return IdFrom::kNone;
      std::string_view line = std::string_view(pending).substr(scanned, nl - scanned);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      scanned = nl + 1;
      if (auto m = ParseMarker(line)) {
        file_id = m->file_id;
        return IdFrom::kFound;
      }
      if (IsStormHeader(line)) return FromStormHeader(name, "the tail's first line", line, true, &file_id);
      LineKind kind = ParseLine(line).kind;
      if (!generation_read && (kind == LineKind::kRequest || kind == LineKind::kMalformed)) {
        generation_read = true;
        IdFrom from = FromGenerationFile(name, generation.get(), &file_id);
        if (from != IdFrom::kNone) return from;
      }
    }
  };

  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      Log("%s: reading stdin: %s", name, strerror(errno));
      return kExitRetry;
    }
    if (n == 0) break;
    read_total += static_cast<uint64_t>(n);
    pending.append(buf, static_cast<size_t>(n));
    if (file_id.empty()) {
      IdFrom from = find_id();
      if (from == IdFrom::kPermanent) return kExitPermanent;
      if (from == IdFrom::kRetry) return kExitRetry;
    }
    if (!file_id.empty() && pending.size() >= kCommitEvery) {
      size_t last_nl = pending.rfind('\n');
      if (last_nl != std::string::npos && !commit(last_nl + 1, false)) return kExitRetry;
    }
  }
  if (read_total != range.to - range.from)
    Log("%s: stdin held %llu bytes, not the %llu the range names; counting what came", name,
        static_cast<unsigned long long>(read_total), static_cast<unsigned long long>(range.to - range.from));
  if (file_id.empty()) {
    file_id = "range:" + range.origin + "/" + range.bolt + "/" + std::to_string(range.generation);
    Log("%s: no marker line in the input, no file header and no earlier range of this generation: counting under "
        "%s, so a bolt's own count of these bytes cannot be recognised",
        name, file_id.c_str());
  }
  if (!commit(pending.size(), true)) return kExitRetry;
  Log("%s: counted %llu requests, %llu already counted, %llu malformed lines (file %s)", name,
      static_cast<unsigned long long>(total.counted), static_cast<unsigned long long>(total.skipped),
      static_cast<unsigned long long>(total.malformed), file_id.c_str());
  return 0;
}

// The analysis of plain log files (the spout's input), as the bolts would count them.
bool AnalyseFiles(const std::vector<std::string>& paths, Tally* tally, LineCounts* counts) {
  for (const std::string& path : paths) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      Log("%s: %s", path.c_str(), strerror(errno));
      return false;
    }
    std::string line;
    while (std::getline(in, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      ParsedLine p = ParseLine(line);
      switch (p.kind) {
        case LineKind::kRequest:
          tally->Add(p.request);
          ++counts->requests;
          break;
        case LineKind::kMalformed:
          ++counts->malformed;
          break;
        case LineKind::kMarker:
          ++counts->markers;
          break;
        default:
          ++counts->other;
      }
    }
  }
  return true;
}

int Compare(const std::string& db_path, const std::vector<std::string>& logs) {
  Tally want;
  LineCounts counts;
  if (!AnalyseFiles(logs, &want, &counts)) return 2;
  auto db = ResultsDb::Open(db_path);
  if (!db.ok()) {
    Log("%s", db.status().message().c_str());
    return 2;
  }
  auto got = (*db)->Load();
  if (!got.ok()) {
    Log("%s", got.status().message().c_str());
    return 2;
  }
  std::string diff = got->Diff(want, 20);
  auto minutes = want.PerMinute();
  if (!diff.empty()) {
    printf("DIFFERENT: the results database does not equal the analysis of the input.\n%s", diff.c_str());
    return 1;
  }
  std::set<std::string> hosts;
  for (const auto& [k, v] : want.by_host()) hosts.insert(k.second);
  printf("EQUAL: %llu requests in %zu minutes, %zu hosts, %zu (minute, URL) and %zu (minute, client) counts: every "
         "one matches the input (%llu malformed input lines skipped by both)\n",
         static_cast<unsigned long long>(want.requests()), minutes.size(), hosts.size(), want.by_url().size(),
         want.by_ip().size(), static_cast<unsigned long long>(counts.malformed));
  return 0;
}

int Series(const std::string& db_path, const std::vector<std::string>& logs) {
  auto db = ResultsDb::Open(db_path);
  if (!db.ok()) {
    Log("%s", db.status().message().c_str());
    return 2;
  }
  auto got = (*db)->Load();
  auto recovered = (*db)->RecoveredPerMinute();
  if (!got.ok() || !recovered.ok()) {
    Log("%s", (!got.ok() ? got.status() : recovered.status()).message().c_str());
    return 2;
  }
  Tally input;
  LineCounts counts;
  if (!logs.empty() && !AnalyseFiles(logs, &input, &counts)) return 2;
  auto total = got->PerMinute();
  auto in = input.PerMinute();
  std::set<int64_t> minutes;
  for (const auto& [m, n] : total) minutes.insert(m);
  for (const auto& [m, n] : in) minutes.insert(m);
  printf("# minute\ttotal\trecovered_by_hooks\twithout_tailsafe%s\n", logs.empty() ? "" : "\tinput");
  for (int64_t m : minutes) {
    uint64_t t = total.count(m) ? total[m] : 0;
    uint64_t r = recovered->count(m) ? (*recovered)[m] : 0;
    printf("%s\t%llu\t%llu\t%llu", FormatMinute(m).c_str(), static_cast<unsigned long long>(t),
           static_cast<unsigned long long>(r), static_cast<unsigned long long>(t - std::min(t, r)));
    if (!logs.empty()) printf("\t%llu", static_cast<unsigned long long>(in.count(m) ? in[m] : 0));
    printf("\n");
  }
  return 0;
}

struct Row {
  std::string dim, key;
  uint64_t requests, bytes;
  const HostCounts* host = nullptr;
};

// The period a report covers: every minute (the default), the last N minutes, or all minutes
// added together (`total`).
struct Period {
  size_t last = 0;
  bool total = false;
};

// Adds every minute's counts into one, under minute `into`.
Tally Totals(const Tally& t, int64_t into) {
  Tally out;
  for (const auto& [k, v] : t.by_host()) {
    HostCounts& h = out.by_host()[{into, k.second}];
    h.requests += v.requests;
    h.bytes += v.bytes;
    for (size_t s = 0; s < 5; ++s) h.status[s] += v.status[s];
  }
  for (const auto& [k, v] : t.by_url()) {
    Counts& c = out.by_url()[{into, std::get<1>(k), std::get<2>(k)}];
    c.requests += v.requests;
    c.bytes += v.bytes;
  }
  for (const auto& [k, v] : t.by_ip()) {
    Counts& c = out.by_ip()[{into, k.second}];
    c.requests += v.requests;
    c.bytes += v.bytes;
  }
  return out;
}

int Report(const std::string& db_path, size_t top, const std::string& by, const std::string& format, Period period) {
  auto db = ResultsDb::Open(db_path);
  if (!db.ok()) {
    Log("%s", db.status().message().c_str());
    return 2;
  }
  auto tally = (*db)->Load();
  if (!tally.ok()) {
    Log("%s", tally.status().message().c_str());
    return 2;
  }
  std::map<int64_t, uint64_t> all_minutes = tally->PerMinute();
  std::string period_name;
  if (period.total && !all_minutes.empty()) {
    period_name = FormatMinute(all_minutes.begin()->first) + " to " + FormatMinute(all_minutes.rbegin()->first);
    *tally = Totals(*tally, all_minutes.begin()->first);
  } else if (period.last > 0 && all_minutes.size() > period.last) {
    int64_t first = std::next(all_minutes.begin(), static_cast<long>(all_minutes.size() - period.last))->first;
    Tally cut;
    for (const auto& [k, v] : tally->by_host())
      if (k.first >= first) cut.by_host()[k] = v;
    for (const auto& [k, v] : tally->by_url())
      if (std::get<0>(k) >= first) cut.by_url()[k] = v;
    for (const auto& [k, v] : tally->by_ip())
      if (k.first >= first) cut.by_ip()[k] = v;
    *tally = std::move(cut);
  }
  // Rows per minute, each dimension sorted by requests (then key), cut to `top` (0: all).
  std::map<int64_t, std::vector<Row>> rows;
  std::map<int64_t, uint64_t> per_minute = tally->PerMinute();
  auto label = [&](int64_t minute) { return period_name.empty() ? FormatMinute(minute) : period_name; };
  auto add = [&](int64_t minute, const std::string& dim, std::string key, uint64_t req, uint64_t bytes,
                 const HostCounts* h) { rows[minute].push_back({dim, std::move(key), req, bytes, h}); };
  if (by == "host" || by == "all")
    for (const auto& [k, v] : tally->by_host()) add(k.first, "host", k.second, v.requests, v.bytes, &v);
  if (by == "url" || by == "all")
    for (const auto& [k, v] : tally->by_url())
      add(std::get<0>(k), "url", std::get<1>(k) + std::get<2>(k), v.requests, v.bytes, nullptr);
  if (by == "ip" || by == "all")
    for (const auto& [k, v] : tally->by_ip()) add(k.first, "ip", k.second, v.requests, v.bytes, nullptr);
  for (auto& [minute, list] : rows) {
    std::stable_sort(list.begin(), list.end(), [](const Row& a, const Row& b) {
      if (a.dim != b.dim) return a.dim < b.dim;
      if (a.requests != b.requests) return a.requests > b.requests;
      return a.key < b.key;
    });
    if (top > 0) {
      std::vector<Row> cut;
      std::map<std::string, size_t> seen;
      for (Row& r : list)
        if (seen[r.dim]++ < top) cut.push_back(std::move(r));
      list = std::move(cut);
    }
  }
  if (format == "json") {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& [minute, list] : rows) {
      nlohmann::json m = {{period_name.empty() ? "minute" : "period", label(minute)}, {"requests", per_minute[minute]}};
      for (const Row& r : list) {
        nlohmann::json e = {{"key", r.key}, {"requests", r.requests}, {"bytes", r.bytes}};
        if (r.host != nullptr)
          e["status"] = {{"1xx", r.host->status[0]}, {"2xx", r.host->status[1]}, {"3xx", r.host->status[2]},
                         {"4xx", r.host->status[3]}, {"5xx", r.host->status[4]}};
        m[r.dim + "s"].push_back(std::move(e));
      }
      out.push_back(std::move(m));
    }
    printf("%s\n", out.dump(1).c_str());
    return 0;
  }
  if (format == "csv") {
    printf("minute,dimension,key,requests,bytes,s1xx,s2xx,s3xx,s4xx,s5xx\n");
    for (const auto& [minute, list] : rows) {
      for (const Row& r : list) {
        // Keys are hosts, paths and addresses as logged; quote them for CSV.
        std::string key = "\"";
        for (char c : r.key) key += c == '"' ? std::string("\"\"") : std::string(1, c);
        key += "\"";
        printf("%s,%s,%s,%llu,%llu", label(minute).c_str(), r.dim.c_str(), key.c_str(),
               static_cast<unsigned long long>(r.requests), static_cast<unsigned long long>(r.bytes));
        if (r.host != nullptr) {
          for (uint64_t s : r.host->status) printf(",%llu", static_cast<unsigned long long>(s));
        } else {
          printf(",,,,,");
        }
        printf("\n");
      }
    }
    return 0;
  }
  for (const auto& [minute, list] : rows) {
    printf("%s  %llu requests\n", label(minute).c_str(), static_cast<unsigned long long>(per_minute[minute]));
    std::string dim;
    for (const Row& r : list) {
      if (r.dim != dim) {
        dim = r.dim;
        printf("  top %ss:\n", dim.c_str());
      }
      printf("    %8llu  %-40s %10llu bytes", static_cast<unsigned long long>(r.requests), r.key.c_str(),
             static_cast<unsigned long long>(r.bytes));
      if (r.host != nullptr)
        printf("   2xx %llu 3xx %llu 4xx %llu 5xx %llu", static_cast<unsigned long long>(r.host->status[1]),
               static_cast<unsigned long long>(r.host->status[2]), static_cast<unsigned long long>(r.host->status[3]),
               static_cast<unsigned long long>(r.host->status[4]));
      printf("\n");
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // The generation file the agent gives a hook as descriptor 3, kept before anything opened
  // here could take that number (an older agent, or a run by hand, leaves it closed).
  tailsafe::Fd generation(::fcntl(3, F_DUPFD_CLOEXEC, 10));
  const char* kDbHelp = "results database: a SQLite file, or a PostgreSQL URI (postgresql://...)";
  CLI::App app{"weblog-analyze: count web requests per minute (as a tailsafe hook), and report them"};
  std::string db;
  app.add_option("--db", db, kDbHelp);
  auto* hook = app.add_subcommand("hook", "count the tail on stdin (TAILSAFE_* in the environment) exactly once");
  hook->add_option("--db", db, kDbHelp)->required();
  auto* report = app.add_subcommand("report", "the top hosts, URLs and client addresses per minute");
  size_t top = 5;
  std::string by = "all", format = "text";
  report->add_option("--db", db, kDbHelp)->required();
  report->add_option("--top", top, "rows per dimension and minute (0: all)")->capture_default_str();
  report->add_option("--by", by, "host, url, ip or all")->check(CLI::IsMember({"host", "url", "ip", "all"}))->capture_default_str();
  Period period;
  report->add_option("--last", period.last, "only the last N minutes (0: all)");
  report->add_flag("--total", period.total, "all minutes added together");
  report->add_option("--format", format, "text, csv or json")->check(CLI::IsMember({"text", "csv", "json"}))->capture_default_str();
  auto* compare = app.add_subcommand("compare", "exit 0 if the database equals the analysis of the given logs");
  std::vector<std::string> logs;
  compare->add_option("--db", db, kDbHelp)->required();
  compare->add_option("logs", logs, "the access logs that were fed to the spout")->required();
  auto* series = app.add_subcommand("series", "requests per minute: total, recovered, without tailsafe (TSV)");
  series->add_option("--db", db, kDbHelp)->required();
  series->add_option("logs", logs, "also count these access logs, as a column");
  app.require_subcommand(0, 1);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (*report) return Report(db, top, by, format, period);
  if (*compare) return Compare(db, logs);
  if (*series) return Series(db, logs);
  if (*hook || std::getenv("TAILSAFE_BOLT") != nullptr) {
    if (db.empty()) {
      Log("--db is required");
      return 2;
    }
    return Hook(db, generation);
  }
  std::cerr << app.help();
  return 2;
}
