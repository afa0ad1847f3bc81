// FindHeld (agent/held_range.h): what this agent holds of one generation for a recovery it runs.
// Its own bolt is read from the generation's open file (any state but lost); another agent's
// from its replica, opened only once the replica durably covers what is needed. Runs real
// BoltSources on a libuv loop over a temporary directory, and a ReplicaStore over another.
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "agent/held_range.h"
#include "common/hash.h"
#include "tests/support/cluster.h"
#include "tests/support/test_loop.h"

using namespace tailsafe;
using tailsafe::testing::ScopedTempDir;
using tailsafe::testing::TestLoop;

namespace {

struct Fixture {
  ScopedTempDir dir{"held_range"};
  TestLoop loop;
  InotifyWatcher watcher{loop.get(), 0};
  AgentConfig agent;
  std::unique_ptr<BoltSources> sources;
  ReplicaStore replicas{dir.path + "/data", [] {}};

  Fixture() {
    BOOST_REQUIRE(watcher.Start().ok());
    BOOST_REQUIRE(::mkdir((dir.path + "/data").c_str(), 0755) == 0);
    BOOST_REQUIRE(::mkdir((dir.path + "/bolts").c_str(), 0755) == 0);
    agent.id = "h1";
  }
  ~Fixture() {
    if (sources) sources->Stop();
    sources.reset();
    watcher.Stop();
  }

  std::string BoltFile(const std::string& name) const { return dir.path + "/bolts/" + name; }
  void Write(const std::string& path, const std::string& bytes) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
  }
  // Starts one source, bolt `b` on bolts/b.log, from the state.db rows `rows`.
  void StartSource(std::vector<OriginGenRow> rows) {
    BoltSource::Hooks hooks;
    hooks.changed = [](const Generation*) {};
    hooks.min_acked = [](const Generation&) { return uint64_t{0}; };
    hooks.min_cursor = [](const Generation&) { return UINT64_MAX; };
    hooks.seal_held = nullptr;
    hooks.lost = [](const Generation&) {};
    hooks.request_commit = [] {};
    sources = std::make_unique<BoltSources>(loop.get(), &watcher, &agent, hooks, std::move(rows));
    BoltConfig b;
    b.name = "b";
    b.file = BoltFile("b.log");
    BOOST_REQUIRE(sources->Start({b}).ok());
  }
  const Generation* Gen(uint64_t gen) const {
    for (const auto& g : sources->all().front()->generations()) {
      if (g->gen == gen) return g.get();
    }
    return nullptr;
  }
  // A replica of ORIGIN/b generation `gen` that state.db says is durable up to `durable`, with
  // `bytes` in its file ("" for no file).
  void AddReplica(const std::string& origin, uint64_t gen, uint64_t durable, const std::string& bytes) {
    BOOST_REQUIRE(replicas.Init({{origin, "b", gen, durable, false}}, {}).ok());
    if (bytes.empty()) return;
    std::string d = dir.path + "/data/replicas/" + origin;
    ::mkdir(d.c_str(), 0755);
    ::mkdir((d + "/b").c_str(), 0755);
    Write(d + "/b/" + GenerationFileName(gen), bytes);
  }
  HeldRange Find(const std::string& origin, uint64_t gen, uint64_t need) {
    return FindHeld("h1", sources ? *sources : Empty(), replicas, origin, "b", gen, need);
  }
  const BoltSources& Empty() {
    if (!sources) StartSource({});
    return *sources;
  }
};

