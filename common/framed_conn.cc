#include "common/framed_conn.h"

namespace tailsafe {

FramedConn::FramedConn(UvPtr<uv_tcp_t> tcp, SecureChannel::Role role, const ClusterKeys* keys, Options options)
    : stream_(std::make_shared<StreamConn>(std::move(tcp), options.max_queued)),
      channel_(role, keys, options.max_payload),
      options_(std::move(options)) {}

FramedConn::~FramedConn() { stream_->Abandon(); }

Status FramedConn::Start(Handlers handlers) {
  handlers_ = std::move(handlers);
  std::weak_ptr<FramedConn> weak = weak_from_this();
  StreamConn::Handlers h;
  // Each handler holds the connection for as long as it runs: the owner may drop it meanwhile.
  h.on_data = [weak](std::string_view bytes) {
    if (auto self = weak.lock()) self->OnData(bytes);
  };
  h.on_eof = [weak]() {
    auto self = weak.lock();
    return self ? self->channel_.AtEof() : Status::Ok();
  };
  h.on_close = [weak](const CloseReason& r) {
    if (auto self = weak.lock()) self->OnStreamClosed(r);
  };
  if (handlers_.on_written) {
    h.on_written = [weak](size_t n) {
      if (auto self = weak.lock(); self && !self->closed_) self->handlers_.on_written(n);
    };
  }
  if (Status s = stream_->Start(std::move(h)); !s) {
    closed_ = true;
    return s;
  }
  started_ms_ = uv_now(stream_->loop());
  awaiting_first_ = !options_.first_frame.empty();
  stream_->SetDeadline(kHandshakeTimeoutMs, "no secure handshake within " + std::to_string(kHandshakeTimeoutMs / 1000) + " s");
  stream_->Write(channel_.Start());
  return Status::Ok();
}

void FramedConn::OnData(std::string_view bytes) {
  if (closed_) return;
  std::string reply;
  bool was_established = channel_.established();
  Status cs = channel_.Receive(bytes, &reply);
  if (!reply.empty()) stream_->Write(std::move(reply));
  if (closed_) return;
  if (!cs) return Close(cs.message(), was_established ? CloseReason::kProtocol : CloseReason::kAuth);
  if (!was_established && channel_.established()) {
    if (!awaiting_first_) {
      stream_->ClearDeadline();
    } else {
      uint64_t spent = uv_now(stream_->loop()) - started_ms_;
      stream_->SetDeadline(kHandshakeTimeoutMs > spent ? kHandshakeTimeoutMs - spent : 1,
                           "no " + options_.first_frame + " within " + std::to_string(kHandshakeTimeoutMs / 1000) + " s");
    }
  }
  while (!closed_) {
    Frame f;
    Status err;
    FrameReader::Result r = channel_.Next(&f, &err);
    if (r == FrameReader::Result::kNeedMore) break;
    if (r == FrameReader::Result::kError) return Close("bad frame: " + err.message(), CloseReason::kProtocol);
    if (awaiting_first_) {
      awaiting_first_ = false;
      stream_->ClearDeadline();
    }
    if (Status s = handlers_.on_frame(f); !s) return Close(s.message(), CloseReason::kProtocol);
  }
  if (!closed_ && handlers_.on_batch) handlers_.on_batch();
}

void FramedConn::Send(std::string_view frames) {
  if (closed_) return;
  if (corked_) {
    cork_.append(frames);
    if (cork_.size() < kCorkBytes) return;
    frames = cork_;
  }
  std::string wire;
  channel_.Seal(frames, &wire);
  cork_.clear();  // sealed (frames may have pointed into it)
  stream_->Write(std::move(wire));
}

void FramedConn::Uncork() {
  corked_ = false;
  if (cork_.empty() || closed_) return cork_.clear();
  std::string frames;
  frames.swap(cork_);
  Send(frames);
}

void FramedConn::Close(const std::string& why, CloseReason::Kind kind) {
  if (closed_) return;
  CloseReason reason{kind, why};
  if (reason.error() && channel_.established() && options_.farewell) {
    // Best effort: it leaves at once unless the socket is already full.
    std::string wire;
    channel_.Seal(options_.farewell(why), &wire);
    stream_->WriteLast(wire);
  }
  stream_->Close(std::move(reason));
}

void FramedConn::OnStreamClosed(const CloseReason& reason) {
  if (closed_) return;
  closed_ = true;
  // The other handlers stay until the destructor: one of them may be the caller.
  OnClose cb = std::move(handlers_.on_close);
  if (cb) cb(reason);
}

}  // namespace tailsafe
