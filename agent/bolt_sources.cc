#include "agent/bolt_sources.h"

#include <utility>

#include "common/log.h"

namespace tailsafe {

BoltSources::BoltSources(uv_loop_t* loop, InotifyWatcher* watcher, const AgentConfig* agent, BoltSource::Hooks hooks,
                         std::vector<OriginGenRow> initial_gens)
    : loop_(loop), watcher_(watcher), agent_(agent), hooks_(std::move(hooks)), initial_gens_(std::move(initial_gens)) {}

BoltSource* BoltSources::Add(const BoltConfig& bolt) {
  sources_.push_back(std::make_unique<BoltSource>(loop_, watcher_, bolt, *agent_, hooks_, &next_stream_, encode_slots_));
  by_name_[bolt.name] = sources_.back().get();
  return sources_.back().get();
}

std::vector<OriginGenRow> BoltSources::RowsOf(const std::string& name) const {
  std::vector<OriginGenRow> rows;
  if (auto it = drained_next_gen_.find(name); it != drained_next_gen_.end()) {
    // Removed and drained in this process: state.db's start-up rows are stale; only the
    // numbering carries on.
    OriginGenRow last;
    last.bolt = name;
    last.gen = it->second - 1;
    last.state = GenState::kReleased;
    rows.push_back(last);
    return rows;
  }
  for (const OriginGenRow& row : initial_gens_) {
    if (row.bolt == name) rows.push_back(row);
  }
  return rows;
}

Status BoltSources::Start(const std::vector<BoltConfig>& bolts) {
  for (const BoltConfig& bolt : bolts) Add(bolt);
  for (auto& src : sources_) {
    if (Status s = src->Start(RowsOf(src->name())); !s) return s;
  }
  return Status::Ok();
}

void BoltSources::Apply(const std::vector<BoltConfig>& bolts, const std::vector<std::string>& added) {
  auto config_of = [&](const std::string& name) -> const BoltConfig* {
    for (const BoltConfig& b : bolts) {
      if (b.name == name) return &b;
    }
    return nullptr;
  };
  for (auto& src : sources_) {
    if (src->retiring()) continue;
    if (const BoltConfig* b = config_of(src->name())) {
      src->Reconfigure(*b);
    } else {
      src->Retire();
    }
  }
  for (const std::string& name : added) {
    const BoltConfig* b = config_of(name);
    if (b == nullptr) continue;
    if (Status s = Add(*b)->Start(RowsOf(name)); !s) LOG_ERROR("bolt %s: %s", name.c_str(), s.message().c_str());
  }
}

void BoltSources::SweepDrained() {
  for (auto it = sources_.begin(); it != sources_.end();) {
    if (!(*it)->Drained()) {
      ++it;
      continue;
    }
    LOG_NOTICE("bolt %s: every peer has its last bytes; it is no longer replicated", (*it)->name().c_str());
    drained_next_gen_[(*it)->name()] = (*it)->next_gen();
    by_name_.erase((*it)->name());
    drained_.push_back(std::move(*it));
    it = sources_.erase(it);
  }
}

bool BoltSources::Contains(const std::string& name) const { return by_name_.count(name) > 0; }

BoltSource* BoltSources::Find(const std::string& name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second;
}

void BoltSources::ReleaseAcked() {
  for (auto& src : sources_) src->ReleaseAcked();
}

void BoltSources::Collect(Committer::Batch* batch) {
  for (auto& src : sources_) src->Collect(batch);
}

void BoltSources::Stop() {
  for (auto& src : sources_) src->Stop();
}

void BoltSources::Clear() {
  by_name_.clear();
  sources_.clear();
  drained_.clear();
}

}  // namespace tailsafe
