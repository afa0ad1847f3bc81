#include "common/names.h"

#include <string>

namespace tailsafe {

bool IsValidName(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameLength) return false;
  if (name == "." || name == "..") return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::string Printable(std::string_view text, size_t max) {
  std::string shown;
  for (char c : text.substr(0, max)) shown += (c >= 0x20 && c < 0x7f) ? c : '?';
  return shown;
}

std::string_view TrimSpace(std::string_view text) {
  auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
  return text;
}

Status CheckName(std::string_view what, std::string_view name) {
  if (IsValidName(name)) return Status::Ok();
  return Status::Error(std::string(what) + " '" + Printable(name, 64) +
                       "' is invalid: use 1 to 128 characters from [a-zA-Z0-9._-], not '.' or '..'");
}

}  // namespace tailsafe
