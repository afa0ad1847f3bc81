#include "examples/weblog/storm_header.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <limits>
#include <map>

#include "common/names.h"

namespace weblog {
namespace {

using tailsafe::Printable;
using tailsafe::Status;

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// java.net.URLDecoder: '+' is a space, %XX a byte.
std::optional<std::string> UrlDecode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%') {
      if (i + 2 >= s.size() || HexValue(s[i + 1]) < 0 || HexValue(s[i + 2]) < 0) return std::nullopt;
      out += static_cast<char>(HexValue(s[i + 1]) * 16 + HexValue(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

// java.util.Base64's basic decoder: the alphabet, padding optional, never one character over.
bool IsBase64(std::string_view s) {
  size_t n = s.size();
  size_t pad = 0;
  while (pad < 2 && n > 0 && s[n - 1] == '=') {
    --n;
    ++pad;
  }
  for (size_t i = 0; i < n; ++i) {
    char c = s[i];
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/'))
      return false;
  }
  if (n % 4 == 1) return false;
  return pad == 0 || (n + pad) % 4 == 0;
}

}  // namespace

tailsafe::Result<StormHeader> ParseStormHeader(std::string_view line) {
  if (!IsStormHeader(line))
    return Status::Error("not a tailsafe-storm header: it does not start with '#tailsafe-storm'");
  std::string_view rest = line.substr(kStormHeaderPrefix.size());
  // Java's String.trim: every byte up to ' ' at either end.
  while (!rest.empty() && static_cast<unsigned char>(rest.front()) <= ' ') rest.remove_prefix(1);
  while (!rest.empty() && static_cast<unsigned char>(rest.back()) <= ' ') rest.remove_suffix(1);
  std::map<std::string, std::string, std::less<>> kv;
  size_t pos = 0;
  do {
    size_t space = rest.find(' ', pos);
    std::string_view token = rest.substr(pos, space == std::string_view::npos ? std::string_view::npos : space - pos);
    size_t eq = token.find('=');
    if (eq == std::string_view::npos || eq == 0)
      return Status::Error("header token '" + Printable(token, 80) + "' is not KEY=VALUE");
    kv[std::string(token.substr(0, eq))] = std::string(token.substr(eq + 1));
    pos = space == std::string_view::npos ? rest.size() : rest.find_first_not_of(' ', space);
  } while (pos < rest.size());

  auto need = [&](const char* key) -> const std::string* {
    auto it = kv.find(key);
    return it == kv.end() ? nullptr : &it->second;
  };
  const std::string* v = need("v");
  if (v == nullptr) return Status::Error("header has no v=");
  if (*v != "1") return Status::Error("header version '" + Printable(*v, 40) + "' is not 1");
  StormHeader h;
  for (const char* key : {"file", "topology", "component", "task", "format"})
    if (need(key) == nullptr) return Status::Error(std::string("header has no ") + key + "=");
  h.file_id = *need("file");
  bool hex = h.file_id.size() == 16;
  for (char c : h.file_id) hex = hex && ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
  if (!hex) return Status::Error("header file id '" + Printable(h.file_id, 40) + "' is not 16 hex digits");
  // Integer.parseInt: an optional sign, then digits, within 32 bits.
  std::string_view task = *need("task");
  std::string_view digits = task;
  bool negative = false;
  if (!digits.empty() && (digits[0] == '-' || digits[0] == '+')) {
    negative = digits[0] == '-';
    digits.remove_prefix(1);
  }
  bool number = !digits.empty() && digits.size() <= 10;
  int64_t value = 0;
  for (char c : digits) {
    number = number && c >= '0' && c <= '9';
    if (number) value = value * 10 + (c - '0');
  }
  if (negative) value = -value;
  if (!number || value > std::numeric_limits<int32_t>::max() || value < std::numeric_limits<int32_t>::min())
    return Status::Error("header task '" + Printable(task, 40) + "' is not a number");
  h.task = value;
  struct {
    const char* key;
    std::string* out;
  } texts[] = {{"topology", &h.topology}, {"component", &h.component}, {"format", &h.format}};
  for (auto& [key, out] : texts) {
    auto decoded = UrlDecode(*need(key));
    if (!decoded) return Status::Error(std::string("header ") + key + " '" + Printable(*need(key), 80) + "' is not URL-encoded");
    *out = std::move(*decoded);
  }
  if (const std::string* spec = need("spec"); spec != nullptr && !IsBase64(*spec))
    return Status::Error("header spec is not base64");
  return h;
}

bool IsRawFormat(const StormHeader& h) { return h.format == "raw" || h.format.starts_with("raw:"); }

tailsafe::Result<std::optional<FirstLine>> ReadFirstLine(int fd, size_t limit) {
  // Whatever a descriptor 3 that the agent did not give is (a run by hand, an older agent), it
  // is no generation file unless it is a regular file open for reading.
  struct stat st;
  if (fd < 0 || ::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return std::optional<FirstLine>();
  int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || (flags & O_ACCMODE) == O_WRONLY) return std::optional<FirstLine>();
  FirstLine line;
  char buf[4096];
  while (line.text.size() <= limit) {
    size_t want = std::min(sizeof buf, limit - line.text.size() + 1);  // one more: is the newline there?
    ssize_t n = ::pread(fd, buf, want, static_cast<off_t>(line.text.size()));
    if (n < 0) {
      if (errno == EINTR) continue;
      return tailsafe::ErrnoStatus("reading the file's first line");
    }
    if (n == 0) break;
    std::string_view got(buf, static_cast<size_t>(n));
    size_t nl = got.find('\n');
    line.text.append(got.substr(0, nl));
    if (nl != std::string_view::npos) {
      line.whole = line.text.size() <= limit;
      break;
    }
  }
  if (line.text.empty() && !line.whole) return std::optional<FirstLine>();
  if (line.text.size() > limit) line.text.resize(limit);
  if (line.whole && !line.text.empty() && line.text.back() == '\r') line.text.pop_back();
  return std::optional<FirstLine>(std::move(line));
}

}  // namespace weblog
