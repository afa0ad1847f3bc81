#include "common/bolt_pattern.h"

#include <algorithm>

#include "common/names.h"

namespace tailsafe {
namespace {

// A walk stops after this many directories: a pattern pointed at a huge tree by mistake must
// not turn every rescan into a crawl of it.
constexpr size_t kMaxScanDirs = 10000;

std::string JoinPath(const std::string& dir, std::string_view name) {
  std::string out = dir;
  if (out.empty() || out.back() != '/') out += '/';
  out += name;
  return out;
}

std::vector<std::string_view> SplitComponents(std::string_view path) {
  std::vector<std::string_view> out;
  size_t at = 0;
  while (at <= path.size()) {
    size_t slash = path.find('/', at);
    if (slash == std::string_view::npos) slash = path.size();
    out.push_back(path.substr(at, slash - at));
    at = slash + 1;
  }
  return out;
}

}  // namespace

Result<BoltPattern> ParseBoltPattern(std::string_view files) {
  auto error = [&](const std::string& why) {
    return Status::Error("'" + Printable(files, 128) + "': " + why);
  };
  if (files.find('\0') != std::string_view::npos) return Status::Error("must not contain a NUL character");
  if (files.empty() || files.front() != '/') return error("must be an absolute path");
  if (files.back() == '/') return error("must name files, not a directory (it ends in '/')");
  std::vector<std::string_view> parts = SplitComponents(files.substr(1));
  size_t first_star = parts.size();
  for (size_t i = 0; i < parts.size(); ++i) {
    std::string_view c = parts[i];
    if (c.empty()) return error("has an empty path component ('//')");
    if (c == "." || c == "..") return error("must not have '.' or '..' components");
    for (char bad : {'?', '[', '\\'}) {
      if (c.find(bad) != std::string_view::npos) {
        return error(std::string("'") + bad + "' is not allowed: '*' is the only wildcard");
      }
    }
    if (c.find("**") != std::string_view::npos) {
      return error("'**' is not allowed: '*' matches within one path component");
    }
    if (c.find('*') != std::string_view::npos && first_star == parts.size()) first_star = i;
  }
  if (first_star == parts.size()) {
    return error("has no '*': a single file is a [[bolt]] table");
  }
  std::string_view last = parts.back();
  size_t dot = last.rfind('.');
  size_t star = last.rfind('*');
  if (dot == std::string_view::npos || (star != std::string_view::npos && dot < star) || dot + 1 == last.size()) {
    return error("the last component must end in a literal suffix that starts with '.', such as '.log'");
  }
  if (dot == 0) return error("the last component must have a name before its suffix");
  BoltPattern p;
  p.files = std::string(files);
  p.suffix = std::string(last.substr(dot));
  // The naming rule puts the pid file and the checkpoint beside each file, suffix replaced.
  if (p.suffix == ".pid" || p.suffix == ".checkpoint") {
    return error("the suffix '" + p.suffix + "' would make each bolt's file its own " +
                 (p.suffix == ".pid" ? "pid file" : "checkpoint file"));
  }
  p.root = "/";
  for (size_t i = 0; i < first_star; ++i) p.root = JoinPath(p.root, parts[i]);
  for (size_t i = first_star; i < parts.size(); ++i) p.components.emplace_back(parts[i]);
  return p;
}

bool GlobMatch(std::string_view glob, std::string_view name) {
  if (name.empty() || name == "." || name == "..") return false;
  // As sh(1): a leading '.' is matched only by a leading '.' in the pattern.
  if (name.front() == '.' && (glob.empty() || glob.front() != '.')) return false;
  size_t g = 0, n = 0;
  size_t star = std::string_view::npos, mark = 0;
  while (n < name.size()) {
    if (g < glob.size() && glob[g] == '*') {
      star = g++;
      mark = n;
    } else if (g < glob.size() && glob[g] == name[n]) {
      ++g;
      ++n;
    } else if (star != std::string_view::npos) {
      g = star + 1;  // let the last '*' take one more character
      n = ++mark;
    } else {
      return false;
    }
  }
  while (g < glob.size() && glob[g] == '*') ++g;
  return g == glob.size();
}

Result<PatternBolt> PatternBoltFor(const BoltPattern& pattern, std::string_view path) {
  std::string prefix = pattern.root == "/" ? "/" : pattern.root + "/";
  if (path.substr(0, prefix.size()) != prefix) return Status::Error("is not under " + pattern.root);
  std::string_view rel = path.substr(prefix.size());
  std::vector<std::string_view> parts = SplitComponents(rel);
  if (parts.size() != pattern.components.size()) return Status::Error("does not match " + pattern.files);
  for (size_t i = 0; i < parts.size(); ++i) {
    if (!GlobMatch(pattern.components[i], parts[i])) return Status::Error("does not match " + pattern.files);
  }
  // The last component's glob ends in the literal suffix, so a match ends in it too.
  std::string_view stem = rel.substr(0, rel.size() - pattern.suffix.size());
  std::string name(stem);
  std::replace(name.begin(), name.end(), '/', '.');
  if (Status s = CheckName("its bolt name", name); !s) return s;
  PatternBolt b;
  b.name = std::move(name);
  b.file = std::string(path);
  std::string base(path.substr(0, path.size() - pattern.suffix.size()));
  b.pid_file = base + ".pid";
  b.checkpoint_file = base + ".checkpoint";
  return b;
}

PatternScan ScanPattern(const BoltPattern& pattern, const ListDir& list) {
  PatternScan out;
  std::vector<std::string> level{pattern.root};
  size_t dirs_read = 0;
  for (size_t i = 0; i < pattern.components.size() && !level.empty(); ++i) {
    const std::string& glob = pattern.components[i];
    bool last = i + 1 == pattern.components.size();
    std::vector<std::string> next;
    for (const std::string& dir : level) {
      if (dirs_read == kMaxScanDirs) {
        out.skipped.emplace_back(dir, "not read: the pattern already led to " + std::to_string(kMaxScanDirs) +
                                          " directories in one scan");
        return out;
      }
      ++dirs_read;
      std::optional<std::vector<DirEntry>> entries = list(dir);
      if (!entries) continue;
      out.dirs.push_back(dir);
      std::sort(entries->begin(), entries->end(), [](const DirEntry& a, const DirEntry& b) { return a.name < b.name; });
      for (const DirEntry& e : *entries) {
        if (!GlobMatch(glob, e.name)) continue;
        std::string path = JoinPath(dir, e.name);
        if (!last) {
          if (e.type == DirEntry::Type::kDir) next.push_back(std::move(path));
          continue;
        }
        if (e.type != DirEntry::Type::kFile) continue;
        Result<PatternBolt> bolt = PatternBoltFor(pattern, path);
        if (bolt) {
          out.bolts.push_back(std::move(bolt.value()));
        } else {
          out.skipped.emplace_back(std::move(path), bolt.status().message());
        }
      }
    }
    level = std::move(next);
  }
  return out;
}

}  // namespace tailsafe
