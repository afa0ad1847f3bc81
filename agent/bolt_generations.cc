#include "agent/bolt_generations.h"

namespace tailsafe {

Generation* BoltGenerations::active() {
  for (auto& g : gens_) {
    if (g->active()) return g.get();
  }
  return nullptr;
}

const Generation* BoltGenerations::active() const {
  for (const auto& g : gens_) {
    if (g->active()) return g.get();
  }
  return nullptr;
}

const Generation* BoltGenerations::checkpointed() const {
  for (auto it = gens_.rbegin(); it != gens_.rend(); ++it) {
    if ((*it)->has_checkpoint()) return it->get();
  }
  return nullptr;
}

Generation& BoltGenerations::Restore(const OriginGenRow& row, GenState state, uint64_t now_ns) {
  NoteRow(row);
  gens_.push_back(Generation::FromRow(row, state, (*next_stream_)++, now_ns));
  return *gens_.back();
}

Generation& BoltGenerations::Add(std::shared_ptr<Fd> fd, uint64_t dev, uint64_t ino, uint64_t size,
                                 uint64_t now_ns) {
  uint64_t gen = next_gen_++;
  auto g = std::make_shared<Generation>(bolt_, gen, (*next_stream_)++);
  g->Open(std::move(fd), dev, ino, size, now_ns);
  if (pending_checkpoint_) {
    g->SetCheckpoint(*pending_checkpoint_);
    applied_checkpoint_ = pending_checkpoint_;
    pending_checkpoint_.reset();
  }
  gens_.push_back(g);
  return *g;
}

bool BoltGenerations::SetCheckpoint(uint64_t offset) {
  if (applied_checkpoint_ == offset) return false;
  Generation* g = active();
  if (g == nullptr) {
    pending_checkpoint_ = offset;
    return false;
  }
  g->SetCheckpoint(offset);
  applied_checkpoint_ = offset;
  return true;
}

bool BoltGenerations::dirty() const {
  bool dirty = !released_rows_.empty();
  for (const auto& g : gens_) dirty = dirty || g->row_dirty();
  return dirty;
}

void BoltGenerations::Collect(Committer::Batch* batch, const std::function<void(Generation&)>& durable) {
  for (auto& row : released_rows_) batch->rows.origin_gens.push_back(row);
  released_rows_.clear();
  for (auto& g : gens_) {
    if (!g->TakeDirty()) continue;
    batch->rows.origin_gens.push_back(g->Row());
    std::weak_ptr<Generation> weak = g;
    batch->on_durable.push_back([weak, durable] {
      if (auto locked = weak.lock()) durable(*locked);
    });
  }
}

bool BoltGenerations::Close(const std::function<uint64_t(const Generation&)>& min_acked,
                            const std::function<bool(const Generation&)>& seal_held,
                            const std::function<void(Generation&, bool released)>& closing) {
  bool any = false;
  for (auto it = gens_.begin(); it != gens_.end();) {
    Generation& g = **it;
    bool done = (g.sealed() && g.persisted() && !g.row_dirty() && min_acked(g) >= g.final_size() &&
                 (!seal_held || seal_held(g))) ||
                (g.state() == GenState::kLost && !g.row_dirty());
    if (!done) {
      ++it;
      continue;
    }
    bool released = g.sealed();
    if (released) {
      g.Release();
      released_rows_.push_back(g.Row());
    }
    closing(g, released);
    g.Close();
    it = gens_.erase(it);
    any = true;
  }
  return any;
}

}  // namespace tailsafe
