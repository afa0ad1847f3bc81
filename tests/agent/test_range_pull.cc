// RangePull and RangeShipper (agent/range_pull.h): the two ends of a pull of a shrunk range's
// bytes from a survivor's replica, through the coordinator (here a vector of sent messages). The
// assignee asks one chunk at a time, the next only once the last is written, into an unlinked
// file; it ends once, with the file or with why not. The holder answers from its durable replica
// or with an error. Runs a real libuv loop for the thread-pool writes and reads.
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "agent/range_pull.h"
#include "common/coord_protocol.h"
#include "tests/support/cluster.h"
#include "tests/support/test_loop.h"

using namespace tailsafe;
using nlohmann::json;
using tailsafe::testing::ScopedTempDir;
using tailsafe::testing::TestLoop;

namespace {

constexpr uint64_t kChunk = RangePull::kChunkBytes;

std::string Bytes(size_t n, size_t seed = 0) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i * 7 + seed) % 26);
  return s;
}

std::string ReadAt(int fd, uint64_t offset, size_t n) {
  std::string out(n, '\0');
  ssize_t got = ::pread(fd, out.data(), n, static_cast<off_t>(offset));
  out.resize(got > 0 ? static_cast<size_t>(got) : 0);
  return out;
}

size_t Entries(const std::string& dir) {
  size_t n = 0;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return 0;
  while (struct dirent* e = ::readdir(d)) n += e->d_name[0] != '.';
  ::closedir(d);
  return n;
}

struct PullFixture {
  ScopedTempDir dir{"range_pull"};
  TestLoop loop;
  std::vector<json> sent;
  bool connected = true;
  int ends = 0;
  std::optional<Result<std::shared_ptr<Fd>>> result;
  std::unique_ptr<RangePull> pull;

  std::string PullDir() const { return dir.path + "/pulls"; }
  void Make(uint64_t from, uint64_t to, std::string pull_dir = "", uint64_t timeout_ms = RangePull::kChunkTimeoutMs) {
    RangePull::Env env;
    env.loop = loop.get();
    env.dir = pull_dir.empty() ? PullDir() : pull_dir;
    env.chunk_timeout_ms = timeout_ms;
    env.send = [this](const json& m) {
      if (connected) sent.push_back(m);
      return connected;
    };
    pull = std::make_unique<RangePull>(std::move(env), 7, 3, from, to, [this](Result<std::shared_ptr<Fd>> r) {
      ++ends;
      result.emplace(std::move(r));
    });
  }
  json Pulled(uint64_t offset, const std::string& bytes) {
    return {{"type", "pulled"}, {"recovery", uint64_t{7}}, {"epoch", uint64_t{3}}, {"offset", offset},
            {"data", HexEncode(bytes)}};
  }
  // Answers the last ask with `bytes` and runs the loop until the write is done (the next ask
  // or the end).
  void Answer(const std::string& bytes) {
    size_t asks = sent.size();
    uint64_t offset = sent.back()["offset"].get<uint64_t>();
    BOOST_REQUIRE(pull->OnPulled(Pulled(offset, bytes)).ok());
    BOOST_REQUIRE(loop.RunUntil([&] { return sent.size() > asks || ends > 0; }));
  }
  std::string Error() const { return result && !result->ok() ? result->status().message() : ""; }
};

}  // namespace

BOOST_FIXTURE_TEST_SUITE(range_pull, PullFixture)

BOOST_AUTO_TEST_CASE(it_asks_one_chunk_at_a_time_and_ends_with_the_range_at_its_offsets) {
  const uint64_t from = 1000, to = from + kChunk + 10;
  std::string first = Bytes(kChunk), second = Bytes(10, 3);
  Make(from, to);
  pull->Start();
  BOOST_REQUIRE_EQUAL(sent.size(), 1u);
  BOOST_TEST(sent[0]["type"] == "pull");
  BOOST_TEST(sent[0]["recovery"] == 7);
  BOOST_TEST(sent[0]["epoch"] == 3);
  BOOST_TEST(sent[0]["offset"] == from);
  BOOST_TEST(sent[0]["length"] == kChunk);  // the most the coordinator relays

  BOOST_REQUIRE(pull->OnPulled(Pulled(from, first)).ok());
  BOOST_TEST(sent.size() == 1u);  // the next chunk is asked only once this one is written
  BOOST_REQUIRE(loop.RunUntil([&] { return sent.size() == 2; }));
  BOOST_TEST(pull->pulled() == kChunk);
  BOOST_TEST(sent[1]["offset"] == from + kChunk);
  BOOST_TEST(sent[1]["length"] == 10);  // no more than the range holds

  Answer(second);
  BOOST_REQUIRE_EQUAL(ends, 1);
  BOOST_REQUIRE(result->ok());
  std::shared_ptr<Fd> file = result->value();
  BOOST_TEST(ReadAt(file->get(), from, kChunk) == first);
  BOOST_TEST(ReadAt(file->get(), from + kChunk, 100) == second);
  struct stat st;
  BOOST_REQUIRE(::fstat(file->get(), &st) == 0);
  BOOST_TEST(st.st_nlink == 0u);  // unlinked at once: a crash leaves nothing behind
  BOOST_TEST(static_cast<uint64_t>(st.st_size) == to);
  BOOST_TEST(Entries(PullDir()) == 0u);
  BOOST_TEST(sent.size() == 2u);
}

