// BoltSource: the origin side of one bolt. Watches the bolt's backup file and knows its
// generations; the peer links read the bytes to ship from here.
//
// The file itself is the buffer: a generation is an open descriptor plus the size last seen by
// fstat. Nothing is copied into memory except the few encoded frames most recently shipped
// (shared by every peer at the same offset).
//
// Watching: a subscription to the agent's one inotify instance (common/inotify_watcher.h): the
// directory, for the bolt file's renames and creations, and each open generation's inode through
// /proc/self/fd/N (so a renamed or deleted generation still reports). Events are hints: each
// burst triggers one Check(), which trusts only fstat on the open descriptors and stat on the
// path. IN_Q_OVERFLOW and a timer trigger the same Check(), counted as rescans.
//
// Generations: a new one starts when the path names a new inode (rename+create, delete+create),
// when the file shrinks (truncation, copytruncate), and when a peer's replica proves the bytes
// were rewritten in place (divergence). A rotated-away generation stays open and is read to its
// end; it is sealed once it stops growing for seal_after_ms and no process holds it open for
// writing (checked with a read lease where the agent may take one), and closed once every peer has
// acknowledged all of it and holds its seal. After copytruncate the copy is found in the directory
// (same head bytes, at least as long) and the old generation continues from it, so bytes not yet
// shipped when the original was truncated are not lost. The agent only ever reads bolt files.
#pragma once

#include <uv.h>

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <span>
#include <optional>
#include <string>
#include <vector>

#include "agent/committer.h"
#include "agent/state_store.h"
#include "common/compress.h"
#include "common/config.h"
#include "common/fd.h"
#include "common/inotify_watcher.h"
#include "common/uv_handle.h"

namespace tailsafe {

constexpr uint32_t kHeadBytes = 4096;

struct Generation {
  std::string bolt;
  uint64_t gen = 0;
  uint32_t stream = 0;  // id used on every connection while this process lives
  std::shared_ptr<Fd> fd;
  uint64_t dev = 0;
  uint64_t ino = 0;
  uint64_t size = 0;  // readable bytes, as of the last fstat
  GenState state = GenState::kActive;
  uint64_t final_size = 0;  // when sealed
  bool has_checkpoint = false;  // the bolt reported a checkpoint while this was its file
  uint64_t checkpoint = 0;      // it has processed [0, checkpoint) of this generation
  uint32_t head_len = 0;
  uint64_t head_hash = 0;
  bool persisted = false;  // its row is durable; nothing is shipped before
  bool row_dirty = true;
  uint64_t last_growth_ns = 0;
  uint64_t seal_check_ns = 0;  // a writer still had it open: do not try to seal before this
  // (size, time first seen) points, for lag in seconds; pruned as every peer acknowledges.
  std::deque<std::pair<uint64_t, uint64_t>> growth;
  std::set<uint64_t> encoding;  // offsets being encoded on the thread pool
  // Recently encoded DATA frames by offset: (raw length, frame bytes).
  std::map<uint64_t, std::pair<uint32_t, std::shared_ptr<const std::string>>> frames;
  uint64_t frame_bytes = 0;      // encoded bytes held in `frames`
  uint64_t frame_raw_bytes = 0;  // file bytes they cover

  bool shippable() const {
    return persisted && (state == GenState::kActive || state == GenState::kRetired || state == GenState::kSealed);
  }
  // When the first byte past `acked` was seen; 0 if none is pending.
  uint64_t FirstUnackedNs(uint64_t acked) const;
};

class BoltSource {
 public:
  struct Hooks {
    std::function<void()> changed;  // new bytes, a new generation, a seal
    std::function<uint64_t(const Generation&)> min_acked;  // over every peer
    // Lowest offset a connected peer will still send of `g`; UINT64_MAX when none is connected.
    std::function<uint64_t(const Generation&)> min_cursor;
    std::function<bool(const Generation&)> seal_held;  // every peer holds its seal; null: yes
    std::function<void(const Generation&)> lost;  // `g` is about to be marked lost
    std::function<void()> request_commit;
  };
  struct Stats {
    uint64_t rescans_timer = 0;
    uint64_t rescans_overflow = 0;
    uint64_t rotations = 0;
    uint64_t truncations = 0;
    uint64_t copies_found = 0;
    uint64_t divergences = 0;
    uint64_t generations_lost = 0;
    uint64_t events = 0;
    uint64_t bytes_after_seal = 0;  // written to a sealed generation: not replicated
    uint64_t frames_encoded = 0;    // compressions
    uint64_t frame_cache_hits = 0;  // frames another peer's compression served
  };

  // `loop`, `watcher` and `next_stream` outlive this source.
  BoltSource(uv_loop_t* loop, InotifyWatcher* watcher, const BoltConfig& bolt, const AgentConfig& agent,
             Hooks hooks, uint32_t* next_stream);
  ~BoltSource();

