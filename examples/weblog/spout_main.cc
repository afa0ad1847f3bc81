// weblog-spout: reads web access logs (a file, following it as it grows with --follow, or
// stdin) and splits the requests across bolts by target host (stable hashing: a host always
// goes to the same bolt). Each bolt is a weblog-bolt listening on a Unix socket; the protocol,
// and why nothing sent is lost when a bolt dies, is in examples/weblog/spout_protocol.h.
//
// Malformed lines are not sent: each is counted, the first ones are reported with their line
// number and what is wrong, and --rejects keeps them all in a file. The summary at the end
// gives every count.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <xxhash.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <deque>
#include <string>
#include <vector>

#include "common/fd.h"
#include "examples/weblog/log_format.h"
#include "examples/weblog/program.h"
#include "examples/weblog/spout_protocol.h"

using namespace weblog;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
  std::vector<std::string> bolts;
  std::string input = "-";
  bool follow = false;
  double rate = 0;  // requests per second; 0: as fast as the bolts take them
  std::string rejects;
  uint32_t drain_timeout_s = 60;
  uint64_t max_buffer = 64 << 20;
  uint32_t report_malformed = 20;
  bool quiet = false;
};

#define Log(...) Logf("weblog-spout", __VA_ARGS__)

// One bolt: its socket, and every request sent to it that it has not acknowledged yet.
struct BoltLink {
  std::string path;
  tailsafe::Fd fd;
  bool resumed = false;       // the bolt answered our hello
  std::string buf;            // requests from seq `base` on, each ending in '\n'
  size_t buf_front = 0;       // bytes of `buf` already dropped (acknowledged)
  std::deque<uint32_t> lens;  // length of each request in `buf` from `buf_front`
  uint64_t base = 0;          // seq of the first request in lens
  uint64_t next = 0;          // seq of the next request to queue
  size_t sent = 0;            // bytes of buf (from buf_front) written to the current connection
  std::string inbuf;          // from the bolt
  Clock::time_point retry_at = Clock::now();
  Clock::time_point down_since{};
  bool down_logged = false;
  uint64_t sent_high = 0;     // seq past the last request ever written to a connection
  uint64_t requests = 0, resent = 0, lost = 0;

  uint64_t unacked_bytes() const { return buf.size() - buf_front; }
  void DropFront(uint64_t upto) {  // requests before seq `upto` are safe
    while (base < upto && !lens.empty()) {
      buf_front += lens.front();
      lens.pop_front();
      ++base;
    }
    if (buf_front > (1u << 20) && buf_front * 2 > buf.size()) {
      buf.erase(0, buf_front);
      buf_front = 0;
    }
  }
};

class Spout {
 public:
  explicit Spout(Options o) : o_(std::move(o)), run_id_(RandomId()) {}
  int Run();

 private:
  bool OpenInput();
  // Reads and routes what is available; false at the end of the input.
  bool ReadInput();
  void Route(std::string_view line);
  void Reject(std::string_view line, const std::string& error);
  void Connect(BoltLink& b);
  void Disconnect(BoltLink& b, const std::string& why);
  void ReadBolt(BoltLink& b);
  void WriteBolt(BoltLink& b);
  bool Backpressure() const;
  void Summary() const;

  Options o_;
  std::string run_id_;
  std::vector<BoltLink> bolts_;
  tailsafe::Fd input_, signals_;
  ino_t input_ino_ = 0;
  uint64_t input_offset_ = 0;
  std::string inbuf_;
  bool input_done_ = false;
  bool skipping_ = false;  // inside an overlong line
  Clock::time_point input_idle_until_{};
  uint64_t lineno_ = 0, requests_ = 0, malformed_ = 0, other_ = 0;
  FILE* rejects_ = nullptr;
  double tokens_ = 0;
  Clock::time_point tokens_at_ = Clock::now();
  Clock::time_point last_report_ = Clock::now();
};

bool Spout::OpenInput() {
  if (o_.input == "-") {
    input_ = tailsafe::Fd(dup(STDIN_FILENO));
  } else {
    input_ = tailsafe::Fd(::open(o_.input.c_str(), O_RDONLY | O_CLOEXEC));
  }
  if (!input_) {
    Log("%s: %s", o_.input.c_str(), strerror(errno));
    return false;
  }
  struct stat st;
  if (fstat(input_.get(), &st) == 0) input_ino_ = st.st_ino;
  input_offset_ = 0;
  int flags = fcntl(input_.get(), F_GETFL);
  fcntl(input_.get(), F_SETFL, flags | O_NONBLOCK);
  return true;
}

