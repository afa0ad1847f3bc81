#include "tests/support/prometheus_check.h"

#include <poll.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <set>
#include <vector>

#include "common/clock.h"
#include "tests/support/net.h"
#include "tests/support/process.h"

namespace tailsafe::testing {
namespace {

bool IsNameStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':'; }
bool IsNameChar(char c) { return IsNameStart(c) || (c >= '0' && c <= '9'); }

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

bool ParseValue(std::string_view text, double* out) {
  if (text == "NaN") return *out = NAN, true;
  if (text == "+Inf") return *out = INFINITY, true;
  if (text == "-Inf") return *out = -INFINITY, true;
  if (text.empty()) return false;
  std::string s(text);
  char* end = nullptr;
  *out = std::strtod(s.c_str(), &end);
  return end == s.c_str() + s.size();
}

struct Family {
  std::string type;
  bool help = false;
  bool has_samples = false;
};

}  // namespace

Result<MetricSamples> ParsePrometheusText(std::string_view text) {
  MetricSamples out;
  std::map<std::string, Family> families;
  std::string current;  // the family whose samples may follow
  std::set<std::string> closed;  // families whose samples ended
  std::map<std::string, std::vector<std::pair<double, double>>> buckets;  // series sans le -> (le, count)
  if (!text.empty() && text.back() != '\n') return Status::Error("the text does not end with a newline");
  size_t pos = 0;
  int line_no = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view line = text.substr(pos, nl - pos);
    pos = nl + 1;
    ++line_no;
    auto fail = [&](const std::string& why) {
      return Status::Error("line " + std::to_string(line_no) + " '" + std::string(line.substr(0, 120)) + "': " + why);
    };
    if (line.empty()) continue;
    if (line[0] == '#') {
      bool help = line.rfind("# HELP ", 0) == 0, type = line.rfind("# TYPE ", 0) == 0;
      if (!help && !type) continue;  // a comment
      std::string_view rest = line.substr(7);
      size_t sp = rest.find(' ');
      if (sp == std::string_view::npos) return fail("no text after the metric name");
      std::string name(rest.substr(0, sp));
      if (closed.count(name)) return fail("family " + name + " appears twice");
      if (current != name && !current.empty()) closed.insert(current);
      current = name;
      Family& f = families[name];
      if (f.has_samples) return fail("HELP or TYPE after samples");
      if (help) {
        if (f.help) return fail("second HELP");
        f.help = true;
        if (rest.size() <= sp + 1) return fail("empty HELP");
      } else {
        if (!f.type.empty()) return fail("second TYPE");
        f.type = std::string(rest.substr(sp + 1));
        static const std::set<std::string> kTypes = {"counter", "gauge", "histogram", "summary", "untyped"};
        if (!kTypes.count(f.type)) return fail("unknown type " + f.type);
      }
      if (name.rfind("tailsafe_", 0) != 0) return fail("name without the tailsafe_ prefix");
      for (char c : name) {
        if (!IsNameChar(c)) return fail("bad character in the metric name");
      }
      continue;
    }
    // A sample: NAME[{LABELS}] VALUE
    size_t i = 0;
    if (!IsNameStart(line[0])) return fail("a sample must start with a metric name");
    while (i < line.size() && IsNameChar(line[i])) ++i;
    std::string name(line.substr(0, i));
    std::string family = name, suffix;
    for (const char* s : {"_bucket", "_sum", "_count"}) {
      if (EndsWith(name, s) && families.count(name.substr(0, name.size() - std::string(s).size())) &&
          families[name.substr(0, name.size() - std::string(s).size())].type == "histogram") {
        family = name.substr(0, name.size() - std::string(s).size());
        suffix = s;
      }
    }
    if (family != current) return fail("sample of " + family + " outside its family's block");
    Family& f = families[family];
    if (!f.help || f.type.empty()) return fail("family " + family + " without both HELP and TYPE");
    if (f.type == "histogram" && suffix.empty()) return fail("a histogram sample must be _bucket, _sum or _count");
    f.has_samples = true;
    std::string labels_key;
    double le = NAN;
    if (i < line.size() && line[i] == '{') {
      ++i;
      std::set<std::string> seen;
      std::string kept;  // labels other than le, for the bucket check
      while (i < line.size() && line[i] != '}') {
        size_t start = i;
        if (!IsNameStart(line[i]) || line[i] == ':') return fail("bad label name");
        while (i < line.size() && IsNameChar(line[i]) && line[i] != ':') ++i;
        std::string label(line.substr(start, i - start));
        if (!seen.insert(label).second) return fail("label " + label + " twice");
        if (i + 1 >= line.size() || line[i] != '=' || line[i + 1] != '"') return fail("label without =\"value\"");
        i += 2;
        std::string value;
        while (i < line.size() && line[i] != '"') {
          if (line[i] == '\\') {
            if (i + 1 >= line.size()) return fail("escape at the end");
            char e = line[i + 1];
            if (e != '\\' && e != '"' && e != 'n') return fail("bad escape in a label value");
            value += e == 'n' ? '\n' : e;
            i += 2;
          } else {
            value += line[i++];
          }
        }
        if (i >= line.size()) return fail("unterminated label value");
        ++i;  // the closing quote
        if (label == "le") {
          if (!ParseValue(value, &le)) return fail("le is not a number");
        } else {
          kept += label + "=" + value + ",";
        }
        if (i < line.size() && line[i] == ',') ++i;
      }
      if (i >= line.size()) return fail("unterminated label set");
      ++i;  // '}'
      labels_key = kept;
    }
    if (i >= line.size() || line[i] != ' ') return fail("no space before the value");
    std::string_view value_text = line.substr(i + 1);
    if (size_t sp = value_text.find(' '); sp != std::string_view::npos) value_text = value_text.substr(0, sp);  // timestamp
    double value = 0;
    if (!ParseValue(value_text, &value)) return fail("the value is not a number");
    std::string series(line.substr(0, i));
    if (out.count(series)) return fail("series repeated");
    out[series] = value;
    if (f.type == "counter" && !(value >= 0)) return fail("a counter below zero");
    if (suffix == "_bucket") {
      if (std::isnan(le)) return fail("a bucket without le");
      buckets[family + "{" + labels_key + "}"].push_back({le, value});
    } else if (suffix == "_count") {
      auto& b = buckets[family + "{" + labels_key + "}"];
      if (b.empty() || !std::isinf(b.back().first) || b.back().second != value) return fail("+Inf bucket differs from _count");
      for (size_t k = 1; k < b.size(); ++k) {
        if (b[k].first <= b[k - 1].first || b[k].second < b[k - 1].second) return fail("buckets not cumulative");
      }
    }
  }
  for (const auto& [name, f] : families) {
    if (!f.help || f.type.empty()) return Status::Error("family " + name + " lacks HELP or TYPE");
    if (f.type == "counter" && !EndsWith(name, "_total")) return Status::Error("counter " + name + " does not end in _total");
    if (f.type != "counter" && EndsWith(name, "_total")) return Status::Error(f.type + " " + name + " ends in _total");
    for (const char* unit : {"bytes", "seconds"}) {
      std::string u = std::string("_") + unit;
      if (name.find(u) != std::string::npos && !EndsWith(name, u) && !EndsWith(name, u + "_total")) {
        return Status::Error(name + ": the unit " + unit + " must end the name");
      }
    }
  }
  return out;
}

