#include "agent/generation.h"

#include <algorithm>

namespace tailsafe {
namespace {

constexpr size_t kMaxGrowthPoints = 4096;
constexpr uint64_t kCoalesceNs = 1000000;  // growth points within 1 ms are one

}  // namespace

Generation::Generation(std::string bolt_name, uint64_t gen_number, uint32_t stream_id)
    : bolt(std::move(bolt_name)), gen(gen_number), stream(stream_id) {
  shape_epoch_.fetch_add(1, std::memory_order_relaxed);
}

void Generation::SetState(GenState s) {
  state_ = s;
  shape_epoch_.fetch_add(1, std::memory_order_relaxed);
}

std::shared_ptr<Generation> Generation::FromRow(const OriginGenRow& row, GenState state, uint32_t stream,
                                                uint64_t now_ns) {
  auto g = std::make_shared<Generation>(row.bolt, row.gen, stream);
  g->dev_ = row.dev;
  g->ino_ = row.ino;
  g->head_len_ = row.head_len;
  g->head_hash_ = row.head_hash;
  g->SetState(state);
  g->final_size_ = row.final_size;
  g->persisted_ = true;
  g->row_dirty_ = false;
  g->last_growth_ns_ = now_ns;
  return g;
}

uint64_t Generation::FirstUnackedNs(uint64_t acked) const {
  for (const auto& [sz, t] : growth_) {
    if (sz > acked) return t;
  }
  return 0;
}

OriginGenRow Generation::Row() const {
  return {bolt, gen, dev_, ino_, head_len_, head_hash_, state_, final_size_};
}

void Generation::Open(std::shared_ptr<Fd> fd, uint64_t dev, uint64_t ino, uint64_t size, uint64_t now_ns) {
  dev_ = dev;
  ino_ = ino;
  size_ = size;
  last_growth_ns_ = now_ns;
  if (size_ > 0) growth_.emplace_back(size_, now_ns);
  fd_ = std::move(fd);
}

void Generation::Reopen(std::shared_ptr<Fd> fd, uint64_t size, uint64_t now_ns) {
  size_ = sealed() ? std::min(size, final_size_) : size;
  fd_ = std::move(fd);
  if (size_ > 0) growth_.emplace_back(size_, now_ns);
}

void Generation::ContinueFrom(std::shared_ptr<Fd> fd, uint64_t dev, uint64_t ino, uint64_t size, uint64_t now_ns) {
  fd_ = std::move(fd);
  dev_ = dev;
  ino_ = ino;
  size_ = size;
  SetState(GenState::kRetired);
  last_growth_ns_ = now_ns;
  row_dirty_ = true;
}

void Generation::Grow(uint64_t size, uint64_t now_ns) {
  size_ = size;
  last_growth_ns_ = now_ns;
  if (!growth_.empty() && now_ns - growth_.back().second < kCoalesceNs) {
    growth_.back().first = size;
  } else {
    if (growth_.size() >= kMaxGrowthPoints) growth_.erase(growth_.begin() + 1);
    growth_.emplace_back(size, now_ns);
  }
}

void Generation::AppendedAfterSeal(uint64_t size) { size_ = size; }

void Generation::SetHead(uint32_t len, uint64_t hash) {
  head_len_ = len;
  head_hash_ = hash;
  row_dirty_ = true;
}

void Generation::SetWindow(uint64_t end, uint32_t len, uint64_t hash) {
  window_end_ = end;
  window_len_ = len;
  window_hash_ = hash;
}

void Generation::SetCheckpoint(uint64_t offset) {
  has_checkpoint_ = true;
  checkpoint_ = offset;
}

void Generation::Retire(uint64_t now_ns) {
  SetState(GenState::kRetired);
  last_growth_ns_ = now_ns;
  row_dirty_ = true;
}

void Generation::DeferSeal(uint64_t until_ns) { seal_check_ns_ = until_ns; }

void Generation::Seal() {
  SetState(GenState::kSealed);
  final_size_ = size_;
  row_dirty_ = true;
}

void Generation::Lose() {
  SetState(GenState::kLost);
  fd_.reset();
  row_dirty_ = true;
}

void Generation::Release() { SetState(GenState::kReleased); }

bool Generation::TakeDirty() {
  bool was = row_dirty_;
  row_dirty_ = false;
  return was;
}

bool Generation::MarkPersisted() {
  bool newly = !persisted_;
  persisted_ = true;
  if (newly) shape_epoch_.fetch_add(1, std::memory_order_relaxed);
  return newly;
}

void Generation::PruneGrowth(uint64_t acked) {
  while (growth_.size() > 1 && growth_.front().first <= acked) growth_.pop_front();
  if (!growth_.empty() && growth_.front().first <= acked) growth_.clear();
}

}  // namespace tailsafe
