#include "common/control_client.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/clock.h"
#include "common/fd.h"

namespace tailsafe {

Result<std::string> ControlRequest(const std::string& socket_path, const std::string& request, int timeout_ms) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof addr.sun_path) return Status::Error("control socket path too long: " + socket_path);
  std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);
  Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return ErrnoStatus("socket");
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    return ErrnoStatus("cannot reach the agent at " + socket_path + " (is tailsafe-agent running?)");
  }
  std::string line = request + "\n";
  if (::send(fd.get(), line.data(), line.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(line.size())) {
    return ErrnoStatus("send to " + socket_path);
  }
  uint64_t deadline = NowNs() + static_cast<uint64_t>(timeout_ms) * 1000000;
  std::string reply;
  char buf[65536];
  for (;;) {
    uint64_t now = NowNs();
    if (now >= deadline) return Status::Error("no reply from the agent at " + socket_path + " within " +
                                              std::to_string(timeout_ms) + " ms");
    pollfd p{fd.get(), POLLIN, 0};
    int rc = ::poll(&p, 1, static_cast<int>((deadline - now) / 1000000) + 1);
    if (rc < 0 && errno == EINTR) continue;
    if (rc <= 0) continue;
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus("read from " + socket_path);
    if (n == 0) break;
    reply.append(buf, static_cast<size_t>(n));
  }
  while (!reply.empty() && reply.back() == '\n') reply.pop_back();
  return reply;
}

}  // namespace tailsafe
