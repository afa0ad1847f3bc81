// WeblogGaps: when the fault suite's weblog results differ from the input, where the missing
// requests went. A rare loss is often seen once, in CI, where the cluster directory is gone; this
// report is what the run prints so that one failure says enough to find the cause.
//
// For each host's weblog backup file it reads the file id from its first marker, the byte
// intervals the results database says are counted (table `processed`,
// examples/weblog/results_db.h) and the ranges hooks recorded (`hook_ranges`), and lists the
// bytes holding requests that no interval covers, with the recoveries of that bolt whose ranges
// touch them. It also totals the request lines in every backup file against the input's
// well-formed requests (the spout skips malformed lines): fewer means requests never reached a
// file (the spout and bolt lost them), none uncounted but fewer counts means intervals were
// recorded for lines that were not counted.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace tailsafe::testing {

struct WeblogFile {
  std::string host;  // the agent's id
  std::string path;  // its weblog backup file
};

// The report, a few lines per file (bounded), or lines saying why a part could not be made.
// `recoveries`: the coordinator's /recoveries documents by path; `input`: the input log.
std::string WeblogGaps(const std::vector<WeblogFile>& files, const std::string& db_path,
                       const std::map<std::string, nlohmann::json>& recoveries, const std::string& input);

}  // namespace tailsafe::testing
