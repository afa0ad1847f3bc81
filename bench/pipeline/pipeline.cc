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
//       appends to REPLICA.durable a record of the moment and the bytes made durable (two
//       native u64s: CLOCK_MONOTONIC ns, size), as tailsafe's ACK log records each ACK. Exits
//       when the sender closes.
//
// Options that add, one at a time, what tailsafe does beyond this (both sides must agree), so
// that the benchmark can say what each costs (docs/performance.md):
//   --ack      (both) after each fdatasync the receiver sends the durable size back (8 bytes);
//              the sender waits for the next append or an ACK in one poll(), as an agent does.
//   --handoff  (receive) the fdatasync runs on a second thread: the first keeps reading and
//              appending, hands each sync over with a condition variable and learns that it
//              ended from an eventfd it polls (tailsafe's committer thread).
//   --encrypt  (both) every frame and ACK travels as a ChaCha20-Poly1305 record (libsodium,
//              a fixed key: a cost, not a secret), encrypted once per peer.
//
// bench/replicate/replicate.py runs it beside tailsafe in the same invocation; the writer's
// --durable-log mode reads the two REPLICA.durable files to time each append until it is
// durable on both peers, by the receivers' own clock readings. Any error ends the program with
// a message (exit 1): a benchmark, not a product.
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
#include <sodium.h>
#include <sys/eventfd.h>
#include <time.h>
#include <xxhash.h>
#include <zstd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <memory>
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

struct Options {
  bool ack = false;
  bool handoff = false;
  bool encrypt = false;
};

// --encrypt: records of [u32 sealed size][ciphertext and tag], one nonce counter per direction.
class Crypt {
 public:
  static constexpr size_t kTag = crypto_aead_chacha20poly1305_ietf_ABYTES;
  Crypt() { memset(key_, 7, sizeof key_); }
  void Seal(const char* p, size_t n, std::string* out) {
    unsigned char nonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES] = {};
    memcpy(nonce, &sent_, 8);
    ++sent_;
    uint32_t len = static_cast<uint32_t>(n + kTag);
    size_t at = out->size();
    out->resize(at + 4 + len);
    memcpy(out->data() + at, &len, 4);
    crypto_aead_chacha20poly1305_ietf_encrypt(reinterpret_cast<unsigned char*>(out->data() + at + 4), nullptr,
                                              reinterpret_cast<const unsigned char*>(p), n, nullptr, 0, nullptr, nonce, key_);
  }
  // Moves the plaintext of every whole record at the front of `wire` to the end of `out`.
  void Open(std::vector<char>* wire, std::vector<char>* out) {
    size_t at = 0;
    while (wire->size() - at >= 4) {
      uint32_t len;
      memcpy(&len, wire->data() + at, 4);
      if (len < kTag || len > (1u << 20)) {
        errno = 0;
        Die("a record claims " + std::to_string(len) + " bytes");
      }
      if (wire->size() - at - 4 < len) break;
      unsigned char nonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES] = {};
      memcpy(nonce, &received_, 8);
      ++received_;
      size_t o = out->size();
      out->resize(o + len - kTag);
      if (crypto_aead_chacha20poly1305_ietf_decrypt(reinterpret_cast<unsigned char*>(out->data() + o), nullptr, nullptr,
                                                    reinterpret_cast<const unsigned char*>(wire->data() + at + 4), len,
                                                    nullptr, 0, nonce, key_) != 0) {
        errno = 0;
        Die("a record does not decrypt");
      }
      at += 4 + len;
    }
    wire->erase(wire->begin(), wire->begin() + static_cast<long>(at));
  }

 private:
  unsigned char key_[crypto_aead_chacha20poly1305_ietf_KEYBYTES];
  uint64_t sent_ = 0;
  uint64_t received_ = 0;
};

// Reads what is there without blocking; false once the other side has closed.
bool ReadAvailable(int fd, std::vector<char>* to) {
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) {
      to->insert(to->end(), buf, buf + n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
    if (n < 0 && errno != ECONNRESET) Die("receive");
    return false;
  }
}

