// Child processes for integration tests: spawn a binary with its output in a log file, signal
// it, reap it. A Child still running when destroyed is killed (SIGKILL) and reaped.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "common/status.h"

namespace tailsafe::testing {

class Child {
 public:
  Child() = default;
  ~Child();
  Child(Child&& o) noexcept;
  Child& operator=(Child&& o) noexcept;
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  // Starts argv[0] (a path) with stdout and stderr appended to `log_path`. With `netns` (a
  // path such as /run/netns/NAME), the child joins that network namespace before exec.
  static Result<Child> Spawn(const std::vector<std::string>& argv, const std::string& log_path,
                             const std::string& netns = "");

  pid_t pid() const { return pid_; }
  bool running();            // not yet exited (reaps it if it has)
  void Signal(int sig);
  // Waits for exit; returns the raw wait status. -1 if there is no child.
  int Wait();
  // Exit status, if it exited normally; -1 otherwise (signalled, or not exited).
  int exit_code() const { return exit_code_; }
  int term_signal() const { return term_signal_; }
  // "exited with 1", "killed by SIGSEGV", or "still running".
  std::string Ended() const;

 private:
  void Record(int status);
  pid_t pid_ = -1;
  int exit_code_ = -1;
  int term_signal_ = 0;
};

// Runs `command` with /bin/sh, capturing stdout and stderr together.
struct CommandResult {
  int code = -1;    // exit status; -1 if it did not exit normally
  std::string out;  // stdout and stderr
};
CommandResult RunCommand(const std::string& command);

// Resident set size now (VmRSS) and at its peak (VmHWM) of a process, in bytes; 0 if unknown.
uint64_t RssBytes(pid_t pid);
uint64_t PeakRssBytes(pid_t pid);

// The directory of the binaries under test: $TAILSAFE_BIN_DIR, else ./build.
std::string BinDir();

// Runs `pred` until it returns true or `seconds` pass; polls every `poll_ms`. True if it held.
template <typename Pred>
bool WaitUntil(Pred pred, double seconds, int poll_ms = 20);

}  // namespace tailsafe::testing

#include "tests/support/process_inl.h"
