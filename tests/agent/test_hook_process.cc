// HookProcess (agent/hook_process.h) on a real libuv loop, running /bin/sh: the range fed on
// standard input and the whole file on descriptor 3, the environment, and what each way of
// ending says (success, a status, a signal, the timeout, a short input, a program that is not
// there, the owner going away).
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <optional>
#include <string>

#include "agent/hook_process.h"
#include "tests/support/cluster.h"
#include "tests/support/test_loop.h"

using namespace tailsafe;
using tailsafe::testing::ScopedTempDir;
using tailsafe::testing::TestLoop;

namespace {

struct Fixture {
  ScopedTempDir dir{"hook"};
  TestLoop loop;
  std::string input_bytes;
  std::shared_ptr<Fd> input;
  std::optional<HookOutcome> outcome;
  int done_calls = 0;

  explicit Fixture(size_t input_size = 100) {
    for (size_t i = 0; i < input_size; ++i) input_bytes += static_cast<char>('a' + i % 26);
    std::string path = dir.path + "/input";
    std::ofstream(path, std::ios::binary) << input_bytes;
    input = std::make_shared<Fd>(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    BOOST_REQUIRE(input->valid());
  }
  HookSpec Shell(const std::string& script, uint64_t from = 0, uint64_t to = 0) {
    HookSpec spec;
    spec.argv = {"/bin/sh", "-c", script};
    spec.input = input;
    spec.from = from;
    spec.to = to;
    return spec;
  }
  std::function<void(const HookOutcome&)> Done() {
    return [this](const HookOutcome& o) {
      outcome = o;
      ++done_calls;
    };
  }
  // Runs `spec` to its end; the outcome.
  HookOutcome Run(HookSpec spec) {
    HookProcess hook(loop.get());
    Status st = hook.Start(std::move(spec), Done());
    BOOST_REQUIRE_MESSAGE(st.ok(), st.message());
    BOOST_REQUIRE(loop.RunUntil([&] { return outcome.has_value(); }));
    BOOST_TEST(done_calls == 1);
    return *outcome;
  }
};

// Whether process `pid` is gone (or a zombie: it ran its last instruction).
bool Gone(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return true;
  size_t paren = line.rfind(')');
  return paren != std::string::npos && paren + 2 < line.size() && line[paren + 2] == 'Z';
}

}  // namespace

BOOST_AUTO_TEST_SUITE(hook_process)

BOOST_AUTO_TEST_CASE(the_range_goes_to_stdin_and_the_whole_file_to_descriptor_3) {
  Fixture f(600 << 10);  // more than one feeding chunk
  std::string out = f.dir.path + "/out", whole = f.dir.path + "/whole", env = f.dir.path + "/env";
  HookSpec spec = f.Shell("cat > " + out + " && cat <&3 > " + whole + " && echo \"$TAILSAFE_BOLT $PWD\" > " + env,
                          1000, (600 << 10) - 7);
  spec.env = {"TAILSAFE_BOLT=bolt-7"};
  HookOutcome o = f.Run(std::move(spec));
  BOOST_TEST(o.ok, o.error);
  BOOST_TEST(o.error.empty());
  BOOST_TEST(testing::ReadAll(out) == f.input_bytes.substr(1000, (600 << 10) - 7 - 1000));
  BOOST_TEST(testing::ReadAll(whole) == f.input_bytes);
  BOOST_TEST(testing::ReadAll(env) == "bolt-7 /\n");
}

BOOST_AUTO_TEST_CASE(a_nonzero_status_is_a_failure_that_names_it) {
  Fixture f;
  HookOutcome o = f.Run(f.Shell("cat > /dev/null; exit 3", 0, 10));
  BOOST_TEST(!o.ok);
  BOOST_TEST(o.error == "exited with status 3");
}

BOOST_AUTO_TEST_CASE(a_signal_is_a_failure_that_names_it) {
  Fixture f;
  HookOutcome o = f.Run(f.Shell("kill -TERM $$", 0, 0));
  BOOST_TEST(!o.ok);
  BOOST_TEST(o.error.find("killed by signal") == 0u, o.error);
}

BOOST_AUTO_TEST_CASE(a_hook_past_its_timeout_is_killed_with_its_children) {
  Fixture f;
  std::string child_pid = f.dir.path + "/child";
  // Reads none of its input, and leaves a child in its session.
  HookSpec spec = f.Shell("sleep 60 & echo $! > " + child_pid + "; wait", 0, 10);
  spec.timeout_ms = 500;  // time enough to start the child
  HookOutcome o = f.Run(std::move(spec));
  BOOST_TEST(!o.ok);
  BOOST_TEST(o.error == "timed out after 500 ms (killed)");
  pid_t child = static_cast<pid_t>(std::stol("0" + testing::ReadAll(child_pid)));
  BOOST_REQUIRE(child > 0);
  BOOST_TEST(f.loop.RunUntil([&] { return Gone(child); }), "the hook's child was killed with it");
}

BOOST_AUTO_TEST_CASE(an_input_shorter_than_the_range_fails_the_hook) {
  Fixture f(100);
  HookOutcome o = f.Run(f.Shell("cat > /dev/null", 50, 200));
  BOOST_TEST(!o.ok);
  BOOST_TEST(o.error == "its input ended at offset 100, short of 200");
}

BOOST_AUTO_TEST_CASE(a_program_that_cannot_run_is_an_error_from_start_and_done_never_runs) {
  Fixture f;
  HookProcess hook(f.loop.get());
  HookSpec spec;
  spec.argv = {f.dir.path + "/no-such-hook"};
  spec.input = f.input;
  Status st = hook.Start(std::move(spec), f.Done());
  BOOST_REQUIRE(!st.ok());
  BOOST_TEST(st.message().find("cannot run " + f.dir.path + "/no-such-hook") == 0u, st.message());
  HookProcess empty(f.loop.get());
  HookSpec none;
  none.input = f.input;
  Status st2 = empty.Start(std::move(none), f.Done());
  BOOST_TEST(st2.message() == "the hook has no command");
  f.loop.RunUntil([] { return true; });
  BOOST_TEST(f.done_calls == 0);
}

BOOST_AUTO_TEST_CASE(destroying_the_owner_kills_a_running_hook) {
  Fixture f;
  pid_t pid = 0;
  {
    HookProcess hook(f.loop.get());
    HookSpec spec = f.Shell("exec sleep 60", 0, 0);
    BOOST_REQUIRE(hook.Start(std::move(spec), f.Done()).ok());
    pid = hook.pid();
    BOOST_REQUIRE(pid > 0);
  }
  BOOST_TEST(f.loop.RunUntil([&] { return Gone(pid); }));
  BOOST_TEST(f.done_calls == 0);
}

BOOST_AUTO_TEST_SUITE_END()
