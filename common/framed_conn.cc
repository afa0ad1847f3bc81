#include "common/framed_conn.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

namespace tailsafe {

namespace {

struct WriteReq {
  uv_write_t req;
  std::string frame;
};

struct ConnectOp {
  uv_getaddrinfo_t resolve;
  uv_connect_t connect;
  UvPtr<uv_tcp_t> tcp;
  std::weak_ptr<void> alive;
  std::function<void(Result<UvPtr<uv_tcp_t>>)> done;
  std::string where;
  void Finish(Result<UvPtr<uv_tcp_t>> r) {
    if (!alive.expired()) done(std::move(r));
    delete this;
  }
};

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

FramedConn::FramedConn(UvPtr<uv_tcp_t> tcp, SecureChannel::Role role, const ClusterKeys* keys, uint32_t max_payload)
    : tcp_(std::move(tcp)), channel_(role, keys), reader_(max_payload) {
  tcp_->data = this;
  remote_ = RemoteAddress(tcp_.get());
}

FramedConn::~FramedConn() {
  handshake_timer_.Reset();
  tcp_.Reset();
}

size_t FramedConn::queued() const { return tcp_ ? uv_stream_get_write_queue_size(tcp_.stream()) : 0; }

Status FramedConn::Start(OnFrame on_frame, OnClose on_close) {
  on_frame_ = std::move(on_frame);
  on_close_ = std::move(on_close);
  int rc = uv_read_start(tcp_.stream(), AllocReadBuffer, [](uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
    auto* c = static_cast<FramedConn*>(s->data);
    if (c == nullptr) {
      delete[] buf->base;
      return;
    }
    auto keep = c->shared_from_this();  // the owner may drop us in a callback
    c->OnRead(n, buf);
  });
  if (rc != 0) {
    Status st = UvStatus("start reading", rc);
    Close(st.message());
    return st;
  }
  auto timer = MakeUv<uv_timer_t>(uv_timer_init, tcp_->loop);
  if (timer) {
    handshake_timer_ = std::move(timer.value());
    handshake_timer_->data = this;
    uv_timer_start(handshake_timer_.get(), [](uv_timer_t* t) {
      auto* c = static_cast<FramedConn*>(t->data);
      if (c == nullptr) return;
      auto keep = c->shared_from_this();
      c->Close("no secure handshake within " + std::to_string(kHandshakeTimeoutMs) + " ms");
    }, kHandshakeTimeoutMs, 0);
  }
  if (std::string hello = channel_.Start(); !hello.empty()) Write(std::move(hello));
  return Status::Ok();
}

void FramedConn::OnRead(ssize_t n, const uv_buf_t* buf) {
  std::unique_ptr<char[]> owned(buf->base);
  if (n == UV_EOF) {
    Status s = channel_.AtEof();
    return Close(s.ok() ? "the other side closed the connection" : s.message());
  }
  if (n < 0) return Close(UvStatus("read", static_cast<int>(n)).message());
  std::string reply, plain;
  bool was_established = channel_.established();
  Status cs = channel_.Receive(std::string_view(buf->base, static_cast<size_t>(n)), &reply, &plain);
  if (!reply.empty()) Write(std::move(reply));
  if (!cs) return Close(cs.message());
  if (!was_established && channel_.established()) handshake_timer_.Reset();
  if (plain.empty()) return;
  reader_.Feed(plain.data(), plain.size());
  while (!closed_) {
    Frame f;
    Status err;
    FrameReader::Result r = reader_.Next(&f, &err);
    if (r == FrameReader::Result::kNeedMore) break;
    if (r == FrameReader::Result::kError) return Close(err.message());
    if (Status s = on_frame_(f); !s) return Close(s.message());
  }
}

void FramedConn::Send(std::string frame) {
  if (closed_) return;
  std::string wire;
  channel_.Seal(frame, &wire);
  if (!wire.empty()) Write(std::move(wire));
}

void FramedConn::Write(std::string bytes) {
  if (closed_) return;
  auto* w = new WriteReq{};
  w->frame = std::move(bytes);
  uv_buf_t b = uv_buf_init(w->frame.data(), static_cast<unsigned>(w->frame.size()));
  int rc = uv_write(&w->req, tcp_.stream(), &b, 1, [](uv_write_t* req, int status) {
    std::unique_ptr<WriteReq> owned(reinterpret_cast<WriteReq*>(req));
    if (status == 0 || status == UV_ECANCELED) return;
    if (auto* c = static_cast<FramedConn*>(req->handle->data)) {
      auto keep = c->shared_from_this();
      c->Close(UvStatus("write", status).message());
    }
  });
  if (rc != 0) {
    delete w;
    Close(UvStatus("write", rc).message());
  }
}

void FramedConn::Close(const std::string& why) {
  if (closed_) return;
  closed_ = true;
  tcp_.Reset();
  handshake_timer_.Reset();
  if (on_close_) {
    OnClose cb = std::move(on_close_);
    on_frame_ = nullptr;
    cb(why);
  }
}

Status TcpListener::Listen(uv_loop_t* loop, const std::string& host, uint16_t port, OnAccept on_accept) {
  on_accept_ = std::move(on_accept);
  auto tcp = MakeUv<uv_tcp_t>(uv_tcp_init, loop);
  if (!tcp) return tcp.status();
  tcp_ = std::move(tcp.value());
  tcp_->data = this;
  std::string where = (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + std::to_string(port);
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
      uv_tcp_nodelay(client->get(), 1);
      self->on_accept_(std::move(client.value()));
    });
  }
  if (rc != 0) return UvStatus("listen on " + where, rc);
  return Status::Ok();
}

void ConnectTcp(uv_loop_t* loop, const std::string& host, uint16_t port, std::weak_ptr<void> alive,
                std::function<void(Result<UvPtr<uv_tcp_t>>)> done) {
  auto* op = new ConnectOp{};
  op->alive = std::move(alive);
  op->done = std::move(done);
  op->where = (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + std::to_string(port);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  std::string service = std::to_string(port);
  op->resolve.data = op;
  int rc = uv_getaddrinfo(loop, &op->resolve, [](uv_getaddrinfo_t* req, int status, addrinfo* res) {
    auto* o = static_cast<ConnectOp*>(req->data);
    if (status != 0 || res == nullptr) {
      if (res) uv_freeaddrinfo(res);
      return o->Finish(UvStatus("cannot resolve " + o->where, status));
    }
    auto tcp = MakeUv<uv_tcp_t>(uv_tcp_init, req->loop);
    if (!tcp) {
      uv_freeaddrinfo(res);
      return o->Finish(tcp.status());
    }
    o->tcp = std::move(tcp.value());
    o->connect.data = o;
    int crc = uv_tcp_connect(&o->connect, o->tcp.get(), res->ai_addr, [](uv_connect_t* creq, int st) {
      auto* oc = static_cast<ConnectOp*>(creq->data);
      if (st != 0) return oc->Finish(UvStatus("connect to " + oc->where, st));
      uv_tcp_nodelay(oc->tcp.get(), 1);
      oc->Finish(std::move(oc->tcp));
    });
    uv_freeaddrinfo(res);
    if (crc != 0) o->Finish(UvStatus("connect to " + o->where, crc));
  }, host.c_str(), service.c_str(), &hints);
  if (rc != 0) op->Finish(UvStatus("cannot resolve " + op->where, rc));
}

}  // namespace tailsafe
