// bench_writer: the workload and the lag meter of bench/replicate.
//
//   bench_writer --file FILE (--seconds S --rate MBPS | --bytes N [--rate 0])
//                [--max-write BYTES | --write-size BYTES] [--seed N] [--pool-mib N]
//                (--acklog SOCK --peers ID,ID | --durablelog SOCK,SOCK --origin ID |
//                 --watch FILE ... | --durable-log FILE ...) [--bolt NAME] [--generation G]
//                [--extra-max-s S] [--extra-rate MBPS] [--settle-s S] [--stall-s S]
//
// Appends access-log lines (tests/support/loglines.h) to FILE, keeping it open as a bolt keeps
// its backup file open, in writes of RandomWriteSize(max-write) bytes (or, with --write-size,
// every write that size: 200 is a bolt writing each line as it comes), paced against the start
// time at --rate MB/s (1 MB = 10^6 bytes; 0 = as fast as possible). For each write it records
// (end offset, CLOCK_MONOTONIC ns right after write(2) returned).
//
// Where the bytes arrive, measured in this same process so that both sides share one clock:
//   --acklog SOCK   tailsafe: drains the origin agent's `acklog` control request every 100 ms;
//                   an ACK's time is when the origin received it (the peer had fdatasync'ed).
//   --durablelog SOCK,SOCK  tailsafe: drains each peer agent's `durablelog` every 100 ms; a
//                   record's time is when that peer's commit ended and its ACK left (the origin
//                   hears of it one network hop later).
//   --watch FILE    any other system: a thread stats every FILE once per millisecond and keeps
//                   (time, size) at each change; "visible" means the bytes are readable in the
//                   target file (no durability).
//   --durable-log FILE  bench/pipeline's receivers: FILE is a log of (CLOCK_MONOTONIC ns, bytes
//                   durable) records, two native u64s each, that the receiver appends after each
//                   fdatasync; a thread reads new records once per millisecond and keeps each
//                   record's own time, so the lag is not rounded up to the next poll.
// The lag of a write is the max over targets of (first time the target held >= its end offset)
// minus the write's time.
//
// Phases: the measured window (--seconds at --rate, or --bytes); then, with --extra-max-s, more
// writes at --extra-rate (default: the same rate, 10 MB/s if as fast as possible) until every
// measured byte is visible everywhere or the time is up: pipelines that hold a partial block
// until more input arrives (zstd) get that input, as they would in production, and those
// extra writes are not measured. Then the file is closed and the tool waits until every byte
// written is visible on every target, at most --settle-s, or until no target moved for --stall-s.
//
// Prints one JSON object on stdout. Exit 0 when it measured (even if some bytes never became
// visible: the JSON says so), 1 on an error, 2 on a usage error.
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/control_client.h"
#include "common/fd.h"
#include "tests/support/loglines.h"

using tailsafe::NowNs;
using nlohmann::json;

namespace {

struct Options {
  std::string file;
  double seconds = 0;
  double rate = 0;  // MB/s, 0 = as fast as possible
  uint64_t bytes = 0;
  size_t max_write = 32768;
  size_t write_size = 0;  // 0: RandomWriteSize(max_write)
  uint64_t seed = 1;
  size_t pool_mib = 32;
  std::string acklog;
  std::vector<std::string> peers;
  std::vector<std::string> durablelog;  // the peers' control sockets
  std::string origin;                   // whose stream their durable logs are read for
  std::string bolt = "bolt-1";
  uint64_t generation = 1;
  std::vector<std::string> watch;
  bool durable_log = false;  // the watched files are durable logs (--durable-log), not targets to stat
  double extra_max_s = 0;
  double extra_rate = -1;
  double settle_s = 30;
  double stall_s = 0;  // 0 = no stall rule
};

[[noreturn]] void Usage(const char* why) {
  fprintf(stderr, "bench_writer: %s\n", why);
  fprintf(stderr,
          "usage: bench_writer --file FILE (--seconds S --rate MBPS | --bytes N [--rate 0])\n"
          "       [--max-write B | --write-size B] [--seed N] [--pool-mib N]\n"
          "       (--acklog SOCK --peers ID,ID | --durablelog SOCK,SOCK --origin ID |\n"
          "        --watch FILE ... | --durable-log FILE ...) [--bolt NAME] [--generation G]\n"
          "       [--extra-max-s S] [--extra-rate MBPS] [--settle-s S] [--stall-s S]\n");
  exit(2);
}

double ParseDouble(const char* s, const char* what) {
  char* end = nullptr;
  double v = strtod(s, &end);
  if (end == s || *end != '\0' || !std::isfinite(v) || v < 0) Usage((std::string(what) + ": not a number").c_str());
  return v;
}

uint64_t ParseU64(const char* s, const char* what) {
  char* end = nullptr;
  unsigned long long v = strtoull(s, &end, 10);
  if (end == s || *end != '\0') Usage((std::string(what) + ": not an integer").c_str());
  return v;
}

std::vector<std::string> SplitCommas(const std::string& s) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos <= s.size()) {
    size_t comma = s.find(',', pos);
    if (comma == std::string::npos) comma = s.size();
    if (comma > pos) out.push_back(s.substr(pos, comma - pos));
    pos = comma + 1;
  }
  return out;
}

