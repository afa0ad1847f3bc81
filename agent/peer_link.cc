#include "agent/peer_link.h"

#include <algorithm>

#include "common/clock.h"
#include "common/hash.h"
#include "common/log.h"
#include "common/names.h"
#include "common/pool_work.h"

namespace tailsafe {
namespace {

constexpr size_t kMaxWriteQueue = 4u << 20;  // bytes queued in libuv before we stop producing
static_assert(kMaxWriteQueue + kMaxFramePayload + (64 << 10) < StreamConn::kMaxQueuedBytes,
              "the transport's queue limit must leave room for the window PeerLink fills");
constexpr uint32_t kMaxReadRetries = 5;

// What OpenStreams asks of the link about a bolt or a generation.
struct StreamQuestions {
  std::function<bool(const std::string& bolt)> holds;
  std::function<bool(const Generation&)> seal_held;
  std::function<bool(const Generation&)> diverged;
};

// Forgets the cursors of generations gone (a lost one was counted by CountLost()), held whole,
// or of bolts the peer no longer holds; returns the generations to OPEN now, in order: every
// shippable current one without a cursor, older ones only while the backlog stays under
// kMaxBacklogStreams (peer_cursor.h), none held whole or diverged on.
std::vector<std::pair<BoltSource*, std::shared_ptr<Generation>>> StreamsToOpen(
    std::map<uint32_t, PeerCursor>* cursors, const std::vector<std::unique_ptr<BoltSource>>& sources,
    const StreamQuestions& q, uint64_t* backlog_peak) {
  std::erase_if(*cursors, [&](const auto& e) { return e.second.gen->gone() || q.seal_held(*e.second.gen) || !q.holds(e.second.gen->bolt); });
  std::vector<std::pair<BoltSource*, std::shared_ptr<Generation>>> out;
  size_t backlog = BacklogStreams(*cursors);
  for (const auto& src : sources) {
    if (!q.holds(src->name())) continue;
    for (const auto& g : src->generations()) {
      if (!g->shippable() || cursors->count(g->stream) || q.diverged(*g) || q.seal_held(*g)) continue;
      if (!g->active() && backlog >= kMaxBacklogStreams) continue;  // opened when one ends
      backlog += g->active() ? 0 : 1;
      *backlog_peak = std::max<uint64_t>(*backlog_peak, backlog);
      out.emplace_back(src.get(), g);
    }
  }
  return out;
}

// The answer to our HELLO: a WELCOME from `peer`, speaking a version we speak, or why not.
Status CheckWelcome(const Frame& f, const PeerSpec& peer) {
  if (f.type == MessageType::kReject) {
    RejectMsg m;
    Status s = DecodeReject(f, &m);
    return Status::Error("peer refused us: " + Printable(s.ok() ? m.reason : s.message()));
  }
  WelcomeMsg m;
  if (Status s = DecodeWelcome(f, &m); !s) return Status::Error("handshake: " + s.message());
  if (m.peer != peer.id) {
    return Status::Error("the agent at " + peer.address.ToString() + " is '" + Printable(m.peer, 64) + "', not '" +
                         peer.id + "'");
  }
  if (m.version < kWireVersionMin || m.version > kWireVersionMax) {
    return Status::Error("peer chose protocol version " + std::to_string(m.version) + ", which we do not speak");
  }
  return Status::Ok();
}

// Decodes `f` as a Msg with `decode`, then hands it to `handle`; a frame that does not decode is
// the error.
template <typename Msg, typename Decode, typename Handle>
Status DecodeThen(const Frame& f, Decode decode, Handle handle) {
  Msg m;
  if (Status s = decode(f, &m); !s) return s;
  return handle(m);
}

}  // namespace

PeerLink::PeerLink(Env env, PeerSpec peer, const std::vector<PeerAckRow>& acks)
    : env_(std::move(env)), peer_(std::move(peer)), retries_(env_.loop, [this] { Pump(); }), holdings_(peer_.id, acks) {}

PeerLink::~PeerLink() { Stop(); }

void PeerLink::Start() {
  auto t = MakeUv<uv_timer_t>(uv_timer_init, env_.loop);
  if (t) {
    reconnect_timer_ = std::move(t.value());
    reconnect_timer_->data = this;
  }
  (void)retries_.Start();  // without a timer, failed streams are retried at the next connection
  Connect();
}

void PeerLink::Stop() {
  stopped_ = true;
  alive_.reset();  // window hashes still running find nothing to report to
  connecting_.reset();
  if (auto c = std::exchange(conn_, nullptr)) c->Close("agent stopping");
  ready_ = false;
  ClearCursors();
  reconnect_timer_.Reset();
  retries_.Stop();
}

bool PeerLink::connected() const { return conn_ && ready_; }

uint64_t PeerLink::Acked(const Generation& g) const { return holdings_.Acked(g.bolt, g.gen); }

void PeerLink::Forget(const Generation& g) {
  // Its cursor, if any, goes at the next Pump (this may run inside one); until then a late ACK
  // or SEALED finds the generation gone and records nothing.
  holdings_.Forget(g.bolt, g.gen);
}

const PeerLink::Cursor* PeerLink::CursorOf(const Generation& g) const {
  auto it = cursors_.find(g.stream);
  return it == cursors_.end() || it->second.gen.get() != &g ? nullptr : &it->second;
}

void PeerLink::CountLost(const Generation& g) {
  uint64_t known = g.known_size();
  uint64_t acked = Acked(g);
  if (known <= acked) return;
  stats_.lost_bytes += known - acked;
  LOG_WARN("peer %s: bolt %s generation %llu: %llu bytes never reached this peer and are lost", peer_.id.c_str(),
           g.bolt.c_str(), static_cast<unsigned long long>(g.gen), static_cast<unsigned long long>(known - acked));
}

void PeerLink::Connect() {
  if (stopped_) return;
  auto pending = ConnectTcp(env_.loop, peer_.address.host, peer_.address.port,
                            [this](Result<UvPtr<uv_tcp_t>> tcp) { OnConnected(std::move(tcp)); });
  if (!pending) return Drop(pending.status().message(), failing_);
  connecting_ = std::move(pending.value());
}

void PeerLink::OnConnected(Result<UvPtr<uv_tcp_t>> tcp) {
  connecting_.reset();
  if (!tcp) return Drop(tcp.status().message(), failing_);
  FramedConn::Options options;
  options.first_frame = "WELCOME";
  auto conn = std::make_shared<FramedConn>(std::move(tcp.value()), SecureChannel::Role::kClient, env_.keys, options);
  FramedConn* raw = conn.get();
  conn_ = conn;
  ready_ = false;
  FramedConn::Handlers h;
  h.on_frame = [this](const Frame& f) { return OnFrame(f); };
  // Drop() closes the connection it drops: only a close from the other side, an error or the
  // deadline reaches here with the connection still current.
  h.on_close = [this, raw](const CloseReason& r) {
    if (conn_.get() == raw) Drop(r.why);
  };
  h.on_written = [this](size_t n) {
    stats_.wire_bytes += n;
    env_.pump_soon ? env_.pump_soon() : Pump();
  };
  h.on_batch = [this] { env_.pump_soon ? env_.pump_soon() : Pump(); };
  if (Status st = conn->Start(std::move(h)); !st) return Drop(st.message());
  // The secure handshake goes first; HELLO is held by the channel until it completes.
  HelloMsg hello;
  hello.cluster = env_.cluster;
  hello.origin = env_.self_id;
  Send(EncodeHello(hello));
}

Status PeerLink::OnFrame(const Frame& f) {
  if (!ready_) return OnWelcome(f);
  switch (f.type) {
    case MessageType::kPosition:
      return DecodeThen<PositionMsg>(f, DecodePosition, [this](const PositionMsg& m) { return OnPosition(m); });
    case MessageType::kAck:
      return DecodeThen<AckMsg>(f, DecodeAck, [this](const AckMsg& m) { return OnAck(m); });
    case MessageType::kSealed:
      return DecodeThen<SealedMsg>(f, DecodeSealed, [this](const SealedMsg& m) { return OnSealed(m); });
    case MessageType::kStreamError:
      return DecodeThen<StreamErrorMsg>(f, DecodeStreamError, [this](const StreamErrorMsg& m) { return OnStreamError(m); });
    case MessageType::kReject: {
      RejectMsg m;
      Status s = DecodeReject(f, &m);
      return Status::Error("peer ended the session: " + Printable(s.ok() ? m.reason : s.message()));
    }
    default:
      return Status::Error(std::string("unexpected ") + MessageTypeName(f.type) + " from peer");
  }
}

Status PeerLink::OnWelcome(const Frame& f) {
  if (Status s = CheckWelcome(f, peer_); !s) return s;
  ready_ = true;
  rescan_ = true;
  ++stats_.connects;
  // The backoff is reset by progress (a POSITION or an ACK), not by a handshake: a peer that
  // accepts HELLO and then fails every session must not be retried 20 times a second.
  if (failing_) LOG_NOTICE("peer %s: connected again", peer_.id.c_str());
  else LOG_INFO("peer %s: connected", peer_.id.c_str());
  failing_ = false;
  last_error_.clear();
  return Status::Ok();
}

Status PeerLink::OnPosition(const PositionMsg& m) {
  auto it = cursors_.find(m.stream);
  if (it == cursors_.end()) return Status::Error("POSITION for unknown stream " + std::to_string(m.stream));
  Cursor& c = it->second;
  Generation& g = *c.gen;
  if (!g.shippable()) {
    EraseCursor(it);
    return Status::Ok();
  }
  if (c.failed) return Status::Ok();  // sent before the peer failed the stream
  if (c.positioned || c.verifying) return Status::Error("a second POSITION for stream " + std::to_string(m.stream));
  if (m.durable == 0) return Settle(m, "");
  if (m.durable > g.size()) {
    return Settle(m, "the peer holds " + std::to_string(m.durable) + " bytes but the file has only " +
                         std::to_string(g.size()));
  }
  if (!g.fd() && g.sealed() && m.durable == g.final_size() && Acked(g) >= m.durable) {
    return Settle(m, "");  // truncated after every peer acknowledged all of it: those bytes are proven
  }
  if (!g.fd()) {  // only a generation truncated after every peer held it all: the bytes are gone
    FailCursor(c, "the peer holds " + std::to_string(m.durable) + " of its " + std::to_string(g.final_size()) +
                      " bytes, and the file can no longer be read", true);
    return Status::Ok();
  }
  // The peer's bytes must be our bytes: hash the window before its position, on the thread pool
  // (after a peer's restart the window spans its unverified tail, up to 64 MiB).
  c.verifying = true;
  auto hash = std::make_shared<Result<uint64_t>>(Status::Error("not hashed"));
  std::shared_ptr<Fd> fd = g.fd();
  std::weak_ptr<FramedConn> conn = conn_;
  std::shared_ptr<Generation> gen = c.gen;
  Status queued = QueueWork(
      env_.loop, alive_, [fd, m, hash] { *hash = HashFileRange(fd->get(), m.durable - m.window_len, m.window_len); },
      [this, conn, gen, fd, m, hash] { OnWindowHashed(conn.lock(), gen, fd, m, *hash); });
  if (!queued) c.verifying = false;
  return queued;
}

void PeerLink::OnWindowHashed(const std::shared_ptr<FramedConn>& conn, const std::shared_ptr<Generation>& gen,
                              const std::shared_ptr<Fd>& fd, const PositionMsg& m, const Result<uint64_t>& hash) {
  if (!conn || conn != conn_) return;  // the connection that asked is gone
  auto it = cursors_.find(m.stream);
  if (it == cursors_.end() || it->second.gen != gen || !it->second.verifying) return;
  it->second.verifying = false;
  Generation& g = *gen;
  Status s;
  if (!g.shippable()) {
    EraseCursor(it);
  } else if (!hash) {
    // A read error says nothing about either side's bytes: try again later, decide nothing.
    ReadFailed(it->second, "cannot read the window before offset " + std::to_string(m.durable) + ": " +
                               hash.status().message());
  } else if (g.fd() != fd) {
    s = Status::Error("bolt " + g.bolt + " generation " + std::to_string(g.gen) + " changed files while its window was read");
  } else if (*hash != m.window_hash) {
    s = Settle(m, "the last " + std::to_string(m.window_len) + " bytes before offset " + std::to_string(m.durable) +
                      " differ from the file");
  } else if (g.sealed() && m.durable > g.final_size()) {
    s = Settle(m, "the peer holds more than the sealed size");
  } else {
    s = Settle(m, "");
  }
  if (!s) return Drop(s.message());
  Pump();
}

Status PeerLink::Settle(const PositionMsg& m, const std::string& why) {
  due_.Mark(m.stream);  // positioned: it may send
  auto it = cursors_.find(m.stream);
  Cursor& c = it->second;
  std::shared_ptr<Generation> hold = c.gen;  // outlives the cursor if it is erased below
  Generation& g = *hold;
  if (!why.empty() && m.verified < m.durable) {
    // The mismatch may lie in bytes the peer found on disk after a restart and never proved
    // (see wire.h): have it drop them, and judge the proven bytes by its next POSITION.
    ++stats_.tail_cuts;
    LOG_WARN("peer %s: bolt %s generation %llu: %s; asking the peer to cut its unverified bytes past %llu",
             peer_.id.c_str(), g.bolt.c_str(), static_cast<unsigned long long>(g.gen), why.c_str(),
             static_cast<unsigned long long>(m.verified));
    Send(EncodeCut({m.stream, m.verified}));
    return Status::Ok();
  }
  if (!why.empty()) return Diverge(it, why);
  holdings_.ReadOk(g.bolt, g.gen);
  stats_.resent_bytes += holdings_.Resent(g.bolt, g.gen, m.durable);
  if (c.Resume(m.durable)) {
    LOG_NOTICE("peer %s: bolt %s generation %llu: the stream the peer had failed resumes", peer_.id.c_str(),
               g.bolt.c_str(), static_cast<unsigned long long>(g.gen));
  }
  backoff_ms_ = 0;
  holdings_.Resumed(g.bolt, g.gen, m.durable);
  LOG_DEBUG("peer %s: bolt %s generation %llu resumes at %llu", peer_.id.c_str(), g.bolt.c_str(),
            static_cast<unsigned long long>(g.gen), static_cast<unsigned long long>(m.durable));
  if (env_.acks_changed) env_.acks_changed(g.bolt);
  return Status::Ok();
}

Status PeerLink::OnAck(const AckMsg& m) {
  auto it = cursors_.find(m.stream);
  if (it == cursors_.end()) return Status::Ok();  // a generation dropped meanwhile
  Cursor& c = it->second;
  if (c.verifying || c.failed || c.gen->gone()) return Status::Ok();  // nothing sent yet, failed, or closed
  if (m.durable > c.sent) return Status::Error("ACK beyond what was sent");
  if (m.durable <= c.acked) return Status::Ok();
  stats_.bytes_acked += m.durable - c.acked;
  c.acked = m.durable;
  holdings_.Acknowledged(c.gen->bolt, c.gen->gen, m.durable, NowNs());
  due_.Mark(m.stream);  // its window opened
  if (env_.acks_changed) env_.acks_changed(c.gen->bolt);
  return Status::Ok();
}

Status PeerLink::OnSealed(const SealedMsg& m) {
  auto it = cursors_.find(m.stream);
  if (it == cursors_.end() || it->second.failed) return Status::Ok();  // a generation dropped meanwhile
  const Generation& g = *it->second.gen;
  // A SEALED for a size we did not seal at says nothing we can use (it cannot make us release).
  if (!g.sealed() || m.final_size != g.final_size()) return Status::Ok();
  if (!holdings_.HoldSeal(g.bolt, g.gen)) return Status::Ok();
  rescan_ = true;  // its stream ends
  if (env_.acks_changed) env_.acks_changed(g.bolt);
  return Status::Ok();
}

Status PeerLink::OnStreamError(const StreamErrorMsg& m) {
  auto it = cursors_.find(m.stream);
  if (it == cursors_.end() || it->second.failed) return Status::Ok();  // a generation dropped meanwhile
  Cursor& c = it->second;
  ++stats_.stream_errors;
  LOG_WARN("peer %s: bolt %s generation %llu: the peer failed this stream: %s; the other streams go on",
           peer_.id.c_str(), c.gen->bolt.c_str(), static_cast<unsigned long long>(c.gen->gen),
           Printable(m.reason, kMaxWireString).c_str());
  FailCursor(c, Printable(m.reason, kMaxWireString), false);
  return Status::Ok();
}

void PeerLink::FailCursor(Cursor& c, const std::string& why, bool give_up) {
  uint64_t delay_ms = c.Fail(why, give_up, NowNs());
  retries_.Failed(c.retry_at_ns);
  rescan_ = true;  // a failed stream no longer counts against the backlog: another may open
  LOG_INFO("peer %s: bolt %s generation %llu: %s", peer_.id.c_str(), c.gen->bolt.c_str(),
           static_cast<unsigned long long>(c.gen->gen),
           give_up ? "not tried again on this connection" : ("tried again in " + std::to_string(delay_ms) + " ms").c_str());
}

void PeerLink::ReadFailed(Cursor& c, const std::string& why) {
  uint32_t n = holdings_.ReadFailed(c.gen->bolt, c.gen->gen);
  const char* bolt = c.gen->bolt.c_str();
  auto gen = static_cast<unsigned long long>(c.gen->gen);
  if (n < kMaxReadRetries) {
    LOG_WARN("peer %s: bolt %s generation %llu: %s; nothing is decided, attempt %u of %u", peer_.id.c_str(), bolt, gen,
             why.c_str(), n, kMaxReadRetries);
    return FailCursor(c, why, false);
  }
  LOG_ERROR("peer %s: bolt %s generation %llu: %s; nothing is decided after %u attempts, the stream waits for the "
            "next connection", peer_.id.c_str(), bolt, gen, why.c_str(), n);
  holdings_.ReadOk(c.gen->bolt, c.gen->gen);
  FailCursor(c, why, true);
}

Status PeerLink::Diverge(std::map<uint32_t, Cursor>::iterator it, const std::string& why) {
  Cursor& c = it->second;
  std::shared_ptr<Generation> hold = c.gen;  // outlives the cursor, erased below
  BoltSource* source = c.source;
  Generation& g = *hold;
  // Whose bytes changed? The file's first bytes as they were when the generation began tell.
  Result<uint64_t> head = g.fd() ? HashFileRange(g.fd()->get(), 0, g.head_len()) : Result<uint64_t>(Status::Error("closed"));
  if (!head) {
    ReadFailed(c, "the peer's bytes differ (" + why + ") and the file's head cannot be read: " +
                      head.status().message());
    return Status::Ok();
  }
  holdings_.ReadOk(g.bolt, g.gen);
  ++stats_.divergences;
  EraseCursor(it);
  bool head_intact = g.head_len() == 0 || *head == g.head_hash();
  if (!head_intact || g.active()) {
    source->Diverged(g, "peer " + peer_.id + ": " + why);
    return Status::Ok();
  }
  LOG_ERROR("peer %s: bolt %s generation %llu: this peer's replica differs from the file (%s) while the file's head is "
            "intact: the replica is kept as it is, this peer gets no more of the generation, the other peers go on",
            peer_.id.c_str(), g.bolt.c_str(), static_cast<unsigned long long>(g.gen), why.c_str());
  holdings_.MarkDiverged(g.bolt, g.gen);
  rescan_ = true;  // its stream ends
  CountLost(g);
  if (env_.acks_changed) env_.acks_changed(g.bolt);  // the generation no longer waits for this peer
  return Status::Ok();
}

void PeerLink::RetryFailedStreams() {
  if (!connected()) return;
  for (uint32_t stream : retries_.TakeDue(&cursors_)) {
    const Generation& g = *cursors_.at(stream).gen;
    LOG_INFO("peer %s: bolt %s generation %llu: opening the failed stream again", peer_.id.c_str(), g.bolt.c_str(),
             static_cast<unsigned long long>(g.gen));
    SendOpen(g);
    if (!connected()) return;
  }
}

void PeerLink::SendOpen(const Generation& g) {
  ++stats_.opens;
  Send(EncodeOpen({g.stream, g.gen, g.bolt}));
}

void PeerLink::Pump() {
  if (!connected()) return;
  std::shared_ptr<FramedConn> conn = conn_;  // a pump's frames, to every stream, leave as one write
  conn->Cork();
  PumpStreams();
  conn->Uncork();  // on a connection dropped meanwhile, nothing is sent
}

void PeerLink::PumpStreams() {
  // Every bolt is looked at only when a generation changed state (Generation::ShapeEpoch), the
  // placement moved or a stream of this link ended (rescan_), not at every byte; and the
  // cursors, only those due (agent/due_streams.h).
  if (rescan_ || scanned_epoch_ != Generation::ShapeEpoch()) {
    rescan_ = false;
    scanned_epoch_ = Generation::ShapeEpoch();
    due_.MarkAll();
    if (!OpenStreams()) return;
  }
  RetryFailedStreams();
  if (!connected()) return;
  if (due_.Take(&due_now_)) {
    for (auto& [stream, c] : cursors_) {
      if (!PumpCursor(stream, c)) return;
    }
    return;
  }
  for (uint32_t stream : due_now_) {
    auto it = cursors_.find(stream);
    if (it != cursors_.end() && !PumpCursor(stream, it->second)) return;
  }
}

bool PeerLink::PumpCursor(uint32_t stream, Cursor& c) {
  StreamPumpEnv env{conn_.get(), env_.window_bytes, kMaxWriteQueue, &peer_.id, &holdings_, env_.coalesce_below};
  StreamPumpCounts sent;
  StreamPumpOutcome out = PumpStream(stream, c, env, &sent);
  stats_.frames_sent += sent.frames;
  stats_.bytes_sent += sent.bytes;
  if (out == StreamPumpOutcome::kAgain) due_.Mark(stream);
  return out != StreamPumpOutcome::kDropped;
}

bool PeerLink::OpenStreams() {
  StreamQuestions q;
  q.holds = [this](const std::string& bolt) { return Holds(bolt); };
  q.seal_held = [this](const Generation& g) { return SealHeld(g); };
  q.diverged = [this](const Generation& g) { return Diverged(g); };
  for (auto& [src, g] : StreamsToOpen(&cursors_, *env_.sources, q, &stats_.backlog_peak)) {
    Cursor& c = cursors_[g->stream];
    c.source = src;
    c.gen = g;
    SendOpen(*g);
    if (!connected()) return false;  // Send may drop the connection, which clears the cursors
  }
  return true;
}

void PeerLink::Send(std::string_view frame) {
  // Each connection has its own keys, so a DATA frame shared by every peer is encrypted once
  // per peer, in the transport.
  if (conn_) conn_->Send(frame);
}

void PeerLink::Drop(const std::string& why, bool quiet) {
  if (stopped_) return;
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
  ready_ = false;
  if (auto c = std::exchange(conn_, nullptr)) c->Close(why);  // its on_close finds it no longer current
  ClearCursors();
  ScheduleReconnect();
}

void PeerLink::ScheduleReconnect() {
  if (stopped_ || !reconnect_timer_) return;
  backoff_ms_ = backoff_ms_ == 0 ? 50 : std::min(backoff_ms_ * 2, env_.reconnect_max_ms);
  uv_timer_start(reconnect_timer_.get(), [](uv_timer_t* t) {
    if (auto* self = static_cast<PeerLink*>(t->data)) self->Connect();
  }, backoff_ms_, 0);
}

}  // namespace tailsafe
