#include "common/config.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <climits>
#include <cstddef>
#include <exception>
#include <filesystem>
#include <set>
#include <utility>

// Use the compiled library the Makefile links (-ltomlplusplus) instead of compiling all of
// toml++ into this file; this is what the package's pkg-config Cflags select.
#ifndef TOML_SHARED_LIB
#define TOML_SHARED_LIB 1
#endif
#include <toml++/toml.h>

#include "common/bolt_pattern.h"
#include "common/names.h"
#include "common/placement.h"

namespace tailsafe {
namespace {

// Config values end up in terminals and the journal: show them printable and bounded.
std::string Shown(std::string_view text) {
  constexpr size_t kMaxShown = 128;
  std::string out;
  for (char c : text.substr(0, kMaxShown)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  if (text.size() > kMaxShown) out += "...";
  return out;
}

Status HostPortError(std::string_view text, std::string_view why) {
  return Status::Error("expected HOST:PORT, got '" + Shown(text) + "': " + std::string(why));
}

bool IsAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// DNS names and IPv4 literals outside brackets; IPv6 literals, with an optional zone
// ("fe80::1%eth0"), inside. Anything else (spaces, '/', '@') is a typo, not a host.
bool IsHostChar(char c, bool bracketed) {
  if (IsAlnum(c) || c == '.' || c == '-' || c == '_') return true;
  return bracketed && (c == ':' || c == '%');
}

std::string Join(std::string_view dir, std::string_view name) {
  while (dir.size() > 1 && dir.back() == '/') dir.remove_suffix(1);
  std::string out(dir);
  if (out != "/") out += '/';
  out += name;
  return out;
}

// Two spellings of one file ("/a//b", "/a/./b") must collide when checking uniqueness.
std::string NormalPath(const std::string& path) {
  return std::filesystem::path(path).lexically_normal().string();
}

// Why a path is unusable, or empty if it is fine. Paths must be absolute because the daemons
// run with "/" as their working directory and a relative path would silently mean something else.
std::string PathProblem(std::string_view path) {
  if (path.find('\0') != std::string_view::npos) return "must not contain a NUL character";
  if (path.empty() || path.front() != '/') {
    return "must be an absolute path, got '" + Shown(path) + "'";
  }
  return "";
}

int LineOf(const toml::node& node) { return static_cast<int>(node.source().begin.line); }

// Collects problems and keeps the one that comes first in the file, as a compiler would, so
// the report does not depend on the order in which sections happen to be checked.
class Diagnostics {
 public:
  explicit Diagnostics(std::string_view source, std::set<std::string>* keys_read = nullptr)
      : source_(source), keys_read_(keys_read) {}

  // Every key name the parser looked up, asked for by ConfigKeysRead().
  void Read(std::string_view key) {
    if (keys_read_ != nullptr) keys_read_->emplace(key);
  }

  // line 0: the problem has no place in the file (a missing table); it ranks last.
  void Error(int line, std::string message) {
    int rank = line > 0 ? line : INT_MAX;
    if (has_error_ && rank >= rank_) return;
    has_error_ = true;
    rank_ = rank;
    message_ = source_ + (line > 0 ? ":" + std::to_string(line) : std::string()) + ": " +
               std::move(message);
  }

  bool ok() const { return !has_error_; }
  Status ToStatus() const { return has_error_ ? Status::Error(message_) : Status::Ok(); }

 private:
  std::string source_;
  std::set<std::string>* keys_read_;
  bool has_error_ = false;
  int rank_ = INT_MAX;
  std::string message_;
};

enum class Need { kOptional, kRequired };

// Reads one TOML table. Every key looked up is remembered, so that Finish() can report the
// keys nobody asked for: a misspelt tunable must be an error, not a silently ignored line.
// Getters return true only for a present and valid value, and store it only then.
class TableReader {
 public:
  // `path` names the table in messages: "agent", "bolt 'bolt-1'", "" for the root.
  TableReader(const toml::table& table, std::string path, Diagnostics& diag)
      : table_(table), path_(std::move(path)), diag_(diag) {}

  void set_path(std::string path) { path_ = std::move(path); }
  const std::string& path() const { return path_; }
  int line() const { return LineOf(table_); }

  std::string KeyPath(std::string_view key) const {
    return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
  }

  bool Has(std::string_view key) const { return table_.contains(key); }

  void Error(const toml::node& node, std::string_view key, std::string message) {
    diag_.Error(LineOf(node), KeyPath(key) + ": " + std::move(message));
  }

  // Marks `key` as understood; returns its node, or nullptr (an error if required).
  const toml::node* Get(std::string_view key, Need need) {
    known_.emplace(key);
    diag_.Read(key);
    const toml::node* node = table_.get(key);
    if (node == nullptr && need == Need::kRequired) {
      diag_.Error(line(), KeyPath(key) + ": required key is missing");
    }
    return node;
  }

  const toml::table* Table(std::string_view key, Need need) {
    known_.emplace(key);
    diag_.Read(key);
    const toml::node* node = table_.get(key);
    if (node == nullptr) {
      if (need == Need::kRequired) diag_.Error(0, "missing required table [" + KeyPath(key) + "]");
      return nullptr;
    }
    if (!node->is_table()) Error(*node, key, "expected a table");
    return node->as_table();
  }

  const toml::array* Array(std::string_view key, Need need) {
    const toml::node* node = Get(key, need);
    if (node == nullptr) return nullptr;
    if (!node->is_array()) Error(*node, key, "expected an array");
    return node->as_array();
  }

  bool String(std::string_view key, Need need, std::string* out) {
    const toml::node* node = Get(key, need);
    if (node == nullptr) return false;
    const auto* value = node->as_string();
    if (value == nullptr) {
      Error(*node, key, "expected a string");
      return false;
    }
    *out = value->get();
    return true;
  }

  bool Path(std::string_view key, Need need, std::string* out) {
    std::string value;
    if (!String(key, need, &value)) return false;
    if (std::string problem = PathProblem(value); !problem.empty()) {
      Error(*table_.get(key), key, problem);
      return false;
    }
    *out = std::move(value);
    return true;
  }

  // `what` is the kind of name for the message: "agent id", "bolt name".
  bool Name(std::string_view key, std::string_view what, Need need, std::string* out) {
    std::string value;
    if (!String(key, need, &value)) return false;
    if (Status status = CheckName(what, value); !status.ok()) {
      Error(*table_.get(key), key, status.message());
      return false;
    }
    *out = std::move(value);
    return true;
  }

  bool Address(std::string_view key, Need need, HostPort* out) {
    std::string value;
    if (!String(key, need, &value)) return false;
    Result<HostPort> address = ParseHostPort(value);
    if (!address.ok()) {
      Error(*table_.get(key), key, address.status().message());
      return false;
    }
    *out = std::move(address).value();
    return true;
  }

  // An address this process binds: an IP literal, not a name to resolve.
  bool BindAddress(std::string_view key, std::optional<HostPort>* out) {
    HostPort hp;
    if (!Address(key, Need::kOptional, &hp)) return false;
    in6_addr scratch;
    if (::inet_pton(AF_INET, hp.host.c_str(), &scratch) != 1 && ::inet_pton(AF_INET6, hp.host.c_str(), &scratch) != 1) {
      Error(*table_.get(key), key, "'" + Shown(hp.host) + "' is not an IP address; this address is bound, give one of this host's IPs");
      return false;
    }
    *out = std::move(hp);
    return true;
  }

  // A validated address kept as the text the user wrote.
  bool AddressText(std::string_view key, Need need, std::string* out) {
    HostPort unused;
    if (!Address(key, need, &unused)) return false;
    *out = table_.get(key)->as_string()->get();
    return true;
  }

  bool Integer(std::string_view key, int64_t min, int64_t max, int64_t* out) {
    const toml::node* node = Get(key, Need::kOptional);
    if (node == nullptr) return false;
    const auto* value = node->as_integer();
    if (value == nullptr) {
      Error(*node, key, "expected an integer");
      return false;
    }
    int64_t v = value->get();
    if (v < min || v > max) {
      Error(*node, key,
            std::to_string(v) + " is out of range " + std::to_string(min) + ".." +
                std::to_string(max));
      return false;
    }
    *out = v;
    return true;
  }

  template <typename T>
  bool Integer(std::string_view key, int64_t min, int64_t max, T* out) {
    int64_t v = 0;
    if (!Integer(key, min, max, &v)) return false;
    *out = static_cast<T>(v);
    return true;
  }

  void Finish() {
    for (auto&& [key, node] : table_) {
      if (known_.count(key.str()) != 0) continue;
      // Inside a named bolt the dotted form would nest quotes ("bolt 'x'.k"), so say where.
      std::string message = path_.find('\'') == std::string::npos
                                ? "unknown key '" + Shown(KeyPath(key.str())) + "'"
                                : path_ + ": unknown key '" + Shown(key.str()) + "'";
      diag_.Error(LineOf(node), std::move(message));
    }
  }

 private:
  const toml::table& table_;
  std::string path_;
  Diagnostics& diag_;
  std::set<std::string, std::less<>> known_;
};

void ParseCluster(const toml::table& table, Diagnostics& diag, ClusterConfig& out) {
  TableReader reader(table, "cluster", diag);
  reader.Name("name", "cluster name", Need::kRequired, &out.name);
  // A string or an array of strings, each HOST:PORT.
  if (const toml::node* node = reader.Get("coordinator", Need::kOptional)) {
    if (node->is_string()) {
      std::string one;
      if (reader.AddressText("coordinator", Need::kOptional, &one)) out.coordinators.push_back(one);
    } else if (const toml::array* list = node->as_array()) {
      std::set<std::string> seen;
      if (list->empty()) reader.Error(*node, "coordinator", "an empty list; give at least one HOST:PORT");
      for (size_t i = 0; i < list->size(); ++i) {
        const toml::node& item = *list->get(i);
        std::string key = "coordinator[" + std::to_string(i) + "]";
        const auto* text = item.as_string();
        if (text == nullptr) {
          reader.Error(item, key, "expected a string \"HOST:PORT\"");
        } else if (Result<HostPort> hp = ParseHostPort(text->get()); !hp) {
          reader.Error(item, key, hp.status().message());
        } else if (!seen.insert(hp->ToString()).second) {
          reader.Error(item, key, "'" + Shown(text->get()) + "' is listed twice");
        } else {
          out.coordinators.push_back(text->get());
        }
      }
    } else {
      reader.Error(*node, "coordinator", "expected a string \"HOST:PORT\" or an array of them");
    }
  }
  reader.Path("key_file", Need::kOptional, &out.key_file);
  if (const toml::array* previous = reader.Array("previous_key_files", Need::kOptional)) {
    for (size_t i = 0; i < previous->size(); ++i) {
      const toml::node& item = *previous->get(i);
      std::string key = "previous_key_files[" + std::to_string(i) + "]";
      const auto* text = item.as_string();
      if (text == nullptr) {
        reader.Error(item, key, "expected a string (an absolute path)");
      } else if (std::string problem = PathProblem(text->get()); !problem.empty()) {
        reader.Error(item, key, problem);
      } else {
        out.previous_key_files.push_back(text->get());
      }
    }
  }
  reader.Integer("replicas", 1, kMaxReplicas, &out.replicas);
  reader.Finish();
}

bool IsLoopback(const std::string& ip) {
  in_addr v4;
  if (::inet_pton(AF_INET, ip.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  return ip == "::1";
}

// A znode path: absolute, each component a valid name, not "/" itself.
std::string ZnodePathProblem(std::string_view path) {
  if (path.empty() || path.front() != '/') return "must be an absolute znode path, got '" + Shown(path) + "'";
  if (path == "/") return "must not be the root '/': give the tree its own node, as in /tailsafe/CLUSTER";
  std::string_view rest = path.substr(1);
  for (;;) {
    size_t slash = rest.find('/');
    std::string_view name = rest.substr(0, slash);
    if (!IsValidName(name)) {
      return "'" + Shown(path) + "': component '" + Shown(name) + "' is not a valid name (letters, digits, '.', '_', '-')";
    }
    if (slash == std::string_view::npos) return "";
    rest = rest.substr(slash + 1);
  }
}

void ParseCoordinator(const toml::table& table, const std::string& cluster_name, Diagnostics& diag,
                      CoordinatorConfig& out) {
  out.present = true;
  TableReader reader(table, "coordinator", diag);
  reader.AddressText("listen", Need::kRequired, &out.listen);
  reader.Path("state_dir", Need::kRequired, &out.state_dir);
  reader.Integer("host_timeout_ms", 10, 600000, &out.host_timeout_ms);
  reader.Integer("recoveries_kept", 1, 1000000, &out.recoveries_kept);
  reader.Integer("replica_grace_ms", 0, 86400000, &out.replica_grace_ms);
  if (uint32_t grace = 0; reader.Integer("shrink_grace_ms", 0, 86400000, &grace)) out.shrink_grace_ms = grace;
  reader.BindAddress("metrics_listen", &out.metrics_listen);
  reader.BindAddress("http_listen", &out.http_listen);
  reader.Path("http_token_file", Need::kOptional, &out.http_token_file);
  if (out.http_listen && out.http_token_file.empty() && !IsLoopback(out.http_listen->host)) {
    reader.Error(*table.get("http_listen"), "http_listen",
                 "'" + out.http_listen->ToString() + "' is not a loopback address: set http_token_file too (the page shows "
                 "host names and paths), or bind 127.0.0.1 behind a proxy that authenticates");
  }
  std::string store = "sqlite";
  reader.String("store", Need::kOptional, &store);
  if (store == "zookeeper") {
    out.store = CoordinatorConfig::Store::kZookeeper;
  } else if (store != "sqlite") {
    reader.Error(*table.get("store"), "store", "expected \"sqlite\" or \"zookeeper\", got '" + Shown(store) + "'");
  }
  bool zookeeper = out.store == CoordinatorConfig::Store::kZookeeper;
  // The ZooKeeper keys mean nothing to the SQLite store: a file that sets them without
  // store = "zookeeper" most likely forgot that line.
  for (const char* key : {"zookeeper", "zookeeper_root", "zookeeper_session_ms"}) {
    if (!zookeeper && reader.Has(key)) {
      reader.Error(*table.get(key), key, "only used with store = \"zookeeper\" (this coordinator's store is sqlite)");
    }
  }
  std::string ensemble;
  if (reader.String("zookeeper", zookeeper ? Need::kRequired : Need::kOptional, &ensemble) && zookeeper) {
    // ZooKeeper's own connect string: HOST:PORT,HOST:PORT,... (a chroot suffix is zookeeper_root).
    std::set<std::string> seen;
    size_t start = 0;
    for (;;) {
      size_t comma = ensemble.find(',', start);
      std::string_view item = std::string_view(ensemble).substr(start, comma == std::string::npos ? comma : comma - start);
      Result<HostPort> hp = ParseHostPort(item);
      if (!hp) {
        reader.Error(*table.get("zookeeper"), "zookeeper",
                     "member " + std::to_string(out.zookeeper.size() + 1) + ": " + hp.status().message() +
                         " (a list is HOST:PORT,HOST:PORT,...)");
        break;
      }
      if (!seen.insert(hp->ToString()).second) {
        reader.Error(*table.get("zookeeper"), "zookeeper", "'" + Shown(item) + "' is listed twice");
        break;
      }
      out.zookeeper.push_back(std::move(hp.value()));
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
  out.zookeeper_root = "/tailsafe/" + cluster_name;
  if (reader.String("zookeeper_root", Need::kOptional, &out.zookeeper_root)) {
    if (std::string problem = ZnodePathProblem(out.zookeeper_root); !problem.empty()) {
      reader.Error(*table.get("zookeeper_root"), "zookeeper_root", problem);
    }
  }
  reader.Integer("zookeeper_session_ms", 100, 600000, &out.zookeeper_session_ms);
  reader.Finish();
}

void ParsePeers(TableReader& reader, AgentConfig& out) {
  const toml::array* peers = reader.Array("peers", Need::kOptional);
  if (peers == nullptr) return;
  std::set<std::string> seen;
  for (size_t i = 0; i < peers->size(); ++i) {
    const toml::node& item = *peers->get(i);
    std::string key = "peers[" + std::to_string(i) + "]";
    const auto* text = item.as_string();
    if (text == nullptr) {
      reader.Error(item, key, "expected a string \"ID@HOST:PORT\"");
      continue;
    }
    Result<PeerSpec> peer = ParsePeerSpec(text->get());
    if (!peer.ok()) {
      reader.Error(item, key, peer.status().message());
    } else if (peer->id == out.id) {
      reader.Error(item, key, "peer '" + peer->id + "' is this agent's own id");
    } else if (!seen.insert(peer->id).second) {
      reader.Error(item, key, "duplicate peer id '" + peer->id + "'");
    } else {
      out.peers.push_back(std::move(peer).value());
    }
  }
}

void ParseAgent(const toml::table& table, Diagnostics& diag, AgentConfig& out) {
  out.present = true;
  TableReader reader(table, "agent", diag);
  reader.Name("id", "agent id", Need::kRequired, &out.id);
  reader.Address("listen", Need::kRequired, &out.listen);
  reader.Path("data_dir", Need::kRequired, &out.data_dir);
  ParsePeers(reader, out);

  // A Unix socket path longer than sun_path cannot be bound; say so now rather than at bind().
  constexpr size_t kMaxSocketPath = sizeof(sockaddr_un{}.sun_path) - 1;
  if (reader.Path("control_socket", Need::kOptional, &out.control_socket)) {
    if (out.control_socket.size() > kMaxSocketPath) {
      reader.Error(*table.get("control_socket"), "control_socket",
                   "'" + Shown(out.control_socket) + "' is longer than " +
                       std::to_string(kMaxSocketPath) + " bytes, the limit for a Unix socket");
    }
  } else if (!reader.Has("control_socket") && !out.data_dir.empty()) {
    out.control_socket = Join(out.data_dir, "agent.sock");
    if (out.control_socket.size() > kMaxSocketPath) {
      reader.Error(*table.get("data_dir"), "data_dir",
                   "the default control socket '" + Shown(out.control_socket) + "' is longer than " +
                       std::to_string(kMaxSocketPath) +
                       " bytes, the limit for a Unix socket; set agent.control_socket");
    }
  }

  reader.BindAddress("metrics_listen", &out.metrics_listen);
  reader.Integer("rescan_interval_ms", 10, 3600000, &out.rescan_interval_ms);
  reader.Integer("chunk_bytes", 4096, 1048576, &out.chunk_bytes);
  reader.Integer("window_bytes", 65536, 268435456, &out.window_bytes);
  reader.Integer("reconnect_max_ms", 10, 600000, &out.reconnect_max_ms);
  reader.Integer("seal_after_ms", 10, 3600000, &out.seal_after_ms);
  reader.Integer("commit_interval_ms", 0, 1000, &out.commit_interval_ms);
  reader.Integer("commit_syncfs_files", 0, 1000000, &out.commit_syncfs_files);
  reader.Integer("linger_ms", 0, 1000, &out.linger_ms);
  reader.Integer("hook_timeout_ms", 10, 86400000, &out.hook_timeout_ms);
  reader.Integer("hook_retry_ms", 10, 3600000, &out.hook_retry_ms);
  reader.Integer("hook_attempts", 1, 100, &out.hook_attempts);
  // zstd's level 0 means "the library default", which would hide a typo; the fast levels
  // below -5 barely compress log text.
  int32_t level = 0;
  if (reader.Integer("compression_level", -5, 19, &level)) {
    if (level == 0) {
      reader.Error(*table.get("compression_level"), "compression_level",
                   "0 is not allowed; use 1..19, or -5..-1 for zstd's fast levels");
    } else {
      out.compression_level = level;
    }
  }
  reader.Finish();
}

// A hook's command: a non-empty array of strings, argv[0] an absolute path. False (with the
// error reported) if it is not.
bool ParseHookCommand(const toml::node& node, const std::string& path, Diagnostics& diag,
                      std::vector<std::string>* out) {
  const toml::array* argv = node.as_array();
  if (argv == nullptr || argv->empty()) {
    diag.Error(LineOf(node), path + ": expected a non-empty array of strings, the program and its arguments");
    return false;
  }
  for (size_t i = 0; i < argv->size(); ++i) {
    const toml::node& item = *argv->get(i);
    std::string item_path = path + "[" + std::to_string(i) + "]";
    const auto* arg = item.as_string();
    if (arg == nullptr) {
      diag.Error(LineOf(item), item_path + ": expected a string");
      return false;
    }
    // Hooks are exec'd without a shell and without a PATH search, so argv[0] is the one
    // program that will run, and no argument can carry a NUL through execve().
    std::string problem;
    if (i == 0) {
      problem = PathProblem(arg->get());
    } else if (arg->get().find('\0') != std::string::npos) {
      problem = "must not contain a NUL character";
    }
    if (!problem.empty()) {
      diag.Error(LineOf(item), item_path + ": " + problem);
      return false;
    }
    out->push_back(arg->get());
  }
  return true;
}

// Every key of [hooks] is a hook name, so there is no fixed set of keys to check. A hook is its
// command (an array), or a table { command = [...], user = "NAME" } to run it as another user.
void ParseHooks(const toml::table& table, Diagnostics& diag, Config& config) {
  for (auto&& [key, node] : table) {
    std::string path = "hooks." + Shown(key.str());
    if (Status status = CheckName("hook name", key.str()); !status.ok()) {
      diag.Error(LineOf(node), path + ": " + status.message());
      continue;
    }
    std::vector<std::string> args;
    if (const toml::table* t = node.as_table()) {
      for (auto&& [k, v] : *t) {
        if (k.str() != "command" && k.str() != "user") {
          diag.Error(LineOf(v), path + ": unknown key '" + Shown(k.str()) + "' (a hook table has command and user)");
        }
      }
      diag.Read("command");
      diag.Read("user");
      const toml::node* command = t->get("command");
      if (command == nullptr) {
        diag.Error(LineOf(node), path + ".command: required key is missing");
        continue;
      }
      if (!ParseHookCommand(*command, path + ".command", diag, &args)) continue;
      if (const toml::node* user = t->get("user")) {
        const auto* name = user->as_string();
        // A user name as useradd(8) accepts it: no path or option can hide in it.
        bool ok = name != nullptr && !name->get().empty() && name->get().size() <= 32 && name->get()[0] != '-' &&
                  std::all_of(name->get().begin(), name->get().end(), [](char ch) {
                    return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '-' || ch == '.';
                  });
        if (!ok) {
          diag.Error(LineOf(*user), path + ".user: expected a user name (letters, digits, '_', '-', '.'), got '" +
                                        (name ? Shown(name->get()) : std::string("not a string")) + "'");
          continue;
        }
        config.hook_users[std::string(key.str())] = name->get();
      }
    } else if (!ParseHookCommand(node, path, diag, &args)) {
      continue;
    }
    config.hooks.emplace(std::string(key.str()), std::move(args));
  }
}

struct BoltContext {
  bool agent_present = false;
  std::set<std::string, std::less<>> hook_names;  // every key of [hooks], valid or not
};

void ParseBolt(const toml::table& table, size_t index, const BoltContext& context,
               Diagnostics& diag, BoltConfig& bolt) {
  bolt.line = LineOf(table);
  TableReader reader(table, "bolt[" + std::to_string(index) + "]", diag);
  if (reader.Name("name", "bolt name", Need::kRequired, &bolt.name)) {
    reader.set_path("bolt '" + bolt.name + "'");
  }
  if (!context.agent_present && index == 0) {
    diag.Error(bolt.line, reader.path() + ": [[bolt]] needs an [agent] table, the agent that "
                                          "watches the bolt on this host");
  }
  reader.Path("file", Need::kRequired, &bolt.file);
  reader.Path("pid_file", Need::kOptional, &bolt.pid_file);
  if (const toml::table* match = reader.Table("match", Need::kOptional)) {
    BoltMatch& m = bolt.match.emplace();
    TableReader match_reader(*match, reader.KeyPath("match"), diag);
    match_reader.Path("exe", Need::kRequired, &m.exe);
    match_reader.String("arg", Need::kOptional, &m.arg);
    match_reader.Finish();
  }
  if (reader.Has("pid_file") && reader.Has("match")) {
    reader.Error(*table.get("match"), "match",
                 "pid_file and match are exclusive: the bolt's process is found one way or the "
                 "other");
  }
  reader.Path("checkpoint_file", Need::kOptional, &bolt.checkpoint_file);
  if (reader.String("hook", Need::kOptional, &bolt.hook) &&
      context.hook_names.count(bolt.hook) == 0) {
    reader.Error(*table.get("hook"), "hook", "'" + Shown(bolt.hook) + "' is not defined in [hooks]");
  }
  reader.Finish();
}

void ParseBolts(const toml::node& node, const BoltContext& context, Diagnostics& diag,
                std::vector<BoltConfig>& out) {
  const toml::array* array = node.as_array();
  if (array == nullptr || (!array->empty() && !array->is_array_of_tables())) {
    diag.Error(LineOf(node), "bolt: expected [[bolt]] tables");
    return;
  }
  std::map<std::string, int> name_lines;
  // The agent follows one stream per file; two bolts sharing a file would replicate and
  // recover each other's records twice.
  std::map<std::string, std::string> file_owners;  // normalized file -> bolt name
  for (size_t i = 0; i < array->size(); ++i) {
    const toml::table& table = *array->get(i)->as_table();
    BoltConfig bolt;
    ParseBolt(table, i, context, diag, bolt);
    std::string where = bolt.name.empty() ? "bolt[" + std::to_string(i) + "]"
                                          : "bolt '" + bolt.name + "'";
    if (!bolt.name.empty()) {
      auto [it, inserted] = name_lines.emplace(bolt.name, bolt.line);
      if (!inserted) {
        diag.Error(LineOf(*table.get("name")), where + ".name: duplicate bolt name, first used at line " +
                                                   std::to_string(it->second));
      }
    }
    if (!bolt.file.empty()) {
      auto [it, inserted] = file_owners.emplace(NormalPath(bolt.file), bolt.name);
      if (!inserted) {
        diag.Error(LineOf(*table.get("file")),
                   where + ".file: '" + Shown(bolt.file) + "' is already the file of bolt '" +
                       it->second + "'");
      }
    }
    out.push_back(std::move(bolt));
  }
  // The checkpoint is replaced by rename(); pointed at a backup file it would destroy it.
  for (size_t i = 0; i < out.size(); ++i) {
    const BoltConfig& bolt = out[i];
    if (bolt.checkpoint_file.empty()) continue;
    auto it = file_owners.find(NormalPath(bolt.checkpoint_file));
    if (it == file_owners.end()) continue;
    const toml::table& table = *array->get(i)->as_table();
    diag.Error(LineOf(*table.get("checkpoint_file")),
               "bolt '" + bolt.name + "'.checkpoint_file: '" + Shown(bolt.checkpoint_file) +
                   "' is the file of bolt '" + it->second + "'");
  }
}

void ParseBoltPatternTable(const toml::table& table, size_t index, const BoltContext& context, Diagnostics& diag,
                           BoltPatternConfig& rule) {
  rule.line = LineOf(table);
  TableReader reader(table, "bolt_pattern[" + std::to_string(index) + "]", diag);
  if (!context.agent_present && index == 0) {
    diag.Error(rule.line, reader.path() + ": [[bolt_pattern]] needs an [agent] table, the agent that "
                                          "finds the bolts on this host");
  }
  std::string files;
  if (reader.String("files", Need::kRequired, &files)) {
    if (Result<BoltPattern> pattern = ParseBoltPattern(files); !pattern) {
      reader.Error(*table.get("files"), "files", pattern.status().message());
    } else {
      rule.files = std::move(files);
    }
  }
  if (reader.String("hook", Need::kOptional, &rule.hook) && context.hook_names.count(rule.hook) == 0) {
    reader.Error(*table.get("hook"), "hook", "'" + Shown(rule.hook) + "' is not defined in [hooks]");
  }
  reader.Finish();
}

void ParseBoltPatterns(const toml::node& node, const BoltContext& context, Diagnostics& diag,
                       std::vector<BoltPatternConfig>& out) {
  const toml::array* array = node.as_array();
  if (array == nullptr || (!array->empty() && !array->is_array_of_tables())) {
    diag.Error(LineOf(node), "bolt_pattern: expected [[bolt_pattern]] tables");
    return;
  }
  // A rule is known by its pattern (a reload tells rules apart by it), so two rules with one
  // pattern would be one rule with two hooks.
  std::map<std::string, int> pattern_lines;
  for (size_t i = 0; i < array->size(); ++i) {
    const toml::table& table = *array->get(i)->as_table();
    BoltPatternConfig rule;
    ParseBoltPatternTable(table, i, context, diag, rule);
    if (!rule.files.empty()) {
      auto [it, inserted] = pattern_lines.emplace(rule.files, rule.line);
      if (!inserted) {
        diag.Error(LineOf(*table.get("files")), "bolt_pattern[" + std::to_string(i) +
                                                    "].files: the same pattern as the rule at line " +
                                                    std::to_string(it->second));
      }
    }
    out.push_back(std::move(rule));
  }
}

Result<Config> ParseConfigOrThrow(std::string_view text, std::string_view source,
                                  std::set<std::string>* keys_read = nullptr) {
  toml::table root;
  try {
    root = toml::parse(text, source);
  } catch (const toml::parse_error& error) {
    const toml::source_position& at = error.source().begin;
    return Status::Error(std::string(source) + ":" + std::to_string(at.line) + ":" +
                         std::to_string(at.column) + ": " + std::string(error.description()));
  }

  Config config;
  config.source = std::string(source);
  Diagnostics diag(source, keys_read);
  TableReader reader(root, "", diag);
  if (const toml::table* table = reader.Table("cluster", Need::kRequired)) {
    ParseCluster(*table, diag, config.cluster);
  }
  if (const toml::table* table = reader.Table("coordinator", Need::kOptional)) {
    ParseCoordinator(*table, config.cluster.name, diag, config.coordinator);
  }
  if (const toml::table* table = reader.Table("agent", Need::kOptional)) {
    ParseAgent(*table, diag, config.agent);
  }
  BoltContext context;
  context.agent_present = config.agent.present;
  if (const toml::table* table = reader.Table("hooks", Need::kOptional)) {
    ParseHooks(*table, diag, config);
    // Bolts check their hook against every name written, so that a hook with a bad command
    // is reported as such and not also as "not defined".
    for (auto&& [key, node] : *table) context.hook_names.emplace(key.str());
  }
  if (const toml::node* bolts = reader.Get("bolt", Need::kOptional)) {
    ParseBolts(*bolts, context, diag, config.bolts);
  }
  if (const toml::node* patterns = reader.Get("bolt_pattern", Need::kOptional)) {
    ParseBoltPatterns(*patterns, context, diag, config.bolt_patterns);
  }
  reader.Finish();

  if (!diag.ok()) return diag.ToStatus();
  return config;
}

// The file's whole text, or an error naming the path.
Result<std::string> ReadConfigFile(const std::string& path) {
  // Bounded so that a mistaken `-c /dev/zero` fails instead of eating memory.
  constexpr size_t kMaxConfigBytes = 16 << 20;
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(path);
  std::string text;
  Status status;
  char buffer[65536];
  for (;;) {
    ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      status = ErrnoStatus(path);
      break;
    }
    if (n == 0) break;
    text.append(buffer, static_cast<size_t>(n));
    if (text.size() > kMaxConfigBytes) {
      status = Status::Error(path + ": larger than 16 MiB, not a configuration file");
      break;
    }
  }
  close(fd);
  if (!status.ok()) return status;
  return text;
}

}  // namespace

std::string HostPort::ToString() const {
  std::string port_text = std::to_string(port);
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + port_text;
  return host + ":" + port_text;
}

Result<HostPort> ParseHostPort(std::string_view text) {
  std::string_view host;
  std::string_view port;
  bool bracketed = false;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos) return HostPortError(text, "missing ']'");
    host = text.substr(1, close - 1);
    std::string_view rest = text.substr(close + 1);
    if (rest.empty() || rest.front() != ':') return HostPortError(text, "missing ':PORT' after ']'");
    if (!host.empty() && host.find(':') == std::string_view::npos) {
      return HostPortError(text, "brackets are only for IPv6 addresses");
    }
    port = rest.substr(1);
    bracketed = true;
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return HostPortError(text, "missing port");
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    // "::1:7401" could split anywhere; brackets make the port unambiguous.
    if (host.find(':') != std::string_view::npos) {
      return HostPortError(text, "an IPv6 address needs brackets, as in [::1]:7401");
    }
  }
  if (host.empty()) return HostPortError(text, "empty host");
  for (char c : host) {
    if (!IsHostChar(c, bracketed)) return HostPortError(text, "invalid character in host");
  }
  if (port.empty()) return HostPortError(text, "missing port");
  uint32_t value = 0;
  for (char c : port) {
    if (c < '0' || c > '9') return HostPortError(text, "port is not a number");
    value = value * 10 + static_cast<uint32_t>(c - '0');
    if (value > 65535) return HostPortError(text, "port must be 1..65535");
  }
  if (value == 0) return HostPortError(text, "port must be 1..65535");
  return HostPort{std::string(host), static_cast<uint16_t>(value)};
}

Result<PeerSpec> ParsePeerSpec(std::string_view text) {
  size_t at = text.find('@');
  if (at == std::string_view::npos) {
    return Status::Error("expected ID@HOST:PORT, got '" + Shown(text) + "'");
  }
  std::string_view id = text.substr(0, at);
  if (Status status = CheckName("peer id", id); !status.ok()) return status;
  Result<HostPort> address = ParseHostPort(text.substr(at + 1));
  if (!address.ok()) return address.status().Context("peer '" + std::string(id) + "'");
  return PeerSpec{std::string(id), std::move(address).value()};
}

Result<Config> ParseConfig(std::string_view text, std::string_view source) {
  // Callers run on the event loop, which never expects exceptions; only allocation failure
  // can still throw once toml++'s parse_error is handled.
  try {
    return ParseConfigOrThrow(text, source);
  } catch (const std::exception& error) {
    return Status::Error(std::string(source) + ": " + error.what());
  }
}

std::set<std::string> ConfigKeysRead(std::string_view text) {
  std::set<std::string> keys;
  try {
    (void)ParseConfigOrThrow(text, "<keys>", &keys);
  } catch (const std::exception&) {
  }
  return keys;
}

Result<Config> LoadConfig(const std::string& path) {
  Result<std::string> text = ReadConfigFile(path);
  if (!text.ok()) return text.status();
  return ParseConfig(*text, path);
}

}  // namespace tailsafe
