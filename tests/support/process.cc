#include "tests/support/process.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <utility>

namespace tailsafe::testing {

Child::~Child() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    Wait();
  }
}

Child::Child(Child&& o) noexcept
    : pid_(std::exchange(o.pid_, -1)), exit_code_(o.exit_code_), term_signal_(o.term_signal_) {}

Child& Child::operator=(Child&& o) noexcept {
  if (this != &o) {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      Wait();
    }
    pid_ = std::exchange(o.pid_, -1);
    exit_code_ = o.exit_code_;
    term_signal_ = o.term_signal_;
  }
  return *this;
}

Result<Child> Child::Spawn(const std::vector<std::string>& argv, const std::string& log_path,
                           const std::string& netns) {
  int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log < 0) return ErrnoStatus("open " + log_path);
  int ns = -1;
  if (!netns.empty()) {
    ns = ::open(netns.c_str(), O_RDONLY | O_CLOEXEC);
    if (ns < 0) {
      Status s = ErrnoStatus("open " + netns);
      ::close(log);
      return s;
    }
  }
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) {
    Status s = ErrnoStatus("fork");
    ::close(log);
    if (ns >= 0) ::close(ns);
    return s;
  }
  if (pid == 0) {
    // A test killed outright (SIGKILL, a hangup) takes its processes with it: nothing keeps
    // running into the next test. Children are spawned from the thread that runs the test.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) _exit(127);  // it died before the prctl
    ::dup2(log, STDOUT_FILENO);
    ::dup2(log, STDERR_FILENO);
    if (ns >= 0 && ::setns(ns, CLONE_NEWNET) != 0) {
      dprintf(STDERR_FILENO, "setns %s: %s\n", netns.c_str(), strerror(errno));
      _exit(127);
    }
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, STDIN_FILENO);
    ::execv(args[0], args.data());
    dprintf(STDERR_FILENO, "exec %s: %s\n", args[0], strerror(errno));
    _exit(127);
  }
  ::close(log);
  if (ns >= 0) ::close(ns);
  Child c;
  c.pid_ = pid;
  return c;
}

void Child::Record(int status) {
  if (WIFEXITED(status)) exit_code_ = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) term_signal_ = WTERMSIG(status);
  pid_ = -1;
}

bool Child::running() {
  if (pid_ <= 0) return false;
  int status = 0;
  pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    Record(status);
    return false;
  }
  return true;
}

void Child::Signal(int sig) {
  if (pid_ > 0) ::kill(pid_, sig);
}

int Child::Wait() {
  if (pid_ <= 0) return -1;
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  Record(status);
  return status;
}

namespace {
uint64_t StatusField(pid_t pid, const char* field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  size_t n = strlen(field);
  while (std::getline(in, line)) {
    if (line.compare(0, n, field) == 0) return std::strtoull(line.c_str() + n, nullptr, 10) * 1024;
  }
  return 0;
}
}  // namespace

uint64_t RssBytes(pid_t pid) { return StatusField(pid, "VmRSS:"); }
uint64_t PeakRssBytes(pid_t pid) { return StatusField(pid, "VmHWM:"); }

std::string BinDir() {
  const char* d = std::getenv("TAILSAFE_BIN_DIR");
  return d && *d ? d : "build";
}

CommandResult RunCommand(const std::string& command) {
  CommandResult r;
  FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  int status = ::pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::string Child::Ended() const {
  if (term_signal_ != 0) {
    const char* name = sigabbrev_np(term_signal_);
    return std::string("killed by ") + (name ? std::string("SIG") + name : "signal " + std::to_string(term_signal_));
  }
  if (exit_code_ >= 0) return "exited with " + std::to_string(exit_code_);
  return "still running";
}

}  // namespace tailsafe::testing
