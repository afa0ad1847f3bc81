// Fd: the one owner of a file descriptor (inotify, pidfd, sockets, files).
//
// Move-only; closes on destruction. Everything tailsafe opens is O_CLOEXEC so that hooks and
// other children never inherit a descriptor.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <string>
#include <utility>

#include "common/status.h"

namespace tailsafe {

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { Reset(); }
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) {
      Reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  explicit operator bool() const { return valid(); }
  int Release() { return std::exchange(fd_, -1); }
  void Reset(int fd = -1);

 private:
  int fd_ = -1;
};

// openat(2) that cannot leave `dir`: `path` is resolved with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS
// | RESOLVE_NO_MAGICLINKS (openat2), so "..", absolute paths and symlinks anywhere in it fail
// (EXDEV, ELOOP). On a kernel without openat2 (before 5.6), `path` must be one component and is
// opened with O_NOFOLLOW. Returns the descriptor or -1 with errno set, like openat.
int OpenBeneath(int dir, const char* path, int flags, mode_t mode = 0);

// Reads a small file whole, until EOF (procfs files report size 0). An error names the path, also
// when the file is longer than `limit` bytes.
Result<std::string> ReadSmallFile(const std::string& path, size_t limit);

}  // namespace tailsafe
