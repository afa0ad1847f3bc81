// DueStreams: which of a peer link's streams the next pump looks at.
//
// A pump that walked every stream at every event cost an agent with 1,000 bolts a sixth of its
// CPU on the 1,000-bolt stage (docs/performance.md). Streams are marked when something may let
// them send: their file grew or got a checkpoint (BoltSource), the peer acknowledged them (the
// window opened), or they stopped on a full write queue or a frame being encoded. Anything
// else (a generation changed state, a connection, a placement move, a frame encoded off the
// loop, a rescan) marks every stream. Past kMaxListed marks it also looks at every stream:
// the list never grows without bound, e.g. while the peer is away.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace tailsafe {

class DueStreams {
 public:
  static constexpr size_t kMaxListed = 4096;

  void Mark(uint32_t stream) {
    if (all_) return;
    if (listed_.size() >= kMaxListed) return MarkAll();
    listed_.push_back(stream);
  }
  void MarkAll() {
    all_ = true;
    listed_.clear();
  }
  // What is due, and nothing after: true for every stream, else false and the streams marked
  // (each once, in stream order) in `streams`.
  bool Take(std::vector<uint32_t>* streams) {
    streams->clear();
    if (all_) {
      all_ = false;
      return true;
    }
    streams->swap(listed_);
    std::sort(streams->begin(), streams->end());
    streams->erase(std::unique(streams->begin(), streams->end()), streams->end());
    return false;
  }

 private:
  bool all_ = true;  // a new link looks at every stream
  std::vector<uint32_t> listed_;
};

}  // namespace tailsafe
