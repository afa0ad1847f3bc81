#include "examples/weblog/generator.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "examples/weblog/log_format.h"

namespace weblog {
namespace {

const char* const kHosts[] = {"www.example.com",  "shop.example.com", "api.example.com",   "static.example.net",
                              "blog.example.org", "img.example.net",  "m.example.com",     "news.example.org",
                              "docs.example.com", "cdn.example.net",  "mail.example.com",  "status.example.org"};
const char* const kAgents[] = {
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 "
    "Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 "
    "Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.43 Mobile "
    "Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 "
    "Edg/120.0.2210.61",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "curl/7.88.1",
    "python-requests/2.28.1",
    "Wget/1.21.3",
    "Go-http-client/1.1",
};
const char* const kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

// Requests per minute over a day, relative: lowest at 04:00, highest at 16:00.
double Diurnal(int64_t minute_of_day) {
  double h = static_cast<double>(minute_of_day) / 60.0;
  return 0.2 + 0.8 * (1 - std::cos(2 * M_PI * (h - 4.0) / 24.0)) / 2;
}

}  // namespace

Generator::Zipf Generator::MakeZipf(size_t n, double s) {
  Zipf z;
  double sum = 0;
  for (size_t k = 1; k <= n; ++k) {
    sum += 1.0 / std::pow(static_cast<double>(k), s);
    z.cdf.push_back(sum);
  }
  for (double& c : z.cdf) c /= sum;
  return z;
}

size_t Generator::Zipf::Sample(std::mt19937_64& rng) const {
  double u = std::uniform_real_distribution<double>(0, 1)(rng);
  size_t i = static_cast<size_t>(std::lower_bound(cdf.begin(), cdf.end(), u) - cdf.begin());
  return std::min(i, cdf.size() - 1);
}

Generator::Generator(const GeneratorOptions& o) : o_(o), rng_(o.seed) {
  if (o_.minutes == 0) o_.minutes = 1;
  // Spread the requests over the minutes along the diurnal curve, with some noise, summing to
  // exactly `requests`.
  std::vector<double> w(o_.minutes);
  double total = 0;
  std::normal_distribution<double> noise(1.0, 0.06);
  for (uint32_t m = 0; m < o_.minutes; ++m) {
    int64_t of_day = ((o_.start_minute + m) % 1440 + 1440) % 1440;
    w[m] = Diurnal(of_day) * std::max(0.5, noise(rng_));
    total += w[m];
  }
  per_minute_.assign(o_.minutes, 0);
  uint64_t given = 0;
  for (uint32_t m = 0; m < o_.minutes; ++m) {
    per_minute_[m] = static_cast<uint64_t>(std::floor(static_cast<double>(o_.requests) * w[m] / total));
    given += per_minute_[m];
  }
  for (uint32_t m = 0; given < o_.requests; m = (m + 1) % o_.minutes, ++given) per_minute_[m]++;

  for (const char* h : kHosts) hosts_.push_back(h);
  const char* sections[] = {"/product/", "/category/", "/blog/post/", "/api/v1/items/", "/static/js/", "/images/"};
  for (size_t h = 0; h < hosts_.size(); ++h) {
    std::vector<std::string> p = {"/", "/index.html", "/favicon.ico", "/robots.txt", "/login", "/search",
                                  "/cart", "/checkout", "/api/v1/cart", "/api/v2/recommendations"};
    for (int i = 0; p.size() < 400; ++i) {
      const char* sec = sections[(static_cast<size_t>(i) + h) % 6];
      p.push_back(std::string(sec) + std::to_string(1000 + (i * 7919 + static_cast<int>(h) * 104729) % 90000) +
                  (sec[1] == 's' ? ".js" : sec[1] == 'i' ? ".png" : ""));
    }
    paths_.push_back(std::move(p));
  }
  // 5000 clients: IPv4 in a few provider ranges, every tenth an IPv6 address.
  for (uint32_t i = 0; i < 5000; ++i) {
    char buf[64];
    uint32_t r = static_cast<uint32_t>(rng_());
    if (i % 10 == 9) {
      snprintf(buf, sizeof buf, "2001:db8:%x:%x::%x", (r >> 16) & 0xffff, (r >> 4) & 0xfff, i);
    } else {
      static const unsigned kNets[] = {81, 93, 151, 185, 203, 46, 78, 109};
      snprintf(buf, sizeof buf, "%u.%u.%u.%u", kNets[r % 8], (r >> 8) & 255, (r >> 16) & 255, 1 + i % 254);
    }
    clients_.push_back(buf);
  }
  host_zipf_ = MakeZipf(hosts_.size(), 1.1);
  path_zipf_ = MakeZipf(400, 1.0);
  client_zipf_ = MakeZipf(clients_.size(), 0.8);
  agent_zipf_ = MakeZipf(sizeof kAgents / sizeof *kAgents, 1.0);
}

std::string Generator::Request() {
  size_t h = host_zipf_.Sample(rng_);
  const std::string& path = paths_[h][path_zipf_.Sample(rng_)];
  const std::string& client = clients_[client_zipf_.Sample(rng_)];
  const char* agent = kAgents[agent_zipf_.Sample(rng_)];
  uint32_t roll = static_cast<uint32_t>(rng_() % 1000);
  const char* method = path.find("/api/") != std::string::npos && roll < 300 ? "POST" : roll > 990 ? "HEAD" : "GET";
  int status = roll < 860 ? 200 : roll < 920 ? 304 : roll < 950 ? 301 : roll < 985 ? 404 : roll < 995 ? 500 : 503;
  uint64_t bytes = status == 304 || status == 301 ? 0 : 200 + rng_() % (path.find("/images/") != std::string::npos ? 250000 : 30000);
  std::string query = path.rfind("/search", 0) == 0 ? "?q=" + std::to_string(rng_() % 5000) : "";
  std::string referer = rng_() % 3 == 0 ? "-" : "https://" + hosts_[h] + paths_[h][path_zipf_.Sample(rng_)];

  int64_t minute = o_.start_minute + static_cast<int64_t>(minute_index_);
  uint32_t sec = seconds_.empty() ? 0 : seconds_.back();
  if (!seconds_.empty()) seconds_.pop_back();
  std::string when = FormatMinute(minute);  // "YYYY-MM-DD HH:MM"
  char line[1024];
  int n = snprintf(line, sizeof line,
                   "%s:443 %s - - [%.2s/%s/%.4s:%.2s:%.2s:%02u +0000] \"%s %s%s HTTP/1.1\" %d %llu \"%s\" \"%s\"\n",
                   hosts_[h].c_str(), client.c_str(), when.c_str() + 8, kMonths[std::stoi(when.substr(5, 2)) - 1],
                   when.c_str(), when.c_str() + 11, when.c_str() + 14, sec, method, path.c_str(), query.c_str(), status,
                   static_cast<unsigned long long>(bytes), referer.c_str(), agent);
  return std::string(line, static_cast<size_t>(n));
}

std::string Generator::Hostile() {
  switch (rng_() % 7) {
    case 0:
      return "www.example.com:443 10.9.8.7 - - [18/Nov/2026:10:00:00 +0000] \"GET /" + std::string(20000, 'A') +
             " HTTP/1.1\" 200 1 \"-\" \"-\"\n";
    case 1: {
      static const char kBinary[] =
          "www.example.com:443 10.9.8.7 - - [18/Nov/2026:10:00:00 +0000] \"GET /\0\x01\xff HTTP/1.1\" 200 1 \"-\" \"-\"\n";
      return std::string(kBinary, sizeof kBinary - 1);
    }
    case 2:
      return "www.example.com:443 10.9.8.7 - - [18/Nov/2026:10:00:00 +0000] \"GET / HTTP/1.1 200 1 \"-\" \"-\n";
    case 3:
      return "www.example.com:443 10.9.8.7 - - [31/Feb/2026:10:00:00 +0000] \"GET / HTTP/1.1\" 200 1 \"-\" \"-\"\n";
    case 4:
      return "www.example.com:443 10.9.8.7 - - [18/Nov/2026:10:00:00 +0000] \"GET / HTTP/1.1\" 999 1 \"-\" \"-\"\n";
    case 5:
      return "www.example.com:443 not-an-ip - - [18/Nov/2026:10:00:00 +0000] \"GET / HTTP/1.1\" 200 1 \"-\" \"-\"\n";
    default:
      return "GET /index.html\n";
  }
}

bool Generator::Next(std::string* line) {
  if (emitted_ >= o_.requests) return false;
  ++lines_;
  if (o_.malformed_every > 0 && lines_ % o_.malformed_every == 0) {
    *line = Hostile();
    return true;
  }
  while (left_in_minute_ == 0) {
    if (next_minute_ >= per_minute_.size()) return false;
    minute_index_ = next_minute_++;
    left_in_minute_ = per_minute_[minute_index_];
    seconds_.clear();
    for (uint64_t i = 0; i < left_in_minute_; ++i) seconds_.push_back(static_cast<uint32_t>(rng_() % 60));
    std::sort(seconds_.rbegin(), seconds_.rend());  // taken from the back: ascending
  }
  *line = Request();
  --left_in_minute_;
  ++emitted_;
  return true;
}

}  // namespace weblog
