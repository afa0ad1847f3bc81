// WebDriver: headless Chromium driven through Debian's chromedriver (the W3C WebDriver protocol,
// JSON over HTTP on loopback), for tests that load a page and ask it questions. Start() spawns
// chromedriver and opens a session; each call is one blocking request with a deadline.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "tests/support/process.h"

namespace tailsafe::testing {

class WebDriver {
 public:
  // Whether chromium and chromedriver are installed (tests skip, saying so, when not).
  static std::string Missing();
  ~WebDriver();
  // Spawns chromedriver (its log in `log_path`) and opens a headless session `width` x `height`.
  Status Start(const std::string& log_path, int width, int height);
  Status Navigate(const std::string& url);
  // Runs `script` (a function body: `return ...;`) in the page; its value.
  Result<nlohmann::json> Execute(const std::string& script);
  // Waits until `script` returns true, or `seconds` pass; the last value seen in `last`.
  bool WaitTrue(const std::string& script, double seconds, nlohmann::json* last = nullptr);
  Status Resize(int width, int height);
  // A PNG of the viewport, written to `path`.
  Status Screenshot(const std::string& path);

 private:
  Result<nlohmann::json> Call(const char* method, const std::string& path, const nlohmann::json& body);

  Child driver_;
  uint16_t port_ = 0;
  std::string session_;
};

// Where tests leave files for people to look at (screenshots): TAILSAFE_ARTIFACTS_DIR, or
// BinDir()/test-artifacts; created if missing.
std::string ArtifactsDir();

}  // namespace tailsafe::testing
