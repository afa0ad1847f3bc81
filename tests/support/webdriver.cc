#include "tests/support/webdriver.h"

#include <poll.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <fstream>
#include <thread>

#include "common/clock.h"
#include "tests/support/cluster.h"
#include "common/fd.h"
#include "tests/support/net.h"

namespace tailsafe::testing {
namespace {

constexpr const char* kChromium = "/usr/bin/chromium";
constexpr const char* kDriver = "/usr/bin/chromedriver";

// One request to chromedriver, which keeps connections open whatever the client asks: the
// response ends at its Content-Length. Its body, or an error.
Result<std::string> Exchange(uint16_t port, const std::string& request, double seconds) {
  Fd fd = ConnectTo(port);
  if (!fd) return Status::Error("cannot connect to chromedriver on port " + std::to_string(port));
  if (::write(fd.get(), request.data(), request.size()) != static_cast<ssize_t>(request.size())) {
    return Status::Error("short write to chromedriver");
  }
  std::string got;
  uint64_t deadline = NowNs() + static_cast<uint64_t>(seconds * 1e9);
  for (;;) {
    size_t head = got.find("\r\n\r\n");
    if (head != std::string::npos) {
      std::string lower = got.substr(0, head);
      for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      size_t cl = lower.find("content-length:");
      if (cl == std::string::npos) return Status::Error("chromedriver sent no Content-Length: " + got.substr(0, 200));
      size_t len = std::strtoul(lower.c_str() + cl + 15, nullptr, 10);
      if (got.size() >= head + 4 + len) return got.substr(head + 4, len);
    }
    uint64_t now = NowNs();
    if (now >= deadline) return Status::Error("chromedriver did not answer in time; got: " + got.substr(0, 200));
    pollfd p{fd.get(), POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>((deadline - now) / 1000000 + 1)) <= 0) continue;
    char buf[65536];
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n <= 0) return Status::Error("chromedriver closed the connection; got: " + got.substr(0, 200));
    got.append(buf, static_cast<size_t>(n));
  }
}

}  // namespace

std::string WebDriver::Missing() {
  for (const char* p : {kChromium, kDriver}) {
    if (::access(p, X_OK) != 0) return std::string(p) + " is missing (apt-get install chromium chromium-driver)";
  }
  return "";
}

std::string ArtifactsDir() {
  const char* env = std::getenv("TAILSAFE_ARTIFACTS_DIR");
  std::string dir = env && *env ? env : BinDir() + "/test-artifacts";
  ::mkdir(dir.c_str(), 0755);
  return dir;
}

WebDriver::~WebDriver() {
  if (!session_.empty()) (void)Call("DELETE", "/session/" + session_, nullptr);
}

Result<nlohmann::json> WebDriver::Call(const char* method, const std::string& path, const nlohmann::json& body) {
  std::string payload = body.is_null() ? "" : body.dump();
  std::string request = std::string(method) + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
  if (!body.is_null()) request += "Content-Type: application/json\r\nContent-Length: " + std::to_string(payload.size()) + "\r\n";
  auto text = Exchange(port_, request + "\r\n" + payload, 60);
  if (!text) return text.status();
  auto reply = nlohmann::json::parse(*text, nullptr, false);
  if (!reply.is_object()) return Status::Error(std::string(method) + " " + path + ": not JSON: " + text->substr(0, 300));
  const nlohmann::json& value = reply.contains("value") ? reply["value"] : reply;
  if (value.is_object() && value.contains("error")) {
    return Status::Error(std::string(method) + " " + path + ": " + value.value("error", "") + ": " +
                         value.value("message", "").substr(0, 300));
  }
  return value;
}

Status WebDriver::Start(const std::string& log_path, int width, int height) {
  port_ = FreePort();
  auto child = Child::Spawn({kDriver, "--port=" + std::to_string(port_)}, log_path);
  if (!child) return child.status();
  driver_ = std::move(child.value());
  uint64_t deadline = NowNs() + 20000000000ull;
  for (;;) {
    auto status = Call("GET", "/status", nullptr);
    if (status && status->value("ready", false)) break;
    if (NowNs() > deadline) return Status::Error("chromedriver did not become ready in 20 s; see " + log_path);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // polling a condition, with a deadline
  }
  nlohmann::json caps = {
      {"capabilities",
       {{"alwaysMatch",
         {{"browserName", "chrome"},
          {"goog:chromeOptions",
           {{"binary", kChromium},
            {"args", {"--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                      "--window-size=" + std::to_string(width) + "," + std::to_string(height)}}}}}}}}};
  auto session = Call("POST", "/session", caps);
  if (!session) return session.status();
  session_ = session->value("sessionId", "");
  if (session_.empty()) return Status::Error("chromedriver gave no session id: " + session->dump());
  return Status::Ok();
}

Status WebDriver::Navigate(const std::string& url) {
  auto r = Call("POST", "/session/" + session_ + "/url", {{"url", url}});
  return r ? Status::Ok() : r.status();
}

Result<nlohmann::json> WebDriver::Execute(const std::string& script) {
  return Call("POST", "/session/" + session_ + "/execute/sync", {{"script", script}, {"args", nlohmann::json::array()}});
}

bool WebDriver::WaitTrue(const std::string& script, double seconds, nlohmann::json* last) {
  uint64_t deadline = NowNs() + static_cast<uint64_t>(seconds * 1e9);
  for (;;) {
    auto v = Execute(script);
    if (last) *last = v ? *v : nlohmann::json(v.status().message());
    if (v && v->is_boolean() && v->get<bool>()) return true;
    if (NowNs() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // polling a condition, with a deadline
  }
}

Status WebDriver::Resize(int width, int height) {
  auto r = Call("POST", "/session/" + session_ + "/window/rect", {{"width", width}, {"height", height}});
  return r ? Status::Ok() : r.status();
}

Status WebDriver::Screenshot(const std::string& path) {
  auto r = Call("GET", "/session/" + session_ + "/screenshot", nullptr);
  if (!r) return r.status();
  if (!r->is_string()) return Status::Error("the screenshot is not a string");
  std::string b64 = r->get<std::string>();
  std::string png(b64.size(), '\0');
  size_t len = 0;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(png.data()), png.size(), b64.data(), b64.size(), nullptr, &len,
                        nullptr, sodium_base64_VARIANT_ORIGINAL) != 0) {
    return Status::Error("the screenshot is not base64");
  }
  png.resize(len);
  std::ofstream(path, std::ios::binary) << png;
  return Status::Ok();
}

}  // namespace tailsafe::testing
