#include "examples/weblog/log_format.h"

#include <arpa/inet.h>
#include <sys/random.h>

#include <cstdio>
#include <cstring>

namespace weblog {
namespace {

const char* const kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
constexpr std::string_view kMarkerPrefix = "#tailsafe-weblog ";

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsHex(char c) { return IsDigit(c) || (c >= 'a' && c <= 'f'); }

bool AllDigits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!IsDigit(c)) return false;
  return true;
}

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

int DaysInMonth(int year, int month) {
  static const int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return month == 2 && leap ? 29 : kDays[month - 1];
}

int Num(std::string_view s) {
  int v = 0;
  for (char c : s) v = v * 10 + (c - '0');
  return v;
}

// A cursor over one line that knows its column, for error messages.
class Cursor {
 public:
  explicit Cursor(std::string_view line) : line_(line) {}
  size_t column() const { return pos_ + 1; }
  bool done() const { return pos_ >= line_.size(); }
  char peek() const { return done() ? '\0' : line_[pos_]; }

  // The field up to the next space (or the end), without consuming the space.
  std::string_view Token() {
    size_t end = line_.find(' ', pos_);
    if (end == std::string_view::npos) end = line_.size();
    std::string_view t = line_.substr(pos_, end - pos_);
    pos_ = end;
    return t;
  }
  bool Space() {
    if (peek() != ' ') return false;
    ++pos_;
    return true;
  }
  // A quoted field with backslash escapes; `out` is its content without the quotes.
  bool Quoted(std::string_view* out) {
    if (peek() != '"') return false;
    size_t start = ++pos_;
    while (pos_ < line_.size()) {
      char c = line_[pos_];
      if (c == '\\') {
        if (pos_ + 1 >= line_.size()) return false;
        pos_ += 2;
      } else if (c == '"') {
        *out = line_.substr(start, pos_ - start);
        ++pos_;
        return true;
      } else {
        ++pos_;
      }
    }
    return false;
  }
  std::string_view Take(size_t n) {
    std::string_view t = line_.substr(pos_, n);
    pos_ += t.size();
    return t;
  }

 private:
  std::string_view line_;
  size_t pos_ = 0;
};

ParsedLine Malformed(std::string error) {
  ParsedLine p;
  p.kind = LineKind::kMalformed;
  p.error = std::move(error);
  return p;
}

std::string At(const char* what, size_t column) { return std::string(what) + " at column " + std::to_string(column); }

// Printable, bounded quotation of untrusted text for an error message.
std::string Quote(std::string_view s) {
  std::string out = "'";
  for (size_t i = 0; i < s.size() && i < 40; ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      char hex[8];
      snprintf(hex, sizeof hex, "\\x%02x", c);
      out += hex;
    }
  }
  if (s.size() > 40) out += "...";
  return out + "'";
}

bool ValidHost(std::string_view h) {
  if (h.empty() || h.size() > 253) return false;
  for (char c : h)
    if (!(IsDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '.' || c == '-' || c == '_'))
      return false;
  return true;
}

// The length of the longest valid UTF-8 prefix of `s` (s.size() if all of it is): no overlong
// forms, no surrogates, nothing above U+10FFFF.
size_t Utf8Prefix(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
    unsigned char c = b(i);
    size_t n;
    unsigned char lo = 0x80, hi = 0xbf;  // the second byte's range
    if (c < 0x80) {
      ++i;
      continue;
    } else if (c >= 0xc2 && c <= 0xdf) {
      n = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
      n = 3;
      if (c == 0xe0) lo = 0xa0;
      if (c == 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      n = 4;
      if (c == 0xf0) lo = 0x90;
      if (c == 0xf4) hi = 0x8f;
    } else {
      return i;
    }
    if (i + n > s.size() || b(i + 1) < lo || b(i + 1) > hi) return i;
    for (size_t k = 2; k < n; ++k)
      if (b(i + k) < 0x80 || b(i + k) > 0xbf) return i;
    i += n;
  }
  return i;
}

bool ValidIp(std::string_view ip) {
  char buf[INET6_ADDRSTRLEN + 1];
  if (ip.empty() || ip.size() >= sizeof buf) return false;
  memcpy(buf, ip.data(), ip.size());
  buf[ip.size()] = '\0';
  unsigned char addr[16];
  return inet_pton(AF_INET, buf, addr) == 1 || inet_pton(AF_INET6, buf, addr) == 1;
}

