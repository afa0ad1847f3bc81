#include "coordinator/status_page.h"

#include <sodium.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/fd.h"
#include "common/format.h"
#include "common/log.h"
#include "coordinator/status_html.h"

// The page's script and stylesheet (coordinator/web/), built into the binary by
// coordinator/status_assets.cc.
extern "C" const char ts_web_app_js[], ts_web_app_js_end[], ts_web_style_css[], ts_web_style_css_end[];

namespace tailsafe {
namespace {

using json = nlohmann::json;

HttpReply Text(int status, std::string body) {
  HttpReply r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

HttpReply Asset(const char* begin, const char* end, const char* type) {
  HttpReply r;
  r.type = type;
  r.body.assign(begin, end);
  r.headers.emplace_back("Cache-Control", "no-cache");
  return r;
}

// Which section a namespace path shows in.
const char* SectionOf(const std::string& path) {
  if (path.rfind("/agents/", 0) == 0) return "agents";
  if (path.rfind("/bolts/", 0) == 0) return "bolts";
  if (path.rfind("/recoveries/", 0) == 0) return "recoveries";
  return nullptr;
}

}  // namespace

const std::set<std::string> StatusPage::kAll = {"summary", "agents", "bolts", "recoveries"};

StatusPage::StatusPage(uv_loop_t* loop, const CoordinatorConfig& config, Sources sources)
    : loop_(loop), config_(config), sources_(std::move(sources)), http_(loop, "coordinator http") {
  http_.Guard([this](const HttpRequest& req) { return Guard(req); });
  http_.Route("/", [this](const HttpRequest& req) {
    HttpReply r;
    r.type = "text/html; charset=utf-8";
    r.headers.emplace_back("Cache-Control", "no-store");
    json status = Snapshot();
    r.body = RenderStatusPage(status);
    r.headers.emplace_back("Content-Security-Policy", Policy(status));
    if (req.token_in_query && !token_.empty()) {
      r.headers.emplace_back("Set-Cookie", std::string(kTokenCookie) + "=" + req.token + "; Path=/; HttpOnly; SameSite=Strict");
    }
    return r;
  });
  http_.Route("/api/status", [this](const HttpRequest&) {
    HttpReply r;
    r.type = "application/json";
    r.body = Snapshot().dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
    r.headers.emplace_back("Cache-Control", "no-store");
    return r;
  });
  http_.StreamRoute("/api/events", [this](const HttpRequest&) {
    OnLeadership();  // every section, soon: what changed since its page was rendered
    HttpReply r;
    r.type = "text/event-stream";
    r.headers.emplace_back("Cache-Control", "no-store");
    // Reconnect after 2 s; the page it has is this instance's snapshot, so every section follows.
    r.body = "retry: 2000\n: tailsafe status events\n\n";
    return r;
  });
  http_.Route("/api/role", [this](const HttpRequest&) {
    json c = sources_.coordinator();
    json role = {{"leading", Get<bool>(c, "leading", false)}, {"term", Get<uint64_t>(c, "term", 0)},
                 {"page", Get<std::string>(c, "page", "")}};
    HttpReply r;
    r.type = "application/json";
    r.body = role.dump() + "\n";
    r.headers.emplace_back("Cache-Control", "no-store");
    r.headers.emplace_back("Access-Control-Allow-Origin", "*");
    return r;
  });
  http_.Route("/metrics", [this](const HttpRequest&) {
    HttpReply r;
    r.type = "text/plain; version=0.0.4; charset=utf-8";
    r.body = sources_.metrics();
    return r;
  });
  http_.Route("/app.js", [](const HttpRequest&) {
    return Asset(ts_web_app_js, ts_web_app_js_end, "text/javascript; charset=utf-8");
  });
  http_.Route("/style.css", [](const HttpRequest&) {
    return Asset(ts_web_style_css, ts_web_style_css_end, "text/css; charset=utf-8");
  });
}

Status StatusPage::Start() {
  if (!config_.http_listen) return Status::Ok();
  if (!config_.http_token_file.empty()) {
    auto text = ReadSmallFile(config_.http_token_file, 4096);
    if (!text) return Status::Error("http_token_file: " + text.status().message());
    token_ = *text;
    while (!token_.empty() && (token_.back() == '\n' || token_.back() == '\r' || token_.back() == ' ')) token_.pop_back();
    if (token_.size() < kMinTokenBytes || token_.find_first_of(" \t\r\n;") != std::string::npos) {
      return Status::Error("http_token_file: " + config_.http_token_file + " must hold one token of at least " +
                           std::to_string(kMinTokenBytes) + " characters, without spaces or ';'");
    }
  }
  if (Status s = http_.Listen(*config_.http_listen, "http_listen"); !s) return s;
  auto timer = MakeUv<uv_timer_t>(uv_timer_init, loop_);
  if (!timer) return Status::Error("http_listen: " + timer.status().message());
  timer_ = std::move(timer.value());
  timer_->data = this;
  uv_timer_start(timer_.get(), [](uv_timer_t* t) {
    if (t->data != nullptr) static_cast<StatusPage*>(t->data)->Tick(NowNs());
  }, kTickMs, kTickMs);
  return Status::Ok();
}

void StatusPage::Stop() {
  timer_.Reset();
  http_.Stop();
}

std::optional<HttpReply> StatusPage::Guard(const HttpRequest& req) const {
  if (token_.empty() || req.path == "/app.js" || req.path == "/style.css" || req.path == "/api/role") return std::nullopt;
  if (req.token.size() == token_.size() && sodium_memcmp(req.token.data(), token_.data(), token_.size()) == 0) {
    return std::nullopt;
  }
  HttpReply r = Text(401, "this page needs the token in http_token_file: open /?token=TOKEN, or send Authorization: Bearer TOKEN\n");
  r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"tailsafe\"");
  return r;
}

std::string StatusPage::PageUrl(const CoordinatorConfig& config, const std::string& hostname) {
  if (!config.http_listen) return "";
  auto wildcard = [](const std::string& host) { return host.empty() || host == "0.0.0.0" || host == "::"; };
  HostPort where = *config.http_listen;
  if (wildcard(where.host)) {
    Result<HostPort> listen = ParseHostPort(config.listen);
    where.host = listen && !wildcard(listen->host) ? listen->host : hostname;
  }
  return "http://" + where.ToString() + "/";
}

std::string StatusPage::PageUrl(const CoordinatorConfig& config) {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0) name[0] = '\0';
  return PageUrl(config, name[0] ? name : "localhost");
}

