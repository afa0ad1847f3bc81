#include "common/status.h"

#include <cerrno>
#include <cstring>

#include <uv.h>

namespace tailsafe {

Status ErrnoStatus(const std::string& what, int err) {
  if (err < 0) err = errno;
  return Status::Error(what + ": " + std::strerror(err));
}

Status UvStatus(const std::string& what, int code) {
  return Status::Error(what + ": " + uv_strerror(code));
}

}  // namespace tailsafe
