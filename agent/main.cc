// tailsafe-agent: replicates this host's bolt backup files to every peer and keeps replicas of
// theirs. See tailsafe-agent(8) and docs/design.md.
#include <CLI/CLI.hpp>

#include <csignal>
#include <cstdio>

#include "agent/agent.h"
#include "common/config.h"
#include "common/log.h"

using namespace tailsafe;

int main(int argc, char** argv) {
  CLI::App app{"tailsafe-agent: replicate bolt backup files to peer agents"};
  std::string config_path = kDefaultConfigPath;
  std::string log_level = "info";
  bool check_only = false;
  app.add_option("-c,--config", config_path, "configuration file")->capture_default_str();
  app.add_option("--log-level", log_level, "error, warning, notice, info or debug")->capture_default_str();
  app.add_flag("--check-config", check_only, "parse the configuration, report, and exit");
  app.set_version_flag("--version", "tailsafe-agent 0.1");
  CLI11_PARSE(app, argc, argv);

  LogLevel level;
  if (!ParseLogLevel(log_level, &level)) {
    fprintf(stderr, "tailsafe-agent: --log-level '%s' is not one of error, warning, notice, info, debug\n",
            log_level.c_str());
    return 2;
  }
  SetLogLevel(level);
  Result<Config> config = LoadConfig(config_path);
  if (!config) {
    fprintf(stderr, "tailsafe-agent: %s\n", config.status().message().c_str());
    return 2;
  }
  if (!config->agent.present) {
    fprintf(stderr, "tailsafe-agent: %s has no [agent] table\n", config_path.c_str());
    return 2;
  }
  if (check_only) {
    printf("%s: ok (agent %s, %zu bolts, %zu peers)\n", config_path.c_str(), config->agent.id.c_str(),
           config->bolts.size(), config->agent.peers.size());
    return 0;
  }
  SetLogIdent("tailsafe-agent[" + config->agent.id + "]");
  // The sealing check takes and drops file leases; a lease break signal must not kill us.
  ::signal(SIGIO, SIG_IGN);
  Agent agent(std::move(config.value()));
  Status s = agent.Run();
  if (!s.ok()) {
    LOG_ERROR("%s", s.message().c_str());
    return 1;
  }
  LOG_NOTICE("stopped");
  return 0;
}
