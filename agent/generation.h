// Generation: one file's worth of a bolt's bytes, as the origin agent knows it. A bolt's file
// starts a new generation on rotation, truncation and divergence (agent/bolt_source.h says
// when); peers replicate each generation as its own stream.
//
// Identity (bolt, gen, stream) is fixed at construction and public. Everything else is read
// through accessors and changed only by the BoltSource that owns the generation, on the loop;
// PeerLink and Agent read it. The size to ship is known_size(): the final size once sealed
// (bytes a process appends to a sealed file are not replicated), else the size fstat last saw.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <utility>

#include "agent/state_store.h"
#include "common/fd.h"

namespace tailsafe {

constexpr uint32_t kHeadBytes = 4096;  // the head bytes hashed to know a file again

class Generation : public std::enable_shared_from_this<Generation> {
 public:
  // A new generation, not yet on a file (see Open) and not yet persisted.
  Generation(std::string bolt, uint64_t gen, uint32_t stream);
  // A generation taken up from its state.db row (persisted, not dirty), as `state`; its file,
  // if found again, is given with Reopen.
  static std::shared_ptr<Generation> FromRow(const OriginGenRow& row, GenState state, uint32_t stream,
                                             uint64_t now_ns);

  const std::string bolt;
  const uint64_t gen;
  const uint32_t stream;  // id used on every connection while this process lives

  GenState state() const { return state_; }
  bool active() const { return state_ == GenState::kActive; }
  bool sealed() const { return state_ == GenState::kSealed; }
  // Lost or released: nothing more is shipped of it.
  bool gone() const { return state_ == GenState::kLost || state_ == GenState::kReleased; }
  // Its row is durable and it is still read: peers may be sent its bytes.
  bool shippable() const {
    return persisted_ && (state_ == GenState::kActive || state_ == GenState::kRetired || state_ == GenState::kSealed);
  }
  // Readable bytes as of the last fstat (past final_size() if a process wrote after the seal).
  uint64_t size() const { return size_; }
  uint64_t final_size() const { return final_size_; }  // 0 until sealed
  // The bytes that belong to the generation: its final size once sealed, else the size last
  // seen. A lost or released one keeps the larger of the two it had.
  uint64_t known_size() const { return sealed() ? final_size_ : std::max(size_, final_size_); }
  const std::shared_ptr<Fd>& fd() const { return fd_; }  // null once closed or lost
  uint64_t dev() const { return dev_; }
  uint64_t ino() const { return ino_; }
  uint32_t head_len() const { return head_len_; }
  uint64_t head_hash() const { return head_hash_; }
  // The window_len() bytes before window_end() (a size the file had, refreshed as it grows:
  // WindowStale) hash to window_hash() (Hash64); window_len() 0 if not read. Only in memory: it
  // tells a copy of the file from a file that merely begins the same (FindCopyInDir).
  uint64_t window_end() const { return window_end_; }
  uint32_t window_len() const { return window_len_; }
  uint64_t window_hash() const { return window_hash_; }
  // The bolt reported a checkpoint while this was its file: it has processed [0, checkpoint()).
  bool has_checkpoint() const { return has_checkpoint_; }
  uint64_t checkpoint() const { return checkpoint_; }
  bool persisted() const { return persisted_; }  // its row is durable; nothing is shipped before
  bool row_dirty() const { return row_dirty_; }
  uint64_t last_growth_ns() const { return last_growth_ns_; }
  uint64_t seal_check_ns() const { return seal_check_ns_; }  // not tried for sealing before this
  // When the first byte past `acked` was seen; 0 if none is pending.
  uint64_t FirstUnackedNs(uint64_t acked) const;
  OriginGenRow Row() const;

  // Changes, made by the owning BoltSource only.
  // Takes up `fd` (inode dev:ino, `size` bytes) as its file, first seen now.
  void Open(std::shared_ptr<Fd> fd, uint64_t dev, uint64_t ino, uint64_t size, uint64_t now_ns);
  // A restored generation's file found again with `size` bytes (no more than a sealed one's final size).
  void Reopen(std::shared_ptr<Fd> fd, uint64_t size, uint64_t now_ns);
  // Continues from a copy of its file (copytruncate): rotated away, read to its end from there.
  void ContinueFrom(std::shared_ptr<Fd> fd, uint64_t dev, uint64_t ino, uint64_t size, uint64_t now_ns);
  void Grow(uint64_t size, uint64_t now_ns);  // fstat saw more bytes
  void AppendedAfterSeal(uint64_t size);      // fstat saw more bytes in a sealed file
  void SetHead(uint32_t len, uint64_t hash);
  void SetWindow(uint64_t end, uint32_t len, uint64_t hash);
  void SetCheckpoint(uint64_t offset);
  void Retire(uint64_t now_ns);  // no longer the bolt's file: read it until it stops growing
  void DeferSeal(uint64_t until_ns);  // a writer still has it open
  void Seal();                        // at its current size
  void Lose();                        // can no longer be read; closes it
  void Release();                     // every peer has it all
  void Close() { fd_.reset(); }
  void MarkDirty() { row_dirty_ = true; }
  // Clears the dirty flag; true if it was set (the row goes into the next commit).
  bool TakeDirty();
  // Its row is durable; true the first time.
  bool MarkPersisted();
  // Forgets growth points every peer has acknowledged.
  void PruneGrowth(uint64_t acked);

  // Bumped (process-wide) whenever any generation is made or changes state or becomes persisted,
  // that is whenever which generations a peer link may open or must forget changes; growth does
  // not bump it. A link rescans every bolt only when it moved (agent/peer_link.h).
  static uint64_t ShapeEpoch() { return shape_epoch_.load(std::memory_order_relaxed); }

 private:
  void SetState(GenState s);

  inline static std::atomic<uint64_t> shape_epoch_{0};
  GenState state_ = GenState::kActive;
  std::shared_ptr<Fd> fd_;
  uint64_t dev_ = 0;
  uint64_t ino_ = 0;
  uint64_t size_ = 0;
  uint64_t final_size_ = 0;
  bool has_checkpoint_ = false;
  uint64_t checkpoint_ = 0;
  uint32_t head_len_ = 0;
  uint64_t head_hash_ = 0;
  uint64_t window_end_ = 0;
  uint32_t window_len_ = 0;
  uint64_t window_hash_ = 0;
  bool persisted_ = false;
  bool row_dirty_ = true;
  uint64_t last_growth_ns_ = 0;
  uint64_t seal_check_ns_ = 0;
  // (size, time first seen) points, for lag in seconds; pruned as every peer acknowledges.
  std::deque<std::pair<uint64_t, uint64_t>> growth_;
};

}  // namespace tailsafe