int Send(const char* file, const std::vector<std::string>& peers, const Options& o) {
  int fd = ::open(file, O_RDONLY | O_CLOEXEC);
  if (fd < 0) Die(std::string("open ") + file);
  int in = inotify_init1(IN_CLOEXEC);
  if (in < 0 || inotify_add_watch(in, file, IN_MODIFY) < 0) Die(std::string("inotify ") + file);
  std::vector<int> socks;
  for (const auto& p : peers) socks.push_back(Connect(p));
  std::vector<Crypt> crypt(socks.size());
  std::vector<std::vector<char>> acks(socks.size()), opened(socks.size());
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  std::vector<char> raw(kChunk), frame(kHeader + ZSTD_compressBound(kChunk));
  std::string record;
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
      for (size_t i = 0; i < socks.size(); ++i) {
        if (!o.encrypt) {
          WriteAll(socks[i], frame.data(), kHeader + c, "send");
          continue;
        }
        record.clear();
        crypt[i].Seal(frame.data(), kHeader + c, &record);
        WriteAll(socks[i], record.data(), record.size(), "send");
      }
    }
    if (stop) break;
    if (!o.ack) {
      ssize_t got = ::read(in, events, sizeof events);  // blocks until the next append or a signal
      if (got < 0 && errno != EINTR) Die("inotify read");
      if (stop) break;
      continue;
    }
    // --ack: the next append or an ACK, whichever comes first, wakes the sender.
    std::vector<pollfd> fds{{in, POLLIN, 0}};
    for (int s : socks) fds.push_back({s, POLLIN, 0});
    if (::poll(fds.data(), fds.size(), -1) < 0 && errno != EINTR) Die("poll");
    if (stop) break;
    if (fds[0].revents != 0 && ::read(in, events, sizeof events) < 0 && errno != EINTR) Die("inotify read");
    for (size_t i = 0; i < socks.size(); ++i) {
      if (fds[i + 1].revents == 0) continue;
      if (!ReadAvailable(socks[i], &acks[i])) Die("a receiver closed its connection");
      if (o.encrypt) crypt[i].Open(&acks[i], &opened[i]);
      std::vector<char>& plain = o.encrypt ? opened[i] : acks[i];
      plain.erase(plain.begin(), plain.begin() + static_cast<long>(plain.size() / 8 * 8));  // whole ACKs
    }
  }
  for (int s : socks) ::close(s);
  ZSTD_freeCCtx(cctx);
  return 0;
}

// Decodes and checks every whole frame at the front of `in`, appending its bytes to `batch`.
void DecodeFrames(std::vector<char>* in, ZSTD_DCtx* dctx, std::vector<char>* raw, std::string* batch) {
  size_t at = 0;
  while (in->size() - at >= kHeader) {
    uint32_t sizes[2];
    uint64_t hash;
    memcpy(sizes, in->data() + at, 8);
    memcpy(&hash, in->data() + at + 8, 8);
    if (sizes[0] > kChunk) {
      errno = 0;
      Die("a frame claims " + std::to_string(sizes[0]) + " bytes, more than a chunk");
    }
    if (in->size() - at - kHeader < sizes[1]) break;  // the rest of this frame comes later
    size_t d = ZSTD_decompressDCtx(dctx, raw->data(), raw->size(), in->data() + at + kHeader, sizes[1]);
    if (ZSTD_isError(d) || d != sizes[0] || XXH3_64bits(raw->data(), d) != hash) {
      errno = 0;
      Die("a frame does not decode to the bytes its header names");
    }
    batch->append(raw->data(), d);
    at += kHeader + sizes[1];
  }
  in->erase(in->begin(), in->begin() + static_cast<long>(at));
}

// --handoff: fdatasyncs on its own thread when asked, and says so on an eventfd.
class Syncer {
 public:
  explicit Syncer(int fd) : fd_(fd), done_(::eventfd(0, EFD_CLOEXEC)) {
    if (done_ < 0) Die("eventfd");
    thread_ = std::thread([this] { Run(); });
  }
  ~Syncer() {
    {
      std::lock_guard<std::mutex> l(mu_);
      quit_ = true;
    }
    cv_.notify_one();
    thread_.join();
    ::close(done_);
  }
  int done_fd() const { return done_; }
  void Sync() {
    {
      std::lock_guard<std::mutex> l(mu_);
      want_ = true;
    }
    cv_.notify_one();
  }

 private:
  void Run() {
    std::unique_lock<std::mutex> l(mu_);
    for (;;) {
      cv_.wait(l, [this] { return want_ || quit_; });
      if (quit_) return;
      want_ = false;
      l.unlock();
      if (::fdatasync(fd_) != 0) Die("fdatasync");
      uint64_t one = 1;
      WriteAll(done_, reinterpret_cast<const char*>(&one), sizeof one, "eventfd");
      l.lock();
    }
  }
  int fd_;
  int done_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool want_ = false;
  bool quit_ = false;
  std::thread thread_;
};

// What the receiver has made durable: REPLICA.durable records when, and with --ack the sender is told.
class Durability {
 public:
  Durability(int durable_fd, std::string path, int sock, const Options& o, Crypt* crypt)
      : fd_(durable_fd), path_(std::move(path)), sock_(sock), o_(o), crypt_(crypt) {}
  void Reached(uint64_t size) {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    const uint64_t record[2] = {static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec), size};
    if (::write(fd_, record, sizeof record) != static_cast<ssize_t>(sizeof record)) Die("append to " + path_);
    if (!o_.ack || sender_gone_) return;
    std::string bytes;
    if (o_.encrypt) {
      crypt_->Seal(reinterpret_cast<const char*>(&size), sizeof size, &bytes);
    } else {
      bytes.assign(reinterpret_cast<const char*>(&size), sizeof size);
    }
    if (::send(sock_, bytes.data(), bytes.size(), MSG_NOSIGNAL) < 0) sender_gone_ = true;  // it stopped: no one to tell
  }

 private:
  int fd_;
  std::string path_;
  int sock_;
  Options o_;
  Crypt* crypt_;
  bool sender_gone_ = false;
};

