#include "common/fd.h"

#include <unistd.h>

namespace tailsafe {

void Fd::Reset(int fd) {
  if (fd_ >= 0) ::close(fd_);  // close() errors on these fds carry no actionable information
  fd_ = fd;
}

}  // namespace tailsafe
