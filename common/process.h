// Processes, for bolt tracking: pid files, start times, pidfds.
//
// A pid names a process only until that process dies; the kernel then hands the number to the
// next process it creates. So a pid read from a file is trusted only if the process holding it
// now started no later than the file was written (the bolt writes its pid file after it
// starts), and it is then held as a pidfd, which names that one process for good.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "common/fd.h"
#include "common/status.h"

namespace tailsafe {

// Parses a pid file's text: a decimal pid > 1, optionally surrounded by whitespace.
Result<pid_t> ParsePid(std::string_view text);

// Reads and parses `path`; errors name the file and what is wrong with it.
Result<pid_t> ReadPidFile(const std::string& path);

// When process `pid` started, in ns of CLOCK_BOOTTIME (from /proc/PID/stat; resolution one clock
// tick, 10 ms). An error if there is no such process.
Result<uint64_t> ProcessStartBoottimeNs(pid_t pid);

// A CLOCK_REALTIME time (a file's mtime) on the CLOCK_BOOTTIME scale.
uint64_t RealtimeToBoottimeNs(const struct timespec& realtime);

// The process's executable (/proc/PID/exe) and its command line's arguments.
Result<std::string> ProcessExe(pid_t pid);
Result<std::string> ProcessCmdline(pid_t pid);  // arguments joined by NUL

// A pidfd for `pid` (pidfd_open, O_CLOEXEC is implied). It becomes readable when the process exits.
Result<Fd> OpenPidfd(pid_t pid);
// True while the process behind `pidfd` has not exited.
bool PidfdAlive(int pidfd);

// Opens `pid` as the bolt whose pid file was last modified at `file_mtime`: refuses a process
// that started after it (a recycled pid), and checks the start time after opening so the pidfd
// is known to hold the process that was checked.
struct TrackedProcess {
  Fd pidfd;
  pid_t pid = 0;
  uint64_t start_boottime_ns = 0;
};
Result<TrackedProcess> OpenBoltProcess(pid_t pid, const struct timespec& file_mtime);

}  // namespace tailsafe
