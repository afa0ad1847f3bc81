// The tailsafe configuration: one TOML file (default /etc/tailsafe/tailsafe.conf), shared by
// tailsafe-agent, tailsafe-coordinator and tailsafectl. Documented in tailsafe.conf(5).
//
// Parsing is strict: an unknown section or key, a value of the wrong type or out of range, a
// duplicate bolt name, an invalid name or an invalid bolt pattern is an error that names the
// file, the line and the key ("tailsafe.conf:12: agent.listen: expected HOST:PORT, got 'x'").
// Parsing happens at start-up only and never touches the network or the bolt files.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace tailsafe {

constexpr const char* kDefaultConfigPath = "/etc/tailsafe/tailsafe.conf";

struct HostPort {
  std::string host;  // IPv4 literal, IPv6 literal (without brackets) or DNS name
  uint16_t port = 0;
  std::string ToString() const;  // "host:port", IPv6 as "[::1]:7401"
};

// "HOST:PORT", "[V6]:PORT". Port 1..65535. The error names what was wrong.
Result<HostPort> ParseHostPort(std::string_view text);

struct PeerSpec {
  std::string id;    // agent id of the peer
  HostPort address;  // where the peer's agent listens
};
// "ID@HOST:PORT".
Result<PeerSpec> ParsePeerSpec(std::string_view text);

struct ClusterConfig {
  std::string name;         // [cluster] name; required, a valid name
  // [cluster] coordinator: "HOST:PORT", or a list of them (every instance of a coordinator run
  // on ZooKeeper, in the order agents and tailsafectl try them). Empty: no coordinator.
  std::vector<std::string> coordinators;
  // [cluster] key_file: the cluster key (common/cluster_key.h). Parsing leaves it optional; the
  // daemons and tailsafectl refuse to talk over the network without it.
  std::string key_file;
  // [cluster] previous_key_files: keys still accepted from nodes not yet given key_file's key
  // (rotation without downtime).
  std::vector<std::string> previous_key_files;
  // [cluster] replicas: how many peers hold each of this agent's bolts' streams, placed by
  // rendezvous hashing over the coordinator's membership (common/placement.h). Absent (0):
  // every peer.
  uint32_t replicas = 0;
};

struct CoordinatorConfig {
  bool present = false;       // a [coordinator] table was given
  std::string listen;         // "HOST:PORT"
  std::string state_dir;      // absolute path
  uint32_t host_timeout_ms = 1000;
  // How many recovered ranges of each bolt stay listed under /recoveries; older ones are
  // folded into /recovered/ORIGIN/BOLT (what planning needs of them) and their records removed.
  uint32_t recoveries_kept = 100;
  // Where GET /metrics is served (Prometheus text); unset: not served. An IP literal.
  std::optional<HostPort> metrics_listen;
  // Where the status page (/, /api/status, /api/events) and /metrics are served; unset: not
  // served. An IP literal; one that is not loopback needs http_token_file, since the page shows
  // host names and paths.
  std::optional<HostPort> http_listen;
  // A file holding the read-only token the page asks for (Authorization: Bearer, or ?token=).
  std::string http_token_file;
  // Where the coordinator keeps its state: its own SQLite file under state_dir (one instance),
  // or a ZooKeeper ensemble shared by several instances, one of them the leader.
  enum class Store { kSqlite, kZookeeper };
  Store store = Store::kSqlite;
  std::vector<HostPort> zookeeper;  // the ensemble's client addresses; required with kZookeeper
  std::string zookeeper_root;       // absolute znode path; default /tailsafe/CLUSTER_NAME
  uint32_t zookeeper_session_ms = 6000;
  // How long a dead agent keeps its place as a holder of streams: past it, the membership the
  // agents place streams over leaves it out, and its streams get a new holder.
  uint32_t replica_grace_ms = 60000;
  // How long a dead agent's host is given to return before the unfinished recovery ranges of
  // its bolts are shrunk to what the survivors hold (the bytes past that are given up until a
  // survivor or the host shows them). Unset: kShrinkGraceTimeouts host timeouts.
  static constexpr uint32_t kShrinkGraceTimeouts = 8;
  std::optional<uint32_t> shrink_grace_ms;
  uint64_t ShrinkGraceMs() const {
    return shrink_grace_ms ? *shrink_grace_ms : uint64_t{kShrinkGraceTimeouts} * host_timeout_ms;
  }
};

