// The fault suite (make faults): real agents, bolts and a coordinator on hosts that are apart
// (network namespaces), a nemesis injecting kills, pauses, partitions and full disks, and a
// checker that every byte is where it must be. Needs root; skipped with the reason without.
//
// Environment: TAILSAFE_FAULT_SECONDS (how long the nemesis runs, default 60),
// TAILSAFE_FAULT_SEED (replay a run's schedule; default: from the clock, printed),
// TAILSAFE_FAULT_HOSTS (3 to 5 agents; default: the seed picks), TAILSAFE_FAULT_KINDS
// (comma-separated kinds, default all), TAILSAFE_FAULT_STORE (sqlite, the default, or zookeeper:
// three coordinator instances on a ZooKeeper ensemble, with the ZooKeeper fault kinds),
// TAILSAFE_FAULT_FIGURES (write the figures as JSON here).
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <cstdlib>
#include <fstream>

#include "tests/faults/checker.h"
#include "tests/faults/fault_run.h"
#include "tests/support/zookeeper_ensemble.h"

using namespace tailsafe;
using namespace tailsafe::testing;

namespace {

boost::test_tools::assertion_result CanMakeHosts(boost::unit_test::test_unit_id) {
  std::string why = VirtualNetwork::Unavailable();
  boost::test_tools::assertion_result r(why.empty());
  if (!why.empty()) r.message() << "skipped: the fault suite needs hosts apart, and " << why;
  return r;
}

bool ZookeeperStore() {
  const char* s = std::getenv("TAILSAFE_FAULT_STORE");
  return s && std::string(s) == "zookeeper";
}

boost::test_tools::assertion_result CanRunStore(boost::unit_test::test_unit_id) {
  std::string why = ZookeeperStore() ? ZookeeperMissing() : "";
  boost::test_tools::assertion_result r(why.empty());
  if (!why.empty()) r.message() << "skipped: TAILSAFE_FAULT_STORE=zookeeper, and " << why;
  return r;
}

const char* Env(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? v : nullptr;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(faults)

BOOST_AUTO_TEST_CASE(random_faults_lose_nothing, *boost::unit_test::precondition(CanMakeHosts) *
                                                       boost::unit_test::precondition(CanRunStore)) {
  FaultOptions o;
  if (const char* s = Env("TAILSAFE_FAULT_STORE")) {
    BOOST_REQUIRE_MESSAGE(std::string(s) == "sqlite" || std::string(s) == "zookeeper",
                          "TAILSAFE_FAULT_STORE must be sqlite or zookeeper, not '" << s << "'");
  }
  o.zookeeper = ZookeeperStore();
  o.kinds = AllFaultKinds(o.zookeeper);
  o.seed = static_cast<uint64_t>(std::chrono::system_clock::now().time_since_epoch().count()) % 1000000000;
  if (const char* s = Env("TAILSAFE_FAULT_SEED")) o.seed = std::strtoull(s, nullptr, 10);
  if (const char* s = Env("TAILSAFE_FAULT_SECONDS")) o.seconds = std::strtod(s, nullptr);
  if (const char* s = Env("TAILSAFE_FAULT_HOSTS")) o.hosts = std::atoi(s);
  if (const char* s = Env("TAILSAFE_FAULT_REPLICAS")) {
    char* end = nullptr;
    unsigned long n = std::strtoul(s, &end, 10);
    BOOST_REQUIRE_MESSAGE(*end == '\0' && n >= 1 && n <= 4, "TAILSAFE_FAULT_REPLICAS must be 1 to 4, not '" << s << "'");
    o.replicas = static_cast<uint32_t>(n);
  }
  if (const char* s = Env("TAILSAFE_FAULT_KINDS")) {
    auto kinds = ParseFaultKinds(s, o.zookeeper);
    BOOST_REQUIRE_MESSAGE(kinds.ok(), "TAILSAFE_FAULT_KINDS: " << kinds.status().message());
    o.kinds = *kinds;
  }
  BOOST_REQUIRE_MESSAGE(o.seconds > 0, "TAILSAFE_FAULT_SECONDS must be a positive number of seconds");
  BOOST_REQUIRE_MESSAGE(o.hosts == 0 || (o.hosts >= 3 && o.hosts <= 5), "TAILSAFE_FAULT_HOSTS must be 3, 4 or 5");
  BOOST_TEST_MESSAGE("fault run: seed " << o.seed << " (TAILSAFE_FAULT_SEED=" << o.seed << " replays the schedule), store "
                                        << (o.zookeeper ? "zookeeper" : "sqlite")
                                        << (o.replicas ? ", replicas " + std::to_string(o.replicas) : std::string()));
  auto started = std::chrono::steady_clock::now();

  FaultRun run(o);
  Status s = run.Start();
  if (!s) run.Keep();
  BOOST_REQUIRE_MESSAGE(s.ok(), "starting: " << s.message());
  s = run.RunNemesis();
  if (!s) run.Keep();
  BOOST_REQUIRE_MESSAGE(s.ok(), "seed " << o.seed << ": " << s.message());
  s = run.HealAndSettle(180);
  if (!s) run.Keep();
  BOOST_REQUIRE_MESSAGE(s.ok(), "seed " << o.seed << ": " << s.message());
  FaultReport report = CheckFaultRun(run);
  s = run.StopAll();
  if (!s) report.findings.push_back("stopping: " + s.message());
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

  nlohmann::json figures = report.ToJson(run.options(), seconds);
  BOOST_TEST_MESSAGE("fault run figures: " << figures.dump());
  if (const char* path = Env("TAILSAFE_FAULT_FIGURES")) std::ofstream(path) << figures.dump(2) << "\n";
  if (!report.findings.empty()) run.Keep();
  for (const std::string& f : report.findings) BOOST_ERROR("seed " << o.seed << ": " << f);
  BOOST_TEST(report.bytes_lost == 0u);
  BOOST_TEST(report.duplicates == 0u);
  BOOST_TEST(report.results_equal);
}

BOOST_AUTO_TEST_SUITE_END()
