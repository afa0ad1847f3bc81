#include "coordinator/zk_client.h"

#include <arpa/inet.h>
#include <netdb.h>

#include <chrono>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "common/log.h"

namespace tailsafe {

namespace {

// The library's own log lines (connection attempts, timeouts), into ours, without its
// timestamp and pid ("2026-12-03 05:57:20,103:26101:ZOO_WARN@fn@2561: text"). While no member
// answers it writes a few lines every 40 ms per member, for as long as the outage lasts; each
// of its call sites ("ZOO_WARN@fn@2561") is logged at most once per kRepeatSeconds, with a count
// of the lines held back. It may call this from the thread pool while a handle closes, hence
// the mutex (LogPrintf is safe there).
void ZkLog(const char* message) {
  constexpr double kRepeatSeconds = 10;
  std::string text(message);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  size_t zoo = text.find("ZOO_");
  if (zoo != std::string::npos) text.erase(0, zoo);
  std::string site = text.substr(0, text.find(':'));
  struct Seen {
    std::chrono::steady_clock::time_point at;
    uint64_t held = 0;
  };
  static std::mutex mu;
  static std::map<std::string, Seen> seen;
  uint64_t held = 0;
  {
    std::lock_guard<std::mutex> lock(mu);
    auto now = std::chrono::steady_clock::now();
    auto [it, fresh] = seen.try_emplace(site, Seen{now, 0});
    if (!fresh) {
      if (std::chrono::duration<double>(now - it->second.at).count() < kRepeatSeconds) {
        ++it->second.held;
        return;
      }
      held = std::exchange(it->second.held, 0);
      it->second.at = now;
    }
  }
  if (held == 0) {
    LOG_INFO("zookeeper: %s", text.c_str());
  } else {
    LOG_INFO("zookeeper: %s (%llu more like it since the last one shown)", text.c_str(),
             static_cast<unsigned long long>(held));
  }
}

bool IsIpLiteral(const std::string& host) {
  in6_addr scratch;
  return ::inet_pton(AF_INET, host.c_str(), &scratch) == 1 || ::inet_pton(AF_INET6, host.c_str(), &scratch) == 1;
}

ZkClient::NodeStat FromStat(const Stat* s) {
  ZkClient::NodeStat out;
  if (s == nullptr) return out;
  out.czxid = s->czxid;
  out.mzxid = s->mzxid;
  out.version = s->version;
  out.cversion = s->cversion;
  out.ephemeral_owner = s->ephemeralOwner;
  out.num_children = s->numChildren;
  return out;
}

}  // namespace

std::string ZkError(int rc) {
  const char* name = nullptr;
  switch (rc) {
    case ZOK: name = "ZOK"; break;
    case ZSYSTEMERROR: name = "ZSYSTEMERROR"; break;
    case ZRUNTIMEINCONSISTENCY: name = "ZRUNTIMEINCONSISTENCY"; break;
    case ZDATAINCONSISTENCY: name = "ZDATAINCONSISTENCY"; break;
    case ZCONNECTIONLOSS: name = "ZCONNECTIONLOSS"; break;
    case ZMARSHALLINGERROR: name = "ZMARSHALLINGERROR"; break;
    case ZOPERATIONTIMEOUT: name = "ZOPERATIONTIMEOUT"; break;
    case ZBADARGUMENTS: name = "ZBADARGUMENTS"; break;
    case ZINVALIDSTATE: name = "ZINVALIDSTATE"; break;
    case ZNONODE: name = "ZNONODE"; break;
    case ZNOAUTH: name = "ZNOAUTH"; break;
    case ZBADVERSION: name = "ZBADVERSION"; break;
    case ZNOCHILDRENFOREPHEMERALS: name = "ZNOCHILDRENFOREPHEMERALS"; break;
    case ZNODEEXISTS: name = "ZNODEEXISTS"; break;
    case ZNOTEMPTY: name = "ZNOTEMPTY"; break;
    case ZSESSIONEXPIRED: name = "ZSESSIONEXPIRED"; break;
    case ZCLOSING: name = "ZCLOSING"; break;
    case ZNOTHING: name = "ZNOTHING"; break;
    case ZSESSIONMOVED: name = "ZSESSIONMOVED"; break;
    default: name = nullptr;
  }
  std::string words = zerror(rc);
  return name ? std::string(name) + " (" + words + ")" : "error " + std::to_string(rc) + " (" + words + ")";
}

const char* ZkClient::StateName(State s) {
  switch (s) {
    case State::kConnecting: return "connecting";
    case State::kConnected: return "connected";
    case State::kExpired: return "expired";
  }
  return "?";
}

// A pending completion. The library owns it from the request until its completion runs, which
// deletes it; Close() empties `fn` of those still pending, so that the ones the library runs
// while the handle closes on the thread pool only free themselves.
struct ZkClient::Call {
  ZkClient* client = nullptr;  // null once inert
  std::function<void(int rc, const char* value, int len, const Stat* stat, const String_vector* names)> fn;
  // Multi only: what the ops point into, alive until the reply.
  std::vector<Op> ops;
  std::vector<zoo_op_t> zops;
  std::vector<zoo_op_result_t> results;
  std::vector<std::vector<char>> created;

