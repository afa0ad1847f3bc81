#include "common/fd.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

namespace tailsafe {

void Fd::Reset(int fd) {
  if (fd_ >= 0) ::close(fd_);  // close() errors on these fds carry no actionable information
  fd_ = fd;
}

Result<std::string> ReadSmallFile(const std::string& path, size_t limit) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("open " + path);
  Fd owner(fd);
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus("read " + path);
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > limit) return Status::Error(path + ": longer than " + std::to_string(limit) + " bytes");
  }
  return out;
}

}  // namespace tailsafe
