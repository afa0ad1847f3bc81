#include "tests/support/stand_in_bolt.h"

#include <stdio.h>
#include <string.h>

#include <fstream>
#include <utility>

namespace tailsafe::testing {

Status WriteAtomically(const std::string& path, const std::string& text) {
  { std::ofstream(path + ".tmp") << text; }
  if (::rename((path + ".tmp").c_str(), path.c_str()) != 0) {
    return Status::Error("renaming " + path + ".tmp: " + strerror(errno));
  }
  return Status::Ok();
}

void AppendText(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary | std::ios::app) << text;
}

std::string RequestLines(int from, int to) {
  std::string s;
  for (int i = from; i < to; ++i) s += "GET /page/" + std::to_string(i) + " host-" + std::to_string(i % 7) + "\n";
  return s;
}

Result<Child> StartStandInBolt(TestCluster& c, int agent, int bolt) {
  auto p = Child::Spawn({"/bin/sleep", "600"}, c.root() + "/bolt-" + c.AgentId(agent) + "-" + c.BoltName(bolt) + ".log");
  if (!p) return p.status();
  if (Status s = WriteAtomically(c.PidFile(agent, bolt), std::to_string(p->pid()) + "\n"); !s) return s;
  nlohmann::json doc;
  pid_t pid = p->pid();
  std::string path = "/bolts/" + c.AgentId(agent) + "/" + c.BoltName(bolt);
  bool running = c.WaitDoc(path, [&](const auto& d) {
    return d.contains("process") && d["process"].value("state", "") == "running" && d["process"].value("pid", 0) == pid;
  }, 10, &doc);
  if (!running) return Status::Error(path + " never showed pid " + std::to_string(pid) + " running: " + doc.dump());
  return std::move(p.value());
}

Status WriteCheckpoint(TestCluster& c, int agent, int bolt, uint64_t offset) {
  return WriteAtomically(c.CheckpointFile(agent, bolt), std::to_string(offset) + "\n");
}

}  // namespace tailsafe::testing
