// WeblogDeployment: the weblog application (examples/weblog) on a TestCluster. Agent i's host
// runs bolt "bolt-1" as a weblog-bolt listening on Socket(i), with its backup file, pid file
// and checkpoint where the agent looks; a weblog-spout sends an input log across the bolts; the
// hook is `weblog-analyze hook`. Used by the weblog integration tests and the fault suite.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "tests/support/cluster.h"
#include "tests/support/process.h"

namespace tailsafe::testing {

// BinDir()/name as an absolute path (hooks run with cwd /).
std::string AbsBin(const std::string& name);
// The non-empty lines of `text`.
std::vector<std::string> Lines(const std::string& text);

// Options for a cluster the weblog runs on: RecoveryCluster with weblog-analyze as the hook
// writing to the results database (WeblogDeployment's constructor fills it in).
ClusterOptions WeblogCluster(int agents);

class WeblogDeployment {
 public:
  // Before the cluster's agents start: writes the results database into their configs: `db`
  // (a SQLite path or a PostgreSQL URI), or "" for ROOT/results.db.
  WeblogDeployment(TestCluster& cluster, std::vector<std::string> bolt_args, std::string db = "");

  const std::string& db() const { return db_; }
  std::string Socket(int i) const { return c_.root() + "/" + c_.AgentId(i) + "/bolt.sock"; }
  std::string BoltLog(int i) const { return c_.root() + "/bolt-" + c_.AgentId(i) + ".log"; }
  std::string SpoutLog() const { return c_.root() + "/spout.log"; }
  Child& bolt(int i) { return bolts_[static_cast<size_t>(i)]; }
  int starts(int i) const { return starts_[static_cast<size_t>(i)]; }

  // Starts agent i's bolt and waits until its socket exists.
  Status StartBolt(int i);
  Result<Child> StartSpout(const std::string& input, const std::string& rate);
  // SIGTERM to every bolt; an error naming the first that did not exit 0.
  Status StopBolts();
  // Waits until every recovery the coordinator holds is recovered and several heartbeats have
  // passed with none new; their number, or -1 on timeout.
  int WaitRecoveriesSettled(double seconds);

 private:
  TestCluster& c_;
  std::string db_;
  std::vector<std::string> extra_bolt_args_;
  std::vector<Child> bolts_;
  std::vector<int> starts_;
};

}  // namespace tailsafe::testing
