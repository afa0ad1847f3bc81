#include "common/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <limits>

#include "common/fd.h"
#include "common/names.h"

namespace tailsafe {

Result<uint64_t> ParseCheckpoint(std::string_view text) {
  text = TrimSpace(text);
  if (text.empty()) return Status::Error("it is empty");
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec == std::errc::result_out_of_range ||
      (ec == std::errc() && value > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))) {
    return Status::Error("offset " + std::string(text.substr(0, 32)) + " is too large");
  }
  if (ec != std::errc() || end != text.data() + text.size()) {
    return Status::Error("'" + Printable(text, 32) + (text.size() > 32 ? "...'" : "'") + " is not a decimal byte offset");
  }
  return value;
}

Result<uint64_t> ReadCheckpointFile(const std::string& path) {
  auto text = ReadSmallFile(path, 64);
  if (!text) return text.status();
  auto offset = ParseCheckpoint(*text);
  if (!offset) return offset.status().Context("checkpoint file " + path);
  return offset;
}

Status WriteCheckpointFile(const std::string& path, uint64_t offset) {
  size_t slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoStatus("create " + tmp);
  Fd owner(fd);
  std::string text = std::to_string(offset) + "\n";
  if (::write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size()) || ::fsync(fd) != 0) {
    Status s = ErrnoStatus("write " + tmp);
    ::unlink(tmp.c_str());
    return s;
  }
  owner.Reset();
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    Status s = ErrnoStatus("rename " + tmp + " to " + path);
    ::unlink(tmp.c_str());
    return s;
  }
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return ErrnoStatus("open " + dir);
  Fd dir_owner(dfd);
  if (::fsync(dfd) != 0) return ErrnoStatus("fsync " + dir);
  return Status::Ok();
}

}  // namespace tailsafe
