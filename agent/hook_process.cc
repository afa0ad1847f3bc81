#include "agent/hook_process.h"

#include <pwd.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <algorithm>

#include "common/log.h"

namespace tailsafe {

namespace {
constexpr size_t kFeedChunk = 256 << 10;
constexpr const char* kHookPath = "PATH=/usr/local/bin:/usr/bin:/bin";
}  // namespace

struct HookProcess::WriteReq {
  uv_write_t req{};
  std::vector<char> buf;
  std::weak_ptr<int> alive;
  HookProcess* owner = nullptr;
};

Result<std::map<std::string, HookUser>> ResolveHookUsers(const std::map<std::string, std::string>& hook_users) {
  std::map<std::string, HookUser> out;
  for (const auto& [hook, user] : hook_users) {
    passwd pw{};
    passwd* found = nullptr;
    std::vector<char> buf(16384);
    int rc = ::getpwnam_r(user.c_str(), &pw, buf.data(), buf.size(), &found);
    if (rc != 0) return ErrnoStatus("[hooks] " + hook + ": cannot look up user '" + user + "'", rc);
    if (found == nullptr) return Status::Error("[hooks] " + hook + ": user '" + user + "' does not exist");
    if (::geteuid() != 0 && pw.pw_uid != ::geteuid()) {
      return Status::Error("[hooks] " + hook + ": user = '" + user + "' needs the agent to run as root to switch to it "
                           "(it runs as uid " + std::to_string(::geteuid()) + ")");
    }
    out[hook] = HookUser{pw.pw_uid, pw.pw_gid};
  }
  return out;
}

HookProcess::HookProcess(uv_loop_t* loop) : loop_(loop) {}

HookProcess::~HookProcess() {
  alive_.reset();
  if (running_ && pid_ > 0) ::kill(-pid_, SIGKILL);
  stdin_.Reset();
  timer_.Reset();
  process_.Reset();
}

Status HookProcess::Start(HookSpec spec, std::function<void(const HookOutcome&)> done) {
  spec_ = std::move(spec);
  done_ = std::move(done);
  if (spec_.argv.empty()) return Status::Error("the hook has no command");
  auto pipe = MakeUv<uv_pipe_t>(uv_pipe_init, loop_, 0);
  if (!pipe) return pipe.status();
  stdin_ = std::move(pipe.value());
  auto timer = MakeUv<uv_timer_t>(uv_timer_init, loop_);
  if (!timer) return timer.status();
  timer_ = std::move(timer.value());
  timer_->data = this;

  std::vector<char*> args;
  for (std::string& a : spec_.argv) args.push_back(a.data());
  args.push_back(nullptr);
  std::vector<std::string> env_strings = spec_.env;
  env_strings.push_back(kHookPath);
  std::vector<char*> env;
  for (std::string& e : env_strings) env.push_back(e.data());
  env.push_back(nullptr);

  uv_stdio_container_t stdio[4];
  stdio[0].flags = static_cast<uv_stdio_flags>(UV_CREATE_PIPE | UV_READABLE_PIPE);
  stdio[0].data.stream = stdin_.stream();
  stdio[1].flags = UV_INHERIT_FD;
  stdio[1].data.fd = 2;
  stdio[2].flags = UV_INHERIT_FD;
  stdio[2].data.fd = 2;
  // Descriptor 3: the whole generation the range comes from, read-only (a hook may need the
  // file's header, such as tailsafe-storm's; the agent itself reads with pread, so the offset
  // the hook moves is not the agent's).
  stdio[3].flags = UV_INHERIT_FD;
  stdio[3].data.fd = spec_.input->get();
  uv_process_options_t opts{};
  opts.file = args[0];
  opts.args = args.data();
  opts.env = env.data();
  opts.cwd = "/";
  // Its own session (setsid): a timeout kills the hook's children too, and it has no terminal.
  opts.flags = UV_PROCESS_DETACHED;
  if (spec_.uid != static_cast<uid_t>(-1)) {
    // libuv drops the supplementary groups (setgroups(0)) before setgid and setuid.
    opts.flags |= UV_PROCESS_SETUID | UV_PROCESS_SETGID;
    opts.uid = spec_.uid;
    opts.gid = spec_.gid;
  }
  opts.stdio_count = 4;
  opts.stdio = stdio;
  opts.exit_cb = [](uv_process_t* p, int64_t status, int sig) {
    if (auto* self = static_cast<HookProcess*>(p->data)) self->OnExit(status, sig);
  };
  auto* proc = new uv_process_t{};
  int rc = uv_spawn(loop_, proc, &opts);
  process_ = UvPtr<uv_process_t>(proc);  // closed either way: uv_spawn initialised the handle
  if (rc != 0) {
    stdin_.Reset();
    timer_.Reset();
    process_.Reset();
    return UvStatus("cannot run " + spec_.argv[0], rc);
  }
  process_->data = this;
  pid_ = proc->pid;
  running_ = true;
  pos_ = spec_.from;
  uv_timer_start(timer_.get(), [](uv_timer_t* t) {
    auto* self = static_cast<HookProcess*>(t->data);
    if (self == nullptr || !self->running_) return;
    self->timed_out_ = true;
    ::kill(-self->pid_, SIGKILL);  // the hook's whole session (it leads its process group)
  }, spec_.timeout_ms, 0);
  Feed();
  return Status::Ok();
}

void HookProcess::Feed() {
  if (writing_ || !stdin_) return;
  if (pos_ >= spec_.to) {
    stdin_.Reset();  // end of input
    return;
  }
  auto w = std::make_unique<WriteReq>();
  size_t n = static_cast<size_t>(std::min<uint64_t>(kFeedChunk, spec_.to - pos_));
  w->buf.resize(n);
  ssize_t got = ::pread(spec_.input->get(), w->buf.data(), n, static_cast<off_t>(pos_));
  if (got <= 0) {
    input_error_ = got < 0 ? std::string("cannot read its input: ") + strerror(errno)
                           : "its input ended at offset " + std::to_string(pos_) + ", short of " +
                                 std::to_string(spec_.to);
    stdin_.Reset();
    if (running_) ::kill(pid_, SIGKILL);
    return;
  }
  w->buf.resize(static_cast<size_t>(got));
  w->alive = alive_;
  w->owner = this;
  w->req.data = w.get();
  uv_buf_t b = uv_buf_init(w->buf.data(), static_cast<unsigned>(w->buf.size()));
  int rc = uv_write(&w->req, stdin_.stream(), &b, 1, [](uv_write_t* req, int status) {
    std::unique_ptr<WriteReq> done(static_cast<WriteReq*>(req->data));
    if (done->alive.expired()) return;
    done->owner->pos_ += done->buf.size();
    done->owner->OnWritten(status);
  });
  if (rc != 0) {
    stdin_.Reset();  // the hook closed its input early: its exit status decides
    return;
  }
  writing_ = true;
  w.release();
}

void HookProcess::OnWritten(int status) {
  writing_ = false;
  if (status != 0) {
    if (status != UV_ECANCELED) LOG_INFO("hook %s stopped reading its input: %s", spec_.argv[0].c_str(), uv_strerror(status));
    stdin_.Reset();
    return;
  }
  Feed();
}

void HookProcess::OnExit(int64_t exit_status, int term_signal) {
  running_ = false;
  timer_.Reset();
  stdin_.Reset();
  process_.Reset();
  HookOutcome out;
  if (timed_out_) {
    out.error = "timed out after " + std::to_string(spec_.timeout_ms) + " ms (killed)";
  } else if (!input_error_.empty()) {
    out.error = input_error_;
  } else if (term_signal != 0) {
    out.error = std::string("killed by signal ") + strsignal(term_signal);
  } else if (exit_status != 0) {
    out.error = "exited with status " + std::to_string(exit_status);
  } else {
    out.ok = true;
  }
  Finish(std::move(out));
}

void HookProcess::Finish(HookOutcome outcome) {
  auto done = std::move(done_);
  done_ = nullptr;
  if (done) done(outcome);  // may destroy this
}

}  // namespace tailsafe
