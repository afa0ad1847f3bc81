#include "common/fd.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace tailsafe {

void Fd::Reset(int fd) {
  if (fd_ >= 0) ::close(fd_);  // close() errors on these fds carry no actionable information
  fd_ = fd;
}

int OpenBeneath(int dir, const char* path, int flags, mode_t mode) {
  open_how how{};
  how.flags = static_cast<uint64_t>(flags);
  how.mode = (flags & (O_CREAT | O_TMPFILE)) != 0 ? mode : 0;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  long fd = ::syscall(SYS_openat2, dir, path, &how, sizeof how);
  if (fd >= 0 || errno != ENOSYS) return static_cast<int>(fd);
  if (std::strchr(path, '/') != nullptr || std::strcmp(path, "..") == 0 || std::strcmp(path, ".") == 0) {
    errno = EXDEV;
    return -1;
  }
  return ::openat(dir, path, flags | O_NOFOLLOW, mode);
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
