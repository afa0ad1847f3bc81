// RecoveryDesk::PruneRecoveries, the recovery history: /recoveries stays bounded. Once a bolt has
// more than `recoveries_kept` recovered ranges on record, the oldest are folded into
// /recovered/ORIGIN/BOLT (coordinator/recovery_plan.h, FoldRecovered: exactly what planning needs
// of them) and their /recoveries/N removed, in the same commit. Failed and unfinished records are
// never folded: they block their generation until they finish or an operator acts.
//
// Recovery numbers and fencing epochs never repeat although the records that held the highest
// ones may be gone: each pruning commit also writes /coordinator/counters.

#include <algorithm>
#include <set>

#include "common/log.h"
#include "coordinator/recovery_desk.h"

namespace tailsafe {

using nlohmann::json;

namespace {

unsigned long long U(uint64_t v) { return static_cast<unsigned long long>(v); }

}  // namespace

void RecoveryDesk::PruneRecoveries() {
  std::map<BoltKey, std::vector<uint64_t>> recovered;  // ids, oldest first
  for (const auto& [id, r] : state_->recoveries) {
    if (r.state == RecoveryState::kRecovered) recovered[{r.origin, r.bolt}].push_back(id);
  }
  const size_t kept = recoveries_kept_;
  for (const auto& [key, ids] : recovered) {
    if (ids.size() <= kept) continue;
    if (!state_->history[key].unreadable.empty()) continue;
    size_t excess = ids.size() - kept;
    for (size_t done = 0; done < excess;) {
      if (!deciding()) return;
      size_t n = std::min(kPruneBatch, excess - done);
      History next = state_->history[key];
      std::vector<NamespaceStore::Write> writes;
      for (size_t i = done; i < done + n; ++i) {
        FoldRecovered(&next.spans, state_->recoveries.at(ids[i]).Range());
        writes.push_back({"/recoveries/" + std::to_string(ids[i]), std::nullopt});
      }
      next.folded += n;
      std::set<uint64_t> gens;
      for (const RangeRecord& r : next.spans) gens.insert(r.gen);
      while (gens.size() > kMaxHistoryGenerations) {
        next.floor = std::max(next.floor, *gens.begin());
        gens.erase(gens.begin());
      }
      if (next.floor != state_->history[key].floor) {
        LOG_WARN("%s keeps %zu generations: generations up to %llu of %s/%s are no longer planned",
                 TermState::HistoryPath(key).c_str(), kMaxHistoryGenerations, U(next.floor), key.first.c_str(), key.second.c_str());
      }
      std::erase_if(next.spans, [&](const RangeRecord& r) { return r.gen <= next.floor; });
      writes.push_back(TermState::HistoryWrite(key, next));
      writes.push_back(state_->CountersWrite());
      if (!CommitOrFail(writes)) return;
      for (size_t i = done; i < done + n; ++i) state_->recoveries.erase(ids[i]);
      state_->history[key] = std::move(next);
      done += n;
    }
    LOG_INFO("folded %zu recovered ranges of %s/%s into %s (%zu kept in /recoveries)", excess, key.first.c_str(),
             key.second.c_str(), TermState::HistoryPath(key).c_str(), kept);
  }
}

}  // namespace tailsafe