void Spout::Route(std::string_view line) {
  ++lineno_;
  ParsedLine p = ParseLine(line);
  if (p.kind == LineKind::kRequest) {
    ++requests_;
    size_t i = XXH64(p.request.host.data(), p.request.host.size(), 0) % bolts_.size();
    BoltLink& b = bolts_[i];
    b.buf.append(line);
    b.buf.push_back('\n');
    b.lens.push_back(static_cast<uint32_t>(line.size() + 1));
    ++b.next;
    ++b.requests;
    return;
  }
  if (p.kind == LineKind::kMalformed) {
    Reject(line, p.error);
    return;
  }
  ++other_;  // blank lines and comments
}

bool Spout::ReadInput() {
  char buf[1 << 16];
  size_t want = sizeof buf;
  if (o_.rate > 0) want = std::clamp<size_t>(static_cast<size_t>(tokens_ * 200), 512, sizeof buf);  // ~200 B a line
  ssize_t n = ::read(input_.get(), buf, want);
  if (n < 0) {
    if (errno == EAGAIN || errno == EINTR) return true;
    Log("%s: read: %s", o_.input.c_str(), strerror(errno));
    return false;
  }
  if (n == 0) {
    if (!o_.follow) {
      if (!inbuf_.empty()) Route(inbuf_);  // a last line without its newline
      inbuf_.clear();
      return false;
    }
    if (o_.input != "-") {
      // tail -F: a rotated or truncated file is reopened once its old self is read to the end.
      struct stat st;
      if (::stat(o_.input.c_str(), &st) == 0 &&
          (st.st_ino != input_ino_ || static_cast<uint64_t>(st.st_size) < input_offset_)) {
        Log("%s was %s; reading it from the start", o_.input.c_str(), st.st_ino != input_ino_ ? "replaced" : "truncated");
        if (!inbuf_.empty()) Route(inbuf_);
        inbuf_.clear();
        skipping_ = false;
        return OpenInput();
      }
    }
    return true;
  }
  input_offset_ += static_cast<uint64_t>(n);
  std::string_view data(buf, static_cast<size_t>(n));
  if (skipping_) {
    // The rest of an overlong line already reported: dropped up to its newline.
    size_t nl = data.find('\n');
    if (nl == std::string_view::npos) return true;
    data.remove_prefix(nl + 1);
    skipping_ = false;
  }
  inbuf_.append(data);
  size_t pos = 0;
  for (;;) {
    size_t nl = inbuf_.find('\n', pos);
    if (nl == std::string::npos) break;
    std::string_view line(inbuf_.data() + pos, nl - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    Route(line);
    if (o_.rate > 0) tokens_ -= 1;
    pos = nl + 1;
  }
  inbuf_.erase(0, pos);
  if (inbuf_.size() > kMaxLineBytes) {
    // A line longer than any request may be: reported now (its start kept in --rejects), its
    // rest skipped as it comes.
    ++lineno_;
    Reject(inbuf_.substr(0, kMaxLineBytes), "line is longer than the limit of " + std::to_string(kMaxLineBytes) + " bytes");
    inbuf_.clear();
    skipping_ = true;
  }
  return true;
}

void Spout::Reject(std::string_view line, const std::string& error) {
  ++malformed_;
  if (malformed_ <= o_.report_malformed) {
    Log("%s:%llu: malformed line skipped: %s", o_.input == "-" ? "stdin" : o_.input.c_str(),
        static_cast<unsigned long long>(lineno_), error.c_str());
    if (malformed_ == o_.report_malformed) Log("(further malformed lines are counted, not shown)");
  }
  if (rejects_ != nullptr) {
    fwrite(line.data(), 1, line.size(), rejects_);
    fputc('\n', rejects_);
  }
}

void Spout::Connect(BoltLink& b) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  memcpy(addr.sun_path, b.path.c_str(), b.path.size() + 1);
  tailsafe::Fd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    if (!b.down_logged) {
      Log("bolt %s: cannot connect (%s); retrying", b.path.c_str(), strerror(errno));
      b.down_logged = true;
      b.down_since = Clock::now();
    }
    b.retry_at = Clock::now() + std::chrono::milliseconds(50);
    return;
  }
  b.fd = std::move(fd);
  b.resumed = false;
  b.inbuf.clear();
  std::string hello = FormatHello(run_id_);
  if (send(b.fd.get(), hello.data(), hello.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(hello.size()))
    Disconnect(b, "could not send hello");
}

