#include "common/http_daemon.h"

#include <microhttpd.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstring>

#include "common/fd.h"
#include "common/log.h"

namespace tailsafe {

void HttpDaemon::MhdStop::operator()(MHD_Daemon* d) const { MHD_stop_daemon(d); }

struct HttpDaemon::Callbacks {
  // MHD calls once the head is parsed, then with each piece of a body, then once more with
  // none. GET and HEAD are answered at that last call, which keeps the connection alive; any
  // other method, or a body on a GET, is answered at once, and MHD closes the connection rather
  // than read a body nobody wants. MHD leaves the body out of a HEAD reply itself.
  static MHD_Result OnRequest(void* cls, MHD_Connection* c, const char* url, const char* method,
                              const char* /*version*/, const char* /*upload*/, size_t* /*upload_size*/,
                              void** req_cls) {
    static char head_seen;
    auto* self = static_cast<HttpDaemon*>(cls);
    bool get = method != nullptr && (std::strcmp(method, "GET") == 0 || std::strcmp(method, "HEAD") == 0);
    if (*req_cls == nullptr && get) {
      *req_cls = &head_seen;
      return MHD_YES;
    }
    HttpRequest req = self->Parse(c, method, url);
    bool stream = false;
    HttpReply reply = self->Dispatch(req, &stream);
    if (stream && reply.status == 200 && req.method == "GET") return OpenStream(self, c, req, std::move(reply));
    MHD_Response* r =
        MHD_create_response_from_buffer(reply.body.size(), reply.body.data(), MHD_RESPMEM_MUST_COPY);
    if (r == nullptr) return MHD_NO;  // out of memory: MHD closes the connection
    return Queue(c, r, reply);
  }

  static MHD_Result Queue(MHD_Connection* c, MHD_Response* r, const HttpReply& reply) {
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, reply.type.c_str());
    for (const auto& [name, value] : reply.headers) MHD_add_response_header(r, name.c_str(), value.c_str());
    MHD_Result ok = MHD_queue_response(c, static_cast<unsigned>(reply.status), r);
    MHD_destroy_response(r);  // MHD keeps its own reference while it sends
    return ok;
  }

  // A reply of unknown length (chunked) fed from the stream's queue.
  static MHD_Result OpenStream(HttpDaemon* self, MHD_Connection* c, const HttpRequest& req, HttpReply reply) {
    auto owned = std::make_unique<Stream>(Stream{self, c, req.path, std::move(reply.body)});
    Stream* s = owned.get();
    MHD_Response* r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, &Read, s, &Free);
    if (r == nullptr) return MHD_NO;
    self->streams_[s] = std::move(owned);
    return Queue(c, r, reply);  // on failure the response is destroyed here, and Free forgets `s`
  }

  // What MHD sends next: the queue, the end once ended, or nothing for now (suspended until a
  // broadcast wakes it, so MHD does not ask again on every run).
  static ssize_t Read(void* cls, uint64_t /*pos*/, char* buf, size_t max) {
    auto* s = static_cast<Stream*>(cls);
    if (!s->queued.empty()) {
      size_t n = std::min(max, s->queued.size());
      std::memcpy(buf, s->queued.data(), n);
      s->queued.erase(0, n);
      return static_cast<ssize_t>(n);
    }
    if (s->ended) return MHD_CONTENT_READER_END_OF_STREAM;
    MHD_suspend_connection(s->conn);
    s->suspended = true;
    return 0;
  }

  static void OnTimer(uv_timer_t* t) {
    if (t->data != nullptr) static_cast<HttpDaemon*>(t->data)->Pump();
  }

  // The reply is gone (sent to its end, or its connection closed).
  static void Free(void* cls) {
    auto* s = static_cast<Stream*>(cls);
    s->http->streams_.erase(s);
  }

  // MHD's messages are about clients (resets, timeouts, bad requests): debug level, since any
  // client could otherwise fill the log.
  static void Log(void* cls, const char* fmt, va_list ap) {
    char text[512];
    vsnprintf(text, sizeof text, fmt, ap);
    std::string line(text);
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
    LOG_DEBUG("%s: http: %s", static_cast<HttpDaemon*>(cls)->who_.c_str(), line.c_str());
  }
};

