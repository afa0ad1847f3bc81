#include "common/stream_conn.h"

#include "common/stream_endpoints.h"

namespace tailsafe {
namespace {

struct WriteReq {
  uv_write_t req;
  std::string bytes;
};

}  // namespace

StreamConn::StreamConn(UvPtr<uv_tcp_t> tcp, size_t max_queued)
    : handle_(std::move(tcp)), max_queued_(max_queued) {
  auto& h = std::get<UvPtr<uv_tcp_t>>(handle_);
  loop_ = h->loop;
  h->data = this;
  remote_ = RemoteAddress(h.get());
}

StreamConn::StreamConn(UvPtr<uv_pipe_t> pipe, size_t max_queued)
    : handle_(std::move(pipe)), max_queued_(max_queued), remote_("local client") {
  auto& h = std::get<UvPtr<uv_pipe_t>>(handle_);
  loop_ = h->loop;
  h->data = this;
}

StreamConn::~StreamConn() { ReleaseHandles(); }

uv_stream_t* StreamConn::stream() const {
  return std::visit([](const auto& h) { return h.stream(); }, handle_);
}

size_t StreamConn::queued() const {
  uv_stream_t* s = stream();
  return s != nullptr ? uv_stream_get_write_queue_size(s) : 0;
}

void StreamConn::ReleaseHandles() {
  deadline_.Reset();
  std::visit([](auto& h) { h.Reset(); }, handle_);
}

Status StreamConn::Start(Handlers handlers) {
  handlers_ = std::move(handlers);
  int rc = uv_read_start(stream(), AllocReadBuffer, [](uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
    std::unique_ptr<char[]> owned(buf->base);
    auto* c = static_cast<StreamConn*>(s->data);
    if (c == nullptr) return;
    auto keep = c->shared_from_this();  // the owner may drop us in a callback
    c->OnRead(n, buf);
  });
  if (rc != 0) {
    closed_ = true;
    ReleaseHandles();
    return UvStatus("start reading from " + remote_, rc);
  }
  return Status::Ok();
}

void StreamConn::OnRead(ssize_t n, const uv_buf_t* buf) {
  if (closed_) return;
  if (n == UV_EOF) {
    uv_read_stop(stream());
    Status s = handlers_.on_eof ? handlers_.on_eof() : Status::Ok();
    if (!s) return Close({CloseReason::kTruncated, s.message()});
    if (handlers_.close_at_eof) Close({CloseReason::kEnded, "the other side closed the connection"});
    return;
  }
  if (n < 0) return Close({CloseReason::kIo, UvStatus("read", static_cast<int>(n)).message()});
  if (n > 0) handlers_.on_data(std::string_view(buf->base, static_cast<size_t>(n)));
}

void StreamConn::Write(std::string bytes) {
  if (closed_ || bytes.empty()) return;
  auto* w = new WriteReq{};
  w->bytes = std::move(bytes);
  uv_buf_t b = uv_buf_init(w->bytes.data(), static_cast<unsigned>(w->bytes.size()));
  int rc = uv_write(&w->req, stream(), &b, 1, [](uv_write_t* req, int status) {
    std::unique_ptr<WriteReq> owned(reinterpret_cast<WriteReq*>(req));
    auto* c = static_cast<StreamConn*>(req->handle->data);  // null once closed
    if (c == nullptr || status == UV_ECANCELED) return;
    auto keep = c->shared_from_this();
    if (status != 0) return c->Close({CloseReason::kIo, UvStatus("write", status).message()});
    if (c->handlers_.on_written) c->handlers_.on_written(owned->bytes.size());
  });
  if (rc != 0) {
    delete w;
    return Close({CloseReason::kIo, UvStatus("write", rc).message()});
  }
  if (max_queued_ != 0 && queued() > max_queued_) {
    Close({CloseReason::kOverflow, std::to_string(queued()) + " bytes wait to be sent to " + remote_ +
                                       ", which does not read them (limit " + std::to_string(max_queued_) + ")"});
  }
}

void StreamConn::WriteLast(std::string_view bytes) {
  if (closed_ || bytes.empty() || queued() > 0) return;  // behind queued bytes it could not go now
  uv_buf_t b = uv_buf_init(const_cast<char*>(bytes.data()), static_cast<unsigned>(bytes.size()));
  (void)uv_try_write(stream(), &b, 1);
}

void StreamConn::StopReading() {
  if (!closed_) uv_read_stop(stream());
}

void StreamConn::SetDeadline(uint64_t ms, std::string why) {
  if (closed_) return;
  if (!deadline_) {
    auto t = MakeUv<uv_timer_t>(uv_timer_init, loop_);
    if (!t) return;  // no timer: no deadline, as before there was one
    deadline_ = std::move(t.value());
    deadline_->data = this;
  }
  deadline_why_ = std::move(why);
  uv_timer_start(deadline_.get(), [](uv_timer_t* t) {
    auto* c = static_cast<StreamConn*>(t->data);
    if (c == nullptr) return;
    auto keep = c->shared_from_this();
    c->Close({CloseReason::kTimeout, c->deadline_why_});
  }, ms, 0);
}

void StreamConn::ClearDeadline() {
  if (deadline_) uv_timer_stop(deadline_.get());
}

void StreamConn::Close(CloseReason reason) {
  if (closed_) return;
  closed_ = true;
  auto keep = weak_from_this().lock();
  // The owner hears (and logs) why before the other side sees the socket close. The other
  // handlers stay until the destructor: one of them may be running now.
  OnClose cb = std::move(handlers_.on_close);
  if (cb) cb(reason);
  ReleaseHandles();
}

void StreamConn::Abandon() {
  closed_ = true;
  ReleaseHandles();
}

}  // namespace tailsafe