  // Restores generations from state.db rows (of this bolt) and starts watching.
  Status Start(const std::vector<OriginGenRow>& rows);
  void Stop();
  // A reloaded configuration for this bolt (same name). A new `file` is a rotation: the old
  // file's generation is read to its end and sealed as usual, and the new path starts the next
  // generation. Nothing else here depends on the other keys.
  void Reconfigure(const BoltConfig& bolt);
  // The bolt left the configuration (or its rule no longer finds it): what its files hold now is
  // sealed, and shipped to every peer; nothing appended later is. Watching stops. Drained() once
  // every peer has it all.
  void Retire();
  bool retiring() const { return retiring_; }
  bool Drained() const { return retiring_ && gens_.empty() && released_rows_.empty(); }
  // The number the next generation of this bolt gets (gens continue across remove and re-add).
  uint64_t next_gen() const { return next_gen_; }
  // Reconciles generations with the file system; safe to call any time.
  void Check();
  // The bolt's checkpoint file now says `offset`: it applies to the active generation (the
  // bolt's current file) and travels to every peer. Ignored while there is no active one.
  void SetCheckpoint(uint64_t offset);
  // Adds dirty generation rows to a commit.
  void Collect(Committer::Batch* batch);

  // The encoded DATA frame for bytes [offset, offset + n) of `g`, n <= max_len. kReady: in
  // `frame`. kPending: being encoded off the loop; `changed` fires when it is ready. Small frames
  // are encoded inline; large ones on the libuv thread pool, with the next chunks prefetched.
  enum class FrameStatus { kReady, kPending, kError };
  FrameStatus GetFrame(Generation& g, uint64_t offset, uint64_t max_len, uint32_t* raw_len,
                       std::shared_ptr<const std::string>* frame, Status* error);
  // A peer's replica of `g` does not match the file: log, count, continue in a new generation.
  void Diverged(Generation& g, const std::string& why);
  // Closes sealed generations every peer has acknowledged; prunes lag points.
  void ReleaseAcked();

  const std::string& name() const { return bolt_.name; }
  const std::string& path() const { return bolt_.file; }
  // The [[bolt_pattern]] that found this bolt; empty for a [[bolt]] table.
  const std::string& pattern() const { return bolt_.pattern; }
  const std::deque<std::shared_ptr<Generation>>& generations() const { return gens_; }
  const Stats& stats() const { return stats_; }

 private:
  void SplitPath();  // dir_ and base_ from bolt_.file
  // Takes up a generation from its state.db row: its inode found again (at the path, renamed in
  // the directory, or as a copy), or the generation lost.
  void Restore(const OriginGenRow& row, uint64_t now);
  Status SetUpWatches();
  void WatchInode(const Generation& g);
  // Drops the watches of inodes no open generation holds any more.
  void ForgetClosedInodes();
  // A burst of events on this bolt's watches: one Check() if one concerns a generation or the
  // bolt's path, or if the queue overflowed (counted and logged).
  void OnEvents(std::span<const InotifyWatcher::Event> events);
  void OpenNewGeneration(const char* why);
  // Starts the next generation on an open file; null if it cannot be fstat'd.
  Generation* AddGeneration(std::shared_ptr<Fd> fd);
  void HandleShrink(Generation& g, uint64_t new_size);
  bool FindCopy(Generation& g);
  Fd FindInodeInDir(uint64_t dev, uint64_t ino);
  bool HeadMatches(int fd, uint32_t head_len, uint64_t head_hash);
  void UpdateHead(Generation& g);
  struct EncodeJob;
  void StartEncode(const std::shared_ptr<Generation>& g, uint64_t offset, uint64_t n);
  void FinishEncode(EncodeJob& job);
  std::shared_ptr<const std::string> CacheFrame(Generation& g, uint64_t offset, uint64_t n, std::string encoded);
  std::unique_ptr<Compressor> TakeCompressor();
  void MarkLost(Generation& g, const std::string& why);
  void ClearFrames(Generation& g);
  void DropFrame(Generation& g, std::map<uint64_t, std::pair<uint32_t, std::shared_ptr<const std::string>>>::iterator it);
  Generation* Active();
  void ArmSealTimer();

  uv_loop_t* loop_;
  BoltConfig bolt_;
  std::string dir_;
  std::string base_;
  uint32_t chunk_bytes_;
  uint32_t window_bytes_;
  int compression_level_;
  uint32_t seal_after_ms_;
  uint32_t rescan_ms_;
  Hooks hooks_;
  uint32_t* next_stream_;
  uint64_t next_gen_ = 1;
  bool retiring_ = false;

  InotifyWatcher* watcher_;
  InotifyWatcher::Subscription events_;  // while watching (started, not retired)
  InotifyWatcher::Watch dir_watch_;      // the directory, for entries named base_
  std::map<std::pair<uint64_t, uint64_t>, InotifyWatcher::Watch> inode_watches_;  // by (dev, ino)
  UvPtr<uv_timer_t> rescan_timer_;
  UvPtr<uv_timer_t> seal_timer_;
  std::deque<std::shared_ptr<Generation>> gens_;
  std::vector<OriginGenRow> released_rows_;  // to persist
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);  // encode jobs check it on return
  std::optional<uint64_t> pending_checkpoint_;  // read before the bolt's file was seen
  std::unique_ptr<Compressor> inline_compressor_;
  std::vector<std::unique_ptr<Compressor>> compressors_;  // idle ones, reused by encode jobs
  std::unique_ptr<char[]> read_buf_;
  size_t read_buf_size_ = 0;
  Stats stats_;
};

}  // namespace tailsafe