Result<std::string> HttpExchange(uint16_t port, const std::string& request, double seconds, const std::string& host) {
  Fd fd = ConnectTo(port, host);
  if (!fd) return Status::Error("cannot connect to " + host + ":" + std::to_string(port));
  if (!request.empty() && ::write(fd.get(), request.data(), request.size()) != static_cast<ssize_t>(request.size())) {
    return Status::Error("short write of the request");
  }
  std::string response;
  uint64_t deadline = NowNs() + static_cast<uint64_t>(seconds * 1e9);
  for (;;) {
    uint64_t now = NowNs();
    if (now >= deadline) return Status::Error("no end of response within the deadline; got: " + response.substr(0, 200));
    pollfd p{fd.get(), POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>((deadline - now) / 1000000 + 1)) <= 0) continue;
    char buf[65536];
    ssize_t n = ::read(fd.get(), buf, sizeof(buf));
    if (n < 0 && errno == ECONNRESET) return response;
    if (n <= 0) return response;
    response.append(buf, static_cast<size_t>(n));
  }
}

Result<std::string> HttpGet(uint16_t port, const std::string& path, double seconds, const std::string& host) {
  auto r = HttpExchange(port, "GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\nUser-Agent: tailsafe-test\r\nConnection: close\r\n\r\n",
                        seconds, host);
  if (!r) return r.status();
  size_t eol = r->find("\r\n");
  std::string status_line = r->substr(0, eol);
  if (status_line != "HTTP/1.1 200 OK") return Status::Error("GET " + path + ": " + status_line);
  size_t body = r->find("\r\n\r\n");
  if (body == std::string::npos) return Status::Error("GET " + path + ": no end of headers");
  return r->substr(body + 4);
}

std::string FindPromtool() {
  std::string bundled = BinDir() + "/tools/promtool";
  if (::access(bundled.c_str(), X_OK) == 0) return bundled;
  CommandResult r = RunCommand("command -v promtool");
  if (r.code == 0 && !r.out.empty()) return r.out.substr(0, r.out.find('\n'));
  return "";
}

}  // namespace tailsafe::testing
