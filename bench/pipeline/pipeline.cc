// bench/pipeline: the minimal durable replication pipeline tailsafe is measured against
// (issue 24). What a careful engineer would write in an afternoon, with nothing tailsafe does
// beyond the job: no encryption, no state, no recovery, one file, two peers, no retries.
//
//   pipeline send FILE HOST:PORT HOST:PORT
//       follows FILE with inotify (IN_MODIFY); on each wake-up reads what was appended in
//       64 KiB chunks, compresses each with zstd level 1, hashes it with XXH3-64, and writes
//       the frame [u32 raw size][u32 compressed size][u64 xxh3][compressed bytes] to both
//       peers. Runs until SIGTERM or SIGINT.
//   pipeline receive PORT REPLICA
//       takes one connection; reads whatever is there, decodes and checks every whole frame,
//       appends the bytes to REPLICA, fdatasyncs once for all of them (group commit), and then
//       grows REPLICA.durable (a sparse file) to the bytes made durable, so a reader that
//       stats it sees durability, as tailsafe's ACK log shows it. Exits when the sender closes.
//
// bench/replicate/replicate.py runs it beside tailsafe in the same invocation; the writer's
// --watch mode stats the two REPLICA.durable files to time each append until it is durable on
// both peers. Any error ends the program with a message (exit 1): a benchmark, not a product.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <unistd.h>
#include <xxhash.h>
#include <zstd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

constexpr size_t kChunk = 64 * 1024;
constexpr size_t kHeader = 16;

[[noreturn]] void Die(const std::string& what) {
  fprintf(stderr, "pipeline: %s: %s\n", what.c_str(), errno ? strerror(errno) : "failed");
  exit(1);
}

void WriteAll(int fd, const char* p, size_t n, const char* what) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) Die(what);
    p += w;
    n -= static_cast<size_t>(w);
  }
}

int Connect(const std::string& hostport) {
  size_t colon = hostport.rfind(':');
  if (colon == std::string::npos) {
    errno = 0;
    Die("peer '" + hostport + "' is not HOST:PORT");
  }
  addrinfo hints{}, *res = nullptr;
  hints.ai_socktype = SOCK_STREAM;
  if (getaddrinfo(hostport.substr(0, colon).c_str(), hostport.substr(colon + 1).c_str(), &hints, &res) != 0 || !res) {
    errno = 0;
    Die("cannot resolve " + hostport);
  }
  int fd = ::socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || ::connect(fd, res->ai_addr, res->ai_addrlen) != 0) Die("connect " + hostport);
  freeaddrinfo(res);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

volatile sig_atomic_t stop = 0;

int Send(const char* file, const std::vector<std::string>& peers) {
  int fd = ::open(file, O_RDONLY | O_CLOEXEC);
  if (fd < 0) Die(std::string("open ") + file);
  int in = inotify_init1(IN_CLOEXEC);
  if (in < 0 || inotify_add_watch(in, file, IN_MODIFY) < 0) Die(std::string("inotify ") + file);
  std::vector<int> socks;
  for (const auto& p : peers) socks.push_back(Connect(p));
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  std::vector<char> raw(kChunk), frame(kHeader + ZSTD_compressBound(kChunk));
  char events[4096];
  for (;;) {
    // Read everything there is, then wait for the next append (the first pass reads what the
    // file held before we started).
    for (;;) {
      ssize_t n = ::read(fd, raw.data(), raw.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) Die(std::string("read ") + file);
      if (n == 0) break;
      size_t c = ZSTD_compressCCtx(cctx, frame.data() + kHeader, frame.size() - kHeader, raw.data(), static_cast<size_t>(n), 1);
      if (ZSTD_isError(c)) {
        errno = 0;
        Die(std::string("zstd: ") + ZSTD_getErrorName(c));
      }
      uint32_t sizes[2] = {static_cast<uint32_t>(n), static_cast<uint32_t>(c)};
      uint64_t hash = XXH3_64bits(raw.data(), static_cast<size_t>(n));
      memcpy(frame.data(), sizes, 8);
      memcpy(frame.data() + 8, &hash, 8);
      for (int s : socks) WriteAll(s, frame.data(), kHeader + c, "send");
    }
    if (stop) break;
    ssize_t got = ::read(in, events, sizeof events);  // blocks until the next append or a signal
    if (got < 0 && errno != EINTR) Die("inotify read");
    if (stop) break;
  }
  for (int s : socks) ::close(s);
  ZSTD_freeCCtx(cctx);
  return 0;
}