struct AgentConfig {
  bool present = false;       // an [agent] table was given
  std::string id;             // required with [agent]; a valid name
  HostPort listen;            // required with [agent]
  std::string data_dir;       // required with [agent]; absolute path
  std::vector<PeerSpec> peers;  // static peers; ids unique, none equal to `id`
  // Where tailsafectl reaches this agent; default DATA_DIR/agent.sock.
  std::string control_socket;
  // Where GET /metrics is served (Prometheus text); unset: not served. An IP literal.
  std::optional<HostPort> metrics_listen;
  // Tunables (documented in tailsafe.conf(5)); defaults suit most hosts.
  uint32_t rescan_interval_ms = 1000;   // safety-net rescan of every bolt file; 10..3600000
  uint32_t chunk_bytes = 256 * 1024;    // largest DATA frame payload before compression; 4096..1048576
  uint32_t window_bytes = 8 << 20;      // unacknowledged bytes per peer and stream; 65536..268435456
  // Least time between the starts of two commits (fdatasync batches) on this agent; 0..1000.
  // 0 commits as soon as the previous commit ends (lowest lag); more trades up to that much
  // acknowledgement lag for fewer syncs at low rates.
  uint32_t commit_interval_ms = 0;
  // From this many replica files of one commit on one filesystem, one syncfs(2) makes them
  // durable instead of an fdatasync(2) each (agent/replica_sync.h); 0..1000000, 0: never.
  uint32_t commit_syncfs_files = 0;
  // After a bolt file grows, wait this long before reading and shipping, so the writes made
  // meanwhile travel as one frame (Kafka's linger.ms); 0..1000. 0 ships every growth at once.
  // Every file change the agent watches waits as long (common/inotify_watcher.h).
  uint32_t linger_ms = 0;
  int32_t compression_level = 1;        // zstd level, 1..19 (negative levels 'fast' -5..-1 allowed)
  uint32_t reconnect_max_ms = 2000;     // backoff cap for reconnecting to a peer; 10..600000
  uint32_t seal_after_ms = 2000;        // a rotated-away generation that stops growing for this
                                        // long is sealed; 10..3600000
  // Recovery hooks: a run longer than hook_timeout_ms is killed (10..86400000); a failed run is
  // tried again after hook_retry_ms, doubling each time (10..3600000), hook_attempts times in all
  // (1..100), then the recovery is reported failed.
  uint32_t hook_timeout_ms = 600000;
  uint32_t hook_retry_ms = 1000;
  uint32_t hook_attempts = 3;
};

struct BoltMatch {
  std::string exe;  // absolute path of the bolt's executable
  std::string arg;  // an argument the bolt's command line contains (may be empty)
};

struct BoltConfig {
  std::string name;             // unique per agent; a valid name
  std::string file;             // absolute path of the append-only backup file
  std::string pid_file;         // optional, absolute path; exclusive with match
  std::optional<BoltMatch> match;
  std::string checkpoint_file;  // optional, absolute path
  std::string hook;             // optional; if set, a name from [hooks]
  int line = 0;                 // where the [[bolt]] table starts, for messages
  // The `files` of the [[bolt_pattern]] rule that found this bolt (agent/bolt_discovery.h);
  // empty for a [[bolt]] table. Never set by the parser.
  std::string pattern;
};

// A [[bolt_pattern]] rule: every file matching `files` is a bolt, named by its path, with its pid
// and checkpoint files beside it (common/bolt_pattern.h has the syntax and the naming rule).
struct BoltPatternConfig {
  std::string files;  // the pattern; absolute, checked by ParseBoltPattern; unique per agent
  std::string hook;   // optional; if set, a name from [hooks], for every bolt the rule finds
  int line = 0;       // where the table starts, for messages
};

struct Config {
  std::string source;  // file name (or "<string>") for messages
  ClusterConfig cluster;
  CoordinatorConfig coordinator;
  AgentConfig agent;
  std::map<std::string, std::vector<std::string>> hooks;  // name -> argv (argv[0] absolute)
  // name -> the user a hook runs as (a hook given as { command = [...], user = "NAME" }).
  std::map<std::string, std::string> hook_users;
  std::vector<BoltConfig> bolts;
  std::vector<BoltPatternConfig> bolt_patterns;
};

// Parses TOML text. `source` names it in error messages.
Result<Config> ParseConfig(std::string_view text, std::string_view source);
// Every key name a parse of `text` looks up (table names too), whether present or not: with
// every table present, the keys the code knows. The man page coverage test compares them with
// tailsafe.conf(5).
std::set<std::string> ConfigKeysRead(std::string_view text);
// Reads and parses a file; a missing or unreadable file is an error naming the path.
Result<Config> LoadConfig(const std::string& path);

}  // namespace tailsafe
