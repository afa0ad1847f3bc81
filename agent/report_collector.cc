#include "agent/report_collector.h"

#include <unistd.h>

#include <algorithm>

#include "common/clock.h"

namespace tailsafe {

namespace {

// How far `link` is behind on `src`, over every generation still shipped.
Lag LagTo(const BoltSource& src, const PeerLink& link, uint64_t now) {
  Lag lag;
  uint64_t oldest = 0;
  for (const auto& g : src.generations()) {
    if (g->gone()) continue;
    uint64_t end = g->known_size();
    uint64_t a = std::min(link.Acked(*g), end);
    lag.bytes += end - a;
    uint64_t t = g->FirstUnackedNs(a);
    if (t != 0 && (oldest == 0 || t < oldest)) oldest = t;
  }
  if (oldest != 0 && lag.bytes != 0) lag.seconds = static_cast<double>(now - oldest) / 1e9;
  return lag;
}

BoltReport::Peer PeerView(const BoltSource& src, const PeerLink& link, uint64_t now) {
  BoltReport::Peer p;
  p.peer = link.peer().id;
  p.connected = link.connected();
  if (const Generation* g = src.active()) {
    p.acked = std::min(link.Acked(*g), g->size());
    const PeerLink::Cursor* c = link.CursorOf(*g);
    p.shipped = c ? c->sent : p.acked;
  }
  p.lag = LagTo(src, link, now);
  return p;
}

BoltReport ReportBolt(const ReportInputs& in, const BoltSource& src, uint64_t now) {
  BoltReport b;
  b.name = src.name();
  b.file = src.path();
  b.pattern = src.pattern();
  b.removed = src.retiring();
  if (!b.removed && in.tracker) {  // a removed bolt's process is not this agent's any more
    if (const BoltProcess* p = in.tracker->Find(src.name())) b.process = *p;
    if (const BoltCheckpoint* ck = in.tracker->FindCheckpoint(src.name())) b.checkpoint = *ck;
  }
  if (const Generation* g = src.checkpointed()) {  // the generation the checkpoint applies to
    b.checkpoint_applied = true;
    b.checkpoint_gen = g->gen;
    b.checkpoint_offset = g->checkpoint();
  }
  if (in.deaths) b.deaths = in.deaths->Json(src.name());
  b.stats = src.stats();
  for (const auto& g : src.generations()) {
    b.gens.push_back({g->gen, g->state(), g->size(), g->known_size(), g->persisted()});
  }
  for (const auto& link : in.peers->links()) {
    if (!link->Holds(src.name())) continue;  // its holders only
    b.peers.push_back(PeerView(src, *link, now));
    const HolderFill::Target* t = in.fills ? in.fills->Find(src.name(), link->peer().id) : nullptr;
    if (t != nullptr) {
      b.peers.back().fill_remaining = HolderFill::Remaining(src, *link, *t);
      b.peers.back().filling = b.peers.back().fill_remaining > 0;
    }
  }
  return b;
}

}  // namespace

AgentReport CollectReport(const ReportInputs& in) {
  uint64_t now = NowNs();
  AgentReport r;
  r.agent = in.config->agent.id;
  r.cluster = in.config->cluster.name;
  r.pid = static_cast<int>(::getpid());
  r.uptime_seconds = static_cast<double>(now - in.started_ns) / 1e9;
  for (const auto& src : in.sources->all()) r.bolts.push_back(ReportBolt(in, *src, now));
  for (const auto& link : in.peers->links()) {
    r.peers.push_back({link->peer().id, link->peer().address.ToString(), link->last_error(), link->connected(),
                       link->stats(), link->FailedStreams(), link->generations_tracked()});
  }
  for (const auto& [key, rep] : in.replicas->replicas()) {
    r.replicas.push_back({rep->origin, rep->bolt, rep->path, rep->gen, rep->durable, rep->written, rep->verified,
                          rep->recorded, rep->sealed_durable, rep->session != nullptr});
  }
  for (const auto& [key, c] : in.replicas->checkpoints()) r.peer_checkpoints.push_back({c.origin, c.bolt, c.gen, c.offset});
  r.receiver = in.server->stats();
  r.retention = in.replicas->retention_stats();
  r.commits = in.committer->commits();
  r.files_synced = in.committer->files_synced();
  r.filesystem_syncs = in.committer->filesystem_syncs();
  r.syncfs_fallbacks = in.committer->syncfs_fallbacks();
  r.full_disk_retries = in.committer->full_retries();
  r.storage_error = StorageError(*in.committer, *in.server);
  if (in.roster && !in.config->bolt_patterns.empty()) r.discovery = in.roster->discovery()->StatusJson();
  if (in.runner) {
    r.recoveries = in.runner->StatusJson();
    r.recovery_stats = in.runner->stats();
  }
  if (in.coord) {
    r.coordinator = AgentReport::Coordinator{in.coord->address(), in.coord->last_error(), in.coord->term(),
                                             in.coord->registered(), in.coord->membership()};
  }
  return r;
}

std::string StorageError(const Committer& committer, const ReplicaServer& server) {
  if (!committer.stall_error().empty()) return "state commits stalled: " + committer.stall_error();
  return server.write_error();
}

}  // namespace tailsafe
