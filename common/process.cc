#include "common/process.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>

#include "common/names.h"

namespace tailsafe {

namespace {

uint64_t ClockNs(clockid_t id) {
  struct timespec ts;
  ::clock_gettime(id, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

}  // namespace

Result<pid_t> ParsePid(std::string_view text) {
  text = TrimSpace(text);
  if (text.empty()) return Status::Error("it is empty");
  long long value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) {
    return Status::Error("'" + Printable(text, 32) + (text.size() > 32 ? "...'" : "'") + " is not a decimal pid");
  }
  // pid_max is at most 2^22; 1 is init, which is never a bolt.
  if (value <= 1 || value > (1 << 22)) return Status::Error(std::to_string(value) + " is not a valid pid");
  return static_cast<pid_t>(value);
}

Result<pid_t> ReadPidFile(const std::string& path) {
  auto text = ReadSmallFile(path, 64);
  if (!text) return text.status();
  auto pid = ParsePid(*text);
  if (!pid) return pid.status().Context("pid file " + path);
  return pid;
}

Result<uint64_t> ProcessStartBoottimeNs(pid_t pid) {
  auto stat = ReadSmallFile("/proc/" + std::to_string(pid) + "/stat", 4096);
  if (!stat) return stat.status();
  // "PID (COMM) STATE PPID ..."; COMM may hold spaces and parentheses, so fields are counted
  // from the last ')'. starttime is field 22, the 20th after it.
  size_t close = stat->rfind(')');
  if (close == std::string::npos) return Status::Error("/proc/" + std::to_string(pid) + "/stat: no ')'");
  std::string_view rest(*stat);
  rest.remove_prefix(close + 1);
  for (int field = 3; field < 22; ++field) {
    size_t sp = rest.find(' ', 1);
    if (sp == std::string_view::npos) return Status::Error("/proc/" + std::to_string(pid) + "/stat: too few fields");
    rest.remove_prefix(sp);
  }
  while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
  unsigned long long ticks = 0;
  auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), ticks);
  if (ec != std::errc() || end == rest.data()) {
    return Status::Error("/proc/" + std::to_string(pid) + "/stat: starttime is not a number");
  }
  static const long kTicks = ::sysconf(_SC_CLK_TCK);
  return static_cast<uint64_t>(ticks) * (1000000000u / static_cast<uint64_t>(kTicks));
}

uint64_t RealtimeToBoottimeNs(const struct timespec& realtime) {
  uint64_t real_now = ClockNs(CLOCK_REALTIME);
  uint64_t boot_now = ClockNs(CLOCK_BOOTTIME);
  uint64_t t = static_cast<uint64_t>(realtime.tv_sec) * 1000000000u + static_cast<uint64_t>(realtime.tv_nsec);
  uint64_t offset = real_now - boot_now;  // when the machine booted, on the realtime scale
  return t > offset ? t - offset : 0;
}

Result<std::string> ProcessExe(pid_t pid) {
  std::string link = "/proc/" + std::to_string(pid) + "/exe";
  char buf[4096];
  ssize_t n = ::readlink(link.c_str(), buf, sizeof buf);
  if (n < 0) return ErrnoStatus("readlink " + link);
  if (static_cast<size_t>(n) == sizeof buf) return Status::Error(link + ": target too long");
  return std::string(buf, static_cast<size_t>(n));
}

Result<std::string> ProcessCmdline(pid_t pid) {
  return ReadSmallFile("/proc/" + std::to_string(pid) + "/cmdline", 1 << 20);
}

Result<Fd> OpenPidfd(pid_t pid) {
  long fd = ::syscall(SYS_pidfd_open, pid, 0);
  if (fd < 0 && errno == ESRCH) return Status::Error("no process has pid " + std::to_string(pid));
  if (fd < 0) return ErrnoStatus("pidfd_open " + std::to_string(pid));
  return Fd(static_cast<int>(fd));
}

bool PidfdAlive(int pidfd) {
  struct pollfd p = {pidfd, POLLIN, 0};
  int rc;
  do {
    rc = ::poll(&p, 1, 0);
  } while (rc < 0 && errno == EINTR);
  return rc == 0;
}

Result<TrackedProcess> OpenBoltProcess(pid_t pid, const struct timespec& file_mtime) {
  auto fd = OpenPidfd(pid);
  if (!fd) return fd.status();
  auto start = ProcessStartBoottimeNs(pid);
  // Read after opening: if the process is still alive now, the start time is its own.
  if (!start || !PidfdAlive(fd->get())) return Status::Error("process " + std::to_string(pid) + " has exited");
  // One clock tick of slack: the start time is rounded down to a tick, the mtime is exact.
  uint64_t written = RealtimeToBoottimeNs(file_mtime);
  static const uint64_t kTickNs = 1000000000u / static_cast<uint64_t>(::sysconf(_SC_CLK_TCK));
  if (*start > written + kTickNs) {
    return Status::Error("process " + std::to_string(pid) + " started " +
                         std::to_string((*start - written) / 1000000) +
                         " ms after the pid file was written, so it is not the bolt (the pid was reused)");
  }
  TrackedProcess out;
  out.pidfd = std::move(fd.value());
  out.pid = pid;
  out.start_boottime_ns = *start;
  return out;
}

}  // namespace tailsafe