HttpDaemon::HttpDaemon(uv_loop_t* loop, std::string who, Limits limits)
    : loop_(loop), who_(std::move(who)), limits_(limits) {}

HttpDaemon::~HttpDaemon() { Stop(); }

HttpRequest HttpDaemon::Parse(MHD_Connection* c, const char* method, const char* url) const {
  HttpRequest req{method ? method : "", url ? url : "", "", false};
  const char* auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
  if (auth != nullptr && std::strncmp(auth, "Bearer ", 7) == 0) {
    req.token = auth + 7;
  } else if (const char* t = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "token")) {
    req.token = t;
    req.token_in_query = true;
  } else if (const char* k = MHD_lookup_connection_value(c, MHD_COOKIE_KIND, kTokenCookie)) {
    req.token = k;
  }
  return req;
}

HttpReply HttpDaemon::Dispatch(const HttpRequest& req, bool* stream) {
  ++requests_;
  if (req.method != "GET" && req.method != "HEAD") {
    HttpReply r;
    r.status = 405;
    r.body = "only GET and HEAD\n";
    r.headers.emplace_back("Allow", "GET, HEAD");
    return r;
  }
  if (guard_) {
    if (std::optional<HttpReply> refused = guard_(req)) return *refused;
  }
  if (auto it = routes_.find(req.path); it != routes_.end()) return it->second(req);
  if (auto it = stream_routes_.find(req.path); it != stream_routes_.end()) {
    if (streams_.size() >= MaxStreams()) {
      // Streams never time out while idle: half the connections stay for requests that end.
      HttpReply r;
      r.status = 503;
      r.body = "too many event streams open; try again later\n";
      r.headers.emplace_back("Retry-After", "10");
      return r;
    }
    *stream = true;
    return it->second(req);
  }
  if (fallback_) return fallback_(req);
  HttpReply r;
  r.status = 404;
  r.body = "not found\n";
  return r;
}

void HttpDaemon::Wake(Stream* s) {
  if (!s->suspended) return;
  s->suspended = false;
  MHD_resume_connection(s->conn);
  // MHD takes the resumed connection back at its next run: on the loop's next turn, never from
  // here (a broadcast may come from inside a callback of MHD's).
  if (timer_) uv_timer_start(timer_.get(), &Callbacks::OnTimer, 0, 0);
}

void HttpDaemon::Broadcast(const std::string& path, const std::string& bytes) {
  for (auto& [raw, s] : streams_) {
    if (s->path != path || s->ended) continue;
    if (s->queued.size() + bytes.size() > kMaxStreamQueue) {
      LOG_INFO("%s: http: a client of %s reads too slowly; its stream ends", who_.c_str(), path.c_str());
      s->queued.clear();
      s->ended = true;
    } else {
      s->queued += bytes;
    }
    Wake(raw);
  }
}

void HttpDaemon::EndStreams(const std::string& path) {
  for (auto& [raw, s] : streams_) {
    if (s->path != path) continue;
    s->ended = true;
    Wake(raw);
  }
}

