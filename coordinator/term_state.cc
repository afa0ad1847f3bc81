#include "coordinator/term_state.h"

#include <algorithm>
#include <cstdlib>

#include "common/log.h"
#include "common/placement.h"

namespace tailsafe {

using nlohmann::json;

namespace {

constexpr const char* kCountersPath = "/coordinator/counters";

std::string Dumped(const json& doc) { return doc.dump(-1, ' ', false, json::error_handler_t::replace); }

bool Uint(const json& d, const char* field, uint64_t* out) {
  auto it = d.find(field);
  if (it == d.end() || !it->is_number_unsigned()) return false;
  *out = it->get<uint64_t>();
  return true;
}

// The stored form of a bolt's history; the error names what is wrong.
Status ParseHistory(const json& d, TermState::History* h) {
  if (!d.is_object()) return Status::Error("not a JSON object");
  if (!Uint(d, "floor_generation", &h->floor) || !Uint(d, "folded", &h->folded)) {
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
    if (s.contains("given_up_to") && (!Uint(s, "given_up_to", &r.given_up_to) || r.given_up_to <= r.to)) {
      return Status::Error("spans[].given_up_to must be an unsigned integer past 'to'");
    }
    FoldRecovered(&h->spans, r);
  }
  return Status::Ok();
}

}  // namespace

bool TermState::Agent::Runs(const std::string& hook) const {
  return std::find(record.hooks.begin(), record.hooks.end(), hook) != record.hooks.end();
}

void TermState::Load(const NamespaceStore& store) {
  for (const std::string& id : store.Children("/agents")) {
    auto doc = store.Get("/agents/" + id);
    if (!doc) continue;
    Result<AgentRecord> r = AgentRecord::FromJson(json::parse(*doc, nullptr, false));
    if (!r) {
      LOG_ERROR("/agents/%s cannot be read (%s); it is written afresh when the agent registers", id.c_str(),
                r.status().message().c_str());
      continue;
    }
    Agent& a = agents[id];
    a.id = id;
    a.record = std::move(*r);
  }
  for (const std::string& origin : store.Children("/bolts")) {
    for (const std::string& bolt : store.Children("/bolts/" + origin)) {
      std::string path = "/bolts/" + origin + "/" + bolt;
      auto doc = store.Get(path);
      if (!doc) continue;
      Result<BoltRecord> r = BoltRecord::FromJson(json::parse(*doc, nullptr, false));
      if (r && (r->origin != origin || r->bolt != bolt)) r = Status::Error("it names " + r->origin + "/" + r->bolt);
      if (!r) {
        LOG_ERROR("%s cannot be read (%s); the bolt is held: neither recovered nor updated", path.c_str(),
                  r.status().message().c_str());
        held_bolts[{origin, bolt}] = r.status().message();
        continue;
      }
      bolts[{origin, bolt}] = std::move(*r);
    }
  }
  for (const std::string& name : store.Children("/recoveries")) {
    char* end = nullptr;
    uint64_t id = std::strtoull(name.c_str(), &end, 10);
    auto doc = store.Get("/recoveries/" + name);
    if (!doc || end == nullptr || *end != '\0' || id == 0) {
      LOG_WARN("ignoring /recoveries/%s: not a recovery number", name.c_str());
      continue;
    }
    Result<RecoveryRecord> r = RecoveryRecord::FromJson(id, json::parse(*doc, nullptr, false));
    if (!r) {
      LOG_WARN("ignoring /recoveries/%s: not a recovery document: %s", name.c_str(), r.status().message().c_str());
      continue;
    }
    next_recovery = std::max(next_recovery, id + 1);
    next_epoch = std::max(next_epoch, r->epoch + 1);
    recoveries[id] = std::move(*r);
  }
  for (const std::string& origin : store.Children("/recovered")) {
    for (const std::string& bolt : store.Children("/recovered/" + origin)) {
      BoltKey key{origin, bolt};
      History& h = history[key];
      std::optional<std::string> doc = store.Get(HistoryPath(key));
      Status s = doc ? ParseHistory(json::parse(*doc, nullptr, false), &h) : Status::Error("not a document");
      if (!s) {
        // Planning without it could hand out ranges already recovered: hold the bolt instead.
        h = History{};
        h.unreadable = s.message();
        LOG_ERROR("%s is unreadable (%s): no recovery of %s/%s is planned until it is fixed", HistoryPath(key).c_str(),
                  s.message().c_str(), origin.c_str(), bolt.c_str());
      }
    }
  }
  if (auto doc = store.Get(kCountersPath)) {
    json d = json::parse(*doc, nullptr, false);
    uint64_t v = 0;
    if (d.is_object() && Uint(d, "next_recovery", &v)) next_recovery = std::max(next_recovery, v);
    if (d.is_object() && Uint(d, "next_epoch", &v)) next_epoch = std::max(next_epoch, v);
  }
}

void TermState::PutAgent(Writes* writes, Agent& a, AgentRecord next) {
  if (next == a.record) return;
  a.record = std::move(next);
  writes->push_back({"/agents/" + a.id, Dumped(a.record.ToJson())});
}

void TermState::PutBolt(Writes* writes, BoltRecord next) {
  BoltKey key{next.origin, next.bolt};
  auto it = bolts.find(key);
  if (it != bolts.end() && it->second == next) return;
  writes->push_back({"/bolts/" + next.origin + "/" + next.bolt, Dumped(next.ToJson())});
  bolts[key] = std::move(next);
}

NamespaceStore::Write TermState::RecoveryWrite(const RecoveryRecord& r) {
  return {"/recoveries/" + std::to_string(r.id), Dumped(r.ToJson())};
}

NamespaceStore::Write TermState::HistoryWrite(const BoltKey& key, const History& h) {
  json spans = json::array();
  for (const RangeRecord& r : h.spans) {
    json span = {{"generation", r.gen}, {"from", r.from}, {"to", r.to}, {"delivered_to", r.delivered_to}};
    if (r.given_up_to > r.to) span["given_up_to"] = r.given_up_to;
    spans.push_back(std::move(span));
  }
  json doc = {{"origin", key.first}, {"bolt", key.second}, {"folded", h.folded}, {"floor_generation", h.floor},
              {"spans", spans}};
  return {HistoryPath(key), doc.dump()};
}

NamespaceStore::Write TermState::CountersWrite() const {
  return {kCountersPath, json{{"next_recovery", next_recovery}, {"next_epoch", next_epoch}}.dump()};
}

std::vector<RangeRecord> TermState::RangesOf(const BoltKey& key) const {
  std::vector<RangeRecord> out;
  if (auto h = history.find(key); h != history.end()) out = h->second.spans;
  for (const auto& [id, r] : recoveries) {
    if (r.origin == key.first && r.bolt == key.second) out.push_back(r.Range());
  }
  return out;
}

std::map<uint64_t, uint64_t> TermState::Replicated(const BoltKey& key, const std::string& hook) const {
  uint64_t floor = 0;
  if (auto h = history.find(key); h != history.end()) floor = h->second.floor;
  std::map<uint64_t, uint64_t> out;
  for (const auto& [id, a] : agents) {
    // `reported` is cleared when its connection closes: it implies a connection.
    if (!a.alive() || !a.reported || (!hook.empty() && !a.Runs(hook))) continue;
    for (const auto& [gen_key, durable] : a.coverage) {
      auto [origin, bolt, gen] = gen_key;
      if (origin != key.first || bolt != key.second || gen <= floor) continue;
      out[gen] = std::max(out[gen], durable);
    }
  }
  return out;
}

std::optional<std::map<uint64_t, uint64_t>> TermState::LiveEnds(const BoltKey& key, const std::string& hook) const {
  auto o = agents.find(key.first);
  if (o == agents.end() || !o->second.reported) return std::nullopt;
  auto b = o->second.bolt_ends.find(key.second);
  if (b == o->second.bolt_ends.end()) return std::nullopt;
  std::map<uint64_t, uint64_t> ends = Replicated(key, hook);
  for (const auto& [gen, end] : b->second) ends[gen] = end;
  return ends;
}

bool TermState::MayHold(const std::string& agent, const BoltKey& key, const std::vector<std::string>& placed) const {
  if (agent == key.first) return true;
  auto o = agents.find(key.first);
  uint32_t replicas = o == agents.end() ? kEveryPeer : o->second.record.replicas;
  return replicas == kEveryPeer || HoldsStream(agent, key.first, key.second, placed, replicas);
}

std::vector<ElectionCandidate> TermState::Candidates(const GenKey& key, const std::string& hook,
                                                     const std::vector<std::string>& placed, bool* not_holders) const {
  std::vector<ElectionCandidate> out;
  *not_holders = false;
  for (const auto& [id, a] : agents) {
    if (!(a.alive() && a.conn && a.reported && a.Runs(hook))) continue;
    // An agent that does not hold the stream, and has none of it, would wait for bytes no one
    // sends it. One that has some (a holder displaced since, e.g. by one coming back) can run
    // what it has, like any survivor.
    uint64_t coverage = Coverage(id, key);
    if (coverage == 0 && !MayHold(id, {std::get<0>(key), std::get<1>(key)}, placed)) {
      *not_holders = true;
      continue;
    }
    out.push_back({id, coverage, Unfinished(id)});
  }
  return out;
}

std::optional<TailCheckpoint> TermState::NewestCheckpoint(const BoltRecord& doc) const {
  auto newer = [](const TailCheckpoint& a, const TailCheckpoint& b) {
    return a.gen != b.gen ? a.gen > b.gen : a.offset > b.offset;
  };
  std::optional<TailCheckpoint> ck = doc.checkpoint ? doc.checkpoint->Tail() : std::nullopt;
  for (const auto& [id, a] : agents) {
    if (!a.alive()) continue;
    auto it = a.checkpoints.find({doc.origin, doc.bolt});
    if (it != a.checkpoints.end() && (!ck || newer(it->second, *ck))) ck = it->second;
  }
  return ck;
}

uint32_t TermState::Unfinished(const std::string& agent) const {
  uint32_t n = 0;
  for (const auto& [id, r] : recoveries) n += (!r.finished() && r.agent == agent) ? 1 : 0;
  return n;
}

uint64_t TermState::Coverage(const std::string& agent, const GenKey& key) const {
  auto it = agents.find(agent);
  if (it == agents.end()) return 0;
  const Agent& a = it->second;
  if (std::get<0>(key) == agent) {  // its own bolt: the file itself
    auto b = a.bolt_ends.find(std::get<1>(key));
    if (b == a.bolt_ends.end()) return 0;
    auto g = b->second.find(std::get<2>(key));
    return g == b->second.end() ? 0 : g->second;
  }
  auto c = a.coverage.find(key);
  return c == a.coverage.end() ? 0 : c->second;
}

}  // namespace tailsafe
