#include "tests/faults/checker.h"

#include <algorithm>
#include <fstream>
#include <tuple>

#include "common/placement.h"
#include "tests/faults/weblog_gaps.h"

namespace tailsafe::testing {

namespace {

uint64_t CountOccurrences(const std::string& text, const std::string& what) {
  uint64_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + what.size())) ++n;
  return n;
}

void CheckSanitizers(const std::string& what, const std::string& log, FaultReport* r) {
  for (const char* marker : {"AddressSanitizer", "LeakSanitizer", "UndefinedBehaviorSanitizer", "runtime error:"}) {
    size_t at = log.find(marker);
    if (at != std::string::npos) {
      r->findings.push_back(what + " reported '" + marker + "': " + log.substr(at > 200 ? at - 200 : 0, 1200));
      return;
    }
  }
}

}  // namespace

nlohmann::json FaultReport::ToJson(const FaultOptions& o, double seconds) const {
  return {{"seed", o.seed},
          {"hosts", o.hosts},
          {"store", o.zookeeper ? "zookeeper" : "sqlite"},
          {"replicas", o.replicas},
          {"nemesis_seconds", o.seconds},
          {"run_seconds", seconds},
          {"faults", faults},
          {"faults_total", faults_total},
          {"bytes_written", bytes_written},
          {"bytes_replicated", bytes_replicated},
          {"bytes_lost", bytes_lost},
          {"recoveries", recoveries},
          {"recovered_bytes", recovered_bytes},
          {"duplicates", duplicates},
          {"stale_results_refused", stale_results_refused},
          {"requests", requests},
          {"results_equal", results_equal},
          {"invariant_samples", invariant_samples},
          {"rotations", rotations},
          {"inotify_overflow_rescans", overflow_rescans},
          {"findings", findings}};
}

