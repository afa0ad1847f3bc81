#include "agent/agent_report.h"

#include <algorithm>
#include <map>
#include <utility>

#include "common/prometheus.h"

namespace tailsafe {

namespace {

using nlohmann::json;

const BoltReport::Gen* Active(const BoltReport& b) {
  const BoltReport::Gen* out = nullptr;
  for (const auto& g : b.gens) {
    if (g.state == GenState::kActive) out = &g;
  }
  return out;
}

json ProcessJson(const BoltProcess& p) {
  json proc = {{"state", ProcStateName(p.state)}, {"since_unix_ns", p.since_unix_ns}, {"deaths", p.deaths}};
  if (p.pid != 0) proc["pid"] = static_cast<int>(p.pid);
  if (!p.detail.empty()) proc["detail"] = p.detail;
  return proc;
}

json CheckpointJson(const BoltReport& b) {
  json c = json::object();
  if (b.checkpoint->known) {
    c["offset"] = b.checkpoint->offset;
    c["read_unix_ns"] = b.checkpoint->read_unix_ns;
  }
  if (b.checkpoint_applied) {  // the generation it applies to
    c["gen"] = b.checkpoint_gen;
    c["offset"] = b.checkpoint_offset;
  }
  if (!b.checkpoint->problem.empty()) c["problem"] = b.checkpoint->problem;
  return c;
}

// A bolt as the coordinator sees it: liveness, generations, the worst peer's lag.
json HeartbeatBolt(const BoltReport& b) {
  json out = {{"name", b.name}};
  if (b.process) out["process"] = ProcessJson(*b.process);
  if (b.checkpoint) out["checkpoint"] = CheckpointJson(b);
  if (!b.deaths.empty()) out["deaths"] = b.deaths;
  json gens = json::array();
  for (const auto& g : b.gens) {
    if (g.state == GenState::kLost || g.state == GenState::kReleased || !g.persisted) continue;
    gens.push_back({{"gen", g.gen}, {"size", g.end}});
  }
  out["gens"] = std::move(gens);
  Lag worst;
  json peer_lag = json::object();  // each holder's lag, for the coordinator's status page
  for (const auto& p : b.peers) {
    worst.bytes = std::max(worst.bytes, p.lag.bytes);
    worst.seconds = std::max(worst.seconds, p.lag.seconds);
    peer_lag[p.peer] = p.lag.bytes;
  }
  out["peer_lag"] = std::move(peer_lag);
  out["lag_bytes"] = worst.bytes;
  out["lag_seconds"] = worst.seconds;
  out["holders_filling"] = b.HoldersFilling();
  return out;
}

json StatusBolt(const BoltReport& b) {
  json out;
  out["name"] = b.name;
  if (b.process) out["process"] = ProcessJson(*b.process);
  if (b.checkpoint) out["checkpoint"] = CheckpointJson(b);
  out["file"] = b.file;
  if (!b.pattern.empty()) out["pattern"] = b.pattern;
  if (b.removed) out["removed"] = true;
  const auto& st = b.stats;
  out["rescans"] = {{"timer", st.rescans_timer}, {"overflow", st.rescans_overflow}};
  out["inotify_events"] = st.events;
  out["frames_encoded"] = st.frames_encoded;
  out["frame_cache_hits"] = st.frame_cache_hits;
  out["rotations"] = st.rotations;
  out["truncations"] = st.truncations;
  out["copies_found"] = st.copies_found;
  out["divergences"] = st.divergences;
  out["generations_lost"] = st.generations_lost;
  out["bytes_after_seal"] = st.bytes_after_seal;
  out["head_read_errors"] = st.head_read_errors;
  json gens = json::array();
  for (const auto& g : b.gens) gens.push_back({{"generation", g.gen}, {"state", GenStateName(g.state)}, {"size", g.size}});
  const BoltReport::Gen* active = Active(b);
  out["generation"] = active ? active->gen : 0;
  out["origin_size"] = active ? active->size : 0;
  out["generations"] = std::move(gens);
  json peers = json::array();
  for (const auto& p : b.peers) {
    peers.push_back({{"peer", p.peer},
                     {"connected", p.connected},
                     {"shipped", p.shipped},
                     {"acked", p.acked},
                     {"lag_bytes", p.lag.bytes},
                     {"lag_seconds", p.lag.seconds},
                     {"filling", p.filling},
                     {"fill_remaining_bytes", p.fill_remaining}});
  }
  out["peers"] = std::move(peers);
  out["under_replicated"] = b.HoldersFilling() > 0;
  return out;
}

json StatusPeer(const PeerReport& p) {
  const auto& st = p.stats;
  json failed = json::array();
  for (const auto& f : p.failed_streams) {
    failed.push_back({{"bolt", f.bolt}, {"generation", f.gen}, {"error", f.error}, {"failures", f.failures},
                      {"retrying", f.retrying}});
  }
  return {{"peer", p.id},
          {"address", p.address},
          {"connected", p.connected},
          {"last_error", p.last_error},
          {"connects", st.connects},
          {"disconnects", st.disconnects},
          {"frames_sent", st.frames_sent},
          {"bytes_sent", st.bytes_sent},
          {"wire_bytes", st.wire_bytes},
          {"bytes_acked", st.bytes_acked},
          {"resent_bytes", st.resent_bytes},
          {"lost_bytes", st.lost_bytes},
          {"divergences", st.divergences},
          {"tail_cuts", st.tail_cuts},
          {"stream_errors", st.stream_errors},
          {"opens", st.opens},
          {"backlog_peak", st.backlog_peak},
          {"generations_tracked", p.generations_tracked},
          {"failed_streams", std::move(failed)}};
}

json StatusReplica(const ReplicaReport& r) {
  return {{"origin", r.origin},     {"bolt", r.bolt},         {"generation", r.gen},
          {"durable", r.durable},   {"written", r.written},   {"verified", r.verified},
          {"recorded", r.recorded}, {"sealed", r.sealed},     {"streaming", r.streaming},
          {"path", r.path}};
}

json CheckpointsJson(const AgentReport& r, const char* gen_key) {
  json out = json::array();
  for (const auto& c : r.peer_checkpoints) {
    out.push_back({{"origin", c.origin}, {"bolt", c.bolt}, {gen_key, c.gen}, {"offset", c.offset}});
  }
  return out;
}

}  // namespace

size_t BoltReport::HoldersFilling() const {
  return static_cast<size_t>(std::count_if(peers.begin(), peers.end(), [](const Peer& p) { return p.filling; }));
}

std::string StatusJson(const AgentReport& r) {
  json doc;
  doc["agent"] = r.agent;
  doc["cluster"] = r.cluster;
  doc["pid"] = r.pid;
  doc["uptime_seconds"] = r.uptime_seconds;
  json bolts = json::array();
  for (const auto& b : r.bolts) bolts.push_back(StatusBolt(b));
  doc["bolts"] = std::move(bolts);
  json peers = json::array();
  for (const auto& p : r.peers) peers.push_back(StatusPeer(p));
  doc["peers"] = std::move(peers);
  json reps = json::array();
  for (const auto& rep : r.replicas) reps.push_back(StatusReplica(rep));
  doc["replicas"] = std::move(reps);
  doc["peer_checkpoints"] = CheckpointsJson(r, "generation");
  if (r.discovery) doc["discovery"] = *r.discovery;
  if (r.recoveries) doc["recoveries"] = *r.recoveries;
  if (r.coordinator) {
    doc["coordinator"] = {{"address", r.coordinator->address},
                          {"term", r.coordinator->term},
                          {"registered", r.coordinator->registered},
                          {"last_error", r.coordinator->last_error},
                          {"membership", r.coordinator->membership}};
  }
  const auto& ss = r.receiver;
  doc["receiver"] = {{"sessions", ss.sessions},
                     {"rejected", ss.rejected},
                     {"protocol_errors", ss.protocol_errors},
                     {"stream_errors", ss.stream_errors},
                     {"auth_failures", ss.auth_failures},
                     {"slow_readers", ss.slow_readers},
                     {"bytes_received", ss.bytes_received},
                     {"frames_received", ss.frames_received},
                     {"tail_cuts", ss.tail_cuts},
                     {"bytes_cut", ss.bytes_cut}};
  doc["retention"] = {{"bolts_planned", r.retention.bolts_planned},
                      {"replicas_deleted", r.retention.deleted},
                      {"bytes_deleted", r.retention.bytes_deleted}};
  doc["commits"] = {{"batches", r.commits},
                    {"files_synced", r.files_synced},
                    {"filesystem_syncs", r.filesystem_syncs},
                    {"syncfs_fallbacks", r.syncfs_fallbacks},
                    {"full_disk_retries", r.full_disk_retries}};
  if (!r.storage_error.empty()) doc["storage_error"] = r.storage_error;
  return doc.dump(-1, ' ', false, json::error_handler_t::replace);
}

json HeartbeatJson(const AgentReport& r) {
  json bolts = json::array();
  for (const auto& b : r.bolts) {
    if (!b.removed) bolts.push_back(HeartbeatBolt(b));  // a removed bolt is not this agent's any more
  }
  // Per (origin, bolt), the generations from its newest checkpoint's on (the only ones a tail
  // can lie in), at most the newest 8.
  std::map<std::pair<std::string, std::string>, uint64_t> first;
  for (const auto& c : r.peer_checkpoints) first[{c.origin, c.bolt}] = c.gen;
  std::map<std::pair<std::string, std::string>, std::vector<const ReplicaReport*>> by_bolt;
  for (const auto& rep : r.replicas) by_bolt[{rep.origin, rep.bolt}].push_back(&rep);
  json replicas = json::array();
  for (auto& [ob, reps] : by_bolt) {
    auto f = first.find(ob);
    uint64_t from = f == first.end() ? 0 : f->second;
    size_t n = 0;
    for (auto it = reps.rbegin(); it != reps.rend() && n < 8; ++it, ++n) {
      if ((*it)->gen < from) break;
      replicas.push_back({{"origin", ob.first}, {"bolt", ob.second}, {"gen", (*it)->gen}, {"durable", (*it)->durable}});
    }
  }
  json out = {{"bolts", std::move(bolts)}, {"replicas", std::move(replicas)}, {"peer_checkpoints", CheckpointsJson(r, "gen")}};
  if (!r.storage_error.empty()) out["storage_error"] = r.storage_error;
  return out;
}

}  // namespace tailsafe
