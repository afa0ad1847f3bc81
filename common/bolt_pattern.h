// BoltPattern: the `files` of a [[bolt_pattern]] rule, and the bolts it names. Pure: the
// directory walk is given as a function, so every rule here is unit-tested without a disk.
//
// Apache Storm places tasks on hosts at run time and moves them, so a host cannot list its bolts
// in advance. A rule names the backup files by a path pattern instead, and each file the pattern
// matches is a bolt:
//
//   files = "/var/spool/tailsafe-storm/*/*/task-*.log"
//            \_______fixed root______/ \__ components __/
//
// - The pattern is an absolute path. `*` matches any run of characters, none included, within
//   one path component; it never matches a '/', nor a leading '.' (as in sh(1): hidden files,
//   "." and ".." are never matched by a `*`). `?`, `[`, `\` and `**` are refused, not taken
//   literally, so that a pattern never means something other than it seems to.
// - The fixed root is the directory before the first component holding a `*`. Every component
//   after it is matched against directory entries, level by level: directories (never symlinks
//   to them) for all but the last, regular files for the last.
// - The last component ends in a literal suffix that starts with '.' (".log" above). The naming
//   rule: for a matched file DIR/STEM.log, the bolt's pid file is DIR/STEM.pid and its checkpoint
//   file DIR/STEM.checkpoint. So `task-3.log.1` (rotated away), `task-3.pid` and
//   `task-3.checkpoint` never match.
// - The bolt's name is the matched path relative to the root, without the suffix, with '/'
//   replaced by '.': /var/spool/tailsafe-storm/weblog/count/task-7.log is "weblog.count.task-7".
//   A path whose name is not a valid name (common/names.h) is no bolt; the scan says why.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace tailsafe {

struct BoltPattern {
  std::string files;                    // as written
  std::string root;                     // the fixed directory, without a trailing '/' ("/" itself stays)
  std::vector<std::string> components;  // after the root; each may hold '*'; the last names files
  std::string suffix;                   // the last component's literal ending: ".log"
};

// Parses a rule's `files`; the error says what is wrong with it (without naming the key).
Result<BoltPattern> ParseBoltPattern(std::string_view files);

// Whether `name` (one path component) matches `glob` (one component of a pattern).
bool GlobMatch(std::string_view glob, std::string_view name);

// A bolt a pattern names: its name and its three files, by the naming rule.
struct PatternBolt {
  std::string name;
  std::string file;
  std::string pid_file;
  std::string checkpoint_file;
  bool operator==(const PatternBolt&) const = default;
};

// The bolt for `path`, a file under the pattern's root that the pattern matches; an error if the
// name the path gives is invalid.
Result<PatternBolt> PatternBoltFor(const BoltPattern& pattern, std::string_view path);

struct DirEntry {
  enum class Type { kFile, kDir, kOther };  // a regular file, a directory, anything else (symlinks too)
  std::string name;
  Type type = Type::kOther;
};
// Reads a directory: its entries ("." and ".." may be left out), or nullopt if it cannot be read.
using ListDir = std::function<std::optional<std::vector<DirEntry>>(const std::string& dir)>;

// What a pattern finds on a host.
struct PatternScan {
  std::vector<PatternBolt> bolts;                            // in path order
  std::vector<std::pair<std::string, std::string>> skipped;  // (path, why): matched, but no bolt
  std::vector<std::string> dirs;  // every directory read: the root and each matched one on the way
};

// Walks the pattern from its root with `list`, reading only directories that the components
// match, and names a bolt for each matched file.
PatternScan ScanPattern(const BoltPattern& pattern, const ListDir& list);

}  // namespace tailsafe