Options ParseArgs(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (i + 1 >= argc) Usage(("missing value after " + a).c_str());
    const char* v = argv[++i];
    if (a == "--file") o.file = v;
    else if (a == "--seconds") o.seconds = ParseDouble(v, "--seconds");
    else if (a == "--rate") o.rate = ParseDouble(v, "--rate");
    else if (a == "--bytes") o.bytes = ParseU64(v, "--bytes");
    else if (a == "--max-write") o.max_write = ParseU64(v, "--max-write");
    else if (a == "--write-size") o.write_size = ParseU64(v, "--write-size");
    else if (a == "--seed") o.seed = ParseU64(v, "--seed");
    else if (a == "--pool-mib") o.pool_mib = ParseU64(v, "--pool-mib");
    else if (a == "--acklog") o.acklog = v;
    else if (a == "--peers") o.peers = SplitCommas(v);
    else if (a == "--durablelog") o.durablelog = SplitCommas(v);
    else if (a == "--origin") o.origin = v;
    else if (a == "--bolt") o.bolt = v;
    else if (a == "--generation") o.generation = ParseU64(v, "--generation");
    else if (a == "--watch" || a == "--durable-log") {
      if (!o.watch.empty() && o.durable_log != (a == "--durable-log")) Usage("--watch and --durable-log do not mix");
      o.durable_log = a == "--durable-log";
      o.watch.push_back(v);
    }
    else if (a == "--extra-max-s") o.extra_max_s = ParseDouble(v, "--extra-max-s");
    else if (a == "--extra-rate") o.extra_rate = ParseDouble(v, "--extra-rate");
    else if (a == "--settle-s") o.settle_s = ParseDouble(v, "--settle-s");
    else if (a == "--stall-s") o.stall_s = ParseDouble(v, "--stall-s");
    else Usage(("unknown option " + a).c_str());
  }
  if (o.file.empty()) Usage("--file is required");
  if (o.bytes == 0) {
    if (o.seconds <= 0 || o.rate <= 0) Usage("give --bytes, or --seconds with a --rate above 0");
    o.bytes = static_cast<uint64_t>(o.seconds * o.rate * 1e6);
  }
  if (o.max_write < 1) Usage("--max-write must be at least 1");
  if (o.write_size > (64u << 20)) Usage("--write-size must be at most 64 MiB");
  if (o.pool_mib < 1) Usage("--pool-mib must be at least 1");
  if (int{!o.acklog.empty()} + int{!o.watch.empty()} + int{!o.durablelog.empty()} != 1) {
    Usage("give one of --acklog (with --peers), --durablelog (with --origin), --watch or --durable-log");
  }
  if (!o.acklog.empty() && o.peers.empty()) Usage("--acklog needs --peers");
  if (!o.durablelog.empty() && o.origin.empty()) Usage("--durablelog needs --origin");
  if (o.extra_rate < 0) o.extra_rate = o.rate > 0 ? o.rate : 10;
  return o;
}

// Where one target stands: (time, offset) points in time order, offsets non-decreasing.
struct Track {
  std::string name;
  std::vector<std::pair<uint64_t, uint64_t>> points;
  uint64_t high = 0;
  void Add(uint64_t t, uint64_t off) {
    if (off <= high) return;
    high = off;
    points.emplace_back(t, off);
  }
};

