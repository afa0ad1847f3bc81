// FrameCache: the encoded DATA frames of one bolt's generations, shared by every peer.
//
// A peer at offset X asks for the frame of [X, X + n); the first to ask pays for the read and
// the compression, and every peer within a window of it gets the same bytes (each connection
// encrypts them with its own keys, in the transport). Small frames (the common case at low
// rates: one write, one frame) are encoded inline, which costs less than a round trip through
// the thread pool; large ones on libuv's thread pool, with the next chunks prefetched, and
// `ready` fires on the loop when one is cached.
//
// Off-loop jobs: at most kMaxEncodeJobs per generation, and no more in all than the agent's
// EncodeSlots allow; a Get refused a slot is kPending and `ready` fires once one is free.
//
// Memory: at most kMaxCachedFrameBytes of encoded frames per generation; frames every peer has
// sent are dropped as soon as the cache is touched (min_cursor) or acknowledged (DropBefore).
// The cache never decides anything about the file: a failed read is reported (`failed`) and
// the owner re-checks the file.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "agent/encode_slots.h"
#include "agent/generation.h"
#include "common/compress.h"
#include "common/status.h"

namespace tailsafe {

class FrameCache {
 public:
  enum class FrameStatus { kReady, kPending, kError };
  struct Hooks {
    // Lowest offset a connected peer will still send of `g`; UINT64_MAX when none is connected.
    std::function<uint64_t(const Generation&)> min_cursor;
    std::function<void()> ready;  // a frame encoded off the loop is cached: pump again
    std::function<void(const Generation&, const Status&)> failed;  // an off-loop read failed
  };

  // `loop` outlives the cache. chunk_bytes: the largest frame's raw length; window_bytes: how
  // far ahead of the frame asked for chunks are prefetched.
  FrameCache(uv_loop_t* loop, std::string bolt, uint32_t chunk_bytes, uint32_t window_bytes, int compression_level,
             std::shared_ptr<EncodeSlots> slots, Hooks hooks);

  // The frame for bytes [offset, offset + n) of `g`, n <= max_len. kReady: in `frame`, its raw
  // length in `raw_len`. kPending: being encoded off the loop. kError: `error` says why.
  // `g` must be owned by a shared_ptr (encode jobs hold it).
  FrameStatus Get(Generation& g, uint64_t offset, uint64_t max_len, uint32_t* raw_len,
                  std::shared_ptr<const std::string>* frame, Status* error);
  // Drops `g`'s frames that end at or before `offset`.
  void DropBefore(const Generation& g, uint64_t offset);
  // Drops every frame of `g` (it switched files, was lost or closed); jobs in flight for it
  // deliver nothing (their file no longer matches).
  void Forget(const Generation& g);
  // Jobs in flight deliver nothing after this, and a wait for a slot wakes nobody.
  void Stop() {
    alive_.reset();
    wake_.reset();
  }

  uint64_t frames_encoded() const { return frames_encoded_; }  // compressions
  uint64_t cache_hits() const { return cache_hits_; }          // frames another peer's compression served
  size_t frames_held(const Generation& g) const;
  uint64_t bytes_held(const Generation& g) const;  // encoded
  size_t jobs_running(const Generation& g) const;

 private:
  struct Frame {
    uint32_t raw_len = 0;
    std::shared_ptr<const std::string> bytes;
  };
  struct Held {  // of one generation
    std::map<uint64_t, Frame> frames;  // by offset
    std::set<uint64_t> encoding;       // offsets being encoded on the thread pool
    uint64_t bytes = 0;                // encoded bytes in `frames`
    uint64_t raw_bytes = 0;            // file bytes they cover
  };
  struct EncodeJob;

  void StartEncode(Generation& g, Held& held, uint64_t offset, uint64_t n, EncodeSlots::Slot slot);
  void FinishEncode(EncodeJob& job);
  std::shared_ptr<const std::string> Cache(const Generation& g, Held& held, uint64_t offset, uint64_t n,
                                           std::string encoded);
  void Drop(Held& held, std::map<uint64_t, Frame>::iterator it);
  std::unique_ptr<Compressor> TakeCompressor();

  uv_loop_t* loop_;
  std::string bolt_;
  uint32_t chunk_bytes_;
  uint32_t window_bytes_;
  int compression_level_;
  std::shared_ptr<EncodeSlots> slots_;
  Hooks hooks_;
  std::shared_ptr<std::function<void()>> wake_;  // what EncodeSlots calls when a slot is free
  bool waiting_ = false;                         // for a slot
  std::map<uint32_t, Held> held_;  // by stream
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);  // encode jobs check it on return
  std::unique_ptr<Compressor> inline_compressor_;
  std::vector<std::unique_ptr<Compressor>> compressors_;  // idle ones, reused by encode jobs
  std::unique_ptr<char[]> read_buf_;
  size_t read_buf_size_ = 0;
  uint64_t frames_encoded_ = 0;
  uint64_t cache_hits_ = 0;
};

}  // namespace tailsafe
