// BoltSource: the origin side of one bolt. Watches the bolt's backup file and knows its
// generations; the peer links read the bytes to ship from here.
//
// The file itself is the buffer: a generation is an open descriptor plus the size last seen by
// fstat (agent/generation.h). Nothing is copied into memory except the few encoded frames most
// recently shipped, shared by every peer at the same offset (agent/frame_cache.h).
//
// Watching: the directory and each open generation's inode, on the agent's one inotify instance
// (agent/bolt_watch.h). Events are hints: each burst triggers one Check(), which trusts only
// fstat on the open descriptors and stat on the path. IN_Q_OVERFLOW and a timer trigger the
// same Check(), counted as rescans.
//
// Generations: a new one starts when the path names a new inode (rename+create, delete+create),
// when the file shrinks (truncation, copytruncate), and when a peer's replica proves the bytes
// were rewritten in place (divergence). A rotated-away generation stays open and is read to its
// end; it is sealed once it stops growing for seal_after_ms and no process holds it open for
// writing (checked with a read lease where the agent may take one), and closed once every peer has
// acknowledged all of it and holds its seal. After copytruncate the copy is found in the directory (same head
// bytes, at least as long, the same bytes before the last size seen) and the old generation
// continues from it, so bytes not yet shipped when the original was truncated are not lost.
// Check() gathers what fstat and stat say and applies what agent/generation_transition.h
// decides. The agent only ever reads bolt files.
#pragma once

#include <uv.h>

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "agent/bolt_generations.h"
#include "agent/bolt_watch.h"
#include "agent/committer.h"
#include "agent/frame_cache.h"
#include "agent/generation.h"
#include "agent/state_store.h"
#include "common/config.h"
#include "common/fd.h"
#include "common/inotify_watcher.h"
#include "common/uv_handle.h"

namespace tailsafe {

// What one bolt's source counted, for status and metrics.
struct BoltSourceStats {
  uint64_t rescans_timer = 0;
  uint64_t rescans_overflow = 0;
  uint64_t rotations = 0;
  uint64_t truncations = 0;
  uint64_t copies_found = 0;
  uint64_t divergences = 0;
  uint64_t generations_lost = 0;
  uint64_t events = 0;
  uint64_t bytes_after_seal = 0;  // written to a sealed generation: not replicated
  uint64_t head_read_errors = 0;  // growth left undecided: the head bytes could not be read
  uint64_t frames_encoded = 0;    // compressions
  uint64_t frame_cache_hits = 0;  // frames another peer's compression served
};

// How a source reaches the agent: its peers' progress, and what it tells of its own.
struct BoltSourceHooks {
  // New bytes or a checkpoint of `g`; null: anything else (a new generation, a seal...).
  std::function<void(const Generation* g)> changed;
  std::function<uint64_t(const Generation&)> min_acked;  // over every peer
  // Lowest offset a connected peer will still send of `g`; UINT64_MAX when none is connected.
  std::function<uint64_t(const Generation&)> min_cursor;
  std::function<bool(const Generation&)> seal_held;  // every peer holds its seal; null: yes
  std::function<void(const Generation&)> lost;  // `g` is about to be marked lost
  std::function<void(const Generation&)> closed;  // `g` leaves: released, or lost and recorded
  std::function<void()> request_commit;
};

class BoltSource {
 public:
  using Hooks = BoltSourceHooks;
  using Stats = BoltSourceStats;

  // `loop`, `watcher` and `next_stream` outlive this source; `slots` caps the encode jobs of
  // every source of the agent together (agent/encode_slots.h).
  BoltSource(uv_loop_t* loop, InotifyWatcher* watcher, const BoltConfig& bolt, const AgentConfig& agent,
             Hooks hooks, uint32_t* next_stream, std::shared_ptr<EncodeSlots> slots);
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
  bool Drained() const { return retiring_ && gens_.empty(); }
  // The number the next generation of this bolt gets (gens continue across remove and re-add).
  uint64_t next_gen() const { return gens_.next_gen(); }
  // Reconciles generations with the file system; safe to call any time. `path_may_differ`
  // false skips asking whether the path names another file (the events were writes alone).
  void Check(bool path_may_differ = true);
  // The bolt's checkpoint file now says `offset`: it applies to the active generation (the
  // bolt's current file) and travels to every peer. Ignored while there is no active one.
  void SetCheckpoint(uint64_t offset);
  // Adds dirty generation rows to a commit.
  void Collect(Committer::Batch* batch);

  // The encoded DATA frames of its generations (agent/frame_cache.h): peer links pull from it;
  // kPending: `changed` fires when the frame is ready.
  FrameCache& frames() { return frames_; }
  // A peer's replica of `g` does not match the file: log, count, continue in a new generation.
  void Diverged(Generation& g, const std::string& why);
  // Closes sealed generations every peer has acknowledged; prunes lag points.
  void ReleaseAcked();
  void TouchAll();  // hooks_.changed for each generation: this bolt's streams are due

  const std::string& name() const { return bolt_.name; }
  const std::string& path() const { return bolt_.file; }
  // The [[bolt_pattern]] that found this bolt; empty for a [[bolt]] table.
  const std::string& pattern() const { return bolt_.pattern; }
  const std::deque<std::shared_ptr<Generation>>& generations() const { return gens_.all(); }
  // The bolt's current file's generation; null while there is none.
  const Generation* active() const { return gens_.active(); }
  // The newest generation the bolt reported a checkpoint for; null if none.
  const Generation* checkpointed() const { return gens_.checkpointed(); }
  Stats stats() const;

 private:
  // Takes up a generation from its state.db row: its inode found again (at the path, renamed in
  // the directory, or as a copy), or the generation lost.
  void Restore(const OriginGenRow& row, uint64_t now);
  void StopWatching();
  void OpenNewGeneration(const char* why);
  // Starts the next generation on an open file; null if it cannot be fstat'd.
  Generation* AddGeneration(std::shared_ptr<Fd> fd);
  // Check()'s steps (agent/generation_transition.h decides, these apply).
  bool CheckSize(Generation& g, uint64_t now);
  bool CheckPath(uint64_t now);
  bool CheckSeal(Generation& g, uint64_t now);
  void HandleShrink(Generation& g, uint64_t new_size);
  bool FindCopy(Generation& g);
  void MarkLost(Generation& g, const std::string& why);
  void ArmSealTimer();

  uv_loop_t* loop_;
  BoltConfig bolt_;
  std::string dir_;
  std::string base_;
  uint64_t seal_after_ns_;
  uint32_t rescan_ms_;
  Hooks hooks_;
  bool retiring_ = false;

  BoltWatch watch_;  // while watching (started, not retired)
  UvPtr<uv_timer_t> rescan_timer_;
  UvPtr<uv_timer_t> seal_timer_;
  BoltGenerations gens_;
  FrameCache frames_;
  Stats stats_;  // but the frame counts, which frames_ keeps
};

}  // namespace tailsafe
