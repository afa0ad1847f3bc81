// tailsafe-agent: replicates this host's bolt backup files to every peer and keeps replicas of
// theirs. See tailsafe-agent(8) and docs/design.md.
#include <sys/prctl.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <cstdio>

#include "agent/agent.h"
#include "common/config.h"
#include "common/daemon.h"
#include "common/log.h"
#include "common/open_files_limit.h"

using namespace tailsafe;

int main(int argc, char** argv) {
  DaemonStart start =
      ParseDaemonCommandLine("tailsafe-agent", "tailsafe-agent: replicate bolt backup files to peer agents", argc, argv);
  if (!start.config) return start.exit_code;
  std::optional<Config>& config = start.config;
  const std::string& config_path = start.config_path;
  bool check_only = start.check_only;
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
  // A descriptor or more per bolt, and per replica of the peers' bolts: 1024 is too few.
  RaiseOpenFilesLimit(OpenFilesNeeded(config->bolts.size()));
  // The sealing check takes and drops file leases; a lease break signal must not kill us.
  ::signal(SIGIO, SIG_IGN);
  // A peer, the coordinator or a hook that closes its end makes a write fail with EPIPE, which is
  // handled where it happens; the signal would kill the agent instead.
  ::signal(SIGPIPE, SIG_IGN);
  // systemd hands CAP_NET_ADMIN (process events) over as an ambient capability, which every
  // program the agent runs would inherit: hooks must get none. The agent keeps its own.
  if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0) {
    LOG_WARN("cannot clear the ambient capabilities hooks would inherit: %s", strerror(errno));
  }
  Agent agent(std::move(config.value()), std::move(start.keys), config_path);
  Status s = agent.Run();
  if (!s.ok()) {
    LOG_ERROR("%s", s.message().c_str());
    return 1;
  }
  LOG_NOTICE("stopped");
  return 0;
}
