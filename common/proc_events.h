// Process events and /proc scans, for bolts found by a `match` rule.
//
// ProcEventSocket subscribes to the kernel's process events (the netlink connector, CN_IDX_PROC):
// every exec on the host is announced the moment it happens, so a bolt that starts is found
// without polling. Subscribing needs CAP_NET_ADMIN; without it Open() fails and the caller falls
// back to scanning /proc. The kernel drops events when the socket's buffer is full (ENOBUFS):
// Drain then reports an overflow and the caller scans /proc to catch up.
//
// A process matches {exe, arg} when /proc/PID/exe is `exe` (both canonical paths) and, if `arg`
// is not empty, one of its arguments after the program name equals `arg`.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "common/fd.h"
#include "common/status.h"

namespace tailsafe {

class ProcEventSocket {
 public:
  // A socket subscribed to process events; an error (naming the missing capability) otherwise.
  static Result<ProcEventSocket> Open();
  int fd() const { return fd_.get(); }
  // Reads every queued event; the pids (thread group ids) of execs go to `execs`. `*overflow`
  // is set when events were lost.
  void Drain(std::vector<pid_t>* execs, bool* overflow);

 private:
  Fd fd_;
};

// Every process on the host (the numeric entries of /proc).
std::vector<pid_t> ListProcesses();

// True if process `pid` runs `exe` (canonical) with an argument equal to `arg` (if not empty).
bool ProcessMatches(pid_t pid, const std::string& exe, const std::string& arg);

}  // namespace tailsafe