BOOST_AUTO_TEST_CASE(a_short_chunk_is_taken_and_the_next_ask_starts_where_it_ended) {
  Make(0, 100);
  pull->Start();
  Answer(Bytes(30));
  BOOST_REQUIRE_EQUAL(sent.size(), 2u);
  BOOST_TEST(sent[1]["offset"] == 30);
  BOOST_TEST(sent[1]["length"] == 70);
  Answer(Bytes(70, 30));
  BOOST_REQUIRE(result && result->ok());
  BOOST_TEST(ReadAt(result->value()->get(), 0, 100) == Bytes(30) + Bytes(70, 30));
}

BOOST_AUTO_TEST_CASE(an_empty_range_ends_at_once_with_an_empty_file) {
  Make(50, 50);
  pull->Start();
  BOOST_TEST(sent.empty());
  BOOST_REQUIRE_EQUAL(ends, 1);
  BOOST_REQUIRE(result->ok());
}

BOOST_AUTO_TEST_CASE(the_holders_error_ends_the_pull_with_its_words) {
  Make(0, 100);
  pull->Start();
  json answer = Pulled(0, "");
  answer.erase("data");
  answer["error"] = "holds 10 bytes";
  BOOST_REQUIRE(pull->OnPulled(answer).ok());
  BOOST_REQUIRE_EQUAL(ends, 1);
  BOOST_TEST(Error() == "holds 10 bytes");
  // A late answer after the end changes nothing.
  BOOST_TEST(pull->OnPulled(Pulled(0, Bytes(100))).ok());
  BOOST_TEST(ends == 1);
  BOOST_TEST(sent.size() == 1u);
}

BOOST_AUTO_TEST_CASE(an_answer_to_another_offset_is_ignored) {
  Make(0, 100);
  pull->Start();
  BOOST_TEST(pull->OnPulled(Pulled(40, Bytes(10))).ok());  // an ask given up on
  BOOST_TEST(ends == 0);
  BOOST_TEST(pull->pulled() == 0u);
  Answer(Bytes(100));
  BOOST_REQUIRE(result && result->ok());
}

BOOST_AUTO_TEST_CASE(a_second_answer_to_the_same_ask_is_ignored) {
  Make(0, 100);
  pull->Start();
  BOOST_REQUIRE(pull->OnPulled(Pulled(0, Bytes(40))).ok());
  BOOST_TEST(pull->OnPulled(Pulled(0, Bytes(40, 9))).ok());  // not asked any more: dropped
  BOOST_REQUIRE(loop.RunUntil([&] { return sent.size() == 2; }));
  Answer(Bytes(60, 40));
  BOOST_REQUIRE(result && result->ok());
  BOOST_TEST(ReadAt(result->value()->get(), 0, 100) == Bytes(40) + Bytes(60, 40));
}

BOOST_AUTO_TEST_CASE(a_chunk_that_is_not_hex_empty_or_too_long_ends_the_pull_not_the_connection) {
  for (const std::string& bad : {std::string("not hex"), std::string(""), std::string("too long")}) {
    sent.clear();
    ends = 0;
    result.reset();
    Make(0, bad == "too long" ? 4 : 100);
    pull->Start();
    json answer = Pulled(0, bad);
    if (bad == "not hex") answer["data"] = "zz";
    BOOST_TEST(pull->OnPulled(answer).ok(), bad);  // the coordinator relayed it faithfully
    BOOST_TEST(ends == 1, bad);
    BOOST_TEST(!Error().empty(), bad);
  }
  BOOST_TEST(Error().find("the holder sent 8 bytes at 0 of 4 still to pull") != std::string::npos, Error());
}

