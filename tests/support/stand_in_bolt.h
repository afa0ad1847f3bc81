// A stand-in bolt for integration tests: a process (sleep) named by the bolt's pid file, whose
// file and checkpoint the test writes itself; the process is what dies. Also the file helpers
// such tests share.
#pragma once

#include <string>

#include "common/status.h"
#include "tests/support/cluster.h"
#include "tests/support/process.h"

namespace tailsafe::testing {

// Writes `text` to `path` through a rename, as a bolt writes its pid and checkpoint files.
Status WriteAtomically(const std::string& path, const std::string& text);
// Appends `text` to `path` (created if missing).
void AppendText(const std::string& path, const std::string& text);
// Request lines [from, to), one per line, as the weblog bolts receive them.
std::string RequestLines(int from, int to);
// Starts the stand-in for agent `agent`'s bolt `bolt`, writes its pid file and waits (10 s at
// most) until the coordinator shows it running; the error says what it showed instead.
Result<Child> StartStandInBolt(TestCluster& c, int agent, int bolt = 0);
// Writes bolt `bolt`'s checkpoint on agent `agent` (an offset into its current file).
Status WriteCheckpoint(TestCluster& c, int agent, int bolt, uint64_t offset);

}  // namespace tailsafe::testing
