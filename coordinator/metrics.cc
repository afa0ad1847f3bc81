// Coordinator::PrometheusText: the coordinator's Prometheus metrics (GET /metrics on
// [coordinator] metrics_listen). Listed in tailsafe-coordinator(8); counters count since this
// coordinator process started, gauges describe the namespace as it is.
#include "common/clock.h"
#include "common/prometheus.h"
#include "coordinator/coordinator.h"

namespace tailsafe {

std::string Coordinator::PrometheusText() const {
  MetricsText m;
  auto d = [](uint64_t v) { return static_cast<double>(v); };
  m.Family("tailsafe_coordinator_info", "gauge", "Always 1; the labels say which cluster this coordinator serves.");
  m.Sample(1, {{"cluster", config_.cluster.name}, {"version", "0.1"}});
  m.Family("tailsafe_coordinator_uptime_seconds", "gauge", "Seconds since this coordinator process started.");
  m.Sample(d(NowNs() - started_ns_) / 1e9);

  uint64_t alive = 0, dead = 0, connected = 0;
  for (const auto& [id, a] : state_.agents) {
    ++(a.alive() ? alive : dead);
    connected += a.conn ? 1 : 0;
  }
  m.Family("tailsafe_coordinator_agents", "gauge", "Agents the coordinator knows, by state.");
  m.Sample(d(alive), {{"state", "alive"}});
  m.Sample(d(dead), {{"state", "dead"}});
  m.Family("tailsafe_coordinator_connected_agents", "gauge", "Agents connected now.");
  m.Sample(d(connected));
  m.Family("tailsafe_coordinator_connections", "gauge", "Open connections, authenticated or not.");
  m.Sample(d(conns_.size()));

  static const char* kStates[] = {"waiting", "assigned", "running", "recovered", "failed"};
  std::map<std::string, uint64_t> by_state;
  for (const auto& [id, r] : state_.recoveries) ++by_state[RecoveryStateName(r.state)];
  m.Family("tailsafe_coordinator_recoveries", "gauge",
           "Recoveries in the namespace (/recoveries), by state; recovered ones beyond recoveries_kept per bolt are folded into /recovered.");
  for (const char* st : kStates) m.Sample(d(by_state[st]), {{"state", st}});
  m.Family("tailsafe_coordinator_epoch", "gauge", "The last fencing epoch handed out.");
  m.Sample(d(state_.next_epoch - 1));
  m.Family("tailsafe_coordinator_leading", "gauge", "1 while this instance leads (decides for the cluster), else 0.");
  m.Sample(leading_ ? 1 : 0);
  m.Family("tailsafe_coordinator_term", "gauge", "The leadership term this instance leads in; 0 while it does not lead.");
  m.Sample(leading_ ? d(term_) : 0);

  m.Family("tailsafe_coordinator_assignments_total", "counter", "Recoveries assigned to an agent, each under a new epoch.");
  m.Sample(d(desk_.stats().assignments));
  m.Family("tailsafe_coordinator_host_deaths_total", "counter",
           "Agents declared dead after host_timeout_ms without a heartbeat.");
  m.Sample(d(roster_.stats().host_deaths));
  m.Family("tailsafe_coordinator_stale_reports_total", "counter",
           "Recovery results refused: the range was finished already, or the report came under a stale epoch.");
  m.Sample(d(desk_.stats().stale_reports));
  m.Family("tailsafe_coordinator_recovery_given_up_bytes_total", "counter",
           "Bytes cut from recoveries' ranges because the origin's host died before shipping them to any survivor.");
  m.Sample(d(desk_.stats().bytes_given_up));
  m.Family("tailsafe_coordinator_recovery_found_bytes_total", "counter",
           "Of the bytes given up, those recovered after all: a survivor or the returning host showed them later.");
  m.Sample(d(desk_.stats().bytes_found));
  m.Family("tailsafe_coordinator_refused_connections_total", "counter",
           "Connections refused, by reason: auth (no or wrong cluster key), limit (too many open).");
  m.Sample(d(stats_.refused_auth), {{"reason", "auth"}});
  m.Sample(d(stats_.refused_limit), {{"reason", "limit"}});
  return m.Take();
}

}  // namespace tailsafe
