#include "common/secure_client.h"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "common/clock.h"
#include "common/config.h"

namespace tailsafe {

Result<Fd> ConnectTcpBlocking(const std::string& address, const std::string& what) {
  Result<HostPort> hp = ParseHostPort(address);
  if (!hp) return hp.status().Context(what + " address '" + address + "'");
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  std::string port = std::to_string(hp->port);
  int gai = ::getaddrinfo(hp->host.c_str(), port.c_str(), &hints, &res);
  if (gai != 0) return Status::Error("cannot resolve " + address + ": " + gai_strerror(gai));
  std::unique_ptr<addrinfo, void (*)(addrinfo*)> owned(res, ::freeaddrinfo);
  Fd fd(::socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return ErrnoStatus("socket");
  if (::connect(fd.get(), res->ai_addr, res->ai_addrlen) != 0) {
    return ErrnoStatus("cannot reach " + what + " at " + address);
  }
  return fd;
}

SecureClient::SecureClient(Fd fd, const ClusterKeys* keys, std::string where)
    : fd_(std::move(fd)), channel_(SecureChannel::Role::kClient, keys), where_(std::move(where)) {}

Result<std::unique_ptr<SecureClient>> SecureClient::Connect(const std::string& address, const ClusterKeys* keys,
                                                            int timeout_ms, const std::string& what) {
  Result<Fd> fd = ConnectTcpBlocking(address, what);
  if (!fd) return fd.status();
  std::unique_ptr<SecureClient> c(new SecureClient(std::move(fd.value()), keys, what + " at " + address));
  if (Status s = c->WriteAll(c->channel_.Start()); !s) return s;
  uint64_t deadline = NowNs() + static_cast<uint64_t>(timeout_ms) * 1000000;
  while (!c->channel_.established()) {
    uint64_t now = NowNs();
    if (now >= deadline) {
      return Status::Error("no secure handshake from " + c->where_ + " within " + std::to_string(timeout_ms) + " ms");
    }
    bool eof = false;
    if (Status s = c->ReadOnce(static_cast<int>((deadline - now) / 1000000) + 1, &eof); !s) return s;
    if (eof) return c->channel_.AtEof().Context(c->where_);
  }
  return c;
}

Status SecureClient::WriteAll(std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::send(fd_.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus("send to " + where_);
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return Status::Ok();
}

Status SecureClient::ReadOnce(int timeout_ms, bool* eof) {
  pollfd p{fd_.get(), POLLIN, 0};
  int rc = ::poll(&p, 1, timeout_ms);
  if (rc < 0 && errno != EINTR) return ErrnoStatus("poll " + where_);
  if (rc <= 0) return Status::Ok();
  char buf[65536];
  ssize_t n = ::read(fd_.get(), buf, sizeof buf);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return Status::Ok();
  if (n < 0) return ErrnoStatus("read from " + where_);
  if (n == 0) {
    *eof = true;
    return Status::Ok();
  }
  std::string reply;
  Status s = channel_.Receive(std::string_view(buf, static_cast<size_t>(n)), &reply);
  if (!reply.empty()) {
    if (Status w = WriteAll(reply); !w && s.ok()) s = w;
  }
  return s.Context(where_);
}

Status SecureClient::Send(std::string_view frames) {
  std::string wire;
  channel_.Seal(frames, &wire);
  return WriteAll(wire);
}

Status SecureClient::ReadFrame(Frame* frame, int timeout_ms) {
  uint64_t deadline = NowNs() + static_cast<uint64_t>(timeout_ms) * 1000000;
  for (;;) {
    Status err;
    FrameReader::Result r = channel_.Next(frame, &err);
    if (r == FrameReader::Result::kFrame) return Status::Ok();
    if (r == FrameReader::Result::kError) return err.Context("bad frame from " + where_);
    uint64_t now = NowNs();
    if (now >= deadline) {
      return Status::Error("no reply from " + where_ + " within " + std::to_string(timeout_ms) + " ms");
    }
    bool eof = false;
    if (Status s = ReadOnce(static_cast<int>((deadline - now) / 1000000) + 1, &eof); !s) return s;
    if (eof) {
      if (Status s = channel_.AtEof(); !s) return s.Context(where_);
      return Status::Error(where_ + " closed the connection");
    }
  }
}

}  // namespace tailsafe
