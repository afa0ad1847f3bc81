// tailsafectl: inspect and control tailsafe. See tailsafectl(1).
//
//   tailsafectl [-c FILE] status [--json] [--socket PATH | --cluster] [--coordinator HOST:PORT]
//   tailsafectl [-c FILE] ls|get PATH [--json] [--coordinator HOST:PORT]
//   tailsafectl [-c FILE] watch PATH [--json] [--interval-ms N] [--count N]
//   tailsafectl [-c FILE] check [--lag-warn BYTES] [--lag-crit BYTES]
//   tailsafectl [-c FILE] retry /recoveries/N
//   tailsafectl [-c FILE] forget-agent ID
//   tailsafectl [-c FILE] checkpoint BOLT OFFSET
//   tailsafectl keygen FILE [--force]
//
// Commands that ask the coordinator prove membership of the cluster with [cluster] key_file of
// the configuration, or --key-file FILE.
//
// `status` shows the whole cluster (from the coordinator) when one is configured or given, the
// local agent otherwise (or with --socket). Exit status: 0 success, 1 the agent or coordinator
// could not be reached or answered an error, 2 usage or configuration error; `check` follows
// the monitoring-plugins convention instead (ctl/cluster_commands.h).
#include <CLI/CLI.hpp>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "common/checkpoint.h"
#include "common/cluster_key.h"
#include "common/config.h"
#include "common/control_client.h"
#include "common/coord_client.h"
#include "ctl/cluster_commands.h"
#include "common/format.h"
#include "common/version.h"
#include "ctl/operator_commands.h"

using namespace tailsafe;
using nlohmann::json;

