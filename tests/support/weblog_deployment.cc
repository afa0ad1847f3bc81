#include "tests/support/weblog_deployment.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <sstream>

namespace tailsafe::testing {

std::string AbsBin(const std::string& name) {
  char* dir = ::realpath(BinDir().c_str(), nullptr);
  std::string out = std::string(dir ? dir : BinDir().c_str()) + "/" + name;
  ::free(dir);
  return out;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(line);
  return out;
}

ClusterOptions WeblogCluster(int agents) {
  ClusterOptions o = RecoveryCluster(agents);
  o.hook_retry_ms = 200;
  o.hook_argv = {AbsBin("weblog-analyze"), "hook", "--db", "RESULTS_DB"};
  return o;
}

WeblogDeployment::WeblogDeployment(TestCluster& cluster, std::vector<std::string> bolt_args, std::string db)
    : c_(cluster), db_(db.empty() ? cluster.root() + "/results.db" : std::move(db)), extra_bolt_args_(std::move(bolt_args)) {
  bolts_.resize(static_cast<size_t>(c_.size()));
  starts_.resize(static_cast<size_t>(c_.size()));
  for (int i = 0; i < c_.size(); ++i) c_.EditConfig(i, "RESULTS_DB", db_);
}

Status WeblogDeployment::StartBolt(int i) {
  std::vector<std::string> argv = {AbsBin("weblog-bolt"), "--name", c_.AgentId(i) + "/bolt-1", "--listen", Socket(i),
                                   "--backup", c_.BoltFile(i, 0), "--checkpoint", c_.CheckpointFile(i, 0),
                                   "--pid-file", c_.PidFile(i, 0), "--db", db_, "--quiet"};
  argv.insert(argv.end(), extra_bolt_args_.begin(), extra_bolt_args_.end());
  auto p = Child::Spawn(argv, BoltLog(i));
  if (!p) return p.status();
  bolts_[static_cast<size_t>(i)] = std::move(*p);
  ++starts_[static_cast<size_t>(i)];
  // Ready when its socket exists (the spout retries until then anyway).
  bool ready = WaitUntil([&] {
    struct stat st;
    return ::stat(Socket(i).c_str(), &st) == 0 || !bolts_[static_cast<size_t>(i)].running();
  }, 20);
  struct stat st;
  if (!ready || ::stat(Socket(i).c_str(), &st) != 0) {
    return Status::Error("the weblog-bolt on " + c_.AgentId(i) + " did not start: " + ReadAll(BoltLog(i)));
  }
  return Status::Ok();
}

Result<Child> WeblogDeployment::StartSpout(const std::string& input, const std::string& rate) {
  std::vector<std::string> argv = {AbsBin("weblog-spout"), "--rate", rate, "--quiet"};
  for (int i = 0; i < c_.size(); ++i) {
    argv.push_back("--bolt");
    argv.push_back(Socket(i));
  }
  argv.push_back(input);
  return Child::Spawn(argv, SpoutLog());
}

Status WeblogDeployment::StopBolts() {
  Status first;
  for (int i = 0; i < c_.size(); ++i) {
    Child& b = bolts_[static_cast<size_t>(i)];
    b.Signal(SIGTERM);
    b.Wait();
    if (b.exit_code() != 0 && first.ok()) {
      first = Status::Error("the bolt on " + c_.AgentId(i) + " did not stop cleanly: " + ReadAll(BoltLog(i)));
    }
  }
  return first;
}

int WeblogDeployment::WaitRecoveriesSettled(double seconds) {
  int settled_rounds = 0;
  int count = -1;
  bool ok = WaitUntil([&] {
    auto docs = c_.CoordinatorDocs("/recoveries/");  // one request, however many there are
    if (!docs.ok()) return false;
    for (const auto& [path, d] : *docs) {
      if (d.value("state", "") != "recovered") {
        settled_rounds = 0;
        return false;
      }
    }
    if (static_cast<int>(docs->size()) != count) settled_rounds = 0;
    count = static_cast<int>(docs->size());
    return ++settled_rounds >= 10;  // 10 polls of 200 ms: several heartbeats with nothing new
  }, seconds, 200);
  return ok ? count : -1;
}

}  // namespace tailsafe::testing
