// The command line the two daemons share (tailsafe-agent, tailsafe-coordinator):
//   -c/--config FILE, --log-level LEVEL, --check-config, --version, --help.
#pragma once

#include <optional>
#include <string>

#include "common/cluster_key.h"
#include "common/config.h"

namespace tailsafe {

struct DaemonStart {
  std::optional<Config> config;  // set when the daemon should go on
  ClusterKeys keys;              // loaded with `config` ([cluster] key_file, previous_key_files)
  std::string config_path;
  bool check_only = false;       // --check-config: report and exit 0
  int exit_code = 0;             // when `config` is empty: 0 (--help, --version) or 2 (printed)
};

// Marks every descriptor from 3 up close-on-exec (close_range(2)), so nothing a daemon inherited
// reaches the programs it runs.
void CloseInheritedOnExec();

// Parses argv (after CloseInheritedOnExec), sets the log level, loads the configuration and the cluster keys. `name` prefixes messages.
DaemonStart ParseDaemonCommandLine(const char* name, const char* about, int argc, char** argv);

}  // namespace tailsafe