BOOST_AUTO_TEST_CASE(a_malformed_answer_is_an_error_and_the_ask_still_stands) {
  Make(0, 100);
  pull->Start();
  BOOST_TEST(!pull->OnPulled({{"type", "pulled"}, {"data", "00"}}).ok());  // no offset
  BOOST_TEST(!pull->OnPulled({{"type", "pulled"}, {"offset", uint64_t{0}}}).ok());  // no data
  BOOST_TEST(ends == 0);
  Answer(Bytes(100));
  BOOST_REQUIRE(result && result->ok());
}

BOOST_AUTO_TEST_CASE(without_the_coordinator_the_pull_ends_at_once) {
  connected = false;
  Make(0, 100);
  pull->Start();
  BOOST_REQUIRE_EQUAL(ends, 1);
  BOOST_TEST(Error() == "not connected to the coordinator");
}

// The holder or the coordinator died: an ask without an answer ends the pull, and each answer
// gives the next ask its own time (the pull is not timed as a whole).
BOOST_AUTO_TEST_CASE(an_ask_left_unanswered_ends_the_pull_after_the_chunk_timeout) {
  Make(0, kChunk + 10, "", 50);
  pull->Start();
  Answer(Bytes(kChunk));  // answered: the timer starts again for the second ask
  BOOST_REQUIRE_EQUAL(sent.size(), 2u);
  BOOST_REQUIRE(loop.RunUntil([&] { return ends > 0; }));
  BOOST_TEST(Error() == "no chunk within 50 ms of asking for it at " + std::to_string(kChunk));
  BOOST_TEST(sent.size() == 2u);
  BOOST_TEST(ends == 1);
  // A late answer finds the pull ended and takes nothing.
  BOOST_TEST(pull->OnPulled(Pulled(kChunk, Bytes(10))).ok());
  BOOST_TEST(pull->pulled() == kChunk);
}

BOOST_AUTO_TEST_CASE(a_pull_directory_that_cannot_be_made_ends_the_pull) {
  std::ofstream(dir.path + "/file") << "x";
  Make(0, 100, dir.path + "/file/pulls");
  pull->Start();
  BOOST_REQUIRE_EQUAL(ends, 1);
  BOOST_TEST(Error().find("cannot create " + dir.path + "/file/pulls") == 0u, Error());
  BOOST_TEST(sent.empty());
}

BOOST_AUTO_TEST_CASE(the_owner_may_destroy_the_pull_when_it_ends) {
  RangePull::Env env;
  env.loop = loop.get();
  env.dir = PullDir();
  env.send = [this](const json& m) {
    sent.push_back(m);
    return true;
  };
  pull = std::make_unique<RangePull>(std::move(env), 7, 3, 0, 10, [this](Result<std::shared_ptr<Fd>> r) {
    ++ends;
    result.emplace(std::move(r));
    pull.reset();
  });
  pull->Start();
  Answer(Bytes(10));
  BOOST_TEST(ends == 1);
  BOOST_TEST(!pull);
  BOOST_REQUIRE(result->ok());
}

BOOST_AUTO_TEST_CASE(a_pull_destroyed_while_its_chunk_is_written_calls_nothing) {
  Make(0, 100);
  pull->Start();
  BOOST_REQUIRE(pull->OnPulled(Pulled(0, Bytes(100))).ok());
  pull.reset();  // the recovery was revoked
  uv_run(loop.get(), UV_RUN_DEFAULT);  // the write returns to nothing
  BOOST_TEST(ends == 0);
  BOOST_TEST(sent.size() == 1u);
}

BOOST_AUTO_TEST_SUITE_END()

namespace {

struct ShipFixture {
  ScopedTempDir dir{"range_ship"};
  TestLoop loop;
  std::vector<json> sent;
  std::string replica = Bytes(1000);
  uint64_t durable = 1000;
  std::vector<std::tuple<std::string, std::string, uint64_t, uint64_t>> asked;  // origin, bolt, gen, need
  std::unique_ptr<RangeShipper> shipper;

