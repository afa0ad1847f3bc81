#include "common/http_server.h"

#include "common/log.h"

namespace tailsafe {
namespace {

bool IsTokenChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

HttpParse Fail(int status, std::string why) {
  HttpParse p;
  p.status = status;
  p.error = std::move(why);
  return p;
}

}  // namespace

HttpParse ParseHttpRequestHead(std::string_view head) {
  size_t eol = head.find("\r\n");
  if (eol == std::string_view::npos) {
    // Nothing to judge yet, unless what is there already cannot be a request line.
    for (char c : head) {
      if (c == '\0' || c == '\n') return Fail(400, "malformed request line");
    }
    return HttpParse{};
  }
  std::string_view line = head.substr(0, eol);
  size_t sp1 = line.find(' ');
  size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp1 == std::string_view::npos || sp2 == std::string_view::npos || sp1 == 0 ||
      line.find(' ', sp2 + 1) != std::string_view::npos) {
    return Fail(400, "malformed request line");
  }
  std::string_view method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = line.substr(sp2 + 1);
  for (char c : method) {
    if (!IsTokenChar(c)) return Fail(400, "malformed method");
  }
  if (version != "HTTP/1.1" && version != "HTTP/1.0") return Fail(505, "only HTTP/1.0 and HTTP/1.1");
  if (target.empty() || target[0] != '/') return Fail(400, "the target must be a path");
  for (char c : target) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return Fail(400, "malformed target");
  }
  // Header lines: NAME ":" VALUE, each ending in CRLF, then an empty line.
  size_t pos = eol + 2;
  bool complete = false;
  while (pos < head.size()) {
    size_t end = head.find("\r\n", pos);
    if (end == std::string_view::npos) break;  // not all here yet
    if (end == pos) {
      complete = true;
      break;
    }
    std::string_view h = head.substr(pos, end - pos);
    size_t colon = h.find(':');
    if (colon == std::string_view::npos || colon == 0) return Fail(400, "malformed header line");
    for (size_t i = 0; i < colon; ++i) {
      if (!IsTokenChar(h[i])) return Fail(400, "malformed header name");
    }
    for (char c : h) {
      if (c == '\0' || c == '\n' || c == '\r') return Fail(400, "malformed header value");
    }
    pos = end + 2;
  }
  HttpParse p;
  p.complete = complete;
  p.request.method.assign(method);
  p.request.path.assign(target.substr(0, target.find('?')));
  return p;
}

struct MetricsServer::Client {
  std::shared_ptr<StreamConn> conn;
  std::string head;
  bool answered = false;
};

MetricsServer::MetricsServer(uv_loop_t* loop, std::string who, std::function<std::string()> render)
    : loop_(loop), who_(std::move(who)), render_(std::move(render)) {}

MetricsServer::~MetricsServer() { Stop(); }

Status MetricsServer::Listen(const HostPort& where) {
  Status s = listener_.Listen(loop_, where.host, where.port, [this](UvPtr<uv_tcp_t> tcp) { OnAccept(std::move(tcp)); });
  if (!s) return Status::Error("metrics_listen: " + s.message());
  return Status::Ok();
}

void MetricsServer::Stop() {
  listener_.Stop();
  clients_.clear();
}

void MetricsServer::OnAccept(UvPtr<uv_tcp_t> tcp) {
  if (clients_.size() >= kMaxClients) {
    static uint64_t said = 0;
    if (said++ % 1000 == 0) LOG_WARN("%s: metrics: %zu connections open, closing a new one", who_.c_str(), clients_.size());
    return;  // `tcp` closes as it goes out of scope
  }
  auto client = std::make_unique<Client>();
  Client* c = client.get();
  // One reply of known size: only the deadline bounds it.
  c->conn = std::make_shared<StreamConn>(std::move(tcp), 0);
  StreamConn::Handlers h;
  h.on_data = [this, c](std::string_view bytes) {
    if (c->answered) return;
    c->head.append(bytes);
    OnData(c);
  };
  h.on_written = [c](size_t) { c->conn->Close({CloseReason::kEnded, "answered"}); };
  h.on_close = [this, c](const CloseReason&) { clients_.erase(c); };
  if (!c->conn->Start(std::move(h))) return;
  c->conn->SetDeadline(kTimeoutMs, "no request within " + std::to_string(kTimeoutMs / 1000) + " s");
  clients_[c] = std::move(client);
}

void MetricsServer::OnData(Client* c) {
  HttpParse p = ParseHttpRequestHead(c->head);
  if (p.status == 0 && !p.complete && c->head.size() > kMaxHead) {
    p.status = 431;
    p.error = "request head over " + std::to_string(kMaxHead) + " bytes";
  }
  if (p.status != 0) {
    static const std::map<int, const char*> kReason = {
        {400, "Bad Request"}, {431, "Request Header Fields Too Large"}, {505, "HTTP Version Not Supported"}};
    auto it = kReason.find(p.status);
    return Answer(c, p.status, it == kReason.end() ? "Bad Request" : it->second, "text/plain; charset=utf-8",
                  p.error + "\n", false);
  }
  if (!p.complete) return;
  const HttpRequest& r = p.request;
  bool head_only = r.method == "HEAD";
  if (r.method != "GET" && !head_only) {
    return Answer(c, 405, "Method Not Allowed", "text/plain; charset=utf-8", "only GET and HEAD\n", false);
  }
  if (r.path == "/metrics") {
    ++scrapes_;
    return Answer(c, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", render_(), head_only);
  }
  if (r.path == "/") {
    return Answer(c, 200, "OK", "text/plain; charset=utf-8", "tailsafe " + who_ + ": metrics at /metrics\n", head_only);
  }
  Answer(c, 404, "Not Found", "text/plain; charset=utf-8", "not found; metrics are at /metrics\n", head_only);
}

void MetricsServer::Answer(Client* c, int status, std::string_view reason, std::string_view type, std::string body,
                           bool head_only) {
  c->answered = true;
  c->conn->StopReading();
  std::string out = "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason) + "\r\nContent-Type: " +
                    std::string(type) + "\r\nContent-Length: " + std::to_string(body.size()) +
                    "\r\nConnection: close\r\n\r\n";
  if (!head_only) out += body;
  c->conn->Write(std::move(out));
}

}  // namespace tailsafe