  // Runs once, from a completion: the callback (unless inert), then frees the call.
  void Finish(int rc, const char* value, int len, const Stat* stat, const String_vector* names) {
    if (client != nullptr) {
      client->calls_.erase(this);
      auto f = std::move(fn);
      if (f) f(rc, value, len, stat, names);
    }
    delete this;
  }
};

// A registered watch: owned by the client, called for its one event. The library also calls it
// for every session event while it stays registered, which it ignores.
struct ZkClient::Watch {
  ZkClient* client = nullptr;  // null once inert
  WatchFn fn;
};

ZkClient::ZkClient(uv_loop_t* loop, Options options) : loop_(loop), options_(std::move(options)) {}

ZkClient::~ZkClient() { Close(); }

int64_t ZkClient::session_id() const {
  if (zh_ == nullptr) return 0;
  const clientid_t* id = zoo_client_id(zh_);
  return id ? id->client_id : 0;
}

int ZkClient::negotiated_ms() const { return zh_ ? zoo_recv_timeout(zh_) : 0; }

Status ZkClient::Start() {
  if (options_.members.empty()) return Status::Error("zookeeper: no ensemble member to connect to");
  for (auto* slot : {&timer_}) {
    auto t = MakeUv<uv_timer_t>(uv_timer_init, loop_);
    if (!t) return t.status();
    *slot = std::move(t.value());
    (*slot)->data = this;
  }
  self_ = std::make_shared<ZkClient*>(this);
  zoo_set_debug_level(ZOO_LOG_LEVEL_WARN);
  // Names are resolved on the thread pool, one after another, into IP literals; a member
  // whose name does not resolve is left out (with a warning) unless none does.
  struct Resolve {
    std::weak_ptr<ZkClient*> self;
    std::vector<HostPort> members;
    size_t next = 0;
    std::string hosts;
    uv_getaddrinfo_t req;
    static void Step(Resolve* r, uv_loop_t* loop) {
      while (r->next < r->members.size()) {
        const HostPort& m = r->members[r->next];
        if (IsIpLiteral(m.host)) {
          r->hosts += (r->hosts.empty() ? "" : ",") + m.ToString();
          ++r->next;
          continue;
        }
        r->req.data = r;
        addrinfo hints{};
        hints.ai_socktype = SOCK_STREAM;
        int rc = uv_getaddrinfo(loop, &r->req, [](uv_getaddrinfo_t* req, int status, addrinfo* res) {
          auto* rr = static_cast<Resolve*>(req->data);
          const HostPort& hm = rr->members[rr->next];
          if (status != 0 || res == nullptr) {
            LOG_WARN("zookeeper: cannot resolve %s: %s", hm.host.c_str(), uv_strerror(status));
          } else {
            char ip[INET6_ADDRSTRLEN] = {0};
            void* addr = res->ai_family == AF_INET6 ? static_cast<void*>(&reinterpret_cast<sockaddr_in6*>(res->ai_addr)->sin6_addr)
                                                    : static_cast<void*>(&reinterpret_cast<sockaddr_in*>(res->ai_addr)->sin_addr);
            ::inet_ntop(res->ai_family, addr, ip, sizeof(ip));
            rr->hosts += (rr->hosts.empty() ? "" : ",") + HostPort{ip, hm.port}.ToString();
          }
          uv_freeaddrinfo(res);
          ++rr->next;
          Step(rr, req->loop);
        }, m.host.c_str(), nullptr, &hints);
        if (rc == 0) return;
        LOG_WARN("zookeeper: cannot resolve %s: %s", m.host.c_str(), uv_strerror(rc));
        ++r->next;
      }
      std::unique_ptr<Resolve> done(r);
      auto self = r->self.lock();
      if (!self || *self == nullptr) return;  // closed meanwhile
      ZkClient* c = *self;
      if (r->hosts.empty()) {
        LOG_ERROR("zookeeper: no ensemble member could be resolved; give IP literals");
        c->state_ = State::kExpired;
        if (c->on_state) c->on_state(c->state_);
        return;
      }
      c->hosts_ = r->hosts;
      c->Connect();
    }
  };
  auto* r = new Resolve{self_, options_.members, 0, {}, {}};
  Resolve::Step(r, loop_);
  return Status::Ok();
}

void ZkClient::Connect() {
  if (closed_) return;
  zh_ = zookeeper_init2(hosts_.c_str(), &ZkClient::GlobalWatcher, static_cast<int>(options_.session_ms), nullptr,
                        this, 0, &ZkLog);
  if (zh_ == nullptr) {
    LOG_ERROR("zookeeper: cannot start a session with %s: %s", hosts_.c_str(), strerror(errno));
    state_ = State::kExpired;
    if (on_state) on_state(state_);
    return;
  }
  Drive(0, false);
}

// The poll is closed, not only stopped, whenever the library may touch its socket: libuv
// removes a poll's fd from epoll by number on every stop and close, so a poll kept across a
// call in which the library closed its socket would later remove whatever other handle of this
// process got that number next (the loop then aborts on it). Closed before the call, it removes
// the library's own socket, still open.
void ZkClient::ClosePoll() {
  poll_.Reset();
}

// One turn of the library: let it handle `zk_events` (and its timers), then wait for what it
// asks next, with a new poll on whatever socket it names: it may close or replace its socket in
// either call.
void ZkClient::Drive(int zk_events, bool from_poll) {
  if (zh_ == nullptr || in_drive_) return;
  in_drive_ = true;
  ClosePoll();
  if (from_poll || zk_events == 0) {
    int rc = zookeeper_process(zh_, zk_events);
    if (rc != ZOK && rc != ZNOTHING && rc != ZCONNECTIONLOSS && rc != ZSESSIONEXPIRED && rc != ZINVALIDSTATE) {
      LOG_DEBUG("zookeeper: process: %s", ZkError(rc).c_str());
    }
    FollowLibrary();  // still within the turn: a callback that closes the client is handed off below
  }
  if (zh_ == nullptr || closed_) {  // a callback closed the client: hand the handle off now
    in_drive_ = false;
    HandOff();
    return;
  }
  int fd = -1, interest = 0;
  timeval tv{};
  int rc = zookeeper_interest(zh_, &fd, &interest, &tv);
  in_drive_ = false;
  if (rc == ZINVALIDSTATE || is_unrecoverable(zh_)) {
    if (state_ != State::kExpired) OnSessionEvent(ZOO_EXPIRED_SESSION_STATE);
    return;
  }
  uint64_t wait_ms = static_cast<uint64_t>(tv.tv_sec) * 1000 + static_cast<uint64_t>(tv.tv_usec) / 1000;
  uv_timer_start(timer_.get(), [](uv_timer_t* t) {
    if (auto* self = static_cast<ZkClient*>(t->data)) self->Drive(0, false);
  }, std::max<uint64_t>(wait_ms, 1), 0);
  if (fd < 0 || interest == 0) return;
  auto made = MakeUv<uv_poll_t>(uv_poll_init, loop_, fd);
  if (!made) {
    LOG_ERROR("zookeeper: %s", made.status().message().c_str());
    return;  // the timer drives it again
  }
  poll_ = std::move(made.value());
  poll_->data = this;
  int uv_events = ((interest & ZOOKEEPER_READ) ? UV_READABLE : 0) | ((interest & ZOOKEEPER_WRITE) ? UV_WRITABLE : 0);
  uv_poll_start(poll_.get(), uv_events, [](uv_poll_t* p, int status, int events) {
    auto* self = static_cast<ZkClient*>(p->data);
    if (self == nullptr) return;
    // An error on the socket: let the library find it in its own read and write.
    int zk = status < 0 ? (ZOOKEEPER_READ | ZOOKEEPER_WRITE)
                        : ((events & UV_READABLE) ? ZOOKEEPER_READ : 0) | ((events & UV_WRITABLE) ? ZOOKEEPER_WRITE : 0);
    self->Drive(zk, true);
  });
}

void ZkClient::FollowLibrary() {
  if (zh_ != nullptr && !closed_) OnSessionEvent(ZOO_CONNECTING_STATE);  // the state is read, not taken from here
}

// A request was queued outside the driver: have it sent now rather than at the next timeout.
void ZkClient::Kick() {
  if (!in_drive_) Drive(ZOOKEEPER_WRITE, false);
}

// An event says the session changed; the library's own state says what it is now. Events alone
// are not enough: a disconnection can go unreported, and a client that took the reconnection
// after it for no change would never look at its election again. The state is also read after
// every turn of the library (FollowLibrary): a reconnection never completes within the turn that
// lost the connection, so each loss and each return is seen.
void ZkClient::OnSessionEvent(int zstate) {
  if (state_ == State::kExpired) return;  // a session never comes back from expiry
  State next = state_;
  if (zstate == ZOO_EXPIRED_SESSION_STATE || zstate == ZOO_AUTH_FAILED_STATE) {
    next = State::kExpired;
  } else if (zh_ != nullptr) {
    int now = zoo_state(zh_);
    if (now == ZOO_EXPIRED_SESSION_STATE || now == ZOO_AUTH_FAILED_STATE) return;  // its event follows
    next = now == ZOO_CONNECTED_STATE ? State::kConnected : State::kConnecting;
  } else {
    next = zstate == ZOO_CONNECTED_STATE ? State::kConnected : State::kConnecting;
  }
  if (next == state_) return;
  State was = state_;
  state_ = next;
  if (next == State::kConnected) {
    LOG_INFO("zookeeper: session 0x%llx connected to %s (timeout %d ms)", static_cast<unsigned long long>(session_id()),
             zoo_get_current_server(zh_), negotiated_ms());
  } else if (next == State::kExpired) {
    LOG_WARN("zookeeper: session 0x%llx expired", static_cast<unsigned long long>(session_id()));
    ClosePoll();
    if (timer_) uv_timer_stop(timer_.get());
  } else if (was == State::kConnected) {
    LOG_WARN("zookeeper: session 0x%llx disconnected; reconnecting", static_cast<unsigned long long>(session_id()));
  }
  if (on_state) on_state(state_);
}

void ZkClient::GlobalWatcher(zhandle_t*, int type, int zstate, const char*, void* ctx) {
  // Null once the handle was handed to the thread pool to close.
  auto* self = static_cast<ZkClient*>(ctx);
  if (self == nullptr || type != ZOO_SESSION_EVENT) return;
  self->OnSessionEvent(zstate);
}

void ZkClient::PathWatcher(zhandle_t*, int type, int, const char* path, void* ctx) {
  auto* w = static_cast<Watch*>(ctx);
  if (w == nullptr || w->client == nullptr || type == ZOO_SESSION_EVENT) return;
  ZkClient* client = w->client;
  auto it = client->watches_.find(w);
  if (it == client->watches_.end()) return;
  std::unique_ptr<Watch> owned = std::move(it->second);  // one-shot: consumed by this event
  client->watches_.erase(it);
  if (owned->fn) owned->fn(type, path ? path : "");
}

ZkClient::Call* ZkClient::NewCall() {
  auto* c = new Call;
  c->client = this;
  calls_.insert(c);
  return c;
}

void* ZkClient::WatchCtx(WatchFn fn) {
  if (!fn) return nullptr;
  auto w = std::make_unique<Watch>();
  w->client = this;
  w->fn = std::move(fn);
  Watch* raw = w.get();
  watches_[raw] = std::move(w);
  return raw;
}

// After a zoo_a* call: on failure the library keeps nothing of the call.
bool ZkClient::Queued(int rc, Call* call) {
  if (rc != ZOK) {
    LOG_DEBUG("zookeeper: request refused: %s", ZkError(rc).c_str());
    calls_.erase(call);
    delete call;
    return false;
  }
  Kick();
  return true;
}

namespace {
// The library's completion signatures, each into Call::Finish.
void VoidCompletion(int rc, const void* data) {
  static_cast<ZkClient::Call*>(const_cast<void*>(data))->Finish(rc, nullptr, 0, nullptr, nullptr);
}
void StatCompletion(int rc, const Stat* stat, const void* data) {
  static_cast<ZkClient::Call*>(const_cast<void*>(data))->Finish(rc, nullptr, 0, stat, nullptr);
}
void DataCompletion(int rc, const char* value, int len, const Stat* stat, const void* data) {
  static_cast<ZkClient::Call*>(const_cast<void*>(data))->Finish(rc, value, len, stat, nullptr);
}
void StringCompletion(int rc, const char* value, const void* data) {
  static_cast<ZkClient::Call*>(const_cast<void*>(data))->Finish(rc, value, value ? static_cast<int>(strlen(value)) : 0,
                                                                nullptr, nullptr);
}
void StringsCompletion(int rc, const String_vector* names, const void* data) {
  static_cast<ZkClient::Call*>(const_cast<void*>(data))->Finish(rc, nullptr, 0, nullptr, names);
}
}  // namespace

bool ZkClient::Create(const std::string& path, const std::string& data, int flags, StringDone done) {
  if (zh_ == nullptr || closed_) return false;
  Call* c = NewCall();
  c->fn = [done = std::move(done)](int rc, const char* v, int len, const Stat*, const String_vector*) {
    done(rc, v ? std::string(v, static_cast<size_t>(len)) : std::string());
  };
  int rc = zoo_acreate(zh_, path.c_str(), data.data(), static_cast<int>(data.size()), &ZOO_OPEN_ACL_UNSAFE, flags,
                       &StringCompletion, c);
  return Queued(rc, c);
}

bool ZkClient::Delete(const std::string& path, int version, VoidDone done) {
  if (zh_ == nullptr || closed_) return false;
  Call* c = NewCall();
  c->fn = [done = std::move(done)](int rc, const char*, int, const Stat*, const String_vector*) { done(rc); };
  return Queued(zoo_adelete(zh_, path.c_str(), version, &VoidCompletion, c), c);
}

bool ZkClient::Set(const std::string& path, const std::string& data, int version, StatDone done) {
  if (zh_ == nullptr || closed_) return false;
  Call* c = NewCall();
  c->fn = [done = std::move(done)](int rc, const char*, int, const Stat* s, const String_vector*) { done(rc, FromStat(s)); };
  return Queued(zoo_aset(zh_, path.c_str(), data.data(), static_cast<int>(data.size()), version, &StatCompletion, c), c);
}

bool ZkClient::Get(const std::string& path, WatchFn watch, DataDone done) {
  if (zh_ == nullptr || closed_) return false;
  Call* c = NewCall();
  c->fn = [done = std::move(done)](int rc, const char* v, int len, const Stat* s, const String_vector*) {
    done(rc, v && len > 0 ? std::string(v, static_cast<size_t>(len)) : std::string(), FromStat(s));
  };
  void* ctx = WatchCtx(std::move(watch));
  int rc = zoo_awget(zh_, path.c_str(), ctx ? &ZkClient::PathWatcher : nullptr, ctx, &DataCompletion, c);
  if (rc != ZOK && ctx) watches_.erase(static_cast<Watch*>(ctx));
  return Queued(rc, c);
}

bool ZkClient::Exists(const std::string& path, WatchFn watch, StatDone done) {
  if (zh_ == nullptr || closed_) return false;
  Call* c = NewCall();
  c->fn = [done = std::move(done)](int rc, const char*, int, const Stat* s, const String_vector*) { done(rc, FromStat(s)); };
  void* ctx = WatchCtx(std::move(watch));
  int rc = zoo_awexists(zh_, path.c_str(), ctx ? &ZkClient::PathWatcher : nullptr, ctx, &StatCompletion, c);
  if (rc != ZOK && ctx) watches_.erase(static_cast<Watch*>(ctx));
  return Queued(rc, c);
}

bool ZkClient::Children(const std::string& path, WatchFn watch, ChildrenDone done) {
  if (zh_ == nullptr || closed_) return false;
  Call* c = NewCall();
  c->fn = [done = std::move(done)](int rc, const char*, int, const Stat*, const String_vector* names) {
    std::vector<std::string> out;
    if (rc == ZOK && names != nullptr) {
      for (int32_t i = 0; i < names->count; ++i) out.emplace_back(names->data[i]);
    }
    done(rc, std::move(out));
  };
  void* ctx = WatchCtx(std::move(watch));
  int rc = zoo_awget_children(zh_, path.c_str(), ctx ? &ZkClient::PathWatcher : nullptr, ctx, &StringsCompletion, c);
  if (rc != ZOK && ctx) watches_.erase(static_cast<Watch*>(ctx));
  return Queued(rc, c);
}

bool ZkClient::Sync(const std::string& path, StringDone done) {
  if (zh_ == nullptr || closed_) return false;
  Call* c = NewCall();
  c->fn = [done = std::move(done)](int rc, const char* v, int len, const Stat*, const String_vector*) {
    done(rc, v ? std::string(v, static_cast<size_t>(len)) : std::string());
  };
  return Queued(zoo_async(zh_, path.c_str(), &StringCompletion, c), c);
}

bool ZkClient::Multi(std::vector<Op> ops, MultiDone done) {
  if (zh_ == nullptr || closed_ || ops.empty()) return false;
  Call* c = NewCall();
  c->ops = std::move(ops);
  size_t n = c->ops.size();
  c->zops.resize(n);
  c->results.resize(n);
  c->created.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const Op& op = c->ops[i];
    switch (op.kind) {
      case Op::Kind::kCreate:
        c->created[i].assign(op.path.size() + 32, '\0');  // room for the sequence suffix
        zoo_create_op_init(&c->zops[i], op.path.c_str(), op.data.data(), static_cast<int>(op.data.size()),
                           &ZOO_OPEN_ACL_UNSAFE, op.flags, c->created[i].data(), static_cast<int>(c->created[i].size()));
        break;
      case Op::Kind::kDelete:
        zoo_delete_op_init(&c->zops[i], op.path.c_str(), op.version);
        break;
      case Op::Kind::kSet:
        zoo_set_op_init(&c->zops[i], op.path.c_str(), op.data.data(), static_cast<int>(op.data.size()), op.version,
                        nullptr);
        break;
      case Op::Kind::kCheck:
        zoo_check_op_init(&c->zops[i], op.path.c_str(), op.version);
        break;
    }
  }
  // A multi that never reached the ensemble has no per-op results: each keeps this mark and
  // gets the call's code instead.
  constexpr int kNoResult = 1;
  for (zoo_op_result_t& r : c->results) r.err = kNoResult;
  c->fn = [c, done = std::move(done)](int rc, const char*, int, const Stat*, const String_vector*) {
    std::vector<OpResult> out(c->ops.size());
    for (size_t i = 0; i < out.size(); ++i) {
      out[i].rc = c->results[i].err == kNoResult ? rc : c->results[i].err;
      if (rc == ZOK && c->ops[i].kind == Op::Kind::kCreate) out[i].created = c->created[i].data();
    }
    done(rc, out);
  };
  int rc = zoo_amulti(zh_, static_cast<int>(n), c->zops.data(), c->results.data(), &VoidCompletion, c);
  return Queued(rc, c);
}