// "[18/Nov/2026:10:00:01 +0000]" -> UTC minute; an error message, or empty on success.
std::string ParseTime(std::string_view t, int64_t* minute) {
  // 0123456789012345678901234567
  // [18/Nov/2026:10:00:01 +0000]
  if (t.size() != 28 || t[0] != '[' || t[3] != '/' || t[7] != '/' || t[12] != ':' || t[15] != ':' || t[18] != ':' ||
      t[21] != ' ' || (t[22] != '+' && t[22] != '-') || t[27] != ']')
    return "time " + Quote(t) + " is not [DD/Mon/YYYY:HH:MM:SS +ZZZZ]";
  for (size_t i : {1, 2, 8, 9, 10, 11, 13, 14, 16, 17, 19, 20, 23, 24, 25, 26})
    if (!IsDigit(t[i])) return "time " + Quote(t) + " is not [DD/Mon/YYYY:HH:MM:SS +ZZZZ]";
  int month = 0;
  for (int m = 0; m < 12; ++m)
    if (t.substr(4, 3) == kMonths[m]) month = m + 1;
  if (month == 0) return "time " + Quote(t) + " has no month named " + Quote(t.substr(4, 3));
  int day = Num(t.substr(1, 2)), year = Num(t.substr(8, 4));
  int hour = Num(t.substr(13, 2)), min = Num(t.substr(16, 2)), sec = Num(t.substr(19, 2));
  int tzh = Num(t.substr(23, 2)), tzm = Num(t.substr(25, 2));
  if (year < 1970 || day < 1 || day > DaysInMonth(year, month) || hour > 23 || min > 59 || sec > 60 || tzh > 14 ||
      tzm > 59)
    return "time " + Quote(t) + " is not a real date and time";
  int offset = (tzh * 60 + tzm) * (t[22] == '-' ? -1 : 1);
  *minute = MinuteOf(year, month, day, hour, min) - offset;
  return "";
}

}  // namespace

int64_t MinuteOf(int year, int month, int day, int hour, int minute) {
  return DaysFromCivil(year, static_cast<unsigned>(month), static_cast<unsigned>(day)) * 1440 + hour * 60 + minute;
}

std::string FormatMinute(int64_t minute) {
  // civil_from_days (Howard Hinnant)
  int64_t z = (minute >= 0 ? minute : minute - 1439) / 1440;
  int64_t in_day = minute - z * 1440;
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t y = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  char buf[96];
  snprintf(buf, sizeof buf, "%04lld-%02u-%02u %02lld:%02lld", static_cast<long long>(y + (m <= 2)), m, d,
           static_cast<long long>(in_day / 60), static_cast<long long>(in_day % 60));
  return buf;
}

