#include "agent/control_server.h"

#include <nlohmann/json.hpp>

#include "common/log.h"

namespace tailsafe {

namespace {
std::string ErrorReply(const std::string& why) {
  return nlohmann::json{{"error", why}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}
}  // namespace

std::string ControlReply(const std::string& req, const std::map<std::string, std::function<std::string()>>& routes) {
  // Replies are built from peer-supplied text too (errors, ids): never let bad UTF-8 or any
  // other exception escape into libuv's C callbacks.
  try {
    auto it = routes.find(req);
    if (it != routes.end()) return it->second();
    return ErrorReply("unknown request '" + req.substr(0, 64) + "'; try 'status'");
  } catch (const std::exception& e) {
    return ErrorReply(std::string("internal error: ") + e.what());
  }
}

struct ControlServer::Client {
  std::shared_ptr<StreamConn> conn;
  std::string request;
  bool answered = false;
};

ControlServer::ControlServer(uv_loop_t* loop, std::string path, std::function<std::string(const std::string&)> handler)
    : loop_(loop), path_(std::move(path)), handler_(std::move(handler)) {}

ControlServer::~ControlServer() { Stop(); }

Status ControlServer::Listen() {
  return listener_.Listen(loop_, path_, 0660, [this](UvPtr<uv_pipe_t> pipe) { OnAccept(std::move(pipe)); });
}

void ControlServer::Stop() {
  listener_.Stop();
  clients_.clear();
}

void ControlServer::OnAccept(UvPtr<uv_pipe_t> pipe) {
  auto client = std::make_unique<Client>();
  Client* c = client.get();
  // A reply is written whole and has a known size: only the deadline bounds it.
  c->conn = std::make_shared<StreamConn>(std::move(pipe), 0);
  StreamConn::Handlers h;
  h.on_data = [this, c](std::string_view bytes) { OnData(c, bytes); };
  h.on_eof = [this, c] {
    if (!c->answered) Answer(c);  // a request without its newline: answer what came
    return Status::Ok();
  };
  h.close_at_eof = false;  // the reply may still be on its way; it closes when written
  h.on_written = [this, c](size_t) { c->conn->Close({CloseReason::kEnded, "answered"}); };
  h.on_close = [this, c](const CloseReason& r) {
    if (r.kind == CloseReason::kTimeout) LOG_INFO("control socket: closed a client: %s", r.why.c_str());
    clients_.erase(c);
  };
  if (!c->conn->Start(std::move(h))) return;
  c->conn->SetDeadline(kTimeoutMs, "no request and reply within " + std::to_string(kTimeoutMs / 1000) + " s");
  clients_[c] = std::move(client);
}

void ControlServer::OnData(Client* c, std::string_view bytes) {
  if (c->answered) return;
  c->request.append(bytes);
  if (c->request.find('\n') != std::string::npos || c->request.size() > kMaxRequest) Answer(c);
}

void ControlServer::Answer(Client* c) {
  c->answered = true;
  c->conn->StopReading();
  c->request.resize(std::min(c->request.find('\n'), c->request.size()));
  c->conn->Write(handler_(c->request) + "\n");
}

}  // namespace tailsafe
