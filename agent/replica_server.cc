#include "agent/replica_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "common/framed_conn.h"
#include "common/hash.h"
#include "common/log.h"
#include "common/names.h"

namespace tailsafe {
namespace {

constexpr uint32_t kHelloTimeoutMs = 10000;
constexpr size_t kMaxStreamsPerSession = 4096;
constexpr size_t kMaxSessions = 1024;
constexpr size_t kMaxUnauthenticated = 64;

struct AckWrite {
  uv_write_t req;
  std::string frame;
};

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

ReplicaSession::ReplicaSession(ReplicaServer* server, UvPtr<uv_tcp_t> tcp, std::string remote, uint64_t id)
    : server_(server),
      tcp_(std::move(tcp)),
      channel_(SecureChannel::Role::kServer, server->keys()),
      remote_(std::move(remote)),
      id_(id) {
  tcp_->data = this;
}

ReplicaSession::~ReplicaSession() { Unbind(); }

void ReplicaSession::Start() {
  uv_tcp_nodelay(tcp_.get(), 1);
  uv_tcp_keepalive(tcp_.get(), 1, 30);
  auto timer = MakeUv<uv_timer_t>(uv_timer_init, tcp_->loop);
  if (timer) {
    hello_timer_ = std::move(timer.value());
    hello_timer_->data = this;
    uv_timer_start(hello_timer_.get(), [](uv_timer_t* t) {
      auto* s = static_cast<ReplicaSession*>(t->data);
      if (s == nullptr) return;
      s->Close(s->channel_.established() ? "no HELLO within 10 s" : "no secure handshake within 10 s", true);
    }, kHelloTimeoutMs, 0);
  }
  uv_read_start(
      tcp_.stream(),
      AllocReadBuffer,
      [](uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
        if (auto* self = static_cast<ReplicaSession*>(s->data)) self->OnRead(nread, buf);
        delete[] buf->base;
      });
}

void ReplicaSession::OnRead(ssize_t nread, const uv_buf_t* buf) {
  if (closed_) return;
  if (nread == UV_EOF) {
    Status s = channel_.AtEof();
    if (s.ok()) s = reader_.AtEof();
    Close(s.ok() ? "origin closed the connection" : s.message(), !s.ok());
    return;
  }
  if (nread < 0) {
    Close(UvStatus("read", static_cast<int>(nread)).message(), false);
    return;
  }
  // Nothing reaches the frame layer before the secure handshake has proved that the other side
  // holds the cluster key.
  std::string reply, plain;
  bool was_established = channel_.established();
  Status cs = channel_.Receive(std::string_view(buf->base, static_cast<size_t>(nread)), &reply, &plain);
  if (!reply.empty()) WriteRaw(std::move(reply));
  if (!cs) {
    if (was_established) ++server_->stats().protocol_errors;
    else ++server_->stats().auth_failures;
    Close(cs.message(), true);
    return;
  }
  if (!was_established && channel_.established()) {
    LOG_DEBUG("%s: secure handshake done (cluster key %s)", remote_.c_str(), KeyIdHex(channel_.key_id()).c_str());
  }
  if (plain.empty()) return;
  reader_.Feed(plain.data(), plain.size());
  while (!closed_) {
    Frame f;
    Status err;
    auto r = reader_.Next(&f, &err);
    if (r == FrameReader::Result::kNeedMore) break;
    if (r == FrameReader::Result::kError) {
      ++server_->stats().protocol_errors;
      Close("bad frame: " + err.message(), true);
      return;
    }
    Status s = OnFrame(f);
    if (!s.ok()) {
      ++server_->stats().protocol_errors;
      Close(s.message(), true);
      return;
    }
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
    Send(EncodeReject({reason}));
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
  hello_timer_.Reset();
  server_->Claim(this);
  Send(EncodeWelcome({hi, cfg.agent.id}));
  LOG_INFO("origin %s connected from %s", origin_.c_str(), remote_.c_str());
  return Status::Ok();
}

Status ReplicaSession::OnOpen(const Frame& f) {
  OpenMsg m;
  if (Status s = DecodeOpen(f, &m); !s) return s;
  if (Status s = CheckName("bolt name", m.bolt); !s) return Status::Error("OPEN: " + s.message());
  if (m.generation == 0) return Status::Error("OPEN: generation 0 is invalid");
  if (!streams_.count(m.stream) && streams_.size() >= kMaxStreamsPerSession) {
    return Status::Error("OPEN: more than " + std::to_string(kMaxStreamsPerSession) + " streams");
  }
  Result<std::shared_ptr<Replica>> r = server_->store()->Open(origin_, m.bolt, m.generation);
  if (!r) {
    LOG_ERROR("origin %s: %s", origin_.c_str(), r.status().message().c_str());
    server_->SetWriteError(r.status().message());
    return Status::Error("cannot open the replica: " + r.status().message());
  }
  std::shared_ptr<Replica> rep = r.value();
  if (auto old = streams_.find(m.stream); old != streams_.end() && old->second != rep) {
    old->second->session = nullptr;
  }
  if (rep->session != nullptr && rep->session != this) {
    return Status::Error("OPEN: generation already streaming on another session");
  }
  rep->session = this;
  rep->stream = m.stream;
  streams_[m.stream] = rep;
  if (rep->written > rep->durable) {
    // Bytes from an earlier connection are written but not yet durable: POSITION promises
    // durability, so it waits for the commit that covers them (see ReplicaServer's on_durable).
    rep->position_pending = true;
    server_->store()->MarkDirty(*rep);
    return Status::Ok();
  }
  return SendPosition(m.stream, *rep);
}

Status ReplicaSession::SendPosition(uint32_t stream, Replica& rep) {
  rep.position_pending = false;
  PositionMsg pos;
  pos.stream = stream;
  pos.durable = rep.durable;
  pos.verified = std::min(rep.verified, rep.durable);
  // Every unverified byte, and up to kWindowHashBytes of verified ones before them.
  pos.window_len = static_cast<uint32_t>(pos.durable - pos.verified +
                                         std::min<uint64_t>(pos.verified, kWindowHashBytes));
  if (pos.window_len > 0) {
    Result<uint64_t> h = HashFileRange(rep.fd->get(), pos.durable - pos.window_len, pos.window_len);
    if (!h) return Status::Error("cannot read the resume window of replica " + rep.path + ": " + h.status().message());
    pos.window_hash = *h;
  }
  Send(EncodePosition(pos));
  return Status::Ok();
}

Status ReplicaSession::OnData(const Frame& f) {
  DataMsg m;
  if (Status s = DecodeData(f, &m); !s) return s;
  auto it = streams_.find(m.stream);
  if (it == streams_.end()) return Status::Error("DATA for stream " + std::to_string(m.stream) + " that was never opened");
  Replica& r = *it->second;
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
    server_->SetWriteError("cannot write " + r.path + ": " + s.message());
    return Status::Error("cannot write " + r.path + ": " + s.message());
  }
  if (!server_->write_error().empty()) {
    LOG_NOTICE("replica %s: writes succeed again", r.path.c_str());
    server_->SetWriteError("");
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
  auto it = streams_.find(m.stream);
  if (it == streams_.end()) return Status::Error("SEAL for unknown stream " + std::to_string(m.stream));
  Replica& r = *it->second;
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
  }
  return Status::Ok();
}

namespace {

// Copies [offset, offset + len) of `fd` into a new file at `path`, synced.
Status CopyTail(int fd, uint64_t offset, uint64_t len, const std::string& path) {
  Fd out(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (!out) return ErrnoStatus("create " + path);
  loff_t in_off = static_cast<loff_t>(offset);
  uint64_t done = 0;
  while (done < len) {
    ssize_t n = ::copy_file_range(fd, &in_off, out.get(), nullptr, len - done, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus("copy into " + path);
    if (n == 0) return Status::Error("the replica ended early while copying into " + path);
    done += static_cast<uint64_t>(n);
  }
  if (::fdatasync(out.get()) != 0) return ErrnoStatus("fdatasync " + path);
  std::string dir = path.substr(0, path.rfind('/'));
  Fd d(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!d || ::fsync(d.get()) != 0) return ErrnoStatus("fsync " + dir);
  return Status::Ok();
}

}  // namespace

Status ReplicaSession::OnCheckpoint(const Frame& f) {
  CheckpointMsg m;
  if (Status s = DecodeCheckpoint(f, &m); !s) return s;
  auto it = streams_.find(m.stream);
  if (it == streams_.end()) return Status::Error("CHECKPOINT for unknown stream " + std::to_string(m.stream));
  // Any offset is taken: a bolt may have processed bytes that have not reached this replica
  // yet (its tail then starts past what is here, and this replica has nothing to recover).
  const Replica& r = *it->second;
  server_->store()->SetCheckpoint(r.origin, r.bolt, r.gen, m.offset);
  return Status::Ok();
}

Status ReplicaSession::OnCut(const Frame& f) {
  CutMsg m;
  if (Status s = DecodeCut(f, &m); !s) return s;
  auto it = streams_.find(m.stream);
  if (it == streams_.end()) return Status::Error("CUT for unknown stream " + std::to_string(m.stream));
  Replica& r = *it->second;
  // Only the unverified tail that our POSITION offered may be cut, and only before any DATA.
  if (r.position_pending || m.offset != r.verified || m.offset >= r.written) {
    return Status::Error("CUT at " + std::to_string(m.offset) + " but " + r.path + " has " +
                         std::to_string(r.verified) + " verified of " + std::to_string(r.written) + " bytes");
  }
  // Either side may be the damaged one (garbage left by a crash here, or the origin's file
  // rewritten or cut short), so the bytes are moved aside, never thrown away: PATH.cut-N holds
  // them for whoever needs to look, and the replica continues with the origin's bytes.
  uint64_t cut = r.written - m.offset;
  struct timespec now {};
  ::clock_gettime(CLOCK_REALTIME, &now);
  std::string aside = r.path + ".cut-" + std::to_string(now.tv_sec) + "-" + std::to_string(++r.cuts);
  if (Status s = CopyTail(r.fd->get(), m.offset, cut, aside); !s) {
    return Status::Error("cannot set aside the tail of " + r.path + ": " + s.message());
  }
  if (::ftruncate(r.fd->get(), static_cast<off_t>(m.offset)) != 0) {
    return ErrnoStatus("cannot cut " + r.path);
  }
  LOG_ERROR("replica %s: cut %llu bytes past offset %llu that differ from the origin's (garbage left by a "
            "crash here, or the origin's file changed); they are kept in %s", r.path.c_str(),
            static_cast<unsigned long long>(cut), static_cast<unsigned long long>(m.offset), aside.c_str());
  ++server_->stats().tail_cuts;
  server_->stats().bytes_cut += cut;
  ++r.epoch;
  r.written = r.durable = m.offset;
  r.dropped = std::min(r.dropped, m.offset);
  return SendPosition(m.stream, r);
}

void ReplicaSession::SendAck(uint32_t stream, uint64_t durable) { Send(EncodeAck({stream, durable})); }

void ReplicaSession::Send(std::string frame) {
  if (closed_ || !tcp_) return;
  std::string wire;
  channel_.Seal(frame, &wire);
  if (!wire.empty()) WriteRaw(std::move(wire));
}

void ReplicaSession::WriteRaw(std::string bytes) {
  if (closed_ || !tcp_) return;
  auto* w = new AckWrite{};
  w->frame = std::move(bytes);
  uv_buf_t buf = uv_buf_init(w->frame.data(), static_cast<unsigned>(w->frame.size()));
  int rc = uv_write(&w->req, tcp_.stream(), &buf, 1, [](uv_write_t* req, int) {
    delete reinterpret_cast<AckWrite*>(req);  // a failed write shows up as a read error
  });
  if (rc != 0) delete w;
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

void ReplicaSession::Close(const std::string& why, bool error) {
  if (closed_) return;
  closed_ = true;
  if (error && tcp_ && channel_.established()) {
    // Tell the origin why, so its status names the cause. Best effort: a frame this small goes
    // out at once unless the socket is already full, and the handle closes right after. Only
    // inside the secure channel: an unauthenticated client learns nothing.
    std::string frame;
    channel_.Seal(EncodeReject({Printable(why, 512)}), &frame);
    uv_buf_t buf = uv_buf_init(frame.data(), static_cast<unsigned>(frame.size()));
    (void)uv_try_write(tcp_.stream(), &buf, 1);
  }
  const char* who = origin_.empty() ? "unidentified peer" : origin_.c_str();
  if (!channel_.established()) LOG_WARN("refused a connection from %s: %s", remote_.c_str(), why.c_str());
  else if (error) LOG_WARN("session with %s (%s) ended: %s", who, remote_.c_str(), why.c_str());
  else LOG_INFO("session with %s (%s) ended: %s", who, remote_.c_str(), why.c_str());
  Unbind();
  hello_timer_.Reset();
  server_->Retire(this);
}

// ---- ReplicaServer ----

ReplicaServer::ReplicaServer(uv_loop_t* loop, const Config& config, const ClusterKeys* keys, ReplicaStore* store)
    : loop_(loop), config_(config), keys_(keys), store_(store) {
  store_->on_durable = [this](Replica& r) {
    if (r.session == nullptr) return store_->MaybeClose(r);
    if (!r.position_pending) {
      r.session->SendAck(r.stream, r.durable);
    } else if (r.durable == r.written) {
      if (Status s = r.session->SendPosition(r.stream, r); !s) r.session->Close(s.message(), true);
    }
  };
}

ReplicaServer::~ReplicaServer() { Stop(); }

Status ReplicaServer::Listen() {
  auto tcp = MakeUv<uv_tcp_t>(uv_tcp_init, loop_);
  if (!tcp) return tcp.status();
  listener_ = std::move(tcp.value());
  listener_->data = this;
  const HostPort& hp = config_.agent.listen;
  sockaddr_storage addr{};
  int rc = hp.host.find(':') != std::string::npos
               ? uv_ip6_addr(hp.host.c_str(), hp.port, reinterpret_cast<sockaddr_in6*>(&addr))
               : uv_ip4_addr(hp.host.c_str(), hp.port, reinterpret_cast<sockaddr_in*>(&addr));
  if (rc != 0) return UvStatus("agent.listen '" + hp.ToString() + "' must be an IP address", rc);
  rc = uv_tcp_bind(listener_.get(), reinterpret_cast<sockaddr*>(&addr), 0);
  if (rc == 0) {
    rc = uv_listen(listener_.stream(), 128, [](uv_stream_t* s, int status) {
      if (auto* self = static_cast<ReplicaServer*>(s->data)) self->OnConnection(status);
    });
  }
  if (rc != 0) return UvStatus("listen on " + hp.ToString(), rc);
  auto idle = MakeUv<uv_idle_t>(uv_idle_init, loop_);
  if (!idle) return idle.status();
  reaper_ = std::move(idle.value());
  reaper_->data = this;
  return Status::Ok();
}

void ReplicaServer::Stop() {
  listener_.Reset();
  // Close() moves each session to the graveyard, so iterate over a snapshot.
  std::vector<ReplicaSession*> live;
  for (auto& [id, s] : sessions_) live.push_back(s.get());
  for (ReplicaSession* s : live) s->Close("agent stopping", false);
  graveyard_.clear();
  sessions_.clear();
  reaper_.Reset();
}

void ReplicaServer::OnConnection(int status) {
  if (status != 0) {
    LOG_WARN("accept: %s", uv_strerror(status));
    return;
  }
  auto tcp = MakeUv<uv_tcp_t>(uv_tcp_init, loop_);
  if (!tcp) return;
  if (uv_accept(listener_.stream(), tcp->stream()) != 0) return;
  std::string remote = RemoteAddress(tcp->get());
  // A session that has not completed the secure handshake proves nothing yet: cap those, and
  // sessions in all, so a flood of connections cannot starve the real peers.
  size_t unauthenticated = 0;
  for (const auto& [sid, s] : sessions_) unauthenticated += s->authenticated() ? 0 : 1;
  if (unauthenticated >= kMaxUnauthenticated || sessions_.size() >= kMaxSessions) {
    ++stats_.auth_failures;
    LOG_WARN("refused a connection from %s: %zu sessions open, %zu of them not yet authenticated (limits %zu, %zu)",
             remote.c_str(), sessions_.size(), unauthenticated, kMaxSessions, kMaxUnauthenticated);
    return;  // `tcp` closes here
  }
  uint64_t id = next_id_++;
  auto session = std::make_unique<ReplicaSession>(this, std::move(tcp.value()), remote, id);
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
  for (ReplicaSession* other : replaced) other->Close("replaced by a new connection from " + s->remote(), false);
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

}  // namespace tailsafe