std::string ReadAll(int fd) {
  std::string out(4096, '\0');
  ssize_t n = ::pread(fd, out.data(), out.size(), 0);
  out.resize(n > 0 ? static_cast<size_t>(n) : 0);
  return out;
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(held_range, Fixture)

BOOST_AUTO_TEST_CASE(its_own_bolt_is_read_from_the_open_generation_up_to_the_size_last_seen) {
  Write(BoltFile("b.log"), "line one\nline two\n");
  StartSource({});
  const Generation* g = Gen(1);
  BOOST_REQUIRE(g != nullptr);
  BOOST_REQUIRE(g->active());
  HeldRange h = Find("h1", 1, 1000);  // its own file is given whatever the need
  BOOST_TEST(h.fd == g->fd());  // the generation's descriptor, not a second open
  BOOST_TEST(h.durable == 18u);
  BOOST_TEST(h.durable == g->known_size());
}

BOOST_AUTO_TEST_CASE(its_own_rotated_away_generation_is_held_but_a_lost_one_is_not) {
  // gen 1: its file is gone (lost at start); gen 2: renamed to b.log.1 while the agent was down
  // (rotated away); gen 3: the bolt's file now.
  Write(BoltFile("b.log.1"), "old bytes\n");
  struct stat st;
  BOOST_REQUIRE(::stat(BoltFile("b.log.1").c_str(), &st) == 0);
  OriginGenRow lost{"b", 1, 1, 1, 5, Hash64("qqqqq"), GenState::kActive, 0};
  OriginGenRow rotated{"b", 2, st.st_dev, st.st_ino, 0, 0, GenState::kActive, 0};
  Write(BoltFile("b.log"), "new\n");
  StartSource({lost, rotated});
  BOOST_REQUIRE(Gen(1) != nullptr);
  BOOST_REQUIRE((Gen(1)->state() == GenState::kLost));
  BOOST_REQUIRE(Gen(2) != nullptr);
  BOOST_REQUIRE((Gen(2)->state() == GenState::kRetired));
  BOOST_REQUIRE(Gen(3) != nullptr);

  HeldRange lost_held = Find("h1", 1, 0);
  BOOST_TEST(!lost_held.fd);
  BOOST_TEST(lost_held.durable == 0u);
  HeldRange old = Find("h1", 2, 0);
  BOOST_REQUIRE(old.fd);
  BOOST_TEST(ReadAll(old.fd->get()) == "old bytes\n");
  BOOST_TEST(old.durable == 10u);
  HeldRange now = Find("h1", 3, 0);
  BOOST_REQUIRE(now.fd);
  BOOST_TEST(ReadAll(now.fd->get()) == "new\n");
  BOOST_TEST(!Find("h1", 4, 0).fd);  // no such generation
}

BOOST_AUTO_TEST_CASE(its_own_bolt_is_never_read_from_a_replica_nor_another_agents_from_its_sources) {
  Write(BoltFile("b.log"), "mine\n");
  StartSource({});
  // A replica under this agent's own name (left from an earlier life) is not its bolt's bytes.
  AddReplica("h1", 7, 100, std::string(100, 'r'));
  BOOST_TEST(!Find("h1", 7, 10).fd);
  // Another agent's bolt of the same name and number is not this agent's file.
  HeldRange other = Find("h2", 1, 1);
  BOOST_TEST(!other.fd);
  BOOST_TEST(other.durable == 0u);
}

BOOST_AUTO_TEST_CASE(a_replica_short_of_the_need_reports_its_durable_size_and_is_not_opened) {
  AddReplica("h2", 1, 10, "0123456789");
  HeldRange h = Find("h2", 1, 11);
  BOOST_TEST(!h.fd);
  BOOST_TEST(h.durable == 10u);  // the runner waits for the rest
}

BOOST_AUTO_TEST_CASE(a_replica_that_covers_the_need_is_opened_read_only_and_close_on_exec) {
  AddReplica("h2", 1, 10, "0123456789");
  HeldRange h = Find("h2", 1, 10);
  BOOST_REQUIRE(h.fd);
  BOOST_TEST(h.durable == 10u);
  BOOST_TEST(ReadAll(h.fd->get()) == "0123456789");
  BOOST_TEST((::fcntl(h.fd->get(), F_GETFL) & O_ACCMODE) == O_RDONLY);
  BOOST_TEST((::fcntl(h.fd->get(), F_GETFD) & FD_CLOEXEC) != 0);
  // Each call opens its own descriptor: a recovery owns what it is given.
  HeldRange again = Find("h2", 1, 0);
  BOOST_REQUIRE(again.fd);
  BOOST_TEST(again.fd->get() != h.fd->get());
}

BOOST_AUTO_TEST_CASE(an_unknown_replica_holds_nothing_and_an_unopenable_one_only_its_size) {
  HeldRange none = Find("h2", 1, 0);
  BOOST_TEST(!none.fd);
  BOOST_TEST(none.durable == 0u);
  AddReplica("h2", 2, 50, "");  // state.db has it, the file is gone
  HeldRange gone = Find("h2", 2, 50);
  BOOST_TEST(!gone.fd);  // a warning, not a crash
  BOOST_TEST(gone.durable == 50u);
  BOOST_TEST(!Find("h2", 1, 0).fd);  // another generation of the same bolt is not it
}

BOOST_AUTO_TEST_SUITE_END()