class Targets {
 public:
  explicit Targets(std::vector<std::string> names) {
    for (auto& n : names) tracks_.push_back(Track{std::move(n), {}, 0});
  }
  void Add(size_t i, uint64_t t, uint64_t off) {
    std::lock_guard<std::mutex> lock(mu_);
    uint64_t before = tracks_[i].high;
    tracks_[i].Add(t, off);
    if (tracks_[i].high != before) last_progress_ns_ = t;
  }
  // The smallest offset every target holds.
  uint64_t MinHigh() const {
    std::lock_guard<std::mutex> lock(mu_);
    uint64_t m = UINT64_MAX;
    for (const auto& t : tracks_) m = std::min(m, t.high);
    return tracks_.empty() ? 0 : m;
  }
  uint64_t LastProgressNs() const {
    std::lock_guard<std::mutex> lock(mu_);
    return last_progress_ns_;
  }
  std::vector<Track> Snapshot() const {
    std::lock_guard<std::mutex> lock(mu_);
    return tracks_;
  }
  void Clear() {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& t : tracks_) t = Track{t.name, {}, 0};
    last_progress_ns_ = 0;
  }

 private:
  mutable std::mutex mu_;
  std::vector<Track> tracks_;
  uint64_t last_progress_ns_ = 0;
};

void SleepUntilNs(uint64_t t) {
  timespec ts{static_cast<time_t>(t / 1000000000ull), static_cast<long>(t % 1000000000ull)};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
  }
}

// --watch: stat every file once per millisecond. --durable-log: read every file's new records
// once per millisecond.
struct PollStats {
  uint64_t polls = 0;
  uint64_t max_gap_ns = 0;
  std::vector<uint32_t> gaps_us;  // sampled poll intervals
};