int Receive(int port, const char* replica) {
  int l = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in6 addr{};
  addr.sin6_family = AF_INET6;
  addr.sin6_port = htons(static_cast<uint16_t>(port));
  addr.sin6_addr = in6addr_any;
  if (l < 0 || ::bind(l, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(l, 1) != 0) {
    Die("listen on port " + std::to_string(port));
  }
  int c = ::accept4(l, nullptr, nullptr, SOCK_CLOEXEC);
  if (c < 0) Die("accept");
  int out = ::open(replica, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
  std::string durable_path = std::string(replica) + ".durable";
  int durable = ::open(durable_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (out < 0 || durable < 0) Die(std::string("open ") + replica);
  ZSTD_DCtx* dctx = ZSTD_createDCtx();
  std::vector<char> in, raw(kChunk);
  std::string batch;
  uint64_t total = 0;
  char buf[1 << 16];
  for (;;) {
    // Block for the first bytes, then take whatever else is already there: one batch.
    ssize_t n = ::read(c, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) Die("receive");
    if (n == 0) break;
    in.insert(in.end(), buf, buf + n);
    while ((n = ::recv(c, buf, sizeof buf, MSG_DONTWAIT)) > 0) in.insert(in.end(), buf, buf + n);
    size_t at = 0;
    batch.clear();
    while (in.size() - at >= kHeader) {
      uint32_t sizes[2];
      uint64_t hash;
      memcpy(sizes, in.data() + at, 8);
      memcpy(&hash, in.data() + at + 8, 8);
      if (sizes[0] > kChunk) {
        errno = 0;
        Die("a frame claims " + std::to_string(sizes[0]) + " bytes, more than a chunk");
      }
      if (in.size() - at - kHeader < sizes[1]) break;  // the rest of this frame comes later
      size_t d = ZSTD_decompressDCtx(dctx, raw.data(), raw.size(), in.data() + at + kHeader, sizes[1]);
      if (ZSTD_isError(d) || d != sizes[0] || XXH3_64bits(raw.data(), d) != hash) {
        errno = 0;
        Die("a frame does not decode to the bytes its header names");
      }
      batch.append(raw.data(), d);
      at += kHeader + sizes[1];
    }
    in.erase(in.begin(), in.begin() + static_cast<long>(at));
    if (batch.empty()) continue;
    WriteAll(out, batch.data(), batch.size(), "append");
    if (::fdatasync(out) != 0) Die("fdatasync");
    total += batch.size();
    if (::ftruncate(durable, static_cast<off_t>(total)) != 0) Die("grow " + durable_path);
  }
  ZSTD_freeDCtx(dctx);
  return in.empty() ? 0 : (fprintf(stderr, "pipeline: the sender closed inside a frame\n"), 1);
}

void OnSignal(int) { stop = 1; }

}  // namespace

int main(int argc, char** argv) {
  std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "send" && argc == 5) {
    struct sigaction sa {};
    sa.sa_handler = OnSignal;  // no SA_RESTART: the blocking inotify read returns EINTR
    sigaction(SIGTERM, &sa, nullptr);
    sigaction(SIGINT, &sa, nullptr);
    signal(SIGPIPE, SIG_IGN);
    return Send(argv[2], {argv[3], argv[4]});
  }
  if (mode == "receive" && argc == 4) {
    char* end = nullptr;
    long port = strtol(argv[2], &end, 10);
    if (*argv[2] == '\0' || *end != '\0' || port < 1 || port > 65535) {
      fprintf(stderr, "pipeline: port '%s' is not a number from 1 to 65535\n", argv[2]);
      return 2;
    }
    return Receive(static_cast<int>(port), argv[3]);
  }
  fprintf(stderr,
          "usage: pipeline send FILE HOST:PORT HOST:PORT\n"
          "       pipeline receive PORT REPLICA\n");
  return 2;
}
