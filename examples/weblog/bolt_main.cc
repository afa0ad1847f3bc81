// weblog-bolt: one bolt of the weblog topology. It takes requests from weblog-spout on a Unix
// socket, appends them to its backup file before anything else (that is what tailsafe
// replicates), acknowledges them, and then analyses them: whole chunks of the backup file at a
// time, each committed to the results database in one transaction, after which it writes its
// checkpoint. See examples/weblog/README.md.
//
// A restarted bolt goes on appending to the same file, and analyses from where the file ended
// when it started: what its previous run left unanalysed is not its business (in a Storm
// topology the restarted worker is often on another host, without the file); recovering it is
// tailsafe's, through the weblog-analyze hook.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <deque>
#include <memory>
#include <optional>
#include <string>

#include "common/checkpoint.h"
#include "common/fd.h"
#include "examples/weblog/backup_file.h"
#include "examples/weblog/log_format.h"
#include "examples/weblog/program.h"
#include "examples/weblog/results_db.h"
#include "examples/weblog/spout_protocol.h"

using namespace weblog;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
  std::string name;
  std::string listen;
  std::string backup;
  std::string checkpoint;
  std::string db;
  std::string pid_file;
  uint32_t commit_ms = 100;
  uint64_t max_rate = 0;  // requests analysed per second; 0: as fast as it can
  uint64_t unit_bytes = 4 << 20;
  bool quiet = false;
};

struct Chunk {
  uint64_t end = 0;       // file offset just past the chunk
  uint64_t requests = 0;  // request lines in it
};

class Bolt {
 public:
  explicit Bolt(Options o) : o_(std::move(o)) {}
  int Run();

 private:
  void Log(const char* fmt, ...) __attribute__((format(printf, 2, 3)));
  bool Setup();
  void Accept();
  // false: the client is gone (or misbehaved) and was dropped.
  bool ReadClient();
  bool HandleInput();
  void FlushAck();
  void DropClient(const std::string& why);
  // Analyses and commits what is due; false on a fatal error.
  bool Process(bool drain);
  bool CommitUnit(uint64_t end);
  int NextTimeoutMs() const;

  Options o_;
  std::optional<BackupFile> backup_;
  std::unique_ptr<ResultsDb> db_;
  tailsafe::Fd listen_, client_, signals_;
  std::string inbuf_;
  bool hello_done_ = false;
  std::string run_id_;
  uint64_t next_seq_ = 0;   // of the next request from the client
  uint64_t acked_ = 0;      // last ack sent
  std::string outbuf_;      // unsent bytes to the client
  std::deque<Chunk> chunks_;  // appended, not yet analysed
  uint64_t processed_ = 0;  // file offset analysed up to
  Clock::time_point last_commit_ = Clock::now();
  double tokens_ = 0;
  Clock::time_point tokens_at_ = Clock::now();
  uint64_t total_counted_ = 0, total_skipped_ = 0, total_malformed_ = 0, total_received_ = 0;
  Clock::time_point last_report_ = Clock::now();
};

void Bolt::Log(const char* fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  Logf(("weblog-bolt " + o_.name).c_str(), "%s", buf);
}

bool Bolt::Setup() {
  auto backup = BackupFile::Open(o_.backup);
  if (!backup.ok()) {
    Log("%s", backup.status().message().c_str());
    return false;
  }
  backup_.emplace(std::move(*backup));
  processed_ = backup_->size();
  auto db = ResultsDb::Open(o_.db);
  if (!db.ok()) {
    Log("%s", db.status().message().c_str());
    return false;
  }
  db_ = std::move(*db);

  signals_ = StopSignals();

  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (o_.listen.size() >= sizeof addr.sun_path) {
    Log("--listen %s: a socket path must be shorter than %zu bytes", o_.listen.c_str(), sizeof addr.sun_path);
    return false;
  }
  memcpy(addr.sun_path, o_.listen.c_str(), o_.listen.size() + 1);
  listen_ = tailsafe::Fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  ::unlink(o_.listen.c_str());  // a socket left by a killed run
  if (bind(listen_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(listen_.get(), 4) != 0) {
    Log("--listen %s: %s", o_.listen.c_str(), strerror(errno));
    return false;
  }
  if (!o_.pid_file.empty()) {
    std::string tmp = o_.pid_file + ".tmp";
    FILE* f = fopen(tmp.c_str(), "we");
    if (f == nullptr || fprintf(f, "%d\n", getpid()) < 0 || fclose(f) != 0 || rename(tmp.c_str(), o_.pid_file.c_str()) != 0) {
      Log("--pid-file %s: %s", o_.pid_file.c_str(), strerror(errno));
      return false;
    }
  }
  Log("listening on %s; backup file %s (file id %s, %llu bytes taken over%s); results in %s", o_.listen.c_str(),
      o_.backup.c_str(), backup_->file_id().c_str(), static_cast<unsigned long long>(backup_->size()),
      backup_->repaired_fragment() ? ", a cut last line ended" : "", db_->name().c_str());
  return true;
}

void Bolt::DropClient(const std::string& why) {
  if (client_) Log("spout connection closed: %s", why.c_str());
  client_.Reset();
  inbuf_.clear();
  outbuf_.clear();
  hello_done_ = false;
}

void Bolt::Accept() {
  int fd = accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
  if (fd < 0) return;
  if (client_) DropClient("a new spout connection replaces it");
  client_ = tailsafe::Fd(fd);
}

bool Bolt::ReadClient() {
  char buf[1 << 16];
  for (int rounds = 0; rounds < 16; ++rounds) {
    ssize_t n = ::read(client_.get(), buf, sizeof buf);
    if (n == 0) {
      DropClient("the spout closed it");
      return false;
    }
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) break;
      DropClient(std::string("read: ") + strerror(errno));
      return false;
    }
    inbuf_.append(buf, static_cast<size_t>(n));
    if (static_cast<size_t>(n) < sizeof buf) break;
  }
  return HandleInput();
}