// A durable log being read: its fd (opened once the file exists) and the bytes read so far.
struct LogReader {
  tailsafe::Fd fd;
  std::string partial;  // the start of a record not yet whole
  // Adds every whole record appended since the last call to target `i`.
  void ReadNew(const std::string& path, size_t i, Targets* targets) {
    if (fd.get() < 0) {
      fd.Reset(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
      if (fd.get() < 0) return;  // not created yet
    }
    char buf[64 * 1024];
    ssize_t n;
    while ((n = ::read(fd.get(), buf, sizeof buf)) > 0) {
      partial.append(buf, static_cast<size_t>(n));
      size_t whole = partial.size() / 16 * 16;
      for (size_t at = 0; at < whole; at += 16) {
        uint64_t rec[2];
        memcpy(rec, partial.data() + at, sizeof rec);
        targets->Add(i, rec[0], rec[1]);
      }
      partial.erase(0, whole);
    }
  }
};

void PollLoop(const Options& o, Targets* targets, std::atomic<bool>* stop, PollStats* ps) {
  const std::vector<std::string>& files = o.watch;
  std::vector<LogReader> logs(files.size());
  uint64_t next = NowNs();
  uint64_t prev = 0;
  while (!stop->load(std::memory_order_relaxed)) {
    for (size_t i = 0; i < files.size(); ++i) {
      struct stat st;
      if (o.durable_log) {
        logs[i].ReadNew(files[i], i, targets);
      } else if (::stat(files[i].c_str(), &st) == 0) {
        targets->Add(i, NowNs(), static_cast<uint64_t>(st.st_size));
      }
    }
    uint64_t now = NowNs();
    if (prev != 0) {
      uint64_t gap = now - prev;
      ps->max_gap_ns = std::max(ps->max_gap_ns, gap);
      if (ps->gaps_us.size() < 4000000) ps->gaps_us.push_back(static_cast<uint32_t>(std::min<uint64_t>(gap / 1000, UINT32_MAX)));
    }
    prev = now;
    ++ps->polls;
    next += 1000000;
    if (next < now) next = now;  // fell behind: do not burst
    SleepUntilNs(next);
  }
}

// --acklog: drain the origin agent's ACK log every 100 ms; --durablelog: each peer's durable log.
struct AckStats {
  uint64_t requests = 0;
  uint64_t errors = 0;
  uint64_t events = 0;
  uint64_t foreign = 0;  // events for another bolt or generation
  std::string last_error;
};

// One request: `request` on `sock`, whose reply maps each of `keys` (key i: target i) to events.
bool DrainLog(const Options& o, const std::string& sock, const char* request, const std::vector<std::pair<std::string, size_t>>& keys,
              Targets* targets, AckStats* as) {
  auto reply = tailsafe::ControlRequest(sock, request, 5000);
  ++as->requests;
  if (!reply) {
    ++as->errors;
    as->last_error = reply.status().message();
    return false;
  }
  json doc = json::parse(*reply, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    ++as->errors;
    as->last_error = std::string(request) + " reply is not a JSON object: " + reply->substr(0, 200);
    return false;
  }
  for (const auto& [key, i] : keys) {
    auto it = doc.find(key);
    if (it == doc.end() || !it->is_array()) continue;
    for (const auto& e : *it) {
      if (!e.is_array() || e.size() != 4) continue;
      ++as->events;
      if (e[1].get<std::string>() != o.bolt || e[2].get<uint64_t>() != o.generation) {
        ++as->foreign;
        continue;
      }
      targets->Add(i, e[0].get<uint64_t>(), e[3].get<uint64_t>());
    }
  }
  return true;
}

bool DrainAckLog(const Options& o, Targets* targets, AckStats* as) {
  if (o.durablelog.empty()) {
    std::vector<std::pair<std::string, size_t>> keys;
    for (size_t i = 0; i < o.peers.size(); ++i) keys.emplace_back(o.peers[i], i);
    return DrainLog(o, o.acklog, "acklog", keys, targets, as);
  }
  bool ok = true;
  for (size_t i = 0; i < o.durablelog.size(); ++i) ok = DrainLog(o, o.durablelog[i], "durablelog", {{o.origin, i}}, targets, as) && ok;
  return ok;
}

void AckLoop(const Options& o, Targets* targets, std::atomic<bool>* stop, AckStats* as) {
  uint64_t next = NowNs();
  while (!stop->load(std::memory_order_relaxed)) {
    DrainAckLog(o, targets, as);
    next += 100000000;
    uint64_t now = NowNs();
    if (next < now) next = now;
    // Sleep in short steps so that a stop request is seen quickly.
    while (!stop->load(std::memory_order_relaxed) && NowNs() < next) SleepUntilNs(std::min(next, NowNs() + 5000000));
  }
  DrainAckLog(o, targets, as);  // the last ACKs
}

double Percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return NAN;
  size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
  if (rank < 1) rank = 1;
  if (rank > sorted.size()) rank = sorted.size();
  return sorted[rank - 1];
}

json Num(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

}  // namespace