int Listen(int port) {
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
  int one_nd = 1;
  setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one_nd, sizeof one_nd);
  return c;
}

int Receive(int port, const char* replica, const Options& o) {
  int c = Listen(port);
  int out = ::open(replica, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
  std::string durable_path = std::string(replica) + ".durable";
  int durable_fd = ::open(durable_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
  if (out < 0 || durable_fd < 0) Die(std::string("open ") + replica);
  ZSTD_DCtx* dctx = ZSTD_createDCtx();
  Crypt crypt;
  Durability durability(durable_fd, durable_path, c, o, &crypt);
  std::vector<char> wire, in, raw(kChunk);
  std::string batch;
  uint64_t written = 0, durable = 0, syncing_to = 0;
  bool syncing = false, open = true;
  std::unique_ptr<Syncer> syncer;
  if (o.handoff) syncer = std::make_unique<Syncer>(out);
  while (open || syncing) {
    // Block for the first bytes (or, with --handoff, the end of a sync), then take whatever
    // else is already there: one batch.
    pollfd fds[2] = {{open ? c : -1, POLLIN, 0}, {syncer ? syncer->done_fd() : -1, POLLIN, 0}};
    if (!syncer) {  // the minimal pipeline: a blocking read, no poll
      ssize_t n = ::read(c, raw.data(), raw.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) Die("receive");
      std::vector<char>& to = o.encrypt ? wire : in;
      to.insert(to.end(), raw.data(), raw.data() + n);
      open = n > 0;
      fds[0].revents = open ? POLLIN : 0;
    } else if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      Die("poll");
    }
    if (fds[1].revents != 0) {
      uint64_t n;
      if (::read(syncer->done_fd(), &n, sizeof n) < 0) Die("eventfd");
      syncing = false;
      durable = syncing_to;
      durability.Reached(durable);
    }
    if (fds[0].revents != 0) {
      open = ReadAvailable(c, o.encrypt ? &wire : &in) && open;
      if (o.encrypt) crypt.Open(&wire, &in);
      batch.clear();
      DecodeFrames(&in, dctx, &raw, &batch);
      if (!batch.empty()) WriteAll(out, batch.data(), batch.size(), "append");
      written += batch.size();
    }
    if (written == durable || syncing) continue;
    if (syncer) {  // the next sync covers everything written until it starts
      syncing = true;
      syncing_to = written;
      syncer->Sync();
      continue;
    }
    if (::fdatasync(out) != 0) Die("fdatasync");
    durable = written;
    durability.Reached(durable);
  }
  syncer.reset();
  ZSTD_freeDCtx(dctx);
  return in.empty() && wire.empty() ? 0 : (fprintf(stderr, "pipeline: the sender closed inside a frame\n"), 1);
}

void OnSignal(int) { stop = 1; }

}  // namespace

int main(int argc, char** argv) {
  std::string mode = argc > 1 ? argv[1] : "";
  Options o;
  std::vector<std::string> args;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--ack") {
      o.ack = true;
    } else if (a == "--handoff" && mode == "receive") {
      o.handoff = true;
    } else if (a == "--encrypt") {
      o.encrypt = true;
    } else if (a.rfind("--", 0) == 0) {
      fprintf(stderr, "pipeline: unknown option '%s' for %s\n", a.c_str(), mode.c_str());
      return 2;
    } else {
      args.push_back(a);
    }
  }
  if (o.encrypt && sodium_init() < 0) {
    fprintf(stderr, "pipeline: libsodium failed to initialize\n");
    return 1;
  }
  if (mode == "send" && args.size() == 3) {
    struct sigaction sa {};
    sa.sa_handler = OnSignal;  // no SA_RESTART: the blocking inotify read returns EINTR
    sigaction(SIGTERM, &sa, nullptr);
    sigaction(SIGINT, &sa, nullptr);
    signal(SIGPIPE, SIG_IGN);
    return Send(args[0].c_str(), {args[1], args[2]}, o);
  }
  if (mode == "receive" && args.size() == 2) {
    char* end = nullptr;
    long port = strtol(args[0].c_str(), &end, 10);
    if (args[0].empty() || *end != '\0' || port < 1 || port > 65535) {
      fprintf(stderr, "pipeline: port '%s' is not a number from 1 to 65535\n", args[0].c_str());
      return 2;
    }
    return Receive(static_cast<int>(port), args[1].c_str(), o);
  }
  fprintf(stderr,
          "usage: pipeline send [--ack] [--encrypt] FILE HOST:PORT HOST:PORT\n"
          "       pipeline receive [--ack] [--handoff] [--encrypt] PORT REPLICA\n");
  return 2;
}
