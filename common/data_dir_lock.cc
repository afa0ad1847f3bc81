#include "common/data_dir_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

namespace tailsafe {

Result<Fd> LockDataDir(const std::string& dir, const std::string& name, const std::string& program) {
  if (::mkdir(dir.c_str(), 0750) != 0 && errno != EEXIST) return ErrnoStatus("create data_dir " + dir);
  std::string path = dir + "/" + name + ".lock";
  Fd lock(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640));
  if (!lock) return ErrnoStatus("open " + path);
  if (::flock(lock.get(), LOCK_EX | LOCK_NB) != 0) {
    char pid[32] = {0};
    ssize_t n = ::pread(lock.get(), pid, sizeof pid - 1, 0);
    std::string holder = n > 0 ? std::string(pid, static_cast<size_t>(n)) : "unknown";
    while (!holder.empty() && holder.back() == '\n') holder.pop_back();
    return Status::Error("another " + program + " (pid " + holder + ") is using data_dir " + dir);
  }
  std::string me = std::to_string(::getpid()) + "\n";
  if (::ftruncate(lock.get(), 0) != 0 || ::pwrite(lock.get(), me.data(), me.size(), 0) < 0) {
    return ErrnoStatus("write " + path);
  }
  return lock;
}

}  // namespace tailsafe
