// The coordinator's recovery history: /recoveries stays bounded. Once a bolt has more than
// `recoveries_kept` recovered ranges on record, the oldest are folded into
// /recovered/ORIGIN/BOLT (coordinator/recovery_plan.h, FoldRecovered: exactly what planning
// needs of them) and their /recoveries/N removed, in the same commit. Failed and unfinished
// records are never folded: they block their generation until they finish or an operator acts.
//
// Recovery numbers and fencing epochs never repeat although the records that held the highest
// ones may be gone: each pruning commit also writes /coordinator/counters.

#include <algorithm>
#include <set>

#include "common/log.h"
#include "coordinator/coordinator.h"

namespace tailsafe {

using nlohmann::json;

namespace {

constexpr const char* kCountersPath = "/coordinator/counters";

unsigned long long U(uint64_t v) { return static_cast<unsigned long long>(v); }

bool Uint(const json& d, const char* field, uint64_t* out) {
  auto it = d.find(field);
  if (it == d.end() || !it->is_number_unsigned()) return false;
  *out = it->get<uint64_t>();
  return true;
}

// The stored form of a bolt's history; the error names what is wrong.
Status ParseHistory(const json& d, std::vector<RangeRecord>* spans, uint64_t* floor, uint64_t* folded) {
  if (!d.is_object()) return Status::Error("not a JSON object");
  if (!Uint(d, "floor_generation", floor) || !Uint(d, "folded", folded)) {
    return Status::Error("fields 'floor_generation' and 'folded' must be unsigned integers");
  }
  auto it = d.find("spans");
  if (it == d.end() || !it->is_array()) return Status::Error("field 'spans' must be an array");
  for (const json& s : *it) {
    RangeRecord r;
    r.state = RangeRecord::State::kRecovered;
    if (!s.is_object() || !Uint(s, "generation", &r.gen) || !Uint(s, "from", &r.from) || !Uint(s, "to", &r.to) ||
        !Uint(s, "delivered_to", &r.delivered_to) || r.from > r.delivered_to || r.delivered_to > r.to) {
      return Status::Error("spans[] must be {generation, from, to, delivered_to} with from <= delivered_to <= to");
    }
    FoldRecovered(spans, r);
  }
  return Status::Ok();
}

}  // namespace

void Coordinator::LoadHistory() {
  history_.clear();
  for (const std::string& origin : store_->Children("/recovered")) {
    for (const std::string& bolt : store_->Children("/recovered/" + origin)) {
      BoltKey key{origin, bolt};
      History& h = history_[key];
      std::optional<std::string> doc = store_->Get(HistoryPath(key));
      Status s = doc ? ParseHistory(json::parse(*doc, nullptr, false), &h.spans, &h.floor, &h.folded)
                     : Status::Error("not a document");
      if (!s) {
        // Planning without it could hand out ranges already recovered: hold the bolt instead.
        h = History{};
        h.unreadable = s.message();
        LOG_ERROR("%s is unreadable (%s): no recovery of %s/%s is planned until it is fixed", HistoryPath(key).c_str(),
                  s.message().c_str(), origin.c_str(), bolt.c_str());
      }
    }
  }
  if (auto doc = store_->Get(kCountersPath)) {
    json d = json::parse(*doc, nullptr, false);
    uint64_t v = 0;
    if (d.is_object() && Uint(d, "next_recovery", &v)) next_recovery_ = std::max(next_recovery_, v);
    if (d.is_object() && Uint(d, "next_epoch", &v)) next_epoch_ = std::max(next_epoch_, v);
  }
}

std::vector<RangeRecord> Coordinator::RangesOf(const BoltKey& key) const {
  std::vector<RangeRecord> out;
  if (auto h = history_.find(key); h != history_.end()) out = h->second.spans;
  for (const auto& [id, r] : recoveries_) {
    if (r.origin == key.first && r.bolt == key.second) out.push_back(r.Range());
  }
  return out;
}

void Coordinator::PruneRecoveries() {
  std::map<BoltKey, std::vector<uint64_t>> recovered;  // ids, oldest first
  for (const auto& [id, r] : recoveries_) {
    if (r.state == RecoveryState::kRecovered) recovered[{r.origin, r.bolt}].push_back(id);
  }
  const size_t kept = config_.coordinator.recoveries_kept;
  for (const auto& [key, ids] : recovered) {
    if (ids.size() <= kept) continue;
    if (!history_[key].unreadable.empty()) continue;
    size_t excess = ids.size() - kept;
    for (size_t done = 0; done < excess;) {
      if (!leading_ || stopped_) return;
      size_t n = std::min(kPruneBatch, excess - done);
      History next = history_[key];
      std::vector<NamespaceStore::Write> writes;
      for (size_t i = done; i < done + n; ++i) {
        FoldRecovered(&next.spans, recoveries_.at(ids[i]).Range());
        writes.push_back({"/recoveries/" + std::to_string(ids[i]), std::nullopt});
      }
      next.folded += n;
      std::set<uint64_t> gens;
      for (const RangeRecord& r : next.spans) gens.insert(r.gen);
      while (gens.size() > kMaxHistoryGenerations) {
        next.floor = std::max(next.floor, *gens.begin());
        gens.erase(gens.begin());
      }
      if (next.floor != history_[key].floor) {
        LOG_WARN("%s keeps %zu generations: generations up to %llu of %s/%s are no longer planned",
                 HistoryPath(key).c_str(), kMaxHistoryGenerations, U(next.floor), key.first.c_str(), key.second.c_str());
      }
      std::erase_if(next.spans, [&](const RangeRecord& r) { return r.gen <= next.floor; });
      json spans = json::array();
      for (const RangeRecord& r : next.spans) {
        spans.push_back({{"generation", r.gen}, {"from", r.from}, {"to", r.to}, {"delivered_to", r.delivered_to}});
      }
      json doc = {{"origin", key.first}, {"bolt", key.second}, {"folded", next.folded},
                  {"floor_generation", next.floor}, {"spans", spans}};
      writes.push_back({HistoryPath(key), doc.dump()});
      writes.push_back({kCountersPath, json{{"next_recovery", next_recovery_}, {"next_epoch", next_epoch_}}.dump()});
      if (!CommitOrFail(writes)) return;
      for (size_t i = done; i < done + n; ++i) recoveries_.erase(ids[i]);
      history_[key] = std::move(next);
      done += n;
    }
    LOG_INFO("folded %zu recovered ranges of %s/%s into %s (%zu kept in /recoveries)", excess, key.first.c_str(),
             key.second.c_str(), HistoryPath(key).c_str(), kept);
  }
}

}  // namespace tailsafe
