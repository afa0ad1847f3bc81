#include "agent/peer_link.h"

#include <netdb.h>

#include <algorithm>

#include "common/clock.h"
#include "common/log.h"
#include "common/names.h"

namespace tailsafe {
namespace {

constexpr size_t kMaxWriteQueue = 4u << 20;  // bytes queued in libuv before we stop producing
constexpr uint32_t kHandshakeTimeoutMs = 10000;
constexpr size_t kMaxAckLog = 1 << 18;

}  // namespace

struct PeerLink::Conn {
  PeerLink* link = nullptr;
  UvPtr<uv_tcp_t> tcp;
  UvPtr<uv_timer_t> handshake_timer;
  std::unique_ptr<SecureChannel> channel;
  FrameReader reader;
  bool ready = false;  // WELCOME received
};

namespace {

struct WriteReq {
  uv_write_t req;
  std::shared_ptr<const std::string> frame;
  std::weak_ptr<void> conn;
};
struct ResolveReq {
  uv_getaddrinfo_t req;
  std::weak_ptr<int> alive;
  PeerLink* link;
};
struct ConnectReq {
  uv_connect_t req;
  std::weak_ptr<void> conn;
};

}  // namespace

PeerLink::PeerLink(Env env, PeerSpec peer, const std::vector<PeerAckRow>& acks)
    : env_(std::move(env)), peer_(std::move(peer)) {
  for (const auto& a : acks) {
    if (a.peer == peer_.id) acked_[{a.bolt, a.gen}] = a.acked;
  }
}

PeerLink::~PeerLink() { Stop(); }

void PeerLink::Start() {
  auto t = MakeUv<uv_timer_t>(uv_timer_init, env_.loop);
  if (t) {
    reconnect_timer_ = std::move(t.value());
    reconnect_timer_->data = this;
  }
  Connect();
}

void PeerLink::Stop() {
  stopped_ = true;
  alive_.reset();
  conn_.reset();
  cursors_.clear();
  reconnect_timer_.Reset();
}

bool PeerLink::connected() const { return conn_ && conn_->ready; }

uint64_t PeerLink::Acked(const Generation& g) const {
  auto it = acked_.find({g.bolt, g.gen});
  return it == acked_.end() ? 0 : it->second;
}

const PeerLink::Cursor* PeerLink::CursorOf(const Generation& g) const {
  auto it = cursors_.find(g.stream);
  return it == cursors_.end() || it->second.gen.get() != &g ? nullptr : &it->second;
}

void PeerLink::Connect() {
  if (stopped_) return;
  auto* r = new ResolveReq{};
  r->alive = alive_;
  r->link = this;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  std::string port = std::to_string(peer_.address.port);
  int rc = uv_getaddrinfo(env_.loop, &r->req, [](uv_getaddrinfo_t* req, int status, addrinfo* res) {
    auto* rr = reinterpret_cast<ResolveReq*>(req);
    if (!rr->alive.expired()) {
      rr->link->OnResolved(status, res);
    } else if (res) {
      uv_freeaddrinfo(res);
    }
    delete rr;
  }, peer_.address.host.c_str(), port.c_str(), &hints);
  if (rc != 0) {
    delete r;
    last_error_ = UvStatus("resolve " + peer_.address.host, rc).message();
    ++stats_.connect_failures;
    ScheduleReconnect();
  }
}

void PeerLink::OnResolved(int status, addrinfo* res) {
  if (status != 0 || res == nullptr) {
    Drop(UvStatus("cannot resolve " + peer_.address.host, status).message());
    if (res) uv_freeaddrinfo(res);
    return;
  }
  auto conn = std::make_shared<Conn>();
  conn->link = this;
  auto tcp = MakeUv<uv_tcp_t>(uv_tcp_init, env_.loop);
  if (!tcp) {
    uv_freeaddrinfo(res);
    Drop(tcp.status().message());
    return;
  }
  conn->tcp = std::move(tcp.value());
  conn->tcp->data = conn.get();
  conn->channel = std::make_unique<SecureChannel>(SecureChannel::Role::kClient, env_.keys);
  conn_ = conn;
  auto* c = new ConnectReq{};
  c->conn = conn;
  int rc = uv_tcp_connect(&c->req, conn->tcp.get(), res->ai_addr, [](uv_connect_t* req, int st) {
    auto* cr = reinterpret_cast<ConnectReq*>(req);
    if (auto locked = cr->conn.lock()) static_cast<Conn*>(locked.get())->link->OnConnected(st);
    delete cr;
  });
  uv_freeaddrinfo(res);
  if (rc != 0) {
    delete c;
    Drop(UvStatus("connect to " + peer_.address.ToString(), rc).message());
  }
}

void PeerLink::OnConnected(int status) {
  if (status != 0) {
    Drop(UvStatus("connect to " + peer_.id + " at " + peer_.address.ToString(), status).message(), failing_);
    return;
  }
  uv_tcp_nodelay(conn_->tcp.get(), 1);
  uv_tcp_keepalive(conn_->tcp.get(), 1, 30);
  uv_read_start(
      conn_->tcp.stream(),
      AllocReadBuffer,
      [](uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
        auto* conn = static_cast<Conn*>(s->data);
        if (conn != nullptr) conn->link->OnRead(nread, buf);
        delete[] buf->base;
      });
  auto timer = MakeUv<uv_timer_t>(uv_timer_init, env_.loop);
  if (timer) {
    conn_->handshake_timer = std::move(timer.value());
    conn_->handshake_timer->data = conn_.get();
    uv_timer_start(conn_->handshake_timer.get(), [](uv_timer_t* t) {
      auto* c = static_cast<Conn*>(t->data);
      if (c == nullptr) return;
      c->link->Drop(c->channel->established() ? "no WELCOME within 10 s" : "no secure handshake within 10 s");
    }, kHandshakeTimeoutMs, 0);
  }
  // The secure handshake goes first; HELLO is held by the channel until it completes.
  WriteRaw(std::make_shared<const std::string>(conn_->channel->Start()));
  HelloMsg hello;
  hello.cluster = env_.cluster;
  hello.origin = env_.self_id;
  Send(std::make_shared<const std::string>(EncodeHello(hello)));
}

void PeerLink::OnRead(ssize_t nread, const uv_buf_t* buf) {
  if (nread == UV_EOF) {
    Status s = conn_->channel->AtEof();
    if (s.ok()) s = conn_->reader.AtEof();
    Drop(s.ok() ? "peer closed the connection" : s.message());
    return;
  }
  if (nread < 0) {
    Drop(UvStatus("read", static_cast<int>(nread)).message());
    return;
  }
  std::string reply, plain;
  Status cs = conn_->channel->Receive(std::string_view(buf->base, static_cast<size_t>(nread)), &reply, &plain);
  if (!reply.empty()) WriteRaw(std::make_shared<const std::string>(std::move(reply)));
  if (!cs) {
    Drop(cs.message());
    return;
  }
  if (plain.empty() || !conn_) return;
  conn_->reader.Feed(plain.data(), plain.size());
  std::weak_ptr<Conn> weak = conn_;
  for (;;) {
    auto c = weak.lock();
    if (!c || c != conn_) return;  // dropped while handling a frame
    Frame f;
    Status err;
    auto r = c->reader.Next(&f, &err);
    if (r == FrameReader::Result::kNeedMore) break;
    if (r == FrameReader::Result::kError) {
      Drop("bad frame from peer: " + err.message());
      return;
    }
    OnFrame(f);
  }
  Pump();
}

void PeerLink::OnFrame(const Frame& f) {
  if (!conn_->ready) {
    if (f.type == MessageType::kReject) {
      RejectMsg m;
      Status s = DecodeReject(f, &m);
      Drop("peer refused us: " + Printable(s.ok() ? m.reason : s.message()));
      return;
    }
    WelcomeMsg m;
    if (Status s = DecodeWelcome(f, &m); !s) {
      Drop("handshake: " + s.message());
      return;
    }
    if (m.peer != peer_.id) {
      Drop("the agent at " + peer_.address.ToString() + " is '" + Printable(m.peer, 64) + "', not '" + peer_.id + "'");
      return;
    }
    if (m.version < kWireVersionMin || m.version > kWireVersionMax) {
      Drop("peer chose protocol version " + std::to_string(m.version) + ", which we do not speak");
      return;
    }
    conn_->ready = true;
    conn_->handshake_timer.Reset();
    ++stats_.connects;
    // The backoff is reset by progress (a POSITION or an ACK), not by a handshake: a peer that
    // accepts HELLO and then fails every session must not be retried 20 times a second.
    if (failing_) LOG_NOTICE("peer %s: connected again", peer_.id.c_str());
    else LOG_INFO("peer %s: connected", peer_.id.c_str());
    failing_ = false;
    last_error_.clear();
    return;
  }
  switch (f.type) {
    case MessageType::kPosition: {
      PositionMsg m;
      if (Status s = DecodePosition(f, &m); !s) return Drop(s.message());
      OnPosition(m);
      return;
    }
    case MessageType::kAck: {
      AckMsg m;
      if (Status s = DecodeAck(f, &m); !s) return Drop(s.message());
      OnAck(m);
      return;
    }
    case MessageType::kReject: {
      RejectMsg m;
      Status s = DecodeReject(f, &m);
      return Drop("peer ended the session: " + Printable(s.ok() ? m.reason : s.message()));
    }
    default:
      return Drop(std::string("unexpected ") + MessageTypeName(f.type) + " from peer");
  }
}

void PeerLink::OnPosition(const PositionMsg& m) {
  auto it = cursors_.find(m.stream);
  if (it == cursors_.end()) return Drop("POSITION for unknown stream " + std::to_string(m.stream));
  Cursor& c = it->second;
  std::shared_ptr<Generation> hold = c.gen;  // outlives the cursor if it is erased below
  BoltSource* source = c.source;
  Generation& g = *hold;
  if (!g.shippable()) {
    cursors_.erase(it);
    return;
  }
  if (c.positioned) return Drop("a second POSITION for stream " + std::to_string(m.stream));
  // The peer's bytes must be our bytes: compare the window before its position.
  if (m.durable > 0) {
    std::string why;
    Result<uint64_t> h = uint64_t{0};
    if (m.durable > g.size) {
      why = "the peer holds " + std::to_string(m.durable) + " bytes but the file has only " + std::to_string(g.size);
    } else if (h = source->WindowHash(g, m.durable, m.window_len); !h) {
      // A read error says nothing about either side's bytes: try again later, decide nothing.
      return Drop(h.status().message());
    } else if (*h != m.window_hash) why = "the last " + std::to_string(m.window_len) + " bytes before offset " +
                                        std::to_string(m.durable) + " differ from the file";
    else if (g.state == GenState::kSealed && m.durable > g.final_size) why = "the peer holds more than the sealed size";
    if (!why.empty() && m.verified < m.durable) {
      // The mismatch may lie in bytes the peer found on disk after a restart and never proved
      // (see wire.h): have it drop them, and judge the proven bytes by its next POSITION.
      ++stats_.tail_cuts;
      LOG_WARN("peer %s: bolt %s generation %llu: %s; asking the peer to cut its unverified bytes past %llu",
               peer_.id.c_str(), g.bolt.c_str(), static_cast<unsigned long long>(g.gen), why.c_str(),
               static_cast<unsigned long long>(m.verified));
      Send(std::make_shared<const std::string>(EncodeCut({m.stream, m.verified})));
      return;
    }
    if (!why.empty()) {
      ++stats_.divergences;
      cursors_.erase(it);
      source->Diverged(g, "peer " + peer_.id + ": " + why);
      return;
    }
  }
  Key key{g.bolt, g.gen};
  uint64_t& hw = high_water_[key];
  if (hw > m.durable) stats_.resent_bytes += hw - m.durable;
  c.positioned = true;
  c.sent = c.acked = m.durable;
  backoff_ms_ = 0;
  if (acked_[key] != m.durable) {
    acked_[key] = m.durable;
    dirty_acks_[key] = m.durable;
  }
  LOG_DEBUG("peer %s: bolt %s generation %llu resumes at %llu", peer_.id.c_str(), g.bolt.c_str(),
            static_cast<unsigned long long>(g.gen), static_cast<unsigned long long>(m.durable));
  if (env_.acks_changed) env_.acks_changed();
}

void PeerLink::OnAck(const AckMsg& m) {
  auto it = cursors_.find(m.stream);
  if (it == cursors_.end()) return;  // a generation dropped meanwhile
  Cursor& c = it->second;
  if (m.durable > c.sent) return Drop("ACK beyond what was sent");
  if (m.durable <= c.acked) return;
  stats_.bytes_acked += m.durable - c.acked;
  c.acked = m.durable;
  Key key{c.gen->bolt, c.gen->gen};
  acked_[key] = m.durable;
  dirty_acks_[key] = m.durable;
  if (ack_log_.size() >= kMaxAckLog) ack_log_.pop_front();
  ack_log_.push_back({NowNs(), c.gen->bolt, c.gen->gen, m.durable});
  if (env_.acks_changed) env_.acks_changed();
}

std::vector<PeerLink::AckEvent> PeerLink::DrainAckLog() {
  std::vector<AckEvent> out(ack_log_.begin(), ack_log_.end());
  ack_log_.clear();
  return out;
}

void PeerLink::Pump() {
  if (!connected()) return;
  // Open a stream for every shippable generation; forget those that are gone.
  for (const auto& src : *env_.sources) {
    for (const auto& g : src->generations()) {
      if (!g->shippable() || cursors_.count(g->stream)) continue;
      Cursor c;
      c.source = src.get();
      c.gen = g;
      cursors_[g->stream] = c;
      Send(std::make_shared<const std::string>(EncodeOpen({g->stream, g->gen, g->bolt})));
    }
  }
  for (auto it = cursors_.begin(); it != cursors_.end();) {
    Generation& g = *it->second.gen;
    if (g.state == GenState::kLost || g.state == GenState::kReleased) {
      uint64_t known = std::max(g.size, g.final_size);
      if (g.state == GenState::kLost && known > it->second.acked) {
        stats_.lost_bytes += known - it->second.acked;
        LOG_WARN("peer %s: bolt %s generation %llu: %llu bytes were never shipped and are lost", peer_.id.c_str(),
                 g.bolt.c_str(), static_cast<unsigned long long>(g.gen),
                 static_cast<unsigned long long>(known - it->second.acked));
      }
      it = cursors_.erase(it);
    } else {
      ++it;
    }
  }
  for (auto& [stream, c] : cursors_) {
    if (!connected()) return;
    if (!c.positioned) continue;
    Generation& g = *c.gen;
    uint64_t end = g.state == GenState::kSealed ? g.final_size : g.size;
    while (c.sent < end && c.sent - c.acked < env_.window_bytes &&
           uv_stream_get_write_queue_size(conn_->tcp.stream()) < kMaxWriteQueue) {
      uint32_t raw = 0;
      std::shared_ptr<const std::string> frame;
      Status err;
      auto st = c.source->GetFrame(g, c.sent, end - c.sent, &raw, &frame, &err);
      if (st == BoltSource::FrameStatus::kPending) break;  // pumped again when it is encoded
      if (st == BoltSource::FrameStatus::kError) {
        LOG_WARN("peer %s: %s", peer_.id.c_str(), err.message().c_str());
        c.source->Check();  // a short read means the file changed under us
        break;
      }
      Send(frame);
      if (!connected()) return;  // Send may drop the connection, which clears the cursors
      c.sent += raw;
      stats_.bytes_sent += raw;
      ++stats_.frames_sent;
      uint64_t& hw = high_water_[{g.bolt, g.gen}];
      hw = std::max(hw, c.sent);
    }
    if (g.has_checkpoint && (!c.checkpoint_sent || c.checkpoint_offset != g.checkpoint)) {
      c.checkpoint_sent = true;
      c.checkpoint_offset = g.checkpoint;
      Send(std::make_shared<const std::string>(EncodeCheckpoint({stream, g.checkpoint})));
      if (!connected()) return;
    }
    if (g.state == GenState::kSealed && c.sent == g.final_size && !c.seal_sent) {
      c.seal_sent = true;
      Send(std::make_shared<const std::string>(EncodeSeal({stream, g.final_size})));
      if (!connected()) return;
    }
  }
}

void PeerLink::Send(std::shared_ptr<const std::string> frame) {
  if (!conn_ || !conn_->tcp) return;
  // Each connection has its own keys, so a DATA frame shared by every peer is encrypted once
  // per peer here.
  auto wire = std::make_shared<std::string>();
  conn_->channel->Seal(*frame, wire.get());
  if (!wire->empty()) WriteRaw(std::move(wire));
}

void PeerLink::WriteRaw(std::shared_ptr<const std::string> frame) {
  if (!conn_ || !conn_->tcp || frame->empty()) return;
  auto* w = new WriteReq{};
  w->frame = std::move(frame);
  w->conn = conn_;
  uv_buf_t buf = uv_buf_init(const_cast<char*>(w->frame->data()), static_cast<unsigned>(w->frame->size()));
  stats_.wire_bytes += w->frame->size();
  int rc = uv_write(&w->req, conn_->tcp.stream(), &buf, 1, [](uv_write_t* req, int status) {
    auto* wr = reinterpret_cast<WriteReq*>(req);
    if (status == 0) {
      if (auto locked = wr->conn.lock()) static_cast<Conn*>(locked.get())->link->Pump();
    } else if (status != UV_ECANCELED) {
      if (auto locked = wr->conn.lock()) {
        static_cast<Conn*>(locked.get())->link->Drop(UvStatus("write", status).message());
      }
    }
    delete wr;
  });
  if (rc != 0) {
    delete w;
    Drop(UvStatus("write", rc).message());
  }
}

void PeerLink::Drop(const std::string& why, bool quiet) {
  if (!conn_ && !reconnect_timer_) return;
  bool was_ready = connected();
  last_error_ = why;
  if (!was_ready) ++stats_.connect_failures;
  if (was_ready) {
    ++stats_.disconnects;
    LOG_WARN("peer %s: connection lost: %s", peer_.id.c_str(), why.c_str());
  } else if (!quiet) {
    LOG_WARN("peer %s: %s (retrying)", peer_.id.c_str(), why.c_str());
  } else {
    LOG_DEBUG("peer %s: %s", peer_.id.c_str(), why.c_str());
  }
  failing_ = true;
  conn_.reset();
  cursors_.clear();
  ScheduleReconnect();
}

void PeerLink::ScheduleReconnect() {
  if (stopped_ || !reconnect_timer_) return;
  backoff_ms_ = backoff_ms_ == 0 ? 50 : std::min(backoff_ms_ * 2, env_.reconnect_max_ms);
  uv_timer_start(reconnect_timer_.get(), [](uv_timer_t* t) {
    if (auto* self = static_cast<PeerLink*>(t->data)) self->Connect();
  }, backoff_ms_, 0);
}

void PeerLink::Collect(Committer::Batch* batch) {
  for (const auto& [key, acked] : dirty_acks_) batch->rows.peer_acks.push_back({peer_.id, key.first, key.second, acked});
  dirty_acks_.clear();
}

}  // namespace tailsafe
