#include "tests/support/loglines.h"

#include <cmath>
#include <cstdio>
#include <ctime>

namespace tailsafe::testing {
namespace {

const char* kHosts[] = {"www.example.com", "shop.example.com", "api.example.com", "static.example.net",
                        "blog.example.org", "img.example.net", "m.example.com", "news.example.org"};
const char* kPaths[] = {"/", "/index.html", "/api/v1/items", "/api/v1/cart", "/static/app.js", "/static/app.css",
                        "/login", "/search", "/product/", "/category/", "/images/logo.png", "/favicon.ico",
                        "/checkout", "/api/v2/recommendations", "/blog/post/", "/robots.txt"};
const char* kAgents[] = {
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "curl/7.88.1",
};
const int kStatus[] = {200, 200, 200, 200, 200, 200, 304, 301, 404, 500};
const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

}  // namespace

LogLines::LogLines(uint64_t seed) : rng_(seed) {}

size_t LogLines::Zipf(size_t n) {
  // Inverse-CDF approximation of Zipf(s=1): popular items far more often than rare ones.
  double u = std::uniform_real_distribution<double>(0, 1)(rng_);
  size_t k = static_cast<size_t>(std::exp(u * std::log(static_cast<double>(n) + 1))) - 1;
  return k < n ? k : n - 1;
}

void LogLines::AppendLine(std::string* out) {
  if (++count_ % 50 == 0) ++seconds_;
  time_t t = static_cast<time_t>(seconds_);
  tm tm;
  gmtime_r(&t, &tm);
  char line[512];
  uint32_t ip = static_cast<uint32_t>(rng_() % 5000);
  const char* path = kPaths[Zipf(sizeof kPaths / sizeof *kPaths)];
  int n = snprintf(line, sizeof line,
                   "%u.%u.%u.%u - - [%02d/%s/%04d:%02d:%02d:%02d +0000] \"GET %s%s%u HTTP/1.1\" %d %u \"https://%s/\" "
                   "\"%s\" host=%s\n",
                   10u, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255, tm.tm_mday, kMonths[tm.tm_mon],
                   tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec, path,
                   path[std::char_traits<char>::length(path) - 1] == '/' ? "" : "?id=",
                   static_cast<unsigned>(Zipf(100000)), kStatus[rng_() % 10], static_cast<unsigned>(rng_() % 60000),
                   kHosts[Zipf(8)], kAgents[Zipf(5)], kHosts[Zipf(8)]);
  out->append(line, static_cast<size_t>(n));
}

void LogLines::AppendBytes(std::string* out, size_t bytes) {
  size_t want = out->size() + bytes;
  while (out->size() < want) AppendLine(out);
}

size_t RandomWriteSize(std::mt19937_64& rng, size_t max) {
  double lo = 0, hi = std::log(static_cast<double>(max));
  double x = std::uniform_real_distribution<double>(lo, hi)(rng);
  size_t n = static_cast<size_t>(std::exp(x));
  return n < 1 ? 1 : (n > max ? max : n);
}

}  // namespace tailsafe::testing
