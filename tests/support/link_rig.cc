#include "tests/support/link_rig.h"

#include <sys/stat.h>

#include <fstream>
#include <random>
#include <stdexcept>

#include "agent/encode_slots.h"

namespace tailsafe::testing {
namespace {

// Set-up steps run in the test's body, never on the loop: a failure there ends the test.
void Must(const Status& s, const std::string& what) {
  if (!s) throw std::runtime_error(what + ": " + s.message());
}

ClusterKeys TestKeys() {
  uint8_t bytes[kClusterKeyBytes];
  for (size_t i = 0; i < sizeof bytes; ++i) bytes[i] = static_cast<uint8_t>(i * 13 + 5);
  ClusterKeys keys;
  keys.keys.push_back(MakeClusterKey(bytes));
  return keys;
}

StateStore OpenState(const std::string& path) {
  Result<StateStore> s = StateStore::Open(path);
  Must(s.status(), "open " + path);
  return std::move(s.value());
}

}  // namespace

std::string Lines(size_t n, unsigned seed) {
  std::minstd_rand rng(seed);
  std::string out;
  for (uint64_t line = 0; out.size() < n; ++line) {
    out += "line " + std::to_string(line) + " " + std::to_string(rng()) + " " + std::to_string(rng()) + "\n";
  }
  out.resize(n);
  return out;
}

LinkRig::LinkRig() : keys(TestKeys()) {
  for (const char* d : {"/bolts", "/origin", "/peer"}) ::mkdir((dir.path + d).c_str(), 0755);
  peer_config.cluster.name = "c1";
  peer_config.agent.id = "peer";
  peer_config.agent.data_dir = dir.path + "/peer";
  peer_config.agent.listen = *ParseHostPort("127.0.0.1:" + std::to_string(FreePort()));
  origin.id = "origin";
  origin.rescan_interval_ms = 600000;  // what the tests see comes from events and Append's Check
  origin.seal_after_ms = 600000;       // no seal unless a test retires a bolt
  origin.chunk_bytes = 16 << 10;
  origin.window_bytes = 64 << 10;
  origin.reconnect_max_ms = 100;

  watcher_ = std::make_unique<InotifyWatcher>(loop.get(), 0);
  Must(watcher_->Start(), "inotify");
  slots_ = std::make_shared<EncodeSlots>(kAgentEncodeJobs);
  origin_state_.emplace(OpenState(dir.path + "/origin/state.db"));
  peer_state_.emplace(OpenState(dir.path + "/peer/state.db"));
  auto on_error = [this](const Status& s) { commit_error = s.message(); };
  origin_committer_ = std::make_unique<Committer>(loop.get(), &*origin_state_, 0, on_error);
  origin_committer_->AddCollector([this](Committer::Batch* b) {
    for (auto& s : sources_) s->Collect(b);
    if (link_) link_->Collect(b);
  });
  peer_committer_ = std::make_unique<Committer>(loop.get(), &*peer_state_, 0, on_error);
  peer_committer_->AddCollector([this](Committer::Batch* b) {
    if (store_) store_->Collect(b);
  });
  auto idle = MakeUv<uv_idle_t>(uv_idle_init, loop.get());
  Must(idle.status(), "idle");
  kick_ = std::move(idle.value());
  kick_->data = this;

  link_env.loop = loop.get();
  link_env.cluster = "c1";
  link_env.self_id = origin.id;
  link_env.keys = &keys;
  link_env.window_bytes = origin.window_bytes;
  link_env.reconnect_max_ms = origin.reconnect_max_ms;
  link_env.sources = &sources_;
  link_env.acks_changed = [this](const std::string& bolt) {  // the agent's rule: that bolt's source only
    for (auto& s : sources_) {
      if (s->name() == bolt) s->ReleaseAcked();
    }
    Kick(true, false);
  };
}

LinkRig::~LinkRig() {
  StopLink();
  DropServer();
  for (auto& s : sources_) s->Stop();
  // A commit in flight works on the stores on the thread pool: let it end first.
  loop.RunUntil([this] { return origin_committer_->idle() && peer_committer_->idle(); }, 5000);
  origin_committer_->CloseHandles();
  peer_committer_->CloseHandles();
  kick_.Reset();
  sources_.clear();
  store_.reset();
  watcher_->Stop();
}

void LinkRig::Kick(bool pump, bool commit) {
  pump_pending_ |= pump;
  commit_pending_ |= commit;
  if (kick_) {
    uv_idle_start(kick_.get(), [](uv_idle_t* h) { static_cast<LinkRig*>(h->data)->OnIdle(); });
  }
}

void LinkRig::OnIdle() {
  uv_idle_stop(kick_.get());
  if (std::exchange(pump_pending_, false) && link_) link_->Pump();
  if (std::exchange(commit_pending_, false)) {
    origin_committer_->Request();
    if (!hold_peer_) peer_committer_->Request();
  }
}

BoltSource::Hooks LinkRig::Hooks() {
  BoltSource::Hooks h;
  h.changed = [this](const Generation* g) {
    if (link_) link_->Touched(g);
    Kick(true, false);
  };
  h.min_acked = [this](const Generation& g) {
    if (!link_) return uint64_t{0};
    return link_->Diverged(g) ? UINT64_MAX : link_->Acked(g);  // as PeerSet::MinAcked
  };
  h.min_cursor = [this](const Generation& g) {
    const PeerLink::Cursor* c = link_ ? link_->CursorOf(g) : nullptr;
    return c == nullptr ? UINT64_MAX : (c->positioned ? c->sent : c->acked);
  };
  h.seal_held = [this](const Generation& g) { return link_ && (link_->SealHeld(g) || link_->Diverged(g)); };
  h.lost = [this](const Generation& g) {
    if (link_) link_->CountLost(g);
  };
  h.closed = [this](const Generation& g) {
    closed_.push_back(g.gen);
    if (link_) link_->Forget(g);
  };
  h.request_commit = [this] { Kick(false, true); };
  return h;
}

BoltSource& LinkRig::AddBolt(const std::string& name) {
  BoltConfig bolt;
  bolt.name = name;
  bolt.file = BoltFile(name);
  sources_.push_back(std::make_unique<BoltSource>(loop.get(), watcher_.get(), bolt, origin, Hooks(), &next_stream_, slots_));
  Must(sources_.back()->Start({}), "start bolt " + name);
  return *sources_.back();
}

std::shared_ptr<Generation> LinkRig::Newest(size_t i) {
  const auto& gens = sources_.at(i)->generations();
  if (gens.empty()) throw std::runtime_error("bolt " + sources_.at(i)->name() + " has no generation");
  return gens.back();
}

void LinkRig::Append(size_t source, const std::string& bytes) {
  std::ofstream(BoltFile(sources_.at(source)->name()), std::ios::binary | std::ios::app) << bytes;
  sources_.at(source)->Check();
}

void LinkRig::DropServer() {
  server_.reset();  // it unhooks itself from the store's durable callback
}

void LinkRig::StartPeer() {
  if (!store_) {
    store_ = std::make_unique<ReplicaStore>(peer_config.agent.data_dir, [this] { Kick(false, true); });
    Result<std::vector<ReplicaRow>> rows = peer_state_->LoadReplicas();
    Must(rows.status(), "load replicas");
    Result<std::vector<CheckpointRow>> checkpoints = peer_state_->LoadCheckpoints();
    Must(checkpoints.status(), "load checkpoints");
    Must(store_->Init(*rows, *checkpoints), "replica store");
  }
  if (!server_) server_ = std::make_unique<ReplicaServer>(loop.get(), peer_config, &keys, store_.get());
  Must(server_->Listen(), "replica server");
}

void LinkRig::StopPeer(bool restart) {
  if (!restart) return server_->Stop();
  DropServer();
  // A commit of the store in flight ends before the store may go.
  loop.RunUntil([this] { return peer_committer_->idle(); }, 5000);
  store_.reset();
}

std::string LinkRig::ReplicaPath(const std::string& bolt, uint64_t gen) const {
  return peer_config.agent.data_dir + "/replicas/" + origin.id + "/" + bolt + "/" + GenerationFileName(gen);
}

const Replica* LinkRig::ReplicaOf(const std::string& bolt, uint64_t gen) const {
  if (!store_) return nullptr;
  auto it = store_->replicas().find({origin.id, bolt, gen});
  return it == store_->replicas().end() ? nullptr : it->second.get();
}

void LinkRig::HoldPeerCommits(bool hold) {
  hold_peer_ = hold;
  if (!hold) Kick(false, true);
}

PeerLink& LinkRig::StartLink(std::optional<PeerSpec> peer) {
  PeerSpec spec;
  spec.id = peer_config.agent.id;
  spec.address = peer_config.agent.listen;
  link_ = std::make_unique<PeerLink>(link_env, peer ? *peer : spec, std::vector<PeerAckRow>{});
  link_->Start();
  return *link_;
}

void LinkRig::StopLink() {
  if (link_) link_->Stop();
  link_.reset();
}

bool LinkRig::WaitAcked(const Generation& g, uint64_t bytes, uint64_t ms) {
  return loop.RunUntil([&] { return link_ && link_->Acked(g) >= bytes; }, ms);
}

bool LinkRig::RoundTrip(const Generation& marker) {
  if (!link_ || !server_ || server_->sessions().size() != 1 || link_->CursorOf(marker) == nullptr) return false;
  uint64_t before = link_->stats().stream_errors;
  server_->sessions().begin()->second->FailStream(marker.stream, "marker");
  return loop.RunUntil([&] { return link_->stats().stream_errors > before; });
}

}  // namespace tailsafe::testing