  ShipFixture() {
    std::string path = dir.path + "/replica";
    std::ofstream(path, std::ios::binary) << replica;
    RangeShipper::Env env;
    env.loop = loop.get();
    env.held = [this, path](const std::string& origin, const std::string& bolt, uint64_t gen, uint64_t need) {
      asked.emplace_back(origin, bolt, gen, need);
      HeldRange h;
      h.durable = durable;
      if (durable >= need) h.fd = std::make_shared<Fd>(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
      return h;
    };
    env.send = [this](const json& m) {
      sent.push_back(m);
      return true;
    };
    shipper = std::make_unique<RangeShipper>(std::move(env));
  }
  static json Ship(uint64_t offset, uint64_t length) {
    // As parsed from the coordinator's text: numbers are unsigned.
    return {{"type", "ship"}, {"recovery", uint64_t{7}}, {"epoch", uint64_t{3}}, {"origin", "h2"}, {"bolt", "b"},
            {"generation", uint64_t{4}}, {"offset", offset}, {"length", length}};
  }
};

}  // namespace

BOOST_FIXTURE_TEST_SUITE(range_shipper, ShipFixture)

BOOST_AUTO_TEST_CASE(a_chunk_held_durably_is_shipped_from_the_replica_off_the_loop) {
  BOOST_REQUIRE(shipper->OnShip(Ship(100, 50)).ok());
  BOOST_REQUIRE_EQUAL(asked.size(), 1u);
  BOOST_TEST(std::get<0>(asked[0]) == "h2");
  BOOST_TEST(std::get<1>(asked[0]) == "b");
  BOOST_TEST(std::get<2>(asked[0]) == 4u);
  BOOST_TEST(std::get<3>(asked[0]) == 150u);  // everything up to the chunk's end must be durable
  BOOST_TEST(sent.empty());  // read on the thread pool
  BOOST_REQUIRE(loop.RunUntil([&] { return !sent.empty(); }));
  BOOST_REQUIRE_EQUAL(sent.size(), 1u);
  const json& m = sent[0];
  BOOST_TEST(m["type"] == "shipped");
  BOOST_TEST(m["recovery"] == 7);
  BOOST_TEST(m["epoch"] == 3);
  BOOST_TEST(m["offset"] == 100);
  BOOST_TEST(!m.contains("error"));
  Result<std::string> data = HexDecode(m["data"].get<std::string>());
  BOOST_REQUIRE(data.ok());
  BOOST_TEST(*data == replica.substr(100, 50));
}

BOOST_AUTO_TEST_CASE(less_than_asked_is_answered_with_what_is_held) {
  durable = 120;
  BOOST_REQUIRE(shipper->OnShip(Ship(100, 50)).ok());
  BOOST_REQUIRE_EQUAL(sent.size(), 1u);  // at once
  BOOST_TEST(!sent[0].contains("data"));
  BOOST_TEST(sent[0]["error"] == "holds 120 bytes of h2/b generation 4, not up to 150");
  BOOST_TEST(sent[0]["offset"] == 100);
}

BOOST_AUTO_TEST_CASE(a_chunk_of_no_bytes_or_more_than_the_coordinator_relays_is_refused_unread) {
  BOOST_REQUIRE(shipper->OnShip(Ship(0, 0)).ok());
  BOOST_REQUIRE(shipper->OnShip(Ship(0, kChunk + 1)).ok());
  BOOST_REQUIRE_EQUAL(sent.size(), 2u);
  BOOST_TEST(sent[0]["error"].get<std::string>().find("a chunk of 0 bytes is asked") == 0u);
  BOOST_TEST(sent[1]["error"].get<std::string>().find("a chunk of " + std::to_string(kChunk + 1)) == 0u);
  BOOST_TEST(asked.empty());
  BOOST_REQUIRE(shipper->OnShip(Ship(0, kChunk)).ok());  // the largest is fine
  BOOST_TEST(asked.size() == 1u);
}

BOOST_AUTO_TEST_CASE(a_replica_shorter_than_its_durable_size_is_an_error_not_zeros) {
  durable = 5000;  // state.db says more than the file holds
  BOOST_REQUIRE(shipper->OnShip(Ship(900, 200)).ok());
  BOOST_REQUIRE(loop.RunUntil([&] { return !sent.empty(); }));
  BOOST_TEST(sent[0]["error"] == "the replica ends early");
  BOOST_TEST(!sent[0].contains("data"));
}

BOOST_AUTO_TEST_CASE(a_malformed_request_or_a_bad_name_is_an_error_and_answers_nothing) {
  json no_length = Ship(0, 10);
  no_length.erase("length");
  BOOST_TEST(!shipper->OnShip(no_length).ok());
  json bad_bolt = Ship(0, 10);
  bad_bolt["bolt"] = "../etc";
  Status s = shipper->OnShip(bad_bolt);
  BOOST_TEST(!s.ok());
  BOOST_TEST(s.message() == "ship: invalid origin or bolt name");
  BOOST_TEST(sent.empty());
  BOOST_TEST(asked.empty());
}

BOOST_AUTO_TEST_SUITE_END()
