// FrameCache: frames encoded once and shared, inline or on the thread pool, dropped behind the
// peers and forgotten when the generation switches files (agent/frame_cache.h). Runs a real
// libuv loop for the thread-pool path.
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <uv.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "agent/frame_cache.h"
#include "common/compress.h"
#include "common/wire.h"
#include "tests/support/cluster.h"

using namespace tailsafe;
using tailsafe::testing::ScopedTempDir;

namespace {

constexpr uint32_t kChunk = 256 << 10;

struct Fixture {
  ScopedTempDir dir{"frame_cache"};
  uv_loop_t loop;
  std::string bytes;
  std::shared_ptr<Generation> gen;
  uint64_t min_cursor = 0;
  int ready = 0;
  int failed = 0;
  std::shared_ptr<EncodeSlots> slots = std::make_shared<EncodeSlots>(kAgentEncodeJobs);
  std::unique_ptr<FrameCache> cache;

  Fixture() {
    uv_loop_init(&loop);
    for (size_t i = 0; i < 2 * kChunk + 1000; ++i) bytes += static_cast<char>('a' + (i * 7 + i / 13) % 26);
    gen = OnFile("bolt.log", bytes);
    NewCache();
  }
  void NewCache() {
    if (cache) cache->Stop();
    cache = std::make_unique<FrameCache>(
        &loop, "bolt-1", kChunk, 4 * kChunk, 1, slots,
        FrameCache::Hooks{[this](const Generation&) { return min_cursor; }, [this] { ++ready; },
                          [this](const Generation&, const Status&) { ++failed; }});
  }
  ~Fixture() {
    cache->Stop();
    uv_run(&loop, UV_RUN_DEFAULT);  // let jobs in flight return
    cache.reset();
    uv_loop_close(&loop);
  }

  std::shared_ptr<Generation> OnFile(const std::string& name, const std::string& content, uint64_t gen_no = 1) {
    std::string path = dir.path + "/" + name;
    std::ofstream(path, std::ios::binary) << content;
    auto g = std::make_shared<Generation>("bolt-1", gen_no, static_cast<uint32_t>(gen_no));
    g->Open(std::make_shared<Fd>(::open(path.c_str(), O_RDONLY | O_CLOEXEC)), 1, gen_no, content.size(), 0);
    g->MarkPersisted();
    return g;
  }

  // Runs the loop until `done` or a deadline.
  template <typename Pred>
  bool RunUntil(Pred done) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!done() && std::chrono::steady_clock::now() < deadline) uv_run(&loop, UV_RUN_ONCE);
    return done();
  }

  FrameCache::FrameStatus Get(Generation& g, uint64_t offset, uint64_t max_len, uint32_t* raw,
                              std::shared_ptr<const std::string>* frame) {
    Status err;
    return cache->Get(g, offset, max_len, raw, frame, &err);
  }
};