std::string StatusPage::Policy(const json& status) {
  std::set<std::string> origins;
  const json& c = Field(status, "coordinator");
  for (const auto& one : Field(c, "instances")) {
    std::string page = Get<std::string>(one, "page", "");
    // An origin is scheme://host:port: no path, and nothing a header or the policy would split on.
    if (page.rfind("http://", 0) != 0 || page.find_first_of(" ;,'\"\r\n") != std::string::npos) continue;
    size_t end = page.find('/', 7);
    origins.insert(page.substr(0, end));
  }
  std::string connect = "'self'";
  for (const auto& o : origins) connect += " " + o;
  return "default-src 'self'; style-src 'self'; img-src 'self' data:; connect-src " + connect;
}

json StatusPage::Snapshot() const { return WithHistory(sources_.status()); }

json StatusPage::WithHistory(json s) const {
  json history = json::object();
  for (const auto& [key, points] : history_) {
    json list = json::array();
    for (const auto& [t, v] : points) list.push_back({t, v});
    history[key] = std::move(list);
  }
  s["lag_history"] = std::move(history);
  return s;
}

void StatusPage::OnCommitted(const std::vector<NamespaceStore::Write>& writes) {
  if (http_.streams() == 0) return;  // a new client starts from the page it loads
  for (const auto& w : writes) {
    if (const char* section = SectionOf(w.path)) {
      dirty_.insert(section);
      dirty_.insert("summary");  // its counts
    }
  }
}

void StatusPage::Sample(const json& status) {
  uint64_t now = UnixNowMs();
  std::set<std::string> seen;
  for (const auto& [path, b] : Field(status, "bolts").items()) {
    std::string key = Get<std::string>(b, "origin", "") + "/" + Get<std::string>(b, "bolt", "");
    auto& points = history_[key];
    points.emplace_back(now, Get<uint64_t>(b, "lag_bytes", 0));
    if (points.size() > kHistoryPoints) points.erase(points.begin(), points.end() - kHistoryPoints);
    seen.insert(key);
  }
  std::erase_if(history_, [&](const auto& kv) { return !seen.count(kv.first); });  // bolts gone
}

void StatusPage::Tick(uint64_t now) {
  json status;  // built at most once a tick
  if (now - last_live_ns_ >= kLiveEveryMs * 1000000) {
    last_live_ns_ = now;
    status = sources_.status();
    Sample(status);
    if (http_.streams() > 0) {
      // Heartbeats and lag are not commits: the sections that show them go out on this clock.
      dirty_.insert({"summary", "agents", "bolts"});
    }
  }
  if (dirty_.empty() || http_.streams() == 0 || now - last_sent_ns_ < kCoalesceMs * 1000000) return;
  if (!sources_.settled()) return;  // a decision shows once it is durable
  last_sent_ns_ = now;
  Send(dirty_, WithHistory(status.is_null() ? sources_.status() : std::move(status)));
  dirty_.clear();
}

void StatusPage::Send(const std::set<std::string>& sections, const json& status) {
  std::string events;
  for (std::string_view id : kStatusSections) {
    if (!sections.count(std::string(id))) continue;
    json msg = {{"id", id}, {"html", RenderSection(id, status)}};
    events += "event: section\ndata: " + msg.dump(-1, ' ', false, json::error_handler_t::replace) + "\n\n";
  }
  http_.Broadcast("/api/events", events);
}

}  // namespace tailsafe