void Spout::Disconnect(BoltLink& b, const std::string& why) {
  Log("bolt %s: connection lost (%s); %llu requests not acknowledged, kept to send again", b.path.c_str(), why.c_str(),
      static_cast<unsigned long long>(b.lens.size()));
  uint64_t seq = b.base;
  size_t bytes = 0;
  for (auto it = b.lens.begin(); it != b.lens.end() && bytes < b.sent; ++it, ++seq) bytes += *it;
  b.sent_high = std::max(b.sent_high, seq);
  b.fd.Reset();
  b.resumed = false;
  b.sent = 0;
  b.down_logged = true;
  b.down_since = Clock::now();
  b.retry_at = Clock::now() + std::chrono::milliseconds(20);
}

void Spout::ReadBolt(BoltLink& b) {
  char buf[4096];
  ssize_t n = ::read(b.fd.get(), buf, sizeof buf);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
    Disconnect(b, n == 0 ? "closed by the bolt" : strerror(errno));
    return;
  }
  if (n < 0) return;
  b.inbuf.append(buf, static_cast<size_t>(n));
  size_t nl;
  while ((nl = b.inbuf.find('\n')) != std::string::npos) {
    std::string line = b.inbuf.substr(0, nl);
    b.inbuf.erase(0, nl + 1);
    if (!b.resumed) {
      auto seq = ParseNumbered(line, "resume");
      if (!seq || *seq > b.next) {
        Disconnect(b, "bad answer to hello: '" + line.substr(0, 60) + "'");
        return;
      }
      if (*seq < b.base) {
        b.lost += b.base - *seq;
        Log("bolt %s: resumes at request %llu, but it had acknowledged up to %llu: %llu requests are gone from its "
            "backup file",
            b.path.c_str(), static_cast<unsigned long long>(*seq), static_cast<unsigned long long>(b.base),
            static_cast<unsigned long long>(b.base - *seq));
      }
      uint64_t before = b.lens.size();
      b.DropFront(*seq);
      if (b.sent_high > *seq) b.resent += b.sent_high - *seq;
      b.resumed = true;
      b.sent = 0;
      auto down_ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - b.down_since).count();
      if (b.down_logged)
        Log("bolt %s: connected after %lld ms; it resumes at request %llu (%llu sent before are sent again; %llu "
            "requests queued)",
            b.path.c_str(), static_cast<long long>(down_ms), static_cast<unsigned long long>(*seq),
            static_cast<unsigned long long>(b.sent_high > *seq ? b.sent_high - *seq : 0),
            static_cast<unsigned long long>(before));
      b.down_logged = false;
      continue;
    }
    auto seq = ParseNumbered(line, "ack");
    if (!seq || *seq > b.next) {
      Disconnect(b, "bad ack: '" + line.substr(0, 60) + "'");
      return;
    }
    size_t dropped_bytes = 0;
    uint64_t s = b.base;
    for (auto it = b.lens.begin(); s < *seq && it != b.lens.end(); ++it, ++s) dropped_bytes += *it;
    b.DropFront(*seq);
    b.sent = dropped_bytes > b.sent ? 0 : b.sent - dropped_bytes;
  }
}

void Spout::WriteBolt(BoltLink& b) {
  while (b.resumed && b.sent < b.unacked_bytes()) {
    ssize_t n = send(b.fd.get(), b.buf.data() + b.buf_front + b.sent, b.unacked_bytes() - b.sent,
                     MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) return;
      Disconnect(b, strerror(errno));
      return;
    }
    b.sent += static_cast<size_t>(n);
  }
}

bool Spout::Backpressure() const {
  for (const BoltLink& b : bolts_)
    if (b.unacked_bytes() > o_.max_buffer) return true;
  return false;
}

void Spout::Summary() const {
  std::string per_bolt;
  uint64_t resent = 0, lost = 0;
  for (const BoltLink& b : bolts_) {
    per_bolt += (per_bolt.empty() ? "" : ", ") + std::to_string(b.requests);
    resent += b.resent;
    lost += b.lost;
  }
  Log("read %llu lines: %llu requests sent (per bolt: %s), %llu malformed lines skipped, %llu blank or comment lines; "
      "%llu requests sent again after a bolt restart, %llu lost",
      static_cast<unsigned long long>(lineno_), static_cast<unsigned long long>(requests_), per_bolt.c_str(),
      static_cast<unsigned long long>(malformed_), static_cast<unsigned long long>(other_),
      static_cast<unsigned long long>(resent), static_cast<unsigned long long>(lost));
}