Status HttpDaemon::Listen(const HostPort& where, const std::string& setting) {
  sockaddr_storage addr{};
  bool v6 = where.host.find(':') != std::string::npos;
  int rc = v6 ? uv_ip6_addr(where.host.c_str(), where.port, reinterpret_cast<sockaddr_in6*>(&addr))
              : uv_ip4_addr(where.host.c_str(), where.port, reinterpret_cast<sockaddr_in*>(&addr));
  if (rc != 0) return Status::Error(setting + ": '" + where.ToString() + "' is not an IP address and port");
  Fd sock(::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!sock) return ErrnoStatus(setting + ": socket");
  int one = 1;
  (void)::setsockopt(sock.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  socklen_t len = v6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
  if (::bind(sock.get(), reinterpret_cast<sockaddr*>(&addr), len) != 0) {
    return ErrnoStatus(setting + ": bind " + where.ToString());
  }
  if (::listen(sock.get(), 128) != 0) return ErrnoStatus(setting + ": listen on " + where.ToString());
  len = sizeof addr;
  if (::getsockname(sock.get(), reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port_ = ntohs(v6 ? reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port : reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
  }
  unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0);
  MHD_Daemon* d = MHD_start_daemon(
      flags, 0, nullptr, nullptr, &Callbacks::OnRequest, this,  //
      MHD_OPTION_EXTERNAL_LOGGER, &Callbacks::Log, this,         //
      MHD_OPTION_LISTEN_SOCKET, sock.get(),                      //
      MHD_OPTION_CONNECTION_LIMIT, static_cast<unsigned>(limits_.max_clients),
      MHD_OPTION_PER_IP_CONNECTION_LIMIT, static_cast<unsigned>(limits_.max_per_ip),
      MHD_OPTION_CONNECTION_TIMEOUT, limits_.timeout_s,  //
      MHD_OPTION_CONNECTION_MEMORY_LIMIT, kHeadBytes,    //
      MHD_OPTION_END);
  if (d == nullptr) return Status::Error(setting + ": libmicrohttpd could not serve " + where.ToString());
  sock.Release();  // the daemon's now: MHD_stop_daemon closes it
  mhd_.reset(d);
  const MHD_DaemonInfo* info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_EPOLL_FD);
  auto poll = info ? MakeUv<uv_poll_t>(uv_poll_init, loop_, info->epoll_fd) : UvStatus("no epoll fd", UV_EINVAL);
  auto timer = MakeUv<uv_timer_t>(uv_timer_init, loop_);
  if (!poll || !timer) {
    mhd_.reset();
    return Status::Error(setting + ": " + (!poll ? poll.status() : timer.status()).message());
  }
  poll_ = std::move(poll.value());
  timer_ = std::move(timer.value());
  poll_->data = this;
  timer_->data = this;
  uv_poll_start(poll_.get(), UV_READABLE, [](uv_poll_t* p, int, int) {
    if (p->data != nullptr) static_cast<HttpDaemon*>(p->data)->Pump();
  });
  Pump();
  return Status::Ok();
}

Status HttpDaemon::Adopt(int fd) {
  if (!mhd_) {
    Fd closing(fd);
    return Status::Error(who_ + ": http: not serving");
  }
  sockaddr_in from{};
  from.sin_family = AF_INET;
  from.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (MHD_add_connection(mhd_.get(), fd, reinterpret_cast<sockaddr*>(&from), sizeof from) != MHD_YES) {
    return ErrnoStatus(who_ + ": http: add a connection");
  }
  Pump();
  return Status::Ok();
}

void HttpDaemon::Pump() {
  if (!mhd_) return;
  MHD_run(mhd_.get());
  MHD_UNSIGNED_LONG_LONG ms = 0;
  if (MHD_get_timeout(mhd_.get(), &ms) != MHD_YES) {
    uv_timer_stop(timer_.get());
    return;
  }
  uv_timer_start(timer_.get(), &Callbacks::OnTimer, ms, 0);
}

void HttpDaemon::Stop() {
  // MHD must not stop with a suspended connection: every stream is resumed and ended first.
  for (auto& [raw, s] : streams_) {
    s->ended = true;
    s->queued.clear();
    Wake(raw);
  }
  if (mhd_ && !streams_.empty()) MHD_run(mhd_.get());
  // The loop stops polling MHD's epoll fd before MHD closes it.
  poll_.Reset();
  timer_.Reset();
  mhd_.reset();  // frees the streams' replies (Free)
  streams_.clear();
}

}  // namespace tailsafe
