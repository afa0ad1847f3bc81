#include "agent/control_server.h"

#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"

namespace tailsafe {
namespace {

constexpr size_t kMaxRequest = 4096;

struct ReplyWrite {
  uv_write_t req;
  std::string data;
};

}  // namespace

struct ControlServer::Client {
  ControlServer* server;
  UvPtr<uv_pipe_t> pipe;
  std::string request;
  bool answered = false;
};

ControlServer::ControlServer(uv_loop_t* loop, std::string path, std::function<std::string(const std::string&)> handler)
    : loop_(loop), path_(std::move(path)), handler_(std::move(handler)) {}

ControlServer::~ControlServer() { Stop(); }

Status ControlServer::Listen() {
  auto pipe = MakeUv<uv_pipe_t>(uv_pipe_init, loop_, 0);
  if (!pipe) return pipe.status();
  listener_ = std::move(pipe.value());
  listener_->data = this;
  ::unlink(path_.c_str());  // a stale socket from a previous run
  int rc = uv_pipe_bind(listener_.get(), path_.c_str());
  if (rc == 0) {
    ::chmod(path_.c_str(), 0660);
    rc = uv_listen(listener_.stream(), 16, [](uv_stream_t* s, int status) {
      auto* self = static_cast<ControlServer*>(s->data);
      if (self != nullptr && status == 0) self->OnConnection();
    });
  }
  if (rc != 0) return UvStatus("control socket " + path_, rc);
  return Status::Ok();
}

void ControlServer::Stop() {
  if (listener_) {
    listener_.Reset();
    ::unlink(path_.c_str());
  }
  clients_.clear();
}

void ControlServer::OnConnection() {
  auto pipe = MakeUv<uv_pipe_t>(uv_pipe_init, loop_, 0);
  if (!pipe) return;
  if (uv_accept(listener_.stream(), pipe->stream()) != 0) return;
  auto client = std::make_unique<Client>();
  client->server = this;
  client->pipe = std::move(pipe.value());
  client->pipe->data = client.get();
  Client* raw = client.get();
  clients_[raw] = std::move(client);
  uv_read_start(
      raw->pipe.stream(),
      AllocReadBuffer,
      [](uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
        auto* c = static_cast<Client*>(s->data);
        if (c != nullptr && !c->answered) {
          if (nread > 0) c->request.append(buf->base, static_cast<size_t>(nread));
          size_t nl = c->request.find('\n');
          if (nl != std::string::npos || nread < 0 || c->request.size() > kMaxRequest) {
            c->request.resize(std::min(nl, c->request.size()));
            c->server->Finish(c);
          }
        }
        delete[] buf->base;
      });
}

void ControlServer::Finish(Client* c) {
  c->answered = true;
  uv_read_stop(c->pipe.stream());
  auto* w = new ReplyWrite{};
  w->data = handler_(c->request);
  w->data += '\n';
  uv_buf_t buf = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
  int rc = uv_write(&w->req, c->pipe.stream(), &buf, 1, [](uv_write_t* req, int status) {
    auto* wr = reinterpret_cast<ReplyWrite*>(req);
    // A closed pipe's data is null (UvPtr::Reset), so a late callback finds no client.
    (void)status;
    if (auto* client = static_cast<Client*>(req->handle->data)) client->server->clients_.erase(client);
    delete wr;
  });
  if (rc != 0) {
    delete w;
    clients_.erase(c);
  }
}

}  // namespace tailsafe