bool Bolt::HandleInput() {
  if (!hello_done_) {
    size_t nl = inbuf_.find('\n');
    if (nl == std::string::npos) {
      if (inbuf_.size() > 256) DropClient("no hello line in its first 256 bytes");
      return client_.valid();
    }
    auto run = ParseHello(std::string_view(inbuf_).substr(0, nl));
    if (!run) {
      DropClient("its first line is not a weblog-spout hello");
      return false;
    }
    run_id_ = *run;
    next_seq_ = backup_->ResumeSeq(run_id_);
    acked_ = next_seq_;
    hello_done_ = true;
    inbuf_.erase(0, nl + 1);
    outbuf_ += "resume " + std::to_string(next_seq_) + "\n";
    Log("spout run %s connected; resuming at request %llu", run_id_.c_str(), static_cast<unsigned long long>(next_seq_));
  }
  size_t last_nl = inbuf_.rfind('\n');
  if (last_nl == std::string::npos) {
    if (inbuf_.size() > kMaxLineBytes + 1) {
      DropClient("it sent a line longer than " + std::to_string(kMaxLineBytes) + " bytes");
      return false;
    }
    return true;
  }
  std::string_view lines(inbuf_.data(), last_nl + 1);
  uint64_t count = 0;
  for (size_t pos = 0; pos < lines.size();) {
    size_t nl = lines.find('\n', pos);
    ++count;
    if (lines[pos] == '#') {
      // Only the bolt writes lines starting with '#' (its markers) into the backup file.
      DropClient("it sent a line starting with '#'");
      return false;
    }
    pos = nl + 1;
  }
  if (Status s = backup_->Append(run_id_, next_seq_, count, lines); !s) {
    Log("%s; stopping", s.message().c_str());
    exit(1);
  }
  chunks_.push_back({backup_->size(), count});
  next_seq_ += count;
  total_received_ += count;
  inbuf_.erase(0, last_nl + 1);
  return true;
}

void Bolt::FlushAck() {
  if (!client_ || !hello_done_) return;
  if (next_seq_ != acked_) {
    outbuf_ += "ack " + std::to_string(next_seq_) + "\n";
    acked_ = next_seq_;
  }
  while (!outbuf_.empty()) {
    ssize_t n = send(client_.get(), outbuf_.data(), outbuf_.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) return;
      DropClient(std::string("send: ") + strerror(errno));
      return;
    }
    outbuf_.erase(0, static_cast<size_t>(n));
  }
}

bool Bolt::CommitUnit(uint64_t end) {
  std::string bytes(end - processed_, '\0');
  ssize_t got = pread(backup_->fd(), bytes.data(), bytes.size(), static_cast<off_t>(processed_));
  if (got != static_cast<ssize_t>(bytes.size())) {
    Log("backup file %s: read [%llu, %llu): %s", o_.backup.c_str(), static_cast<unsigned long long>(processed_),
        static_cast<unsigned long long>(end), got < 0 ? strerror(errno) : "short read");
    return false;
  }
  Batch batch;
  batch.file_id = backup_->file_id();
  batch.start = processed_;
  batch.end = end;
  LineCounts counts;
  AddLines(bytes, processed_, &batch, &counts, [this](uint64_t offset, const std::string& error) {
    Log("backup file offset %llu: malformed line skipped: %s", static_cast<unsigned long long>(offset), error.c_str());
  });
  auto r = db_->Apply(batch, /*recovered=*/false);
  if (!r.ok()) {
    Log("%s", r.status().message().c_str());
    return false;
  }
  if (!o_.checkpoint.empty()) {
    if (Status s = tailsafe::WriteCheckpointFile(o_.checkpoint, end); !s) {
      Log("checkpoint %s: %s", o_.checkpoint.c_str(), s.message().c_str());
      return false;
    }
  }
  total_counted_ += r->counted;
  total_skipped_ += r->skipped;
  total_malformed_ += r->malformed;
  processed_ = end;
  last_commit_ = Clock::now();
  return true;
}