// The raw bytes a DATA frame carries.
std::string Payload(const std::string& frame, uint64_t* offset) {
  FrameReader reader;
  reader.Feed(frame.data(), frame.size());
  Frame f;
  Status err;
  BOOST_REQUIRE((reader.Next(&f, &err) == FrameReader::Result::kFrame));
  DataMsg m;
  BOOST_REQUIRE(DecodeData(f, &m).ok());
  *offset = m.offset;
  if (!m.compressed) return std::string(m.body);
  std::string out(m.raw_len, '\0');
  Decompressor d;
  BOOST_REQUIRE(d.Decompress(m.body, m.raw_len, out.data()).ok());
  return out;
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(frame_cache, Fixture)

BOOST_AUTO_TEST_CASE(a_small_frame_is_encoded_inline_once_and_shared) {
  uint32_t raw = 0;
  std::shared_ptr<const std::string> a, b;
  BOOST_TEST((Get(*gen, 100, 1000, &raw, &a) == FrameCache::FrameStatus::kReady));
  BOOST_TEST(raw == 1000u);
  uint64_t offset = 0;
  BOOST_TEST(Payload(*a, &offset) == bytes.substr(100, 1000));
  BOOST_TEST(offset == 100u);
  BOOST_TEST((Get(*gen, 100, 1000, &raw, &b) == FrameCache::FrameStatus::kReady));
  BOOST_TEST(a == b);  // the same bytes, not a second compression
  BOOST_TEST(cache->frames_encoded() == 1u);
  BOOST_TEST(cache->cache_hits() == 1u);
  BOOST_TEST(cache->frames_held(*gen) == 1u);
  // A peer that may take fewer bytes gets a frame of its own.
  BOOST_TEST((Get(*gen, 100, 500, &raw, &b) == FrameCache::FrameStatus::kReady));
  BOOST_TEST(raw == 500u);
  BOOST_TEST(cache->frames_encoded() == 2u);
}

BOOST_AUTO_TEST_CASE(a_large_frame_is_encoded_off_the_loop_with_the_next_prefetched) {
  uint32_t raw = 0;
  std::shared_ptr<const std::string> frame;
  BOOST_TEST((Get(*gen, 0, bytes.size(), &raw, &frame) == FrameCache::FrameStatus::kPending));
  BOOST_TEST(cache->jobs_running(*gen) == 2u);  // the chunk asked for and the next full one
  BOOST_TEST((Get(*gen, 0, bytes.size(), &raw, &frame) == FrameCache::FrameStatus::kPending));  // not twice
  BOOST_REQUIRE(RunUntil([&] { return cache->jobs_running(*gen) == 0; }));
  BOOST_TEST(ready == 2);
  BOOST_TEST(failed == 0);
  BOOST_TEST((Get(*gen, 0, bytes.size(), &raw, &frame) == FrameCache::FrameStatus::kReady));
  BOOST_TEST(raw == kChunk);
  uint64_t offset = 1;
  BOOST_TEST((Payload(*frame, &offset) == bytes.substr(0, kChunk)));
  BOOST_TEST(offset == 0u);
  BOOST_TEST((Get(*gen, kChunk, bytes.size() - kChunk, &raw, &frame) == FrameCache::FrameStatus::kReady));
  BOOST_TEST((Payload(*frame, &offset) == bytes.substr(kChunk, kChunk)));
  BOOST_TEST(cache->cache_hits() == 2u);
}

BOOST_AUTO_TEST_CASE(frames_behind_every_peer_are_dropped) {
  uint32_t raw = 0;
  std::shared_ptr<const std::string> frame;
  for (uint64_t off = 0; off < 4000; off += 1000) Get(*gen, off, 1000, &raw, &frame);
  BOOST_TEST(cache->frames_held(*gen) == 4u);
  cache->DropBefore(*gen, 2000);  // acknowledged by every peer
  BOOST_TEST(cache->frames_held(*gen) == 2u);
  min_cursor = 3500;  // every connected peer has sent past 3000: dropped as the next is cached
  Get(*gen, 4000, 1000, &raw, &frame);
  BOOST_TEST(cache->frames_held(*gen) == 2u);  // [3000, 4000) and [4000, 5000)
  BOOST_TEST(cache->bytes_held(*gen) > 0u);
  cache->Forget(*gen);
  BOOST_TEST(cache->frames_held(*gen) == 0u);
  BOOST_TEST(cache->bytes_held(*gen) == 0u);
}

BOOST_AUTO_TEST_CASE(a_job_for_the_file_a_generation_left_delivers_nothing) {
  uint32_t raw = 0;
  std::shared_ptr<const std::string> frame;
  BOOST_TEST((Get(*gen, 0, kChunk, &raw, &frame) == FrameCache::FrameStatus::kPending));
  // copytruncate: the generation continues from its copy while the job reads the old file.
  std::string copy = bytes;
  copy[0] = 'Z';
  auto other = OnFile("bolt.log.1", copy, 2);
  gen->ContinueFrom(other->fd(), 1, 9, copy.size(), 0);
  cache->Forget(*gen);
  BOOST_REQUIRE(RunUntil([&] { return ready == 2; }));  // the chunk asked for and the prefetch
  BOOST_TEST(cache->frames_held(*gen) == 0u);
  BOOST_TEST((Get(*gen, 0, kChunk, &raw, &frame) == FrameCache::FrameStatus::kPending));
  BOOST_REQUIRE(RunUntil([&] { return ready == 4; }));
  BOOST_TEST((Get(*gen, 0, kChunk, &raw, &frame) == FrameCache::FrameStatus::kReady));
  uint64_t offset = 0;
  BOOST_TEST(Payload(*frame, &offset)[0] == 'Z');
}

BOOST_AUTO_TEST_CASE(closed_empty_and_short_reads_are_errors) {
  uint32_t raw = 0;
  std::shared_ptr<const std::string> frame;
  Status err;
  BOOST_TEST((cache->Get(*gen, 0, 0, &raw, &frame, &err) == FrameCache::FrameStatus::kError));
  BOOST_TEST(err.message().find("empty") != std::string::npos);
  // Past the end of the file (it was truncated under us): inline, the caller hears at once.
  BOOST_TEST((cache->Get(*gen, bytes.size(), 100, &raw, &frame, &err) == FrameCache::FrameStatus::kError));
  BOOST_TEST(err.message().find("short read") != std::string::npos);
  // Off the loop: the owner hears through `failed`, and nothing is cached.
  BOOST_TEST((cache->Get(*gen, bytes.size(), kChunk, &raw, &frame, &err) == FrameCache::FrameStatus::kPending));
  BOOST_REQUIRE(RunUntil([&] { return failed == 1; }));
  BOOST_TEST(cache->frames_held(*gen) == 0u);
  gen->Lose();
  BOOST_TEST((cache->Get(*gen, 0, 100, &raw, &frame, &err) == FrameCache::FrameStatus::kError));
  BOOST_TEST(err.message().find("closed") != std::string::npos);
}

// Issue 23: a peer that comes back to many generations asks a frame of each at once. The jobs
// off the loop stay within the agent's slots (without them: two per generation, twenty here),
// a refused frame is pending, its cache is woken when a slot is free, and every frame arrives.
BOOST_AUTO_TEST_CASE(encode_jobs_of_many_generations_stay_within_the_agents_slots) {
  slots = std::make_shared<EncodeSlots>(3);
  NewCache();
  std::vector<std::shared_ptr<Generation>> gens;
  for (uint64_t i = 1; i <= 10; ++i) gens.push_back(OnFile("gen-" + std::to_string(i), bytes, i));
  std::vector<bool> got(gens.size(), false);
  auto ask_all = [&] {
    size_t jobs = 0;
    for (size_t i = 0; i < gens.size(); ++i) {
      uint32_t raw = 0;
      std::shared_ptr<const std::string> frame;
      if (!got[i] && Get(*gens[i], 0, bytes.size(), &raw, &frame) == FrameCache::FrameStatus::kReady) {
        uint64_t offset = 1;
        BOOST_TEST((Payload(*frame, &offset) == bytes.substr(0, kChunk)), "generation " << i + 1);
        got[i] = true;
      }
      jobs += cache->jobs_running(*gens[i]);
    }
    BOOST_TEST(jobs <= 3u);
    return std::all_of(got.begin(), got.end(), [](bool b) { return b; });
  };
  BOOST_TEST(!ask_all());
  BOOST_TEST(slots->in_use() == 3u);
  BOOST_TEST(slots->waiting() == 1u, "one place in line per cache");
  int woken_before = ready;
  BOOST_REQUIRE(RunUntil([&] { return ask_all(); }));
  BOOST_TEST(ready > woken_before);
  BOOST_TEST(slots->peak() == 3u);
  BOOST_REQUIRE(RunUntil([&] { return slots->in_use() == 0; }));
  BOOST_TEST(failed == 0);
}

BOOST_AUTO_TEST_SUITE_END()