int Spout::Run() {
  for (const std::string& path : o_.bolts) {
    if (path.size() >= sizeof(sockaddr_un::sun_path)) {
      Log("--bolt %s: a socket path must be shorter than %zu bytes", path.c_str(), sizeof(sockaddr_un::sun_path));
      return 2;
    }
    bolts_.emplace_back();
    bolts_.back().path = path;
  }
  if (!o_.rejects.empty()) {
    rejects_ = fopen(o_.rejects.c_str(), "we");
    if (rejects_ == nullptr) {
      Log("--rejects %s: %s", o_.rejects.c_str(), strerror(errno));
      return 2;
    }
  }
  if (!OpenInput()) return 2;
  signals_ = StopSignals();

  Clock::time_point drain_deadline{};
  for (;;) {
    auto now = Clock::now();
    for (BoltLink& b : bolts_)
      if (!b.fd && now >= b.retry_at) Connect(b);

    bool all_acked = true;
    for (const BoltLink& b : bolts_) all_acked = all_acked && b.lens.empty();
    if (input_done_ && all_acked) break;
    if (input_done_ && now >= drain_deadline) {
      for (const BoltLink& b : bolts_)
        if (!b.lens.empty())
          Log("bolt %s: %zu requests still not acknowledged after %u s; giving up", b.path.c_str(), b.lens.size(),
              o_.drain_timeout_s);
      Summary();
      return 1;
    }

    std::vector<pollfd> fds;
    fds.push_back({signals_.get(), POLLIN, 0});
    // The input is read when no bolt is too far behind, the rate allows, and (following a file
    // at its end) after a pause.
    bool want_input = !input_done_ && !Backpressure() && now >= input_idle_until_ && (o_.rate <= 0 || tokens_ >= 1);
    fds.push_back({want_input ? input_.get() : -1, POLLIN, 0});
    for (BoltLink& b : bolts_) {
      short ev = POLLIN;
      if (b.resumed && b.sent < b.unacked_bytes()) ev |= POLLOUT;
      fds.push_back({b.fd ? b.fd.get() : -1, ev, 0});
    }
    int timeout = want_input ? 100 : 10;
    if (poll(fds.data(), fds.size(), timeout) < 0 && errno != EINTR) {
      Log("poll: %s", strerror(errno));
      return 1;
    }
    if (fds[0].revents & POLLIN) {
      signalfd_siginfo si;
      if (read(signals_.get(), &si, sizeof si) > 0 && !input_done_) {
        Log("signal %u: no more input; sending what was read", si.ssi_signo);
        input_done_ = true;
        drain_deadline = Clock::now() + std::chrono::seconds(o_.drain_timeout_s);
      }
    }
    if (o_.rate > 0) {
      auto t = Clock::now();
      tokens_ = std::min(tokens_ + std::chrono::duration<double>(t - tokens_at_).count() * o_.rate, o_.rate / 20 + 1);
      tokens_at_ = t;
    }
    if (want_input && !input_done_ && (fds[1].revents & (POLLIN | POLLHUP)) != 0) {
      uint64_t before = input_offset_;
      if (!ReadInput()) {
        input_done_ = true;
        drain_deadline = Clock::now() + std::chrono::seconds(o_.drain_timeout_s);
      } else if (o_.follow && input_offset_ == before) {
        input_idle_until_ = Clock::now() + std::chrono::milliseconds(100);  // at the end of a followed file
      }
    }
    for (size_t i = 0; i < bolts_.size(); ++i) {
      BoltLink& b = bolts_[i];
      short re = fds[2 + i].revents;
      if (b.fd && (re & (POLLIN | POLLHUP | POLLERR))) ReadBolt(b);
      if (b.fd) WriteBolt(b);
    }
    if (!o_.quiet && Clock::now() - last_report_ >= std::chrono::seconds(5)) {
      last_report_ = Clock::now();
      Log("%llu lines read, %llu requests sent, %llu malformed", static_cast<unsigned long long>(lineno_),
          static_cast<unsigned long long>(requests_), static_cast<unsigned long long>(malformed_));
    }
  }
  Summary();
  if (rejects_ != nullptr) fclose(rejects_);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"weblog-spout: split web access logs across weblog-bolts by target host"};
  app.add_option("--bolt", o.bolts, "a bolt's Unix socket (repeat, in order: the order decides the split)")
      ->required()
      ->allow_extra_args(false);
  app.add_option("input", o.input, "access log to read ('-': stdin)")->capture_default_str();
  app.add_flag("--follow,-F", o.follow, "keep reading as the file grows (and after it is rotated)");
  app.add_option("--rate", o.rate, "send at most this many requests per second (0: no limit)")
      ->check(CLI::Range(0.0, 1e9));
  app.add_option("--rejects", o.rejects, "append every malformed line to this file");
  app.add_option("--drain-timeout-s", o.drain_timeout_s, "at the end, wait this long for the bolts' acknowledgements")
      ->check(CLI::Range(1, 86400))->capture_default_str();
  app.add_option("--report-malformed", o.report_malformed, "show this many malformed lines, then only count them")
      ->capture_default_str();
  app.add_flag("--quiet", o.quiet, "no progress lines");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return Spout(std::move(o)).Run();
}