namespace {

void PrintStatus(const json& s) {
  printf("agent %s (cluster %s), pid %d, up %.1f s\n", Get<std::string>(s, "agent", "?").c_str(),
         Get<std::string>(s, "cluster", "?").c_str(), Get<int>(s, "pid", 0), Get<double>(s, "uptime_seconds", 0));
  if (std::string e = Get<std::string>(s, "storage_error", ""); !e.empty()) {
    printf("STORAGE: cannot write the data_dir, nothing more is acknowledged: %s\n", e.c_str());
  }
  printf("\n%-16s %5s %12s  %-16s %-5s %12s %12s %12s %8s\n", "BOLT", "GEN", "ORIGIN SIZE", "PEER", "LINK", "SHIPPED",
         "ACKED", "LAG", "LAG S");
  for (const auto& b : s.value("bolts", json::array())) {
    std::string name = Get<std::string>(b, "name", "?");
    const json& peers = b.value("peers", json::array());
    if (peers.empty()) {
      printf("%-16s %5llu %12s  %-16s\n", name.c_str(), Get<unsigned long long>(b, "generation", 0),
             HumanBytes(Get<uint64_t>(b, "origin_size", 0)).c_str(), "(no peers)");
    }
    for (const auto& p : peers) {
      printf("%-16s %5llu %12s  %-16s %-5s %12s %12s %12s %8.3f\n", name.c_str(),
             Get<unsigned long long>(b, "generation", 0), HumanBytes(Get<uint64_t>(b, "origin_size", 0)).c_str(),
             Get<std::string>(p, "peer", "?").c_str(), Get<bool>(p, "connected", false) ? "up" : "DOWN",
             HumanBytes(Get<uint64_t>(p, "shipped", 0)).c_str(), HumanBytes(Get<uint64_t>(p, "acked", 0)).c_str(),
             HumanBytes(Get<uint64_t>(p, "lag_bytes", 0)).c_str(), Get<double>(p, "lag_seconds", 0));
    }
    if (b.contains("process") && b["process"].is_object()) {
      const json& pr = b["process"];
      std::string state = Get<std::string>(pr, "state", "?");
      std::string line = "process: " + state;
      if (pr.contains("pid")) line += ", pid " + std::to_string(Get<int>(pr, "pid", 0));
      line += ", deaths " + std::to_string(Get<unsigned long long>(pr, "deaths", 0));
      std::string detail = Get<std::string>(pr, "detail", "");
      if (!detail.empty()) line += " (" + detail + ")";
      printf("%-16s %s\n", "", line.c_str());
    }
    if (b.contains("checkpoint") && b["checkpoint"].is_object()) {
      const json& ck = b["checkpoint"];
      std::string line = "checkpoint: ";
      line += ck.contains("offset") ? std::to_string(Get<unsigned long long>(ck, "offset", 0)) : "none";
      std::string problem = Get<std::string>(ck, "problem", "");
      if (!problem.empty()) line += " (" + problem + ")";
      printf("%-16s %s\n", "", line.c_str());
    }
    const json& r = b.value("rescans", json::object());
    printf("%-16s rescans: %llu on timer, %llu after inotify overflow; rotations %llu, truncations %llu, "
           "divergences %llu, generations lost %llu\n",
           "", Get<unsigned long long>(r, "timer", 0), Get<unsigned long long>(r, "overflow", 0),
           Get<unsigned long long>(b, "rotations", 0), Get<unsigned long long>(b, "truncations", 0),
           Get<unsigned long long>(b, "divergences", 0), Get<unsigned long long>(b, "generations_lost", 0));
  }
  printf("\n%-16s %-22s %-5s %12s %12s %12s  %s\n", "PEER", "ADDRESS", "LINK", "SENT", "RESENT", "LOST", "LAST ERROR");
  for (const auto& p : s.value("peers", json::array())) {
    printf("%-16s %-22s %-5s %12s %12s %12s  %s\n", Get<std::string>(p, "peer", "?").c_str(),
           Get<std::string>(p, "address", "?").c_str(), Get<bool>(p, "connected", false) ? "up" : "DOWN",
           HumanBytes(Get<uint64_t>(p, "bytes_sent", 0)).c_str(), HumanBytes(Get<uint64_t>(p, "resent_bytes", 0)).c_str(),
           HumanBytes(Get<uint64_t>(p, "lost_bytes", 0)).c_str(), Get<std::string>(p, "last_error", "").c_str());
  }
  const json& reps = s.value("replicas", json::array());
  printf("\nreplicas held here: %zu\n", reps.size());
  for (const auto& r : reps) {
    printf("  %s/%s generation %llu: %s durable%s%s\n", Get<std::string>(r, "origin", "?").c_str(),
           Get<std::string>(r, "bolt", "?").c_str(), Get<unsigned long long>(r, "generation", 0),
           HumanBytes(Get<uint64_t>(r, "durable", 0)).c_str(), Get<bool>(r, "sealed", false) ? ", sealed" : "",
           Get<bool>(r, "streaming", false) ? ", streaming" : "");
  }
}

// `tailsafectl checkpoint BOLT OFFSET`: writes the bolt's checkpoint file as a bolt would.
int RunCheckpoint(const std::string& config_path, const std::string& bolt, const std::string& offset_text) {
  Result<Config> config = LoadConfig(config_path);
  if (!config) {
    fprintf(stderr, "tailsafectl: %s\n", config.status().message().c_str());
    return 2;
  }
  Result<uint64_t> offset = ParseCheckpoint(offset_text);
  if (!offset) {
    fprintf(stderr, "tailsafectl: checkpoint: OFFSET %s\n", offset.status().message().c_str());
    return 2;
  }
  std::string names;
  for (const BoltConfig& b : config->bolts) {
    if (b.name != bolt) {
      names += (names.empty() ? "" : ", ") + b.name;
      continue;
    }
    if (b.checkpoint_file.empty()) {
      fprintf(stderr, "tailsafectl: checkpoint: bolt '%s' in %s has no checkpoint_file\n", bolt.c_str(),
              config_path.c_str());
      return 2;
    }
    if (Status st = WriteCheckpointFile(b.checkpoint_file, *offset); !st) {
      fprintf(stderr, "tailsafectl: checkpoint: %s\n", st.message().c_str());
      return 1;
    }
    return 0;
  }
  fprintf(stderr, "tailsafectl: checkpoint: no bolt '%s' in %s (bolts: %s)\n", bolt.c_str(), config_path.c_str(),
          names.empty() ? "none" : names.c_str());
  return 2;
}

// The coordinator's addresses: --coordinator (HOST:PORT, or several joined by commas), else
// [cluster] coordinator. An error if neither.
Result<std::vector<std::string>> CoordinatorAddress(const std::string& config_path, const std::string& coordinator) {
  if (!coordinator.empty()) {
    std::vector<std::string> out;
    size_t start = 0;
    for (;;) {
      size_t comma = coordinator.find(',', start);
      std::string one = coordinator.substr(start, comma == std::string::npos ? comma : comma - start);
      if (Result<HostPort> hp = ParseHostPort(one); !hp) return hp.status().Context("--coordinator");
      out.push_back(one);
      if (comma == std::string::npos) return out;
      start = comma + 1;
    }
  }
  Result<Config> config = LoadConfig(config_path);
  if (!config) return config.status();
  if (config->cluster.coordinators.empty()) {
    return Status::Error(config_path + " sets no [cluster] coordinator; give --coordinator HOST:PORT");
  }
  return config->cluster.coordinators;
}

// The cluster key(s) to reach the coordinator with: --key-file, else [cluster] key_file (and
// previous_key_files) of the configuration.
Result<ClusterKeys> CtlKeys(const std::string& config_path, const std::string& key_file) {
  if (!key_file.empty()) {
    Result<ClusterKey> key = LoadClusterKey(key_file, "--key-file");
    if (!key) return key.status();
    ClusterKeys keys;
    keys.keys.push_back(std::move(key.value()));
    return keys;
  }
  Result<Config> config = LoadConfig(config_path);
  if (!config) {
    return Status::Error("no cluster key to reach the coordinator with: give --key-file FILE, or a configuration "
                         "with [cluster] key_file (" + config.status().message() + ")");
  }
  return LoadClusterKeys(config->cluster, config_path);
}

Result<CoordinatorEndpoint> ResolveCoordinator(const std::string& config_path, const std::string& coordinator,
                                               const std::string& key_file) {
  Result<std::vector<std::string>> address = CoordinatorAddress(config_path, coordinator);
  if (!address) return address.status();
  Result<ClusterKeys> keys = CtlKeys(config_path, key_file);
  if (!keys) return keys.status();
  return CoordinatorEndpoint{*address, std::move(keys.value())};
}

// `tailsafectl keygen FILE`: a new cluster key.
int RunKeygen(const std::string& path, bool force) {
  if (Status s = WriteNewClusterKey(path, force); !s) {
    fprintf(stderr, "tailsafectl: keygen: %s\n", s.message().c_str());
    return 1;
  }
  Result<ClusterKey> key = LoadClusterKey(path, "the new key");
  if (!key) {
    fprintf(stderr, "tailsafectl: keygen: %s\n", key.status().message().c_str());
    return 1;
  }
  printf("wrote a new cluster key to %s (mode 0600, key id %s); copy it to every host of the cluster and set "
         "[cluster] key_file to its path\n",
         path.c_str(), KeyIdHex(key->id).c_str());
  return 0;
}

// `tailsafectl ls|get PATH`: reads the coordinator's namespace.
int RunRead(const std::string& config_path, const std::string& coordinator, const std::string& key_file,
            const std::string& type, const std::string& path, bool as_json, int timeout_ms) {
  Result<CoordinatorEndpoint> resolved = ResolveCoordinator(config_path, coordinator, key_file);
  if (!resolved) {
    fprintf(stderr, "tailsafectl: %s\n", resolved.status().message().c_str());
    return 2;
  }
  json all_names = json::array();
  for (std::string after;;) {  // ls comes in pages: names after the last one of the page before
    json request = {{"type", type}, {"path", path}};
    if (!after.empty()) request["after"] = after;
    Result<json> reply = CoordinatorRequest(*resolved, request, timeout_ms);
    if (!reply) {
      fprintf(stderr, "tailsafectl: %s\n", reply.status().message().c_str());
      return 1;
    }
    std::string rtype = Get<std::string>(*reply, "type", "");
    if (rtype == "error") {
      fprintf(stderr, "tailsafectl: %s\n", Get<std::string>(*reply, "message", "?").c_str());
      return 1;
    }
    if (type == "ls" && rtype == "children") {
      const json& names = reply->value("names", json::array());
      for (const auto& n : names) {
        std::string name = n.is_string() ? n.get<std::string>() : "?";
        if (as_json) {
          all_names.push_back(name);
        } else {
          printf("%s\n", name.c_str());
        }
      }
      if (Get<bool>(*reply, "more", false) && !names.empty() && names.back().is_string()) {
        after = names.back().get<std::string>();
        continue;
      }
      if (as_json) printf("%s\n", all_names.dump().c_str());
      return 0;
    }
    if (type == "get" && rtype == "document") {
      const json& value = reply->value("value", json());
      printf("%s\n", as_json ? value.dump().c_str() : value.dump(2).c_str());
      return 0;
    }
    fprintf(stderr, "tailsafectl: unexpected reply '%s' from the coordinator\n", rtype.c_str());
    return 1;
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"tailsafectl: inspect and control tailsafe"};
  app.require_subcommand(1);
  std::string config_path = kDefaultConfigPath;
  app.add_option("-c,--config", config_path, "configuration file")->capture_default_str();
  std::string key_file;
  app.add_option("--key-file", key_file, "the cluster key to reach the coordinator with (default: [cluster] key_file)");
  app.set_version_flag("--version", std::string("tailsafectl ") + kVersion);

  auto* status = app.add_subcommand(
      "status", "show the cluster (agents, bolts, lags, recoveries) or the local agent (bolts, peers, replicas)");
  bool as_json = false, cluster = false, local = false;
  std::string socket_path, coordinator;
  int timeout_ms = 5000;
  status->add_flag("--json", as_json, "print the status document as JSON");
  status->add_flag("--cluster", cluster, "the whole cluster, from the coordinator (the default when one is configured)");
  status->add_flag("--local", local, "the local agent, from its control socket");
  status->add_option("--socket", socket_path, "the agent's control socket (default: from the configuration)");
  status->add_option("--coordinator", coordinator, "HOST:PORT (default: [cluster] coordinator)");
  status->add_option("--timeout-ms", timeout_ms, "how long to wait")->check(CLI::Range(1, 600000));

  auto* check = app.add_subcommand("check", "health check with monitoring-plugins exit codes and perfdata");
  CheckThresholds thresholds;
  check->add_option("--lag-warn", thresholds.lag_warn_bytes, "WARNING when a bolt's replication lag reaches BYTES")
      ->capture_default_str();
  check->add_option("--lag-crit", thresholds.lag_crit_bytes, "CRITICAL when a bolt's replication lag reaches BYTES")
      ->capture_default_str();
  check->add_option("--coordinator", coordinator, "HOST:PORT (default: [cluster] coordinator)");
  check->add_option("--timeout-ms", timeout_ms, "how long to wait for the coordinator")->check(CLI::Range(1, 600000));

  auto* watch = app.add_subcommand("watch", "print the documents at or below a namespace path as they change");
  std::string watch_path;
  bool watch_json = false;
  int interval_ms = 500, count = 0;
  watch->add_option("PATH", watch_path, "a path such as /, /recoveries, /bolts/ORIGIN")->required();
  watch->add_flag("--json", watch_json, "one JSON object per line");
  // Accepted for scripts written when watch polled; changes are pushed now.
  watch->add_option("--interval-ms", interval_ms, "ignored: the coordinator pushes changes")->check(CLI::Range(10, 3600000));
  watch->add_option("--count", count, "stop after this many changes (0: never)")->check(CLI::Range(0, 1000000));
  watch->add_option("--coordinator", coordinator, "HOST:PORT (default: [cluster] coordinator)");
  watch->add_option("--timeout-ms", timeout_ms, "how long to wait for the coordinator")->check(CLI::Range(1, 600000));

  auto* retry = app.add_subcommand("retry", "assign a failed recovery again, under a new epoch");
  std::string retry_path;
  retry->add_option("PATH", retry_path, "the failed recovery: /recoveries/N")->required();
  auto* forget = app.add_subcommand("forget-agent", "remove a dead agent that will not come back, and its bolts");
  std::string forget_id;
  forget->add_option("ID", forget_id, "the agent's id, as in /agents/ID")->required();
  for (CLI::App* sub : {retry, forget}) {
    sub->add_option("--coordinator", coordinator, "HOST:PORT (default: [cluster] coordinator)");
    sub->add_option("--timeout-ms", timeout_ms, "how long to wait for the coordinator")->check(CLI::Range(1, 600000));
  }

  auto* checkpoint = app.add_subcommand("checkpoint", "write a bolt's checkpoint file (atomically), as the bolt would");
  std::string ckpt_bolt, ckpt_offset;
  checkpoint->add_option("BOLT", ckpt_bolt, "the bolt's name, from the configuration")->required();
  checkpoint->add_option("OFFSET", ckpt_offset, "byte offset in the bolt's current file processed so far")->required();
  auto* keygen = app.add_subcommand("keygen", "write a new cluster key (32 random bytes, mode 0600) to FILE");
  std::string keygen_path;
  bool keygen_force = false;
  keygen->add_option("FILE", keygen_path, "where to write it; an existing file is kept unless --force")->required();
  keygen->add_flag("--force", keygen_force, "replace an existing key file");
  std::string read_path;
  bool read_json = false;
  CLI::App* reads[2];
  int i = 0;
  for (const char* name : {"ls", "get"}) {
    auto* sub = app.add_subcommand(name, std::string(name) == "ls" ? "list the names below a namespace path"
                                                                    : "print the document at a namespace path");
    sub->add_option("PATH", read_path, "a path such as /agents, /agents/ID, /bolts/ORIGIN/BOLT")->required();
    sub->add_flag("--json", read_json, "print JSON on one line");
    sub->add_option("--coordinator", coordinator, "HOST:PORT (default: [cluster] coordinator)");
    sub->add_option("--timeout-ms", timeout_ms, "how long to wait for the coordinator")->check(CLI::Range(1, 600000));
    reads[i++] = sub;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help exits 0. A command-line error exits 2, or 3 (UNKNOWN) for `check`, whose exit
    // codes a monitoring system reads.
    if (app.exit(e) == 0) return 0;
    for (int a = 1; a < argc; ++a) {
      if (std::string_view(argv[a]) == "check") return 3;
    }
    return 2;
  }

  for (CLI::App* sub : reads) {
    if (sub->parsed()) {
      return RunRead(config_path, coordinator, key_file, sub->get_name(), read_path, read_json, timeout_ms);
    }
  }
  if (keygen->parsed()) return RunKeygen(keygen_path, keygen_force);
  if (checkpoint->parsed()) return RunCheckpoint(config_path, ckpt_bolt, ckpt_offset);
  if (check->parsed()) {
    if (thresholds.lag_warn_bytes > thresholds.lag_crit_bytes) {
      printf("TAILSAFE UNKNOWN - --lag-warn %llu is above --lag-crit %llu\n",
             static_cast<unsigned long long>(thresholds.lag_warn_bytes),
             static_cast<unsigned long long>(thresholds.lag_crit_bytes));
      return 3;
    }
    Result<CoordinatorEndpoint> endpoint = ResolveCoordinator(config_path, coordinator, key_file);
    if (!endpoint) {
      printf("TAILSAFE UNKNOWN - %s\n", endpoint.status().message().c_str());
      return 3;
    }
    return RunCheck(*endpoint, thresholds, timeout_ms);
  }
  if (retry->parsed() || forget->parsed()) {
    Result<CoordinatorEndpoint> endpoint = ResolveCoordinator(config_path, coordinator, key_file);
    if (!endpoint) {
      fprintf(stderr, "tailsafectl: %s\n", endpoint.status().message().c_str());
      return 2;
    }
    return retry->parsed() ? RunRetry(*endpoint, retry_path, timeout_ms) : RunForgetAgent(*endpoint, forget_id, timeout_ms);
  }
  if (watch->parsed()) {
    Result<CoordinatorEndpoint> endpoint = ResolveCoordinator(config_path, coordinator, key_file);
    if (!endpoint) {
      fprintf(stderr, "tailsafectl: %s\n", endpoint.status().message().c_str());
      return 2;
    }
    return RunWatch(*endpoint, watch_path, watch_json, count, timeout_ms);
  }
  if (cluster && (local || !socket_path.empty())) {
    fprintf(stderr, "tailsafectl: status: --cluster cannot be combined with --local or --socket\n");
    return 2;
  }
  if (!local && socket_path.empty()) {
    // The cluster's view when a coordinator is known; the local agent's otherwise.
    Result<std::vector<std::string>> address = CoordinatorAddress(config_path, coordinator);
    if (address) {
      Result<ClusterKeys> keys = CtlKeys(config_path, key_file);
      if (!keys) {
        fprintf(stderr, "tailsafectl: %s\n", keys.status().message().c_str());
        return 2;
      }
      return RunClusterStatus(CoordinatorEndpoint{*address, std::move(keys.value())}, as_json, timeout_ms);
    }
    if (cluster) {
      fprintf(stderr, "tailsafectl: %s\n", address.status().message().c_str());
      return 2;
    }
  }

  if (socket_path.empty()) {
    Result<Config> config = LoadConfig(config_path);
    if (!config) {
      fprintf(stderr, "tailsafectl: %s\n", config.status().message().c_str());
      return 2;
    }
    if (!config->agent.present) {
      fprintf(stderr, "tailsafectl: %s has no [agent] table; give --socket\n", config_path.c_str());
      return 2;
    }
    socket_path = config->agent.control_socket;
  }
  Result<std::string> reply = ControlRequest(socket_path, "status", timeout_ms);
  if (!reply) {
    fprintf(stderr, "tailsafectl: %s\n", reply.status().message().c_str());
    return 1;
  }
  json doc = json::parse(*reply, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    fprintf(stderr, "tailsafectl: the agent's reply is not a JSON object\n");
    return 1;
  }
  if (doc.contains("error")) {
    fprintf(stderr, "tailsafectl: agent: %s\n", Get<std::string>(doc, "error", "?").c_str());
    return 1;
  }
  if (as_json) {
    printf("%s\n", doc.dump(2).c_str());
  } else {
    PrintStatus(doc);
  }
  return 0;
}