FaultReport CheckFaultRun(FaultRun& run) {
  FaultReport r;
  TestCluster& c = run.cluster();
  for (const FaultEvent& e : run.events()) ++r.faults[FaultName(e.kind)];
  r.faults_total = static_cast<int>(run.events().size());
  r.invariant_samples = run.invariant_samples();
  r.rotations = run.rotations();
  for (const std::string& v : run.violations()) r.findings.push_back("during the run: " + v);

  // Replicas: every holder (every peer, without replicas) holds every generation of every bolt,
  // byte for byte, and no other peer holds any. The faults never keep an agent away for its
  // replica_grace_ms, so the holders are the placement over every agent.
  std::vector<std::string> members;
  for (int i = 0; i < c.size(); ++i) members.push_back(c.AgentId(i));
  uint32_t replicas = run.options().replicas;
  for (int o = 0; o < c.size(); ++o) {
    auto st = c.AgentStatus(o);
    if (!st) {
      r.findings.push_back(c.AgentId(o) + " does not answer status: " + st.status().message());
      continue;
    }
    for (int b = 0; b < c.bolts(); ++b) {
      const auto& bolt = (*st)["bolts"][static_cast<size_t>(b)];
      std::string name = c.AgentId(o) + "/" + c.BoltName(b);
      for (const char* counter : {"divergences", "generations_lost"}) {
        if (bolt.value(counter, uint64_t{0}) != 0) r.findings.push_back(name + ": " + counter + " " + bolt[counter].dump());
      }
      r.overflow_rescans += bolt["rescans"].value("overflow", uint64_t{0});
      // What each generation must hold: the raw appender remembers it; the weblog bolt's file
      // is never rotated, so it is its one generation.
      std::vector<std::string> expected;
      if (b == run.raw_bolt()) {
        const auto& contents = run.appender(o).contents();
        for (size_t g = 0; g < contents.size(); ++g) {
          expected.push_back(c.root() + "/expected-" + c.AgentId(o) + "-" + c.BoltName(b) + "-" + std::to_string(g + 1));
          std::ofstream(expected.back(), std::ios::binary) << contents[g];
        }
      } else {
        expected.push_back(c.BoltFile(o, b));
      }
      uint64_t size = 0;
      for (const std::string& e : expected) size += FileSize(e);
      r.bytes_written += size;
      for (const auto& g : bolt["generations"]) {
        if (g.value("generation", uint64_t{0}) > expected.size()) {
          r.findings.push_back(name + " has generation " + g["generation"].dump() + " though its file had only " +
                               std::to_string(expected.size()));
        }
      }
      for (int h = 0; h < c.size(); ++h) {
        if (h == o) continue;
        if (!HoldsStream(c.AgentId(h), c.AgentId(o), c.BoltName(b), members, replicas)) {
          if (FileSize(c.ReplicaFile(h, o, b, 1)) != 0) {
            r.findings.push_back(c.AgentId(h) + " holds a replica of " + name + " though it is not placed there");
          }
          continue;
        }
        r.bytes_replicated += size;
        for (size_t g = 0; g < expected.size(); ++g) {
          std::string replica = c.ReplicaFile(h, o, b, g + 1);
          std::string why;
          if (!FilesEqual(expected[g], replica, &why)) {
            uint64_t want = FileSize(expected[g]), have = FileSize(replica);
            r.bytes_lost += have < want ? want - have : 0;
            r.findings.push_back("replica on " + c.AgentId(h) + " of " + name + " generation " + std::to_string(g + 1) +
                                 ": " + why);
          }
        }
        if (FileSize(c.ReplicaFile(h, o, b, expected.size() + 1)) != 0) {
          r.findings.push_back(c.AgentId(h) + " holds a generation " + std::to_string(expected.size() + 1) + " of " +
                               name + " that was never written");
        }
      }
    }
    for (const auto& p : (*st)["peers"]) {
      if (p.value("lost_bytes", uint64_t{0}) != 0) {
        r.findings.push_back(c.AgentId(o) + " counts " + p["lost_bytes"].dump() + " lost bytes to " + p["peer"].dump());
        r.bytes_lost += p["lost_bytes"].get<uint64_t>();
      }
    }
  }

  // Recoveries: all recovered; recorded ranges of a bolt generation never overlap.
  auto docs = c.CoordinatorDocs("/recoveries/");
  if (!docs) {
    r.findings.push_back(docs.status().message());
  } else {
    using Key = std::tuple<std::string, std::string, uint64_t>;
    std::map<Key, std::vector<std::tuple<uint64_t, uint64_t, std::string>>> ranges;
    for (const auto& [path, d] : *docs) {
      std::string id = path.substr(path.rfind('/') + 1);
      ++r.recoveries;
      if (d.value("state", "") != "recovered") {
        r.findings.push_back("recovery " + id + " is " + d.value("state", "?") + ": " + d.dump());
        continue;
      }
      uint64_t from = d.value("from", uint64_t{0}), to = d.value("delivered_to", uint64_t{0});
      r.recovered_bytes += to > from ? to - from : 0;
      ranges[{d.value("origin", ""), d.value("bolt", ""), d.value("generation", uint64_t{0})}].push_back(
          {from, to, id + " (epoch " + std::to_string(d.value("epoch", uint64_t{0})) + ")"});
    }
    for (auto& [key, list] : ranges) {
      std::sort(list.begin(), list.end());
      for (size_t i = 1; i < list.size(); ++i) {
        if (std::get<0>(list[i]) < std::get<1>(list[i - 1])) {
          ++r.duplicates;
          r.findings.push_back("recoveries " + std::get<2>(list[i - 1]) + " and " + std::get<2>(list[i]) + " of " +
                               std::get<0>(key) + "/" + std::get<1>(key) + " overlap: [" +
                               std::to_string(std::get<0>(list[i - 1])) + ", " + std::to_string(std::get<1>(list[i - 1])) +
                               ") and [" + std::to_string(std::get<0>(list[i])) + ", " +
                               std::to_string(std::get<1>(list[i])) + ")");
        }
      }
    }
  }
  std::string coordinator_log;  // every instance's
  for (int k = 0; k < c.coordinators(); ++k) coordinator_log += ReadAll(c.CoordinatorLogPath(k));
  r.stale_results_refused = CountOccurrences(coordinator_log, "refused ");

  // The application's results: exactly the input.
  r.requests = run.input_requests();
  CommandResult cmp = RunCommand(AbsBin("weblog-analyze") + " compare --db " + run.weblog().db() + " " + run.input());
  r.results_equal = cmp.code == 0;
  if (!r.results_equal) {
    r.findings.push_back("weblog results differ from the input: " + cmp.out.substr(0, 3000));
    std::vector<WeblogFile> files;
    for (int i = 0; i < c.size(); ++i) files.push_back({c.AgentId(i), c.BoltFile(i, 0)});
    r.findings.push_back(WeblogGaps(files, run.weblog().db(), docs.ok() ? *docs : std::map<std::string, nlohmann::json>{},
                                    run.input()));
  }

  // Sanitizer reports anywhere (agents' logs hold their hooks' output too).
  for (int i = 0; i < c.size(); ++i) {
    CheckSanitizers("agent " + c.AgentId(i), ReadAll(c.LogPath(i)), &r);
    CheckSanitizers("bolt on " + c.AgentId(i), ReadAll(run.weblog().BoltLog(i)), &r);
  }
  CheckSanitizers("the coordinator", coordinator_log, &r);
  CheckSanitizers("the spout", ReadAll(run.weblog().SpoutLog()), &r);
  return r;
}

}  // namespace tailsafe::testing
