// HookProcess: one run of a recovery hook, off the loop.
//
// The hook is a [hooks] entry run with no shell (argv[0] is an absolute path), a minimal
// environment (PATH plus the TAILSAFE_* variables the caller gives), "/" as its working
// directory, no descriptor of the agent's but its standard input (a pipe), standard output and
// error (the agent's standard error, the journal) and descriptor 3 (the generation `input`
// itself, read-only, for a hook that needs the file's start, such as its header), in a session
// of its own, and as the hook's `user =` if it has one. Nothing from the network chooses what runs: the coordinator names a
// hook, and only a name from the local [hooks] table can run.
// Standard input carries bytes [from, to) of `input`, fed through a pipe in chunks as the hook
// reads them: the loop never waits for the hook, and the hook's input never sits in memory whole.
// A hook that outlives `timeout_ms` is killed with SIGKILL, with every process of its session. Exit status 0 is success; anything
// else (a status, a signal, the timeout, an input that cannot be read) is a failure whose text
// says which.
//
// Destroying a HookProcess kills a hook still running.
#pragma once

#include <sys/types.h>
#include <uv.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/fd.h"
#include "common/status.h"
#include "common/uv_handle.h"

namespace tailsafe {

struct HookSpec {
  std::vector<std::string> argv;
  std::vector<std::string> env;  // "NAME=value", besides PATH
  std::shared_ptr<Fd> input;
  uint64_t from = 0;
  uint64_t to = 0;
  uint32_t timeout_ms = 600000;
  // Run as this user and group instead of the agent's (the hook's `user =`); -1: the agent's.
  // Supplementary groups are dropped.
  uid_t uid = static_cast<uid_t>(-1);
  gid_t gid = static_cast<gid_t>(-1);
};

// The ids of a hook's `user =`, looked up once at start-up (the loop never waits on NSS).
struct HookUser {
  uid_t uid = 0;
  gid_t gid = 0;
};
// Looks up every [hooks] user of `hook_users` (hook name -> user name). An error names the hook
// and the user if a user does not exist, or if the agent is not root and so cannot switch.
Result<std::map<std::string, HookUser>> ResolveHookUsers(const std::map<std::string, std::string>& hook_users);

struct HookOutcome {
  bool ok = false;
  std::string error;  // why it failed
};

class HookProcess {
 public:
  explicit HookProcess(uv_loop_t* loop);
  ~HookProcess();
  HookProcess(const HookProcess&) = delete;
  HookProcess& operator=(const HookProcess&) = delete;

  // Spawns the hook; `done` runs once, on the loop, when it has exited. An error if it could not
  // be spawned (then `done` never runs).
  Status Start(HookSpec spec, std::function<void(const HookOutcome&)> done);
  pid_t pid() const { return pid_; }

 private:
  struct WriteReq;
  void Feed();
  void OnWritten(int status);
  void OnExit(int64_t exit_status, int term_signal);
  void Finish(HookOutcome outcome);

  uv_loop_t* loop_;
  HookSpec spec_;
  std::function<void(const HookOutcome&)> done_;
  UvPtr<uv_process_t> process_;
  UvPtr<uv_pipe_t> stdin_;
  UvPtr<uv_timer_t> timer_;
  uint64_t pos_ = 0;
  bool writing_ = false;
  bool running_ = false;
  bool timed_out_ = false;
  std::string input_error_;
  pid_t pid_ = 0;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

}  // namespace tailsafe
