#include "ctl/health_check.h"

#include <cstdio>

#include "common/format.h"

namespace tailsafe {

using nlohmann::json;

std::vector<std::pair<std::string, const json*>> DocumentsUnder(const json& docs, const std::string& prefix) {
  std::vector<std::pair<std::string, const json*>> out;
  for (auto it = docs.begin(); it != docs.end(); ++it) {
    if (it.key().rfind(prefix, 0) == 0) out.emplace_back(it.key().substr(prefix.size()), &it.value());
  }
  return out;
}

CheckResult CheckDocuments(const json& docs, const CheckThresholds& t) {
  std::vector<std::string> critical, warning;
  int alive = 0, dead = 0;
  for (const auto& [id, d] : DocumentsUnder(docs, "/agents/")) {
    if (Get<bool>(*d, "alive", false)) {
      ++alive;
    } else {
      ++dead;
      critical.push_back("agent " + id + " is dead");
    }
    if (std::string e = Get<std::string>(*d, "storage_error", ""); !e.empty()) {
      critical.push_back("agent " + id + " cannot write its data_dir (nothing more is acknowledged): " + e);
    }
  }
  uint64_t worst_lag = 0;
  std::string worst_bolt;
  int bolts = 0, under_replicated = 0;
  for (const auto& [name, d] : DocumentsUnder(docs, "/bolts/")) {
    ++bolts;
    uint64_t lag = Get<uint64_t>(*d, "lag_bytes", 0);
    if (lag > worst_lag || worst_bolt.empty()) {
      worst_lag = lag;
      worst_bolt = name;
    }
    if (uint64_t filling = Get<uint64_t>(*d, "holders_filling", 0); filling > 0) {
      ++under_replicated;
      warning.push_back(name + " is under-replicated: " + std::to_string(filling) +
                        " new holder(s) still being filled");
    }
  }
  if (worst_lag >= t.lag_crit_bytes) {
    critical.push_back("lag " + HumanBytes(worst_lag) + " on " + worst_bolt + " (critical at " +
                       HumanBytes(t.lag_crit_bytes) + ")");
  } else if (worst_lag >= t.lag_warn_bytes) {
    warning.push_back("lag " + HumanBytes(worst_lag) + " on " + worst_bolt + " (warning at " +
                      HumanBytes(t.lag_warn_bytes) + ")");
  }
  int failed = 0, unfinished = 0, recovered = 0;
  for (const auto& [id, d] : DocumentsUnder(docs, "/recoveries/")) {
    std::string state = Get<std::string>(*d, "state", "");
    if (state == "failed") {
      ++failed;
      critical.push_back("recovery " + id + " of " + Get<std::string>(*d, "origin", "?") + "/" +
                         Get<std::string>(*d, "bolt", "?") + " failed: " + Get<std::string>(*d, "error", "?"));
    } else if (state == "recovered") {
      ++recovered;
    } else {
      ++unfinished;
    }
  }
  CheckResult r;
  r.code = !critical.empty() ? 2 : !warning.empty() ? 1 : 0;
  const char* names[] = {"OK", "WARNING", "CRITICAL"};
  std::string summary;
  for (const auto* list : {&critical, &warning}) {
    for (const std::string& s : *list) summary += (summary.empty() ? "" : "; ") + s;
  }
  if (summary.empty()) {
    summary = std::to_string(alive) + " agents alive, " + std::to_string(bolts) + " bolts, " +
              std::to_string(recovered) + " recoveries done, " + std::to_string(unfinished) + " under way";
  }
  // Perfdata: 'label'=value[UOM];warn;crit;min;max
  char perf[512];
  snprintf(perf, sizeof perf,
           " | 'agents_alive'=%d;;;0; 'agents_dead'=%d;;1;0; 'lag_bytes'=%lluB;%llu;%llu;0; "
           "'recoveries_failed'=%d;;1;0; 'recoveries_unfinished'=%d;;;0; 'bolts_under_replicated'=%d;1;;0;",
           alive, dead, static_cast<unsigned long long>(worst_lag), static_cast<unsigned long long>(t.lag_warn_bytes),
           static_cast<unsigned long long>(t.lag_crit_bytes), failed, unfinished, under_replicated);
  r.line = std::string("TAILSAFE ") + names[r.code] + " - " + summary + perf;
  return r;
}

}  // namespace tailsafe