ParsedLine ParseLine(std::string_view line) {
  if (line.size() > kMaxLineBytes)
    return Malformed("line is " + std::to_string(line.size()) + " bytes, longer than the limit of " +
                     std::to_string(kMaxLineBytes));
  for (size_t i = 0; i < line.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(line[i]);
    if ((c < 0x20 && c != '\t') || c == 0x7f) {
      char hex[8];
      snprintf(hex, sizeof hex, "0x%02x", c);
      return Malformed(At((std::string("control byte ") + hex).c_str(), i + 1));
    }
  }
  if (line.find_first_not_of(" \t") == std::string_view::npos) {
    ParsedLine p;
    p.kind = LineKind::kBlank;
    return p;
  }
  if (line[0] == '#') {
    ParsedLine p;
    p.kind = ParseMarker(line) ? LineKind::kMarker : LineKind::kComment;
    return p;
  }

  // Fields before the time: IP IDENT USER (combined) or VHOST IP IDENT USER (vhost_combined).
  Cursor c(line);
  std::string_view fields[4];
  size_t columns[4];
  int n = 0;
  while (c.peek() != '[') {
    if (n == 4) return Malformed(At("expected '[' of the time field as field 4 or 5", c.column()));
    columns[n] = c.column();
    fields[n] = c.Token();
    if (fields[n].empty()) return Malformed(At("empty field (two spaces in a row?)", c.column()));
    ++n;
    if (!c.Space()) return Malformed(At("line ends before the time field", c.column()));
  }
  if (n < 3) return Malformed(At("expected '[' of the time field as field 4 or 5", c.column()));

  ParsedLine p;
  Request& r = p.request;
  int first = 0;
  if (n == 4) {
    std::string_view vhost = fields[0];
    size_t colon = vhost.rfind(':');
    if (colon != std::string_view::npos && AllDigits(vhost.substr(colon + 1))) vhost = vhost.substr(0, colon);
    if (!ValidHost(vhost)) return Malformed(At(("bad virtual host " + Quote(fields[0])).c_str(), columns[0]));
    r.host = vhost;
    first = 1;
  } else {
    r.host = "-";
  }
  r.ip = fields[first];
  if (!ValidIp(r.ip)) return Malformed(At(("bad client address " + Quote(r.ip)).c_str(), columns[first]));

  size_t time_column = c.column();
  if (std::string err = ParseTime(c.Take(28), &r.minute); !err.empty()) return Malformed(At(err.c_str(), time_column));
  if (!c.Space()) return Malformed(At("expected a space after the time field", c.column()));

  size_t request_column = c.column();
  std::string_view request;
  if (c.peek() != '"') return Malformed(At("expected the quoted request", c.column()));
  if (!c.Quoted(&request)) return Malformed(At("unterminated quoted request", request_column));
  if (!c.Space()) return Malformed(At("expected a space after the request", c.column()));

  size_t status_column = c.column();
  std::string_view status = c.Token();
  if (status.size() != 3 || !AllDigits(status) || status[0] < '1' || status[0] > '5')
    return Malformed(At(("status " + Quote(status) + " is not a number from 100 to 599").c_str(), status_column));
  r.status = Num(status);
  if (!c.Space()) return Malformed(At("expected a space after the status", c.column()));

  size_t bytes_column = c.column();
  std::string_view bytes = c.Token();
  if (bytes == "-") {
    r.bytes = 0;
  } else if (AllDigits(bytes) && bytes.size() <= 18) {
    r.bytes = 0;
    for (char d : bytes) r.bytes = r.bytes * 10 + static_cast<uint64_t>(d - '0');
  } else {
    return Malformed(At(("byte count " + Quote(bytes) + " is not a number").c_str(), bytes_column));
  }
  if (!c.Space()) return Malformed(At("expected a space after the byte count", c.column()));

  std::string_view referer, agent;
  size_t referer_column = c.column();
  if (c.peek() != '"') return Malformed(At("expected the quoted referer", c.column()));
  if (!c.Quoted(&referer)) return Malformed(At("unterminated quoted referer", referer_column));
  if (!c.Space()) return Malformed(At("expected a space after the referer", c.column()));
  size_t agent_column = c.column();
  if (c.peek() != '"') return Malformed(At("expected the quoted user agent", c.column()));
  if (!c.Quoted(&agent)) return Malformed(At("unterminated quoted user agent", agent_column));
  if (!c.done() && c.peek() != ' ') return Malformed(At("expected a space or the end after the user agent", c.column()));

  // "METHOD TARGET PROTOCOL"; anything else (nginx logs "-" or raw garbage with status 400)
  // still counts as a request, under the method and path "-".
  r.method = "-";
  r.path = "-";
  size_t s1 = request.find(' ');
  size_t s2 = s1 == std::string_view::npos ? s1 : request.find(' ', s1 + 1);
  if (s1 != std::string_view::npos && s2 != std::string_view::npos && request.find(' ', s2 + 1) == std::string_view::npos &&
      s1 > 0 && s2 > s1 + 1) {
    std::string_view method = request.substr(0, s1);
    bool letters = true;
    for (char ch : method) letters = letters && ch >= 'A' && ch <= 'Z';
    if (letters) {
      std::string_view target = request.substr(s1 + 1, s2 - s1 - 1);
      for (std::string_view scheme : {"http://", "https://"}) {
        if (target.substr(0, scheme.size()) == scheme) {
          std::string_view rest = target.substr(scheme.size());
          size_t slash = rest.find('/');
          std::string_view authority = rest.substr(0, slash);
          size_t colon = authority.rfind(':');
          if (colon != std::string_view::npos && AllDigits(authority.substr(colon + 1)))
            authority = authority.substr(0, colon);
          if (r.host == "-" && ValidHost(authority)) r.host = authority;
          target = slash == std::string_view::npos ? std::string_view("/") : rest.substr(slash);
        }
      }
      r.method = method;
      r.path = target.substr(0, target.find('?'));
      if (r.path.empty()) r.path = "/";
      // Stored as text (PostgreSQL refuses what is not UTF-8): a path that is not is no path.
      if (size_t bad = Utf8Prefix(r.path); bad < r.path.size())
        return Malformed(At("request path is not UTF-8", static_cast<size_t>(r.path.data() + bad - line.data()) + 1));
    }
  }
  p.kind = LineKind::kRequest;
  return p;
}

std::optional<Marker> ParseMarker(std::string_view line) {
  if (line.substr(0, kMarkerPrefix.size()) != kMarkerPrefix) return std::nullopt;
  std::string_view rest = line.substr(kMarkerPrefix.size());
  // file=<16 hex> run=<16 hex> seq=<digits>
  if (rest.size() < 5 + 16 + 5 + 16 + 5 + 1 || rest.substr(0, 5) != "file=" || rest.substr(21, 5) != " run=" ||
      rest.substr(42, 5) != " seq=")
    return std::nullopt;
  Marker m;
  m.file_id = std::string(rest.substr(5, 16));
  m.run_id = std::string(rest.substr(26, 16));
  std::string_view seq = rest.substr(47);
  for (char ch : m.file_id + m.run_id)
    if (!IsHex(ch)) return std::nullopt;
  if (!AllDigits(seq) || seq.size() > 19) return std::nullopt;
  for (char d : seq) m.seq = m.seq * 10 + static_cast<uint64_t>(d - '0');
  return m;
}

std::string FormatMarker(const Marker& m) {
  return std::string(kMarkerPrefix) + "file=" + m.file_id + " run=" + m.run_id + " seq=" + std::to_string(m.seq) + "\n";
}

std::string RandomId() {
  unsigned char raw[8];
  size_t got = 0;
  while (got < sizeof raw) {
    ssize_t n = getrandom(raw + got, sizeof raw - got, 0);
    if (n > 0) got += static_cast<size_t>(n);
  }
  std::string out;
  char hex[3];
  for (unsigned char b : raw) {
    snprintf(hex, sizeof hex, "%02x", b);
    out += hex;
  }
  return out;
}

}  // namespace weblog
