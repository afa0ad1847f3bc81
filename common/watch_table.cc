#include "common/watch_table.h"

#include <sys/inotify.h>

#include <algorithm>

namespace tailsafe {
namespace {

void Erase(std::vector<WatchTable::Id>* ids, WatchTable::Id id) {
  auto it = std::find(ids->begin(), ids->end(), id);
  if (it != ids->end()) ids->erase(it);
}

}  // namespace

WatchTable::Id WatchTable::AddSubscriber(Callback callback) {
  Id id = next_id_++;
  subscribers_[id].callback = std::make_shared<Callback>(std::move(callback));
  return id;
}

void WatchTable::RemoveSubscriber(Id subscriber, std::vector<int>* unwatch) {
  auto it = subscribers_.find(subscriber);
  if (it == subscribers_.end()) return;
  std::vector<Id> watches = std::move(it->second.watches);
  subscribers_.erase(it);
  for (Id w : watches) {
    int wd = RemoveWatch(w);
    if (wd >= 0) unwatch->push_back(wd);
  }
}

WatchTable::Id WatchTable::AddWatch(Id subscriber, int wd, uint32_t mask, std::string name) {
  auto sub = subscribers_.find(subscriber);
  if (sub == subscribers_.end()) return 0;
  Id id = next_id_++;
  Wd& entry = wds_[wd];
  (name.empty() ? entry.unnamed : entry.named[name]).push_back(id);
  ++entry.count;
  sub->second.watches.push_back(id);
  watches_[id] = Watch{subscriber, wd, mask, std::move(name)};
  return id;
}

void WatchTable::Detach(Id watch, const Watch& w) {
  if (auto sub = subscribers_.find(w.subscriber); sub != subscribers_.end()) Erase(&sub->second.watches, watch);
  auto entry = wds_.find(w.wd);
  if (entry == wds_.end()) return;
  if (w.name.empty()) {
    Erase(&entry->second.unnamed, watch);
  } else if (auto named = entry->second.named.find(w.name); named != entry->second.named.end()) {
    Erase(&named->second, watch);
    if (named->second.empty()) entry->second.named.erase(named);
  }
  --entry->second.count;
}

int WatchTable::RemoveWatch(Id watch) {
  auto it = watches_.find(watch);
  if (it == watches_.end()) return -1;
  Watch w = std::move(it->second);
  watches_.erase(it);
  Detach(watch, w);
  auto entry = wds_.find(w.wd);
  if (entry == wds_.end() || entry->second.count > 0) return -1;
  wds_.erase(entry);
  return w.wd;
}

void WatchTable::Forget(int wd) {
  auto entry = wds_.find(wd);
  if (entry == wds_.end()) return;
  std::vector<Id> ids = entry->second.unnamed;
  for (const auto& [name, named] : entry->second.named) ids.insert(ids.end(), named.begin(), named.end());
  for (Id id : ids) {
    auto it = watches_.find(id);
    if (it == watches_.end()) continue;
    if (auto sub = subscribers_.find(it->second.subscriber); sub != subscribers_.end()) Erase(&sub->second.watches, id);
    watches_.erase(it);
  }
  wds_.erase(entry);
}

uint32_t WatchTable::MaskOf(int wd) const {
  uint32_t mask = 0;
  for (const auto& [id, w] : watches_) {
    if (w.wd == wd) mask |= w.mask;
  }
  return mask;
}

void WatchTable::Route(const RawEvent& raw, Deliveries* out, std::unordered_map<Id, size_t>* slot) const {
  auto entry = wds_.find(raw.wd);
  if (entry == wds_.end()) return;  // removed meanwhile: its last events are nobody's
  bool to_all = (raw.mask & (IN_IGNORED | IN_UNMOUNT)) != 0;
  auto deliver = [&](Id id) {
    const Watch& w = watches_.at(id);
    if (!to_all && (raw.mask & w.mask & IN_ALL_EVENTS) == 0) return;
    auto [it, fresh] = slot->try_emplace(w.subscriber, out->size());
    if (fresh) out->emplace_back(w.subscriber, std::vector<Event>());
    (*out)[it->second].second.push_back(Event{id, raw.mask, raw.cookie, raw.name});
  };
  // In the order the watches were added, named or not.
  std::vector<Id> ids = entry->second.unnamed;
  if (raw.name.empty()) {
    for (const auto& [name, named] : entry->second.named) ids.insert(ids.end(), named.begin(), named.end());
  } else if (auto named = entry->second.named.find(std::string(raw.name)); named != entry->second.named.end()) {
    ids.insert(ids.end(), named->second.begin(), named->second.end());
  }
  std::sort(ids.begin(), ids.end());
  for (Id id : ids) deliver(id);
}

void WatchTable::Dispatch(std::span<const RawEvent> events) {
  // Routed against the table as it is before any callback runs; delivered against the table as
  // the callbacks leave it.
  Deliveries out;
  std::unordered_map<Id, size_t> slot;
  std::vector<int> ignored;
  bool overflow = false;
  for (const RawEvent& raw : events) {
    if (raw.mask & IN_Q_OVERFLOW) {
      overflow = true;
      continue;
    }
    Route(raw, &out, &slot);
    if ((raw.mask & IN_IGNORED) && wds_.count(raw.wd)) ignored.push_back(raw.wd);
  }
  if (overflow) {
    for (const auto& [id, sub] : subscribers_) {
      auto [it, fresh] = slot.try_emplace(id, out.size());
      if (fresh) out.emplace_back(id, std::vector<Event>());
      out[it->second].second.push_back(Event{0, IN_Q_OVERFLOW, 0, {}});
    }
  }
  for (auto& [subscriber, evs] : out) {
    auto sub = subscribers_.find(subscriber);
    if (sub == subscribers_.end()) continue;  // removed by an earlier callback
    std::shared_ptr<Callback> callback = sub->second.callback;
    std::erase_if(evs, [&](const Event& e) { return e.watch != 0 && watches_.count(e.watch) == 0; });
    if (!evs.empty()) (*callback)(evs);
  }
  for (int wd : ignored) Forget(wd);
}

}  // namespace tailsafe