int main(int argc, char** argv) {
  Options o = ParseArgs(argc, argv);
  prctl(PR_SET_TIMERSLACK, 10000UL, 0, 0, 0);  // 10 us: pacing and 1 kHz polling stay close to schedule

  // The text to write: a pool of whole lines, written cyclically (its period is far beyond any
  // compression window, so compressors see fresh text).
  uint64_t gen_start = NowNs();
  std::string pool;
  {
    tailsafe::testing::LogLines lines(o.seed);
    pool.reserve(o.pool_mib * 1048576 + 4096);
    lines.AppendBytes(&pool, o.pool_mib * 1048576);
  }
  double gen_s = static_cast<double>(NowNs() - gen_start) / 1e9;
  std::mt19937_64 rng(o.seed * 7919 + 1);

  int fd = ::open(o.file.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    fprintf(stderr, "bench_writer: open %s: %s\n", o.file.c_str(), strerror(errno));
    return 1;
  }
  struct stat st0;
  if (::fstat(fd, &st0) != 0) {
    fprintf(stderr, "bench_writer: fstat %s: %s\n", o.file.c_str(), strerror(errno));
    return 1;
  }
  const uint64_t base = static_cast<uint64_t>(st0.st_size);

  std::vector<std::string> target_names = !o.acklog.empty() ? o.peers : !o.durablelog.empty() ? o.durablelog : o.watch;
  Targets targets(target_names);
  std::atomic<bool> stop{false};
  PollStats ps;
  AckStats as;
  std::thread meter;
  const bool logs = !o.acklog.empty() || !o.durablelog.empty();
  if (logs) {
    if (!DrainAckLog(o, &targets, &as)) {  // discards events from before this run, checks the sockets
      fprintf(stderr, "bench_writer: %s: %s\n", o.acklog.empty() ? "durablelog" : "acklog", as.last_error.c_str());
      return 1;
    }
    targets.Clear();
    meter = std::thread(AckLoop, std::cref(o), &targets, &stop, &as);
  } else {
    meter = std::thread(PollLoop, std::cref(o), &targets, &stop, &ps);
  }

  std::vector<std::pair<uint64_t, uint64_t>> writes;  // (end offset, t_ns after write returned)
  writes.reserve(static_cast<size_t>(std::min<uint64_t>(o.bytes / 64 + 1024, 50000000)));
  uint64_t written = 0;
  size_t pool_pos = 0;
  auto write_some = [&](size_t n) -> bool {
    while (n > 0) {
      size_t take = std::min(n, pool.size() - pool_pos);
      ssize_t w = ::write(fd, pool.data() + pool_pos, take);
      if (w < 0) {
        if (errno == EINTR) continue;
        fprintf(stderr, "bench_writer: write %s: %s\n", o.file.c_str(), strerror(errno));
        return false;
      }
      uint64_t t = NowNs();
      written += static_cast<uint64_t>(w);
      writes.emplace_back(base + written, t);
      pool_pos = (pool_pos + static_cast<size_t>(w)) % pool.size();
      n -= static_cast<size_t>(w);
    }
    return true;
  };

  // Measured window.
  const uint64_t start = NowNs();
  while (written < o.bytes) {
    size_t n = o.write_size ? o.write_size : tailsafe::testing::RandomWriteSize(rng, o.max_write);
    n = static_cast<size_t>(std::min<uint64_t>(n, o.bytes - written));
    if (!write_some(n)) return 1;
    if (o.rate > 0) {
      uint64_t due = start + static_cast<uint64_t>(static_cast<double>(written) / (o.rate * 1e6) * 1e9);
      if (due > NowNs()) SleepUntilNs(due);  // pacing a workload, not waiting for a condition
    }
  }
  const uint64_t write_end = NowNs();
  const uint64_t measured_bytes = written;
  const size_t measured_writes = writes.size();
  const uint64_t measured_end = base + measured_bytes;

  // Extra writes until the measured bytes are visible everywhere (or the time is up).
  uint64_t extra_bytes = 0;
  if (o.extra_max_s > 0) {
    const uint64_t extra_start = NowNs();
    const uint64_t extra_deadline = extra_start + static_cast<uint64_t>(o.extra_max_s * 1e9);
    const uint64_t extra_base = written;
    while (targets.MinHigh() < measured_end && NowNs() < extra_deadline) {
      size_t n = o.write_size ? o.write_size : tailsafe::testing::RandomWriteSize(rng, o.max_write);
      if (!write_some(n)) return 1;
      uint64_t due = extra_start + static_cast<uint64_t>(static_cast<double>(written - extra_base) /
                                                         (o.extra_rate * 1e6) * 1e9);
      if (due > NowNs()) SleepUntilNs(due);
    }
    extra_bytes = written - extra_base;
  }
  ::close(fd);
  const uint64_t close_ns = NowNs();
  const uint64_t total_end = base + written;

  // Settle: every byte written visible everywhere, or a deadline, or a stall.
  const uint64_t settle_deadline = close_ns + static_cast<uint64_t>(o.settle_s * 1e9);
  const char* settle_result = "complete";
  for (;;) {
    if (targets.MinHigh() >= total_end) break;
    uint64_t now = NowNs();
    if (now >= settle_deadline) {
      settle_result = "deadline";
      break;
    }
    if (o.stall_s > 0) {
      uint64_t last = std::max(targets.LastProgressNs(), close_ns);
      if (now - last >= static_cast<uint64_t>(o.stall_s * 1e9)) {
        settle_result = "stalled";
        break;
      }
    }
    SleepUntilNs(now + 1000000);  // polling the meter's shared state, bounded by the deadline above
  }
  const uint64_t settle_end = NowNs();
  stop = true;
  meter.join();

  // Match every measured write with the first time each target held its end offset.
  std::vector<Track> tracks = targets.Snapshot();
  std::vector<double> lags_ms;
  lags_ms.reserve(measured_writes);
  uint64_t unseen = 0, unseen_bytes_from = 0, last_visible = 0;
  std::vector<size_t> idx(tracks.size(), 0);
  for (size_t w = 0; w < measured_writes; ++w) {
    auto [end, t] = writes[w];
    uint64_t seen = 0;
    bool all = true;
    for (size_t k = 0; k < tracks.size(); ++k) {
      const auto& pts = tracks[k].points;
      while (idx[k] < pts.size() && pts[idx[k]].second < end) ++idx[k];
      if (idx[k] == pts.size()) {
        all = false;
        break;
      }
      seen = std::max(seen, pts[idx[k]].first);
    }
    if (!all) {
      if (unseen == 0) unseen_bytes_from = w == 0 ? base : writes[w - 1].first;
      ++unseen;
      continue;
    }
    last_visible = std::max(last_visible, seen);
    lags_ms.push_back(seen > t ? static_cast<double>(seen - t) / 1e6 : 0.0);
  }
  std::sort(lags_ms.begin(), lags_ms.end());
  double sum = 0;
  for (double v : lags_ms) sum += v;

  json out;
  out["file"] = o.file;
  out["mode"] = !o.acklog.empty() ? "acklog" : !o.durablelog.empty() ? "durablelog" : o.durable_log ? "durable-log" : "watch";
  out["rate_mbps"] = o.rate;
  out["max_write"] = o.max_write;
  out["write_size"] = o.write_size;
  out["pool_generation_s"] = gen_s;
  out["measured_bytes"] = measured_bytes;
  out["measured_writes"] = measured_writes;
  out["extra_bytes"] = extra_bytes;
  out["total_bytes"] = written;
  out["base_offset"] = base;
  out["write_window_s"] = static_cast<double>(write_end - start) / 1e9;
  out["writer_mbps"] = static_cast<double>(measured_bytes) / 1e6 / (static_cast<double>(write_end - start) / 1e9);
  // Delivered throughput: measured bytes over the time from the first write until they were all
  // durable/visible on every target.
  if (unseen == 0 && last_visible > start) {
    out["delivered_s"] = static_cast<double>(last_visible - start) / 1e9;
    out["delivered_mbps"] = static_cast<double>(measured_bytes) / 1e6 / (static_cast<double>(last_visible - start) / 1e9);
  } else {
    out["delivered_s"] = nullptr;
    out["delivered_mbps"] = nullptr;
  }
  out["phase_s"] = static_cast<double>(settle_end - start) / 1e9;
  out["settle"] = settle_result;
  out["lag_samples"] = lags_ms.size();
  out["lag_ms"] = {{"p50", Num(Percentile(lags_ms, 50))},
                   {"p90", Num(Percentile(lags_ms, 90))},
                   {"p99", Num(Percentile(lags_ms, 99))},
                   {"p999", Num(Percentile(lags_ms, 99.9))},
                   {"max", Num(lags_ms.empty() ? NAN : lags_ms.back())},
                   {"mean", Num(lags_ms.empty() ? NAN : sum / static_cast<double>(lags_ms.size()))}};
  out["unseen_writes"] = unseen;
  out["unseen_bytes"] = unseen == 0 ? 0 : measured_end - unseen_bytes_from;
  json tj = json::array();
  for (const auto& tr : tracks) tj.push_back({{"name", tr.name}, {"high", tr.high}, {"points", tr.points.size()}});
  out["targets"] = tj;
  out["total_visible_everywhere"] = targets.MinHigh() >= total_end;
  if (!logs) {
    std::vector<uint32_t> g = ps.gaps_us;
    std::sort(g.begin(), g.end());
    out["poll"] = {{"polls", ps.polls},
                   {"interval_us_p50", g.empty() ? 0 : g[g.size() / 2]},
                   {"interval_us_p99", g.empty() ? 0 : g[std::min(g.size() - 1, g.size() * 99 / 100)]},
                   {"interval_us_max", ps.max_gap_ns / 1000}};
  } else {
    out["acklog"] = {{"requests", as.requests},
                     {"errors", as.errors},
                     {"events", as.events},
                     {"foreign_events", as.foreign},
                     {"last_error", as.last_error}};
  }
  printf("%s\n", out.dump().c_str());
  return 0;
}