bool Bolt::Process(bool drain) {
  auto now = Clock::now();
  if (o_.max_rate > 0) {
    double dt = std::chrono::duration<double>(now - tokens_at_).count();
    tokens_ = std::min(tokens_ + dt * static_cast<double>(o_.max_rate), static_cast<double>(o_.max_rate));
    tokens_at_ = now;
  }
  while (!chunks_.empty()) {
    if (!drain && now - last_commit_ < std::chrono::milliseconds(o_.commit_ms)) return true;
    // A unit: whole chunks, up to unit_bytes (at least one), and as many requests as the rate
    // allows (at least one chunk once the budget is positive).
    uint64_t end = processed_, requests = 0;
    size_t n = 0;
    while (n < chunks_.size()) {
      const Chunk& c = chunks_[n];
      if (n > 0 && c.end - processed_ > o_.unit_bytes) break;
      if (!drain && o_.max_rate > 0 && (tokens_ <= 0 || (n > 0 && static_cast<double>(requests + c.requests) > tokens_)))
        break;
      end = c.end;
      requests += c.requests;
      ++n;
    }
    if (n == 0) return true;
    if (!CommitUnit(end)) return false;
    chunks_.erase(chunks_.begin(), chunks_.begin() + static_cast<long>(n));
    if (o_.max_rate > 0 && !drain) tokens_ -= static_cast<double>(requests);
    if (!drain) return true;  // one commit per commit interval
  }
  return true;
}

int Bolt::NextTimeoutMs() const {
  if (chunks_.empty()) return 1000;
  auto due = last_commit_ + std::chrono::milliseconds(o_.commit_ms);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(due - Clock::now()).count();
  if (o_.max_rate > 0 && tokens_ <= 0) {
    auto refill = static_cast<long>(1000.0 * (1.0 - tokens_) / static_cast<double>(o_.max_rate));
    ms = std::max<long>(ms, refill);
  }
  return static_cast<int>(std::clamp<long>(ms, 1, 1000));
}

int Bolt::Run() {
  if (!Setup()) return 1;
  bool stopping = false;
  while (!stopping) {
    pollfd fds[3] = {{listen_.get(), POLLIN, 0}, {signals_.get(), POLLIN, 0}, {client_.get(), POLLIN, 0}};
    if (client_ && !outbuf_.empty()) fds[2].events |= POLLOUT;
    int nfds = client_ ? 3 : 2;
    int rc = poll(fds, static_cast<nfds_t>(nfds), NextTimeoutMs());
    if (rc < 0 && errno != EINTR) {
      Log("poll: %s", strerror(errno));
      return 1;
    }
    if (fds[1].revents & POLLIN) {
      signalfd_siginfo si;
      if (read(signals_.get(), &si, sizeof si) > 0) {
        Log("signal %u: analysing the %zu chunks not yet analysed, then stopping", si.ssi_signo, chunks_.size());
        stopping = true;
      }
    }
    if (fds[0].revents & POLLIN) Accept();
    if (nfds == 3 && client_ && (fds[2].revents & (POLLIN | POLLHUP | POLLERR))) ReadClient();
    FlushAck();
    if (!Process(stopping)) return 1;
    auto now = Clock::now();
    if (!o_.quiet && now - last_report_ >= std::chrono::seconds(5)) {
      last_report_ = now;
      Log("received %llu, counted %llu requests (%llu already counted), %llu malformed; backlog %llu bytes",
          static_cast<unsigned long long>(total_received_), static_cast<unsigned long long>(total_counted_),
          static_cast<unsigned long long>(total_skipped_), static_cast<unsigned long long>(total_malformed_),
          static_cast<unsigned long long>(backup_->size() - processed_));
    }
  }
  ::unlink(o_.listen.c_str());
  Log("stopped: received %llu, counted %llu requests (%llu already counted), %llu malformed; checkpoint %llu",
      static_cast<unsigned long long>(total_received_), static_cast<unsigned long long>(total_counted_),
      static_cast<unsigned long long>(total_skipped_), static_cast<unsigned long long>(total_malformed_),
      static_cast<unsigned long long>(processed_));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"weblog-bolt: append requests from weblog-spout to a backup file, then count them into the results database"};
  app.add_option("--name", o.name, "this bolt's name, for messages")->required();
  app.add_option("--listen", o.listen, "Unix socket the spout connects to")->required();
  app.add_option("--backup", o.backup, "append-only backup file (what tailsafe replicates)")->required();
  app.add_option("--checkpoint", o.checkpoint, "checkpoint file: offset analysed up to, written after each commit");
  app.add_option("--db", o.db, "results database: a SQLite file, or a PostgreSQL URI (postgresql://...)")->required();
  app.add_option("--pid-file", o.pid_file, "write this process's id here");
  app.add_option("--commit-ms", o.commit_ms, "commit at most this often")->check(CLI::Range(1, 60000))->capture_default_str();
  app.add_option("--max-rate", o.max_rate, "analyse at most this many requests per second (0: no limit)")
      ->check(CLI::Range(uint64_t{0}, uint64_t{100000000}));
  app.add_option("--unit-bytes", o.unit_bytes, "largest commit, in bytes")->check(CLI::Range(uint64_t{1}, uint64_t{1} << 30));
  app.add_flag("--quiet", o.quiet, "no progress lines");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return Bolt(std::move(o)).Run();
}