void ZkClient::Close() {
  if (closed_) return;
  closed_ = true;
  self_.reset();
  ClosePoll();
  // Inside a callback the library is still running on the handle: Drive hands it off on return.
  if (!in_drive_) HandOff();
}

void ZkClient::HandOff() {
  if (handed_off_) return;
  handed_off_ = true;
  poll_.Reset();
  timer_.Reset();
  // Pending callbacks are dropped here, on the loop, and what the library still holds becomes
  // inert: the calls free themselves when the closing handle fails them, the watches are freed
  // once it is gone.
  for (Call* c : calls_) {
    c->client = nullptr;
    c->fn = nullptr;
  }
  calls_.clear();
  struct CloseJob {
    uv_work_t req;
    zhandle_t* zh;
    std::map<Watch*, std::unique_ptr<Watch>> watches;
  };
  auto* job = new CloseJob{{}, std::exchange(zh_, nullptr), std::move(watches_)};
  watches_.clear();
  for (auto& [raw, w] : job->watches) {
    w->client = nullptr;
    w->fn = nullptr;
  }
  if (job->zh == nullptr) {
    delete job;
    return;
  }
  zoo_set_context(job->zh, nullptr);
  job->req.data = job;
  int rc = uv_queue_work(loop_, &job->req, [](uv_work_t* req) {
    auto* j = static_cast<CloseJob*>(req->data);
    zookeeper_close(j->zh);
  }, [](uv_work_t* req, int) { delete static_cast<CloseJob*>(req->data); });
  if (rc != 0) {  // no thread pool: close here (it may wait for the server, once, at exit)
    zookeeper_close(job->zh);
    delete job;
  }
}

}  // namespace tailsafe
