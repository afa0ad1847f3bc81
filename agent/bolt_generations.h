// BoltGenerations: one bolt's generations, oldest first, and their bookkeeping: the numbering
// (it continues across restarts and across a remove and re-add), the active generation (the
// bolt's current file), the checkpoint the bolt reported, the rows to persist, and closing the
// generations every peer has. BoltSource decides when generations start and end (from
// agent/generation_transition.h) and watches the files; this only keeps the list.
#pragma once

#include <algorithm>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "agent/committer.h"
#include "agent/generation.h"
#include "agent/state_store.h"

namespace tailsafe {

class BoltGenerations {
 public:
  // `next_stream`, the agent's stream counter, outlives this.
  BoltGenerations(std::string bolt, uint32_t* next_stream) : bolt_(std::move(bolt)), next_stream_(next_stream) {}

  const std::deque<std::shared_ptr<Generation>>& all() const { return gens_; }
  // None left, and every closed one's row written.
  bool empty() const { return gens_.empty() && released_rows_.empty(); }
  // The number the next generation gets.
  uint64_t next_gen() const { return next_gen_; }
  Generation* active();
  const Generation* active() const;
  const Generation* checkpointed() const;  // the newest the bolt reported a checkpoint for

  // Numbering continues after `row`'s generation (also for one not taken up again).
  void NoteRow(const OriginGenRow& row) { next_gen_ = std::max(next_gen_, row.gen + 1); }
  // Takes up `row`'s generation as `state`; its file is given later, if found.
  Generation& Restore(const OriginGenRow& row, GenState state, uint64_t now_ns);
  // Starts the next generation on an open file of inode dev:ino with `size` bytes.
  Generation& Add(std::shared_ptr<Fd> fd, uint64_t dev, uint64_t ino, uint64_t size, uint64_t now_ns);
  // The bolt's checkpoint applies to the active generation; without one, to the next one
  // added (its event may come before its file's). True if applied now. The same offset as the
  // last one applied is the same reading (re-read at a death, after a rotation the bolt has not
  // yet checkpointed past): it stays with the generation it applied to, even one closed since.
  bool SetCheckpoint(uint64_t offset);
  void ForgetPendingCheckpoint() { pending_checkpoint_.reset(); }

  // A row to persist: a generation changed, or one was closed.
  bool dirty() const;
  // Adds the rows to persist to `batch`; `durable` runs for each generation once its row is.
  void Collect(Committer::Batch* batch, const std::function<void(Generation&)>& durable);
  // Closes the sealed generations every peer has acknowledged (`min_acked`) and holds the seal
  // of (`seal_held`; null: every peer does), and the lost ones whose row is written.
  // `closing(g, released)` runs for each first. True if any closed.
  bool Close(const std::function<uint64_t(const Generation&)>& min_acked,
             const std::function<bool(const Generation&)>& seal_held,
             const std::function<void(Generation&, bool released)>& closing);

 private:
  std::string bolt_;
  uint32_t* next_stream_;
  uint64_t next_gen_ = 1;
  std::deque<std::shared_ptr<Generation>> gens_;
  std::vector<OriginGenRow> released_rows_;     // to persist
  std::optional<uint64_t> pending_checkpoint_;  // read before the bolt's file was seen
  std::optional<uint64_t> applied_checkpoint_;  // the offset last applied to a generation
};

}  // namespace tailsafe
