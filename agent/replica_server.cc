#include "agent/replica_server.h"

#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <utility>

#include <nlohmann/json.hpp>

#include "common/log.h"
#include "common/names.h"
#include "common/pool_work.h"

namespace tailsafe {
namespace {

// How status names a replica: ORIGIN/BOLT/GENERATION (agent/write_errors.h).
std::string ReplicaName(const std::string& origin, const std::string& bolt, uint64_t gen) {
  return origin + "/" + bolt + "/" + std::to_string(gen);
}
std::string ReplicaName(const Replica& r) { return ReplicaName(r.origin, r.bolt, r.gen); }

constexpr size_t kMaxStreamsPerSession = 4096;
constexpr size_t kMaxSessions = 1024;
constexpr size_t kMaxUnauthenticated = 64;

Status PwriteFull(int fd, const char* buf, size_t n, uint64_t offset) {
  size_t done = 0;
  while (done < n) {
    ssize_t w = ::pwrite(fd, buf + done, n - done, static_cast<off_t>(offset + done));
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return ErrnoStatus("pwrite");
    done += static_cast<size_t>(w);
  }
  return Status::Ok();
}

}  // namespace

// ---- ReplicaSession ----

ReplicaSession::ReplicaSession(ReplicaServer* server, UvPtr<uv_tcp_t> tcp, uint64_t id) : server_(server), id_(id) {
  FramedConn::Options options;
  options.first_frame = "HELLO";
  // Tell the origin why, so its status names the cause; only inside the secure channel: an
  // unauthenticated client learns nothing.
  options.farewell = [](const std::string& why) { return EncodeReject({Printable(why, 512)}); };
  conn_ = std::make_shared<FramedConn>(std::move(tcp), SecureChannel::Role::kServer, server->keys(), options);
}

ReplicaSession::~ReplicaSession() { Unbind(); }

void ReplicaSession::Start() {
  FramedConn::Handlers h;
  h.on_frame = [this](const Frame& f) { return OnFrame(f); };
  h.on_close = [this](const CloseReason& r) { OnClosed(r); };
  if (Status s = conn_->Start(std::move(h)); !s) {
    LOG_WARN("refused a connection from %s: %s", remote().c_str(), s.message().c_str());
    closed_ = true;
    server_->Retire(this);
  }
}

Status ReplicaSession::OnFrame(const Frame& f) {
  if (!hello_done_) return OnHello(f);
  switch (f.type) {
    case MessageType::kOpen: return OnOpen(f);
    case MessageType::kData: return OnData(f);
    case MessageType::kSeal: return OnSeal(f);
    case MessageType::kCut: return OnCut(f);
    case MessageType::kCheckpoint: return OnCheckpoint(f);
    default: return Status::Error(std::string("unexpected ") + MessageTypeName(f.type) + " frame");
  }
}

Status ReplicaSession::OnHello(const Frame& f) {
  HelloMsg m;
  if (Status s = DecodeHello(f, &m); !s) return Status::Error("handshake: " + s.message());
  const Config& cfg = server_->config();
  auto reject = [&](const std::string& reason) {
    ++server_->stats().rejected;
    conn_->Send(EncodeReject({reason}));
    return Status::Error("rejected: " + reason);
  };
  if (m.cluster != cfg.cluster.name) {
    return reject("cluster '" + Printable(m.cluster, 64) + "' is not this agent's cluster '" + cfg.cluster.name + "'");
  }
  if (Status s = CheckName("origin id", m.origin); !s) return reject(s.message());
  if (m.origin == cfg.agent.id) return reject("origin id '" + m.origin + "' is this agent's own id");
  uint16_t lo = std::max(m.version_min, kWireVersionMin);
  uint16_t hi = std::min(m.version_max, kWireVersionMax);
  if (lo > hi) {
    return reject("no common protocol version: origin speaks " + std::to_string(m.version_min) + ".." +
                  std::to_string(m.version_max) + ", this agent " + std::to_string(kWireVersionMin) + ".." +
                  std::to_string(kWireVersionMax));
  }
  origin_ = m.origin;
  hello_done_ = true;
  LOG_DEBUG("%s: secure handshake done (cluster key %s)", remote().c_str(), KeyIdHex(conn_->key_id()).c_str());
  server_->Claim(this);
  conn_->Send(EncodeWelcome({hi, cfg.agent.id}));
  LOG_INFO("origin %s connected from %s", origin_.c_str(), remote().c_str());
  return Status::Ok();
}

Status ReplicaSession::OnOpen(const Frame& f) {
  OpenMsg m;
  if (Status s = DecodeOpen(f, &m); !s) return s;
  if (Status s = CheckName("bolt name", m.bolt); !s) return Status::Error("OPEN: " + s.message());
  if (m.generation == 0) return Status::Error("OPEN: generation 0 is invalid");
  if (!streams_.count(m.stream) && streams_.size() + failed_.size() >= kMaxStreamsPerSession) {
    return Status::Error("OPEN: more than " + std::to_string(kMaxStreamsPerSession) + " streams");
  }
  failed_.erase(m.stream);  // the origin tries a failed stream again
  released_.erase(m.stream);
  std::string name = ReplicaName(origin_, m.bolt, m.generation);
  Result<std::shared_ptr<Replica>> r = server_->store()->Open(origin_, m.bolt, m.generation);
  if (!r) {
    server_->write_errors().Failed(name, "cannot open the replica " + name + ": " + r.status().message(), NowNs());
    FailStream(m.stream, "cannot open the replica: " + r.status().message());
    return Status::Ok();
  }
  std::shared_ptr<Replica> rep = r.value();
  if (auto old = streams_.find(m.stream); old != streams_.end() && old->second != rep) {
    old->second->session = nullptr;
    old->second->position_pending = false;
  }
  if (rep->session != nullptr && rep->session != this) {
    return Status::Error("OPEN: generation already streaming on another session");
  }
  rep->session = this;
  rep->stream = m.stream;
  streams_[m.stream] = rep;
  // POSITION promises durability: bytes from an earlier connection that are written but not yet
  // durable wait for the commit that covers them (see ReplicaServer's on_durable).
  rep->position_pending = true;
  if (rep->written > rep->durable) server_->store()->MarkDirty(*rep);
  server_->Position(*rep);
  return Status::Ok();
}

void ReplicaSession::SendPosition(const PositionMsg& pos) { conn_->Send(EncodePosition(pos)); }

Result<Replica*> ReplicaSession::Positioned(uint32_t stream, const char* what) {
  if (failed_.count(stream)) return nullptr;
  auto it = streams_.find(stream);
  if (it == streams_.end()) return Status::Error(std::string(what) + " for stream " + std::to_string(stream) + " that was never opened");
  // Until its POSITION is out the replica's sizes must not move (it may be in thread-pool work);
  // an origin never sends before it has the POSITION.
  if (it->second->position_pending) return Status::Error(std::string(what) + " for stream " + std::to_string(stream) + " before its POSITION");
  return it->second.get();
}

Status ReplicaSession::OnData(const Frame& f) {
  DataMsg m;
  if (Status s = DecodeData(f, &m); !s) return s;
  Result<Replica*> rr = Positioned(m.stream, "DATA");
  if (!rr) return rr.status();
  if (*rr == nullptr) return Status::Ok();
  Replica& r = **rr;
  if (r.sealed) return Status::Error("DATA for sealed generation " + r.path);
  if (m.offset != r.written) {
    return Status::Error("DATA at offset " + std::to_string(m.offset) + " of " + r.path + ", expected " +
                         std::to_string(r.written));
  }
  if (inflate_buf_.size() < m.raw_len) inflate_buf_.resize(m.raw_len);
  if (Status s = InflateData(m, server_->decompressor(), inflate_buf_.data()); !s) return s;
  if (Status s = PwriteFull(r.fd->get(), inflate_buf_.data(), m.raw_len, m.offset); !s) {
    LOG_ERROR("replica %s: %s; nothing past %llu is acknowledged", r.path.c_str(), s.message().c_str(),
              static_cast<unsigned long long>(r.durable));
    server_->write_errors().Failed(ReplicaName(r), "cannot write " + r.path + ": " + s.message(), NowNs());
    FailStream(m.stream, "cannot write " + r.path + ": " + s.message());
    return Status::Ok();
  }
  if (server_->write_errors().Succeeded(ReplicaName(r))) {
    LOG_NOTICE("replica %s: writes succeed again", r.path.c_str());
  }
  r.written += m.raw_len;
  r.verified = r.written;  // DATA at our end: the origin accepted everything before it
  server_->stats().bytes_received += m.raw_len;
  ++server_->stats().frames_received;
  server_->store()->MarkDirty(r);
  return Status::Ok();
}

Status ReplicaSession::OnSeal(const Frame& f) {
  SealMsg m;
  if (Status s = DecodeSeal(f, &m); !s) return s;
  if (released_.count(m.stream)) return Status::Ok();  // sealed and recorded already
  Result<Replica*> rr = Positioned(m.stream, "SEAL");
  if (!rr) return rr.status();
  if (*rr == nullptr) return Status::Ok();
  Replica& r = **rr;
  if (m.final_size != r.written) {
    return Status::Error("SEAL at " + std::to_string(m.final_size) + " but " + r.path + " holds " +
                         std::to_string(r.written));
  }
  r.verified = r.written;  // SEAL at our end: the origin accepted everything before it
  if (!r.sealed) {
    r.sealed = true;
    server_->store()->MarkDirty(r);
  } else if (r.sealed_durable) {
    SendAck(m.stream, r.durable);
    SendSealed(m.stream, r.durable);
    Release(m.stream);
  }
  return Status::Ok();
}

Status ReplicaSession::OnCheckpoint(const Frame& f) {
  CheckpointMsg m;
  if (Status s = DecodeCheckpoint(f, &m); !s) return s;
  if (failed_.count(m.stream)) return Status::Ok();
  auto it = streams_.find(m.stream);
  if (it == streams_.end()) {
    auto rel = released_.find(m.stream);
    if (rel != released_.end()) {
      server_->store()->SetCheckpoint(origin_, rel->second.first, rel->second.second, m.offset);
      return Status::Ok();
    }
    if (!released_.empty() && m.stream < released_.begin()->first) return Status::Ok();  // released long ago
    return Status::Error("CHECKPOINT for unknown stream " + std::to_string(m.stream));
  }
  // Any offset is taken: a bolt may have processed bytes that have not reached this replica
  // yet (its tail then starts past what is here, and this replica has nothing to recover).
  const Replica& r = *it->second;
  server_->store()->SetCheckpoint(r.origin, r.bolt, r.gen, m.offset);
  return Status::Ok();
}

Status ReplicaSession::OnCut(const Frame& f) {
  CutMsg m;
  if (Status s = DecodeCut(f, &m); !s) return s;
  Result<Replica*> rr = Positioned(m.stream, "CUT");
  if (!rr) return rr.status();
  if (*rr == nullptr) return Status::Ok();
  Replica& r = **rr;
  // Only the unverified tail that our POSITION offered may be cut, and only before any DATA.
  if (r.busy || m.offset != r.verified || m.offset >= r.written) {
    return Status::Error("CUT at " + std::to_string(m.offset) + " but " + r.path + " has " +
                         std::to_string(r.verified) + " verified of " + std::to_string(r.written) + " bytes");
  }
  server_->Cut(r, m.offset);
  return Status::Ok();
}

void ReplicaSession::FailStream(uint32_t stream, const std::string& why) {
  ++server_->stats().stream_errors;
  LOG_ERROR("origin %s: stream %u failed, the session goes on without it: %s", origin_.c_str(), stream, why.c_str());
  if (auto it = streams_.find(stream); it != streams_.end()) {
    std::shared_ptr<Replica> r = std::move(it->second);
    streams_.erase(it);
    if (r->session == this) {
      r->session = nullptr;
      r->position_pending = false;
      server_->store()->MaybeClose(*r);
    }
  }
  failed_.insert(stream);
  conn_->Send(EncodeStreamError({stream, Printable(why, kMaxWireString)}));
}

void ReplicaSession::Release(uint32_t stream) {
  auto it = streams_.find(stream);
  if (it == streams_.end()) return;
  std::shared_ptr<Replica> r = std::move(it->second);
  streams_.erase(it);
  released_[stream] = {r->bolt, r->gen};
  if (released_.size() > kMaxStreamsPerSession) released_.erase(released_.begin());
  if (r->session != this) return;
  r->session = nullptr;
  r->position_pending = false;
  server_->store()->MaybeClose(*r);
}

void ReplicaSession::SendAck(uint32_t stream, uint64_t durable) { conn_->Send(EncodeAck({stream, durable})); }
void ReplicaSession::SendSealed(uint32_t stream, uint64_t final_size) {
  conn_->Send(EncodeSealed({stream, final_size}));
}

void ReplicaSession::Unbind() {
  for (auto& [stream, r] : streams_) {
    if (r->session == this) {
      r->session = nullptr;
      r->position_pending = false;
      server_->store()->MaybeClose(*r);
    }
  }
  streams_.clear();
}

void ReplicaSession::Close(const std::string& why, CloseReason::Kind kind) { conn_->Close(why, kind); }

void ReplicaSession::OnClosed(const CloseReason& reason) {
  if (closed_) return;
  closed_ = true;
  ReplicaServer::Stats& st = server_->stats();
  if (reason.kind == CloseReason::kAuth) ++st.auth_failures;
  if (reason.kind == CloseReason::kProtocol) ++st.protocol_errors;
  if (reason.kind == CloseReason::kOverflow) ++st.slow_readers;
  const char* who = origin_.empty() ? "unidentified peer" : origin_.c_str();
  const char* where = remote().c_str();
  if (!authenticated()) LOG_WARN("refused a connection from %s: %s", where, reason.why.c_str());
  else if (reason.error()) LOG_WARN("session with %s (%s) ended: %s", who, where, reason.why.c_str());
  else LOG_INFO("session with %s (%s) ended: %s", who, where, reason.why.c_str());
  Unbind();
  server_->Retire(this);
}

// ---- ReplicaServer ----

ReplicaServer::ReplicaServer(uv_loop_t* loop, const Config& config, const ClusterKeys* keys, ReplicaStore* store)
    : loop_(loop), config_(config), keys_(keys), store_(store) {
  store_->on_durable = [this](Replica& r) {
    if (r.session == nullptr) return store_->MaybeClose(r);
    if (r.position_pending) return Position(r);
    CorkUntilCheck(r.session);
    r.session->SendAck(r.stream, r.durable);
    if (durable_log_.on()) durable_log_.Add({NowNs(), r.origin, r.bolt, r.gen, r.durable});
    // The commit that recorded the seal: the origin may let the generation go for this peer.
    if (r.sealed_durable) {
      r.session->SendSealed(r.stream, r.durable);
      r.session->Release(r.stream);
    }
  };
}

ReplicaServer::~ReplicaServer() {
  Stop();
  store_->on_durable = nullptr;  // a commit finishing after this must not reach us
}

Status ReplicaServer::Listen() {
  const HostPort& hp = config_.agent.listen;
  Status s = listener_.Listen(loop_, hp.host, hp.port, [this](UvPtr<uv_tcp_t> tcp) { OnAccept(std::move(tcp)); });
  if (!s) return s.Context("agent.listen");
  auto idle = MakeUv<uv_idle_t>(uv_idle_init, loop_);
  if (!idle) return idle.status();
  reaper_ = std::move(idle.value());
  reaper_->data = this;
  auto check = MakeUv<uv_check_t>(uv_check_init, loop_);
  if (!check) return check.status();
  uncorker_ = std::move(check.value());
  uncorker_->data = this;
  return Status::Ok();
}

void ReplicaServer::CorkUntilCheck(ReplicaSession* s) {
  if (!uncorker_) return;  // not listening: send as it comes
  if (std::find(corked_.begin(), corked_.end(), s->id()) != corked_.end()) return;
  s->Cork();
  corked_.push_back(s->id());
  if (uv_is_active(uncorker_.handle())) return;
  uv_check_start(uncorker_.get(), [](uv_check_t* h) {
    auto* self = static_cast<ReplicaServer*>(h->data);
    if (self == nullptr) return;
    for (uint64_t id : std::exchange(self->corked_, {})) {
      if (auto it = self->sessions_.find(id); it != self->sessions_.end()) it->second->Uncork();
    }
    uv_check_stop(h);
  });
}

std::string ReplicaServer::DrainDurableLogJson() {
  nlohmann::json doc = nlohmann::json::object();
  for (const DurableEvent& e : durable_log_.Drain()) {
    nlohmann::json& events = doc[e.origin];
    if (events.is_null()) events = nlohmann::json::array();
    events.push_back({e.t_ns, e.bolt, e.gen, e.durable});
  }
  return doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void ReplicaServer::Stop() {
  listener_.Stop();
  // Close() moves each session to the graveyard, so iterate over a snapshot.
  std::vector<ReplicaSession*> live;
  for (auto& [id, s] : sessions_) live.push_back(s.get());
  for (ReplicaSession* s : live) s->Close("agent stopping", CloseReason::kEnded);
  graveyard_.clear();
  sessions_.clear();
  reaper_.Reset();
  uncorker_.Reset();
  corked_.clear();
}

void ReplicaServer::OnAccept(UvPtr<uv_tcp_t> tcp) {
  // A session that has not completed the secure handshake proves nothing yet: cap those, and
  // sessions in all, so a flood of connections cannot starve the real peers.
  size_t unauthenticated = 0;
  for (const auto& [sid, s] : sessions_) unauthenticated += s->authenticated() ? 0 : 1;
  if (unauthenticated >= kMaxUnauthenticated || sessions_.size() >= kMaxSessions) {
    ++stats_.auth_failures;
    LOG_WARN("refused a connection from %s: %zu sessions open, %zu of them not yet authenticated (limits %zu, %zu)",
             RemoteAddress(tcp.get()).c_str(), sessions_.size(), unauthenticated, kMaxSessions, kMaxUnauthenticated);
    return;  // `tcp` closes here
  }
  uint64_t id = next_id_++;
  auto session = std::make_unique<ReplicaSession>(this, std::move(tcp), id);
  ReplicaSession* raw = session.get();
  sessions_[id] = std::move(session);
  ++stats_.sessions;
  raw->Start();
}

void ReplicaServer::Claim(ReplicaSession* s) {
  // Close() retires the session (erasing it from sessions_), so collect first, close after.
  std::vector<ReplicaSession*> replaced;
  for (auto& [id, other] : sessions_) {
    if (other.get() != s && other->origin() == s->origin()) replaced.push_back(other.get());
  }
  for (ReplicaSession* other : replaced) {
    other->Close("replaced by a new connection from " + s->remote(), CloseReason::kEnded);
  }
}

void ReplicaServer::Retire(ReplicaSession* s) {
  auto it = sessions_.find(s->id());
  if (it == sessions_.end()) return;
  graveyard_.push_back(std::move(it->second));
  sessions_.erase(it);
  if (reaper_) {
    // Destroy it on the next loop iteration, outside its own callbacks.
    uv_idle_start(reaper_.get(), [](uv_idle_t* h) {
      auto* self = static_cast<ReplicaServer*>(h->data);
      if (self == nullptr) return;
      self->graveyard_.clear();
      uv_idle_stop(h);
    });
  }
}

// ---- POSITION and CUT ----

std::shared_ptr<Replica> ReplicaServer::Find(const Replica& r) const {
  auto it = store_->replicas().find({r.origin, r.bolt, r.gen});
  return it == store_->replicas().end() ? nullptr : it->second;
}

void ReplicaServer::Position(Replica& r) {
  if (r.session == nullptr || !r.position_pending || r.busy || r.written != r.durable) return;
  PositionMsg pos = PositionOf(r, r.stream);
  if (pos.window_len == 0) {
    r.position_pending = false;
    return r.session->SendPosition(pos);
  }
  TailJob job;
  job.position = pos;
  StartTailJob(r, std::move(job));
}

void ReplicaServer::Cut(Replica& r, uint64_t offset) {
  // Either side may be the damaged one (garbage left by a crash here, or the origin's file
  // rewritten or cut short), so the bytes are moved aside, never thrown away: PATH.cut-N holds
  // them for whoever needs to look, and the replica continues with the origin's bytes.
  struct timespec now {};
  ::clock_gettime(CLOCK_REALTIME, &now);
  TailJob job;
  job.cut = true;
  job.cut_at = offset;
  job.cut_len = r.written - offset;
  job.aside = r.path + ".cut-" + std::to_string(now.tv_sec) + "-" + std::to_string(++r.cuts);
  job.position = PositionAfterCut(offset, r.stream);
  r.position_pending = true;  // the POSITION after the cut; nothing for the stream until then
  StartTailJob(r, std::move(job));
}

void ReplicaServer::StartTailJob(Replica& r, TailJob job) {
  std::shared_ptr<Replica> rep = Find(r);
  job.fd = r.fd;
  job.path = r.path;
  Status s = rep && job.fd ? Status::Ok() : Status::Error("replica " + r.path + " is not open");
  if (s) {
    auto shared = std::make_shared<TailJob>(std::move(job));
    s = QueueWork(loop_, alive_, [shared] { RunTailJob(shared.get()); },
                  [this, rep, shared] { FinishTailJob(*rep, *shared); });
  }
  if (!s) {
    if (r.session != nullptr) r.session->FailStream(r.stream, s.message());
    return;
  }
  r.busy = true;
}

void ReplicaServer::FinishTailJob(Replica& r, TailJob& job) {
  r.busy = false;
  if (job.cut && job.cut_status) {
    LOG_ERROR("replica %s: cut %llu bytes past offset %llu that differ from the origin's (garbage left by a "
              "crash here, or the origin's file changed); they are kept in %s", r.path.c_str(),
              static_cast<unsigned long long>(job.cut_len), static_cast<unsigned long long>(job.cut_at),
              job.aside.c_str());
    ++stats_.tail_cuts;
    stats_.bytes_cut += job.cut_len;
    ++r.epoch;  // a commit collected before the cut must not raise `durable` again
    r.written = r.durable = job.cut_at;
    r.dropped = std::min(r.dropped, job.cut_at);
  }
  Status outcome = !job.cut_status ? job.cut_status : job.hash_status;
  if (r.session == nullptr) return store_->MaybeClose(r);
  if (!outcome) return r.session->FailStream(r.stream, outcome.message());
  if (!r.position_pending) return;
  r.position_pending = false;
  job.position.stream = r.stream;  // the session bound now may use another id than the one asked
  r.session->SendPosition(job.position);
}

}  // namespace tailsafe
