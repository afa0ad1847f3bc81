#include "common/coord_client.h"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/clock.h"
#include "common/config.h"
#include "common/coord_protocol.h"
#include "common/fd.h"
#include "common/wire.h"

namespace tailsafe {

Result<nlohmann::json> CoordinatorRequest(const std::string& address, const nlohmann::json& request, int timeout_ms) {
  Result<HostPort> hp = ParseHostPort(address);
  if (!hp) return hp.status().Context("coordinator address '" + address + "'");
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
    return ErrnoStatus("cannot reach the coordinator at " + address + " (is tailsafe-coordinator running?)");
  }
  std::string frame = ControlFrame(request);
  if (::send(fd.get(), frame.data(), frame.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(frame.size())) {
    return ErrnoStatus("send to the coordinator at " + address);
  }
  uint64_t deadline = NowNs() + static_cast<uint64_t>(timeout_ms) * 1000000;
  FrameReader reader;
  char buf[65536];
  for (;;) {
    Frame f;
    Status err;
    FrameReader::Result r = reader.Next(&f, &err);
    if (r == FrameReader::Result::kError) return err.Context("reply from the coordinator at " + address);
    if (r == FrameReader::Result::kFrame) {
      std::string_view text;
      if (Status s = DecodeControl(f, &text); !s) return s.Context("reply from the coordinator");
      return ParseControl(text);
    }
    uint64_t now = NowNs();
    if (now >= deadline) {
      return Status::Error("no reply from the coordinator at " + address + " within " + std::to_string(timeout_ms) +
                           " ms");
    }
    pollfd p{fd.get(), POLLIN, 0};
    int rc = ::poll(&p, 1, static_cast<int>((deadline - now) / 1000000) + 1);
    if (rc <= 0) continue;
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus("read from the coordinator at " + address);
    if (n == 0) return Status::Error("the coordinator at " + address + " closed the connection without a reply");
    reader.Feed(buf, static_cast<size_t>(n));
  }
}

}  // namespace tailsafe
