#include "examples/weblog/tally.h"

#include <sstream>

namespace weblog {
namespace {

std::string Str(const HostCounts& c) {
  std::ostringstream o;
  o << c.requests << " requests, " << c.bytes << " bytes, status " << c.status[0] << "/" << c.status[1] << "/"
    << c.status[2] << "/" << c.status[3] << "/" << c.status[4];
  return o.str();
}
std::string Str(const Counts& c) {
  return std::to_string(c.requests) + " requests, " + std::to_string(c.bytes) + " bytes";
}
std::string Key(const Tally::HostKey& k) { return FormatMinute(k.first) + " host " + k.second; }
std::string Key(const Tally::UrlKey& k) {
  return FormatMinute(std::get<0>(k)) + " url " + std::get<1>(k) + std::get<2>(k);
}

// Walks two sorted maps side by side and reports keys whose values differ or are missing.
template <typename Map, typename KeyFn>
void DiffMaps(const Map& got, const Map& want, KeyFn key, size_t max_lines, size_t* lines, size_t* total,
              std::string* out) {
  auto g = got.begin(), w = want.begin();
  auto report = [&](const std::string& line) {
    ++*total;
    if (*lines < max_lines) {
      *out += "  " + line + "\n";
      ++*lines;
    }
  };
  while (g != got.end() || w != want.end()) {
    if (w == want.end() || (g != got.end() && g->first < w->first)) {
      report(key(g->first) + ": got " + Str(g->second) + ", want none");
      ++g;
    } else if (g == got.end() || w->first < g->first) {
      report(key(w->first) + ": got none, want " + Str(w->second));
      ++w;
    } else {
      if (!(g->second == w->second)) report(key(g->first) + ": got " + Str(g->second) + ", want " + Str(w->second));
      ++g;
      ++w;
    }
  }
}

}  // namespace

void Tally::Add(const Request& r) {
  HostCounts& h = by_host_[{r.minute, std::string(r.host)}];
  h.requests++;
  h.bytes += r.bytes;
  h.status[static_cast<size_t>(r.status / 100 - 1)]++;
  Counts& u = by_url_[{r.minute, std::string(r.host), std::string(r.path)}];
  u.requests++;
  u.bytes += r.bytes;
  Counts& i = by_ip_[{r.minute, std::string(r.ip)}];
  i.requests++;
  i.bytes += r.bytes;
}

void Tally::Merge(const Tally& other) {
  for (const auto& [k, v] : other.by_host_) {
    HostCounts& h = by_host_[k];
    h.requests += v.requests;
    h.bytes += v.bytes;
    for (size_t s = 0; s < 5; ++s) h.status[s] += v.status[s];
  }
  for (const auto& [k, v] : other.by_url_) {
    by_url_[k].requests += v.requests;
    by_url_[k].bytes += v.bytes;
  }
  for (const auto& [k, v] : other.by_ip_) {
    by_ip_[k].requests += v.requests;
    by_ip_[k].bytes += v.bytes;
  }
}

uint64_t Tally::requests() const {
  uint64_t n = 0;
  for (const auto& [k, v] : by_host_) n += v.requests;
  return n;
}

std::map<int64_t, uint64_t> Tally::PerMinute() const {
  std::map<int64_t, uint64_t> out;
  for (const auto& [k, v] : by_host_) out[k.first] += v.requests;
  return out;
}

std::string Tally::Diff(const Tally& want, size_t max_lines) const {
  std::string out;
  size_t lines = 0, total = 0;
  DiffMaps(by_host_, want.by_host_, [](const HostKey& k) { return Key(k); }, max_lines, &lines, &total, &out);
  DiffMaps(by_url_, want.by_url_, [](const UrlKey& k) { return Key(k); }, max_lines, &lines, &total, &out);
  DiffMaps(by_ip_, want.by_ip_, [](const IpKey& k) { return FormatMinute(k.first) + " ip " + k.second; }, max_lines,
           &lines, &total, &out);
  if (total == 0) return "";
  std::string head = std::to_string(total) + " difference" + (total == 1 ? "" : "s") + " (got " +
                     std::to_string(requests()) + " requests, want " + std::to_string(want.requests()) + ")";
  if (total > lines) head += ", the first " + std::to_string(lines);
  return head + ":\n" + out;
}

}  // namespace weblog
