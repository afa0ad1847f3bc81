#include "common/daemon.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <unistd.h>

#include <CLI/CLI.hpp>

#include <cstdio>
#include <cstdlib>
#include <vector>

#include "common/log.h"
#include "common/version.h"

namespace tailsafe {

void CloseInheritedOnExec() {
  if (::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) == 0) return;
  // Before Linux 5.11: each open descriptor in turn.
  std::vector<int> fds;
  if (DIR* d = ::opendir("/proc/self/fd")) {
    while (dirent* e = ::readdir(d)) {
      int fd = std::atoi(e->d_name);
      if (e->d_name[0] != '.' && fd > 2 && fd != ::dirfd(d)) fds.push_back(fd);
    }
    ::closedir(d);
  }
  for (int fd : fds) ::fcntl(fd, F_SETFD, ::fcntl(fd, F_GETFD) | FD_CLOEXEC);
}

DaemonStart ParseDaemonCommandLine(const char* name, const char* about, int argc, char** argv) {
  // Whatever the daemon inherited beyond stdin, stdout and stderr stays with it: the hooks it
  // runs get none of it (everything it opens itself is O_CLOEXEC already).
  CloseInheritedOnExec();
  DaemonStart out;
  CLI::App app{about};
  out.config_path = kDefaultConfigPath;
  std::string log_level = "info";
  app.add_option("-c,--config", out.config_path, "configuration file")->capture_default_str();
  app.add_option("--log-level", log_level, "error, warning, notice, info or debug")->capture_default_str();
  app.add_flag("--check-config", out.check_only, "parse the configuration, report, and exit");
  app.set_version_flag("--version", std::string(name) + " " + kVersion);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; every command-line error exits 2, like a bad configuration.
    out.exit_code = app.exit(e) == 0 ? 0 : 2;
    return out;
  }
  LogLevel level;
  if (!ParseLogLevel(log_level, &level)) {
    fprintf(stderr, "%s: --log-level '%s' is not one of error, warning, notice, info, debug\n", name,
            log_level.c_str());
    out.exit_code = 2;
    return out;
  }
  SetLogLevel(level);
  Result<Config> config = LoadConfig(out.config_path);
  if (!config) {
    fprintf(stderr, "%s: %s\n", name, config.status().message().c_str());
    out.exit_code = 2;
    return out;
  }
  // Without a usable cluster key neither daemon may listen or connect: refuse at once, saying
  // how to make one, rather than start and fail every connection.
  Result<ClusterKeys> keys = LoadClusterKeys(config->cluster, out.config_path);
  if (!keys) {
    fprintf(stderr, "%s: %s\n", name, keys.status().message().c_str());
    out.exit_code = 2;
    return out;
  }
  out.config = std::move(config.value());
  out.keys = std::move(keys.value());
  return out;
}

}  // namespace tailsafe
