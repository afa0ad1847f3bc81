#include "common/stream_endpoints.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <unistd.h>

namespace tailsafe {
namespace {

constexpr unsigned kKeepaliveSeconds = 30;

void TuneTcp(uv_tcp_t* tcp) {
  uv_tcp_nodelay(tcp, 1);
  uv_tcp_keepalive(tcp, 1, kKeepaliveSeconds);
}

std::string Where(const std::string& host, uint16_t port) {
  return (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

}  // namespace

std::string RemoteAddress(uv_tcp_t* tcp) {
  sockaddr_storage ss{};
  int len = sizeof ss;
  if (uv_tcp_getpeername(tcp, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "?";
  char host[INET6_ADDRSTRLEN] = "?";
  if (ss.ss_family == AF_INET) {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    uv_ip4_name(a, host, sizeof host);
    return std::string(host) + ":" + std::to_string(ntohs(a->sin_port));
  }
  auto* a6 = reinterpret_cast<sockaddr_in6*>(&ss);
  uv_ip6_name(a6, host, sizeof host);
  return "[" + std::string(host) + "]:" + std::to_string(ntohs(a6->sin6_port));
}

Status TcpListener::Listen(uv_loop_t* loop, const std::string& host, uint16_t port, OnAccept on_accept) {
  on_accept_ = std::move(on_accept);
  auto tcp = MakeUv<uv_tcp_t>(uv_tcp_init, loop);
  if (!tcp) return tcp.status();
  tcp_ = std::move(tcp.value());
  tcp_->data = this;
  std::string where = Where(host, port);
  sockaddr_storage addr{};
  int rc = host.find(':') != std::string::npos
               ? uv_ip6_addr(host.c_str(), port, reinterpret_cast<sockaddr_in6*>(&addr))
               : uv_ip4_addr(host.c_str(), port, reinterpret_cast<sockaddr_in*>(&addr));
  if (rc != 0) return UvStatus("'" + where + "' is not an IP address and port", rc);
  rc = uv_tcp_bind(tcp_.get(), reinterpret_cast<sockaddr*>(&addr), 0);
  if (rc == 0) {
    rc = uv_listen(tcp_.stream(), 128, [](uv_stream_t* s, int status) {
      auto* self = static_cast<TcpListener*>(s->data);
      if (self == nullptr || status != 0) return;
      auto client = MakeUv<uv_tcp_t>(uv_tcp_init, s->loop);
      if (!client) return;
      if (uv_accept(s, client->stream()) != 0) return;
      TuneTcp(client->get());
      self->on_accept_(std::move(client.value()));
    });
  }
  if (rc != 0) return UvStatus("listen on " + where, rc);
  return Status::Ok();
}

uint16_t TcpListener::port() const {
  if (!tcp_) return 0;
  sockaddr_storage ss{};
  int len = sizeof ss;
  if (uv_tcp_getsockname(tcp_.get(), reinterpret_cast<sockaddr*>(&ss), &len) != 0) return 0;
  if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
}

Status UnixListener::Listen(uv_loop_t* loop, const std::string& path, int mode, OnAccept on_accept) {
  on_accept_ = std::move(on_accept);
  auto pipe = MakeUv<uv_pipe_t>(uv_pipe_init, loop, 0);
  if (!pipe) return pipe.status();
  pipe_ = std::move(pipe.value());
  pipe_->data = this;
  path_ = path;
  ::unlink(path_.c_str());  // a stale socket from a previous run
  int rc = uv_pipe_bind(pipe_.get(), path_.c_str());
  if (rc == 0) {
    ::chmod(path_.c_str(), static_cast<mode_t>(mode));
    rc = uv_listen(pipe_.stream(), 16, [](uv_stream_t* s, int status) {
      auto* self = static_cast<UnixListener*>(s->data);
      if (self == nullptr || status != 0) return;
      auto client = MakeUv<uv_pipe_t>(uv_pipe_init, s->loop, 0);
      if (!client) return;
      if (uv_accept(s, client->stream()) != 0) return;
      self->on_accept_(std::move(client.value()));
    });
  }
  if (rc != 0) return UvStatus("control socket " + path_, rc);
  return Status::Ok();
}

void UnixListener::Stop() {
  if (!pipe_) return;
  pipe_.Reset();
  ::unlink(path_.c_str());
}

// One attempt: resolve, then connect. It lives until its last libuv request has called back;
// the PendingConnect that owns it may go first (cancelled), and is told when it finishes first.
struct PendingConnect::Op {
  uv_getaddrinfo_t resolve;
  uv_connect_t connect;
  UvPtr<uv_tcp_t> tcp;
  UvPtr<uv_timer_t> deadline;
  Done done;
  std::string where;
  uint64_t timeout_ms = 0;
  PendingConnect* owner = nullptr;  // null once cancelled or timed out
  bool resolving = false;

  void Finish(Result<UvPtr<uv_tcp_t>> r) {
    Done d = owner != nullptr ? std::move(done) : nullptr;
    if (owner != nullptr) owner->op_ = nullptr;
    delete this;
    if (d) d(std::move(r));  // may destroy the PendingConnect: nothing of ours is touched after
  }
  // Detaches from the owner and stops the requests under way; the last of them to call back
  // deletes this Op. Returns the owner's callback, if there still was an owner.
  Done Abandon() {
    Done d = owner != nullptr ? std::move(done) : nullptr;
    if (owner != nullptr) owner->op_ = nullptr;
    owner = nullptr;
    done = nullptr;
    deadline.Reset();
    // A resolve not yet begun is cancelled; a running one calls back and finds no owner. A
    // connect under way ends with UV_ECANCELED when its socket closes.
    if (resolving) (void)uv_cancel(reinterpret_cast<uv_req_t*>(&resolve));
    tcp.Reset();
    return d;
  }
  void OnResolved(int status, addrinfo* res);
  void OnDeadline() {
    Done d = Abandon();
    if (d) d(Status::Error("connect to " + where + ": no answer in " + std::to_string(timeout_ms) + " ms"));
  }
};

void PendingConnect::Op::OnResolved(int status, addrinfo* res) {
  resolving = false;
  if (owner == nullptr || status != 0 || res == nullptr) {
    if (res) uv_freeaddrinfo(res);
    return Finish(UvStatus("cannot resolve " + where, status == 0 ? UV_EAI_NONAME : status));
  }
  auto t = MakeUv<uv_tcp_t>(uv_tcp_init, resolve.loop);
  if (!t) {
    uv_freeaddrinfo(res);
    return Finish(t.status());
  }
  tcp = std::move(t.value());
  connect.data = this;
  int rc = uv_tcp_connect(&connect, tcp.get(), res->ai_addr, [](uv_connect_t* req, int st) {
    auto* op = static_cast<Op*>(req->data);
    if (st != 0) return op->Finish(UvStatus("connect to " + op->where, st));
    TuneTcp(op->tcp.get());
    op->Finish(std::move(op->tcp));
  });
  uv_freeaddrinfo(res);
  if (rc != 0) Finish(UvStatus("connect to " + where, rc));
}

PendingConnect::~PendingConnect() {
  if (op_ != nullptr) (void)op_->Abandon();
}

Result<std::unique_ptr<PendingConnect>> ConnectTcp(uv_loop_t* loop, const std::string& host, uint16_t port,
                                                   PendingConnect::Done done, uint64_t timeout_ms) {
  auto* op = new PendingConnect::Op{};
  op->done = std::move(done);
  op->where = Where(host, port);
  op->timeout_ms = timeout_ms;
  auto timer = MakeUv<uv_timer_t>(uv_timer_init, loop);
  if (!timer) {
    delete op;
    return timer.status().Context("connect to " + Where(host, port));
  }
  op->deadline = std::move(timer.value());
  op->deadline->data = op;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  std::string service = std::to_string(port);
  op->resolve.data = op;
  int rc = uv_getaddrinfo(loop, &op->resolve, [](uv_getaddrinfo_t* req, int status, addrinfo* res) {
    static_cast<PendingConnect::Op*>(req->data)->OnResolved(status, res);
  }, host.c_str(), service.c_str(), &hints);
  if (rc != 0) {
    std::string where = op->where;
    delete op;
    return UvStatus("cannot resolve " + where, rc);
  }
  op->resolving = true;
  uv_timer_start(op->deadline.get(), [](uv_timer_t* t) {
    if (t->data != nullptr) static_cast<PendingConnect::Op*>(t->data)->OnDeadline();
  }, timeout_ms, 0);
  std::unique_ptr<PendingConnect> pending(new PendingConnect(op));
  op->owner = pending.get();
  return pending;
}

}  // namespace tailsafe
