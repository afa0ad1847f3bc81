#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/config.h"
#include "tests/support/cluster.h"

using namespace tailsafe;

namespace {

// The BRIEF's example, line for line (the first line is line 1).
constexpr std::string_view kFullConfig = R"([cluster]
name = "weblog"
coordinator = "10.0.0.1:7400"
key_file = "/etc/tailsafe/cluster.key"

[coordinator]
listen = "10.0.0.1:7400"
state_dir = "/var/lib/tailsafe/coordinator"
host_timeout_ms = 1000

[agent]
id = "host-a"
listen = "10.0.0.2:7401"
data_dir = "/var/lib/tailsafe/agent"

[hooks]
weblog = ["/usr/bin/weblog-analyze", "--db", "/var/lib/weblog/results.db"]

[[bolt]]
name = "bolt-1"
file = "/var/spool/weblog/bolt-1.log"
pid_file = "/run/weblog/bolt-1.pid"
checkpoint_file = "/var/spool/weblog/bolt-1.ckpt"
hook = "weblog"

[[bolt]]
name = "bolt-2"
file = "/var/spool/weblog/bolt-2.log"
match = { exe = "/usr/bin/weblog-bolt", arg = "bolt-2" }
)";

// Lines 1..6; tests append their own lines from line 7.
constexpr std::string_view kAgentPrefix = R"([cluster]
name = "c"
[agent]
id = "host-a"
listen = "127.0.0.1:7401"
data_dir = "/var/lib/tailsafe/agent"
)";

Config MustParse(std::string_view text) {
  Result<Config> result = ParseConfig(text, "test.conf");
  BOOST_REQUIRE_MESSAGE(result.ok(), result.status().message());
  return std::move(result).value();
}

std::string ErrorOf(std::string_view text) {
  Result<Config> result = ParseConfig(text, "test.conf");
  BOOST_REQUIRE_MESSAGE(!result.ok(), "expected an error for:\n" << text);
  BOOST_TEST_MESSAGE("error: " << result.status().message());
  return result.status().message();
}

// Appends `rest` to the agent prefix, so its first line is line 7.
std::string ErrorWithAgent(std::string_view rest) {
  return ErrorOf(std::string(kAgentPrefix) + std::string(rest));
}

void CheckContains(const std::string& message, std::initializer_list<std::string_view> parts) {
  for (std::string_view part : parts) {
    BOOST_CHECK_MESSAGE(message.find(part) != std::string::npos,
                        "'" << message << "' does not contain '" << part << "'");
  }
}

std::string HostPortError(std::string_view text) {
  Result<HostPort> result = ParseHostPort(text);
  BOOST_REQUIRE_MESSAGE(!result.ok(), "'" << text << "' should be rejected");
  return result.status().message();
}

using TempDir = tailsafe::testing::ScopedTempDir;

}  // namespace

BOOST_AUTO_TEST_SUITE(config)

BOOST_AUTO_TEST_CASE(full_example_parses_with_all_fields) {
  Config config = MustParse(kFullConfig);
  BOOST_TEST(config.source == "test.conf");
  BOOST_TEST(config.cluster.name == "weblog");
  BOOST_TEST(config.cluster.coordinators == std::vector<std::string>{"10.0.0.1:7400"});
  BOOST_TEST(config.cluster.key_file == "/etc/tailsafe/cluster.key");

  BOOST_TEST(config.coordinator.present);
  BOOST_TEST(config.coordinator.listen == "10.0.0.1:7400");
  BOOST_TEST(config.coordinator.state_dir == "/var/lib/tailsafe/coordinator");
  BOOST_TEST(config.coordinator.host_timeout_ms == 1000u);

  BOOST_TEST(config.agent.present);
  BOOST_TEST(config.agent.id == "host-a");
  BOOST_TEST(config.agent.listen.host == "10.0.0.2");
  BOOST_TEST(config.agent.listen.port == 7401);
  BOOST_TEST(config.agent.data_dir == "/var/lib/tailsafe/agent");
  BOOST_TEST(config.agent.peers.empty());

  BOOST_REQUIRE_EQUAL(config.hooks.size(), 1u);
  std::vector<std::string> argv = {"/usr/bin/weblog-analyze", "--db",
                                   "/var/lib/weblog/results.db"};
  BOOST_TEST(config.hooks.at("weblog") == argv, boost::test_tools::per_element());

  BOOST_REQUIRE_EQUAL(config.bolts.size(), 2u);
  const BoltConfig& first = config.bolts[0];
  BOOST_TEST(first.name == "bolt-1");
  BOOST_TEST(first.file == "/var/spool/weblog/bolt-1.log");
  BOOST_TEST(first.pid_file == "/run/weblog/bolt-1.pid");
  BOOST_TEST(!first.match.has_value());
  BOOST_TEST(first.checkpoint_file == "/var/spool/weblog/bolt-1.ckpt");
  BOOST_TEST(first.hook == "weblog");
  BOOST_TEST(first.line == 19);

  const BoltConfig& second = config.bolts[1];
  BOOST_TEST(second.name == "bolt-2");
  BOOST_TEST(second.pid_file.empty());
  BOOST_REQUIRE(second.match.has_value());
  BOOST_TEST(second.match->exe == "/usr/bin/weblog-bolt");
  BOOST_TEST(second.match->arg == "bolt-2");
  BOOST_TEST(second.checkpoint_file.empty());
  BOOST_TEST(second.hook.empty());
  BOOST_TEST(second.line == 26);
}

BOOST_AUTO_TEST_CASE(defaults_are_applied) {
  Config config = MustParse(kAgentPrefix);
  BOOST_TEST(!config.coordinator.present);
  BOOST_TEST(config.coordinator.host_timeout_ms == 1000u);
  BOOST_TEST(config.cluster.coordinators.empty());
  BOOST_TEST(config.cluster.key_file.empty());
  const AgentConfig& agent = config.agent;
  BOOST_TEST(agent.present);
  BOOST_TEST(agent.control_socket == "/var/lib/tailsafe/agent/agent.sock");
  BOOST_TEST(agent.rescan_interval_ms == 1000u);
  BOOST_TEST(agent.chunk_bytes == 256u * 1024);
  BOOST_TEST(agent.window_bytes == 8u << 20);
  BOOST_TEST(agent.compression_level == 1);
  BOOST_TEST(agent.reconnect_max_ms == 2000u);
  BOOST_TEST(agent.seal_after_ms == 2000u);
  BOOST_TEST(agent.commit_interval_ms == 0u);
  BOOST_TEST(agent.commit_syncfs_files == 0u);
  BOOST_TEST(agent.linger_ms == 0u);
  BOOST_TEST(config.hooks.empty());
  BOOST_TEST(config.bolts.empty());
}

BOOST_AUTO_TEST_CASE(cluster_alone_is_enough) {
  Config config = MustParse("[cluster]\nname = \"c\"\n");
  BOOST_TEST(config.cluster.name == "c");
  BOOST_TEST(!config.agent.present);
  BOOST_TEST(!config.coordinator.present);
}

BOOST_AUTO_TEST_CASE(default_control_socket_joins_trailing_slash_once) {
  Config config = MustParse("[cluster]\nname = \"c\"\n[agent]\nid = \"a\"\n"
                            "listen = \"h:1\"\ndata_dir = \"/srv/agent/\"\n");
  BOOST_TEST(config.agent.control_socket == "/srv/agent/agent.sock");
}

BOOST_AUTO_TEST_CASE(tunables_and_control_socket_are_read) {
  Config config = MustParse(std::string(kAgentPrefix) + R"(control_socket = "/run/tailsafe.sock"
rescan_interval_ms = 10
chunk_bytes = 1048576
window_bytes = 65536
compression_level = -5
reconnect_max_ms = 600000
seal_after_ms = 3600000
commit_interval_ms = 1000
commit_syncfs_files = 8
linger_ms = 5
)");
  const AgentConfig& agent = config.agent;
  BOOST_TEST(agent.control_socket == "/run/tailsafe.sock");
  BOOST_TEST(agent.rescan_interval_ms == 10u);
  BOOST_TEST(agent.chunk_bytes == 1048576u);
  BOOST_TEST(agent.window_bytes == 65536u);
  BOOST_TEST(agent.compression_level == -5);
  BOOST_TEST(agent.reconnect_max_ms == 600000u);
  BOOST_TEST(agent.seal_after_ms == 3600000u);
  BOOST_TEST(agent.commit_interval_ms == 1000u);
  BOOST_TEST(agent.commit_syncfs_files == 8u);
  BOOST_TEST(agent.linger_ms == 5u);
}

BOOST_AUTO_TEST_CASE(toml_syntax_error_names_line_and_column) {
  std::string message = ErrorOf("[cluster]\nname = \"c\"\nbroken = \n");
  BOOST_TEST(message.rfind("test.conf:3:", 0) == 0, message);
  CheckContains(message, {"test.conf:3:10: "});
  // A table defined twice is a TOML error too.
  CheckContains(ErrorOf("[cluster]\nname = \"c\"\n[cluster]\n"), {"test.conf:3:"});
}

BOOST_AUTO_TEST_CASE(unknown_top_level_table_is_an_error) {
  std::string message = ErrorOf("[cluster]\nname = \"c\"\n\n[agnet]\nid = \"a\"\n");
  CheckContains(message, {"test.conf:4: ", "unknown key 'agnet'"});
}

BOOST_AUTO_TEST_CASE(unknown_keys_in_each_section_are_errors) {
  CheckContains(ErrorWithAgent("bogus = 1\n"), {"test.conf:7: ", "unknown key 'agent.bogus'"});
  CheckContains(ErrorOf("[cluster]\nname = \"c\"\nnmae = \"d\"\n"),
                {"test.conf:3: ", "unknown key 'cluster.nmae'"});
  CheckContains(ErrorOf("[cluster]\nname = \"c\"\n[coordinator]\nlisten = \"h:1\"\n"
                        "state_dir = \"/s\"\nhost_timeout = 5\n"),
                {"test.conf:6: ", "unknown key 'coordinator.host_timeout'"});
}

BOOST_AUTO_TEST_CASE(unknown_keys_in_bolt_and_match_are_errors) {
  CheckContains(ErrorWithAgent("[[bolt]]\nname = \"b\"\nfile = \"/f\"\npidfile = \"/p\"\n"),
                {"test.conf:10: ", "bolt 'b'", "unknown key 'pidfile'"});
  CheckContains(ErrorWithAgent("[[bolt]]\nname = \"b\"\nfile = \"/f\"\n"
                               "match = { exe = \"/e\", argv = \"x\" }\n"),
                {"test.conf:10: ", "bolt 'b'.match", "unknown key 'argv'"});
}

BOOST_AUTO_TEST_CASE(wrong_types_are_errors) {
  CheckContains(ErrorOf("[cluster]\nname = \"c\"\n[agent]\nid = \"a\"\nlisten = 7401\n"
                        "data_dir = \"/d\"\n"),
                {"test.conf:5: ", "agent.listen: expected a string"});
  CheckContains(ErrorWithAgent("chunk_bytes = \"big\"\n"),
                {"test.conf:7: ", "agent.chunk_bytes: expected an integer"});
  CheckContains(ErrorWithAgent("peers = \"b@h:1\"\n"), {"test.conf:7: ", "agent.peers: expected an array"});
  CheckContains(ErrorOf("cluster = 5\n"), {"test.conf:1: ", "cluster: expected a table"});
  CheckContains(ErrorWithAgent("[bolt]\nname = \"b\"\n"), {"test.conf:7: ", "[[bolt]]"});
}

BOOST_AUTO_TEST_CASE(out_of_range_integers_name_the_range) {
  CheckContains(ErrorWithAgent("chunk_bytes = 100\n"),
                {"test.conf:7: ", "agent.chunk_bytes", "100", "4096..1048576"});
  CheckContains(ErrorWithAgent("\n\nwindow_bytes = 268435457\n"),
                {"test.conf:9: ", "agent.window_bytes", "65536..268435456"});
  CheckContains(ErrorWithAgent("compression_level = 20\n"),
                {"test.conf:7: ", "agent.compression_level", "-5..19"});
  CheckContains(ErrorWithAgent("compression_level = 0\n"),
                {"test.conf:7: ", "agent.compression_level", "1..19"});
  CheckContains(ErrorWithAgent("rescan_interval_ms = -1\n"),
                {"test.conf:7: ", "agent.rescan_interval_ms", "10..3600000"});
  CheckContains(ErrorWithAgent("commit_interval_ms = 1001\n"),
                {"test.conf:7: ", "agent.commit_interval_ms", "0..1000"});
  CheckContains(ErrorWithAgent("linger_ms = -1\n"), {"test.conf:7: ", "agent.linger_ms", "0..1000"});
  CheckContains(ErrorWithAgent("commit_syncfs_files = -1\n"),
                {"test.conf:7: ", "agent.commit_syncfs_files", "0..1000000"});
  CheckContains(ErrorOf("[cluster]\nname = \"c\"\n[coordinator]\nlisten = \"h:1\"\n"
                        "state_dir = \"/s\"\nhost_timeout_ms = 5\n"),
                {"test.conf:6: ", "coordinator.host_timeout_ms", "10..600000"});
}

BOOST_AUTO_TEST_CASE(replicas_and_their_grace_are_read_and_bounded) {
  BOOST_TEST(MustParse(kAgentPrefix).cluster.replicas == 0u, "absent: every peer");
  Config config = MustParse("[cluster]\nname = \"c\"\nreplicas = 2\n[coordinator]\nlisten = \"h:1\"\n"
                            "state_dir = \"/s\"\nreplica_grace_ms = 5000\n");
  BOOST_TEST(config.cluster.replicas == 2u);
  BOOST_TEST(config.coordinator.replica_grace_ms == 5000u);
  BOOST_TEST(MustParse("[cluster]\nname = \"c\"\n[coordinator]\nlisten = \"h:1\"\nstate_dir = \"/s\"\n")
                 .coordinator.replica_grace_ms == 60000u);
  CheckContains(ErrorOf("[cluster]\nname = \"c\"\nreplicas = 0\n"), {"test.conf:3: ", "cluster.replicas", "1..1000"});
  CheckContains(ErrorOf("[cluster]\nname = \"c\"\nreplicas = \"two\"\n"),
                {"test.conf:3: ", "cluster.replicas", "expected an integer"});
  CheckContains(ErrorOf("[cluster]\nname = \"c\"\n[coordinator]\nlisten = \"h:1\"\nstate_dir = \"/s\"\n"
                        "replica_grace_ms = -1\n"),
                {"test.conf:6: ", "coordinator.replica_grace_ms", "0..86400000"});
}

BOOST_AUTO_TEST_CASE(the_shrink_grace_defaults_to_eight_host_timeouts_and_is_bounded) {
  const std::string coordinator = "[cluster]\nname = \"c\"\n[coordinator]\nlisten = \"h:1\"\nstate_dir = \"/s\"\n";
  BOOST_TEST(MustParse(coordinator).coordinator.ShrinkGraceMs() == 8000u);
  BOOST_TEST(MustParse(coordinator + "host_timeout_ms = 3000\n").coordinator.ShrinkGraceMs() == 24000u);
  BOOST_TEST(MustParse(coordinator + "host_timeout_ms = 3000\nshrink_grace_ms = 4000\n").coordinator.ShrinkGraceMs() == 4000u);
  BOOST_TEST(MustParse(coordinator + "shrink_grace_ms = 0\n").coordinator.ShrinkGraceMs() == 0u, "0: shrink once dead");
  CheckContains(ErrorOf(coordinator + "shrink_grace_ms = 86400001\n"),
                {"test.conf:6: ", "coordinator.shrink_grace_ms", "0..86400000"});
}

BOOST_AUTO_TEST_CASE(invalid_names_are_errors) {
  CheckContains(ErrorOf("[cluster]\nname = \"two words\"\n"),
                {"test.conf:2: ", "cluster.name", "'two words' is invalid"});
  CheckContains(ErrorOf("[cluster]\nname = \"c\"\n[agent]\nid = \"..\"\nlisten = \"h:1\"\n"
                        "data_dir = \"/d\"\n"),
                {"test.conf:4: ", "agent.id", "'..' is invalid"});
  CheckContains(ErrorWithAgent("[[bolt]]\nname = \"a/b\"\nfile = \"/f\"\n"),
                {"test.conf:8: ", "bolt[0].name", "'a/b' is invalid"});
  CheckContains(ErrorWithAgent("[hooks]\n\"bad hook\" = [\"/bin/true\"]\n"),
                {"test.conf:8: ", "hooks.bad hook", "is invalid"});
}

BOOST_AUTO_TEST_CASE(relative_paths_are_errors) {
  CheckContains(ErrorOf("[cluster]\nname = \"c\"\n[agent]\nid = \"a\"\nlisten = \"h:1\"\n"
                        "data_dir = \"var/lib/agent\"\n"),
                {"test.conf:6: ", "agent.data_dir", "must be an absolute path"});
  CheckContains(ErrorWithAgent("[[bolt]]\nname = \"b\"\nfile = \"b.log\"\n"),
                {"test.conf:9: ", "bolt 'b'.file", "must be an absolute path"});
  CheckContains(ErrorWithAgent("[[bolt]]\nname = \"b\"\nfile = \"/f\"\nmatch = { exe = \"bolt\" }\n"),
                {"test.conf:10: ", "bolt 'b'.match.exe", "must be an absolute path"});
  CheckContains(ErrorOf("[cluster]\nname = \"c\"\nkey_file = \"cluster.key\"\n"),
                {"test.conf:3: ", "cluster.key_file", "must be an absolute path"});
  CheckContains(ErrorOf("[cluster]\nname = \"c\"\n[coordinator]\nlisten = \"h:1\"\nstate_dir = \"s\"\n"),
                {"test.conf:5: ", "coordinator.state_dir", "must be an absolute path"});
  CheckContains(ErrorWithAgent("control_socket = \"agent.sock\"\n"),
                {"test.conf:7: ", "agent.control_socket", "must be an absolute path"});
}

BOOST_AUTO_TEST_CASE(missing_required_keys_are_errors) {
  CheckContains(ErrorOf("[coordinator]\nlisten = \"h:1\"\nstate_dir = \"/s\"\n"),
                {"test.conf", "[cluster]"});
  CheckContains(ErrorOf("\n[cluster]\ncoordinator = \"h:1\"\n"),
                {"test.conf:2: ", "cluster.name", "missing"});
  CheckContains(ErrorOf("[cluster]\nname = \"c\"\n[agent]\nid = \"a\"\ndata_dir = \"/d\"\n"),
                {"test.conf:3: ", "agent.listen", "missing"});
  CheckContains(ErrorOf("[cluster]\nname = \"c\"\n[coordinator]\nlisten = \"h:1\"\n"),
                {"test.conf:3: ", "coordinator.state_dir", "missing"});
  CheckContains(ErrorWithAgent("[[bolt]]\nname = \"b\"\n"), {"test.conf:7: ", "bolt 'b'.file", "missing"});
}

BOOST_AUTO_TEST_CASE(bad_addresses_in_config_name_key_and_value) {
  CheckContains(ErrorOf("[cluster]\nname = \"c\"\n[agent]\nid = \"a\"\nlisten = \"localhost\"\n"
                        "data_dir = \"/d\"\n"),
                {"test.conf:5: ", "agent.listen", "'localhost'", "missing port"});
  CheckContains(ErrorOf("[cluster]\nname = \"c\"\ncoordinator = \"h:99999\"\n"),
                {"test.conf:3: ", "cluster.coordinator", "1..65535"});
  CheckContains(ErrorOf("[cluster]\nname = \"c\"\n[coordinator]\nlisten = \"::1:7400\"\n"
                        "state_dir = \"/s\"\n"),
                {"test.conf:4: ", "coordinator.listen", "brackets"});
}

BOOST_AUTO_TEST_CASE(metrics_listen_is_an_ip_address_to_bind) {
  auto ok = ParseConfig("[cluster]\nname = \"c\"\n[coordinator]\nlisten = \"127.0.0.1:7400\"\nstate_dir = \"/s\"\n"
                        "metrics_listen = \"[::1]:9740\"\n[agent]\nid = \"a\"\nlisten = \"127.0.0.1:7401\"\n"
                        "data_dir = \"/d\"\nmetrics_listen = \"0.0.0.0:9741\"\n", "test.conf");
  BOOST_REQUIRE_MESSAGE(ok, ok.status().message());
  BOOST_REQUIRE(ok->agent.metrics_listen.has_value());
  BOOST_TEST(ok->agent.metrics_listen->ToString() == "0.0.0.0:9741");
  BOOST_REQUIRE(ok->coordinator.metrics_listen.has_value());
  BOOST_TEST(ok->coordinator.metrics_listen->ToString() == "[::1]:9740");
  auto unset = ParseConfig("[cluster]\nname = \"c\"\n[agent]\nid = \"a\"\nlisten = \"127.0.0.1:7401\"\ndata_dir = \"/d\"\n",
                           "test.conf");
  BOOST_REQUIRE(unset);
  BOOST_TEST(!unset->agent.metrics_listen.has_value());
  CheckContains(ErrorOf("[cluster]\nname = \"c\"\n[agent]\nid = \"a\"\nlisten = \"127.0.0.1:7401\"\n"
                        "data_dir = \"/d\"\nmetrics_listen = \"localhost:9741\"\n"),
                {"test.conf:7: ", "agent.metrics_listen", "'localhost' is not an IP address"});
  CheckContains(ErrorOf("[cluster]\nname = \"c\"\n[agent]\nid = \"a\"\nlisten = \"127.0.0.1:7401\"\n"
                        "data_dir = \"/d\"\nmetrics_listen = 9741\n"),
                {"test.conf:7: ", "agent.metrics_listen", "expected a string"});
}

BOOST_AUTO_TEST_CASE(http_listen_off_loopback_needs_a_token_file) {
  const std::string head = "[cluster]\nname = \"c\"\n[coordinator]\nlisten = \"127.0.0.1:7400\"\nstate_dir = \"/s\"\n";
  for (const char* loopback : {"127.0.0.1:9750", "127.3.2.1:9750", "[::1]:9750"}) {
    auto ok = ParseConfig(head + "http_listen = \"" + loopback + "\"\n", "test.conf");
    BOOST_REQUIRE_MESSAGE(ok, ok.status().message());
    BOOST_TEST(ok->coordinator.http_listen->ToString() == loopback);
    BOOST_TEST(ok->coordinator.http_token_file.empty());
  }
  auto with_token = ParseConfig(head + "http_listen = \"0.0.0.0:9750\"\nhttp_token_file = \"/etc/tailsafe/page.token\"\n",
                                "test.conf");
  BOOST_REQUIRE_MESSAGE(with_token, with_token.status().message());
  BOOST_TEST(with_token->coordinator.http_token_file == "/etc/tailsafe/page.token");
  CheckContains(ErrorOf(head + "http_listen = \"10.0.0.5:9750\"\n"),
                {"test.conf:6: ", "coordinator.http_listen", "'10.0.0.5:9750' is not a loopback address", "http_token_file"});
  CheckContains(ErrorOf(head + "http_listen = \"[::]:9750\"\n"), {"coordinator.http_listen", "not a loopback address"});
  CheckContains(ErrorOf(head + "http_listen = \"localhost:9750\"\n"), {"coordinator.http_listen", "is not an IP address"});
  CheckContains(ErrorOf(head + "http_listen = \"127.0.0.1:9750\"\nhttp_token_file = \"page.token\"\n"),
                {"coordinator.http_token_file"});
}

BOOST_AUTO_TEST_CASE(host_port_accepts_names_ipv4_and_bracketed_ipv6) {
  Result<HostPort> v4 = ParseHostPort("10.0.0.2:7401");
  BOOST_REQUIRE(v4.ok());
  BOOST_TEST(v4->host == "10.0.0.2");
  BOOST_TEST(v4->port == 7401);
  BOOST_TEST(v4->ToString() == "10.0.0.2:7401");

  Result<HostPort> name = ParseHostPort("host-b.example.com:1");
  BOOST_REQUIRE(name.ok());
  BOOST_TEST(name->host == "host-b.example.com");
  BOOST_TEST(name->port == 1);

  Result<HostPort> v6 = ParseHostPort("[::1]:65535");
  BOOST_REQUIRE(v6.ok());
  BOOST_TEST(v6->host == "::1");
  BOOST_TEST(v6->port == 65535);
  BOOST_TEST(v6->ToString() == "[::1]:65535");

  Result<HostPort> zoned = ParseHostPort("[fe80::1%eth0]:7401");
  BOOST_REQUIRE(zoned.ok());
  BOOST_TEST(zoned->host == "fe80::1%eth0");
  BOOST_TEST(zoned->ToString() == "[fe80::1%eth0]:7401");
}

BOOST_AUTO_TEST_CASE(host_port_rejects_malformed_input) {
  CheckContains(HostPortError(""), {"''"});
  CheckContains(HostPortError(":7401"), {"':7401'", "empty host"});
  CheckContains(HostPortError("host"), {"'host'", "missing port"});
  CheckContains(HostPortError("host:"), {"'host:'", "missing port"});
  CheckContains(HostPortError("host:0"), {"'host:0'", "1..65535"});
  CheckContains(HostPortError("host:65536"), {"'host:65536'", "1..65535"});
  CheckContains(HostPortError("host:99999999999999999999"), {"1..65535"});
  CheckContains(HostPortError("host:80a"), {"'host:80a'", "not a number"});
  CheckContains(HostPortError("host:-1"), {"not a number"});
  CheckContains(HostPortError("host: 80"), {"not a number"});
  CheckContains(HostPortError("::1:7401"), {"'::1:7401'", "brackets"});
  CheckContains(HostPortError("::1"), {"brackets"});
  CheckContains(HostPortError("[::1]"), {"'[::1]'"});
  CheckContains(HostPortError("[::1:7401"), {"']'"});
  CheckContains(HostPortError("[]:7401"), {"empty host"});
  CheckContains(HostPortError("[10.0.0.1]:7401"), {"IPv6"});
  CheckContains(HostPortError("bad host:7401"), {"invalid character"});
}

BOOST_AUTO_TEST_CASE(peer_spec_parses_id_and_address) {
  Result<PeerSpec> peer = ParsePeerSpec("host-b@[2001:db8::2]:7401");
  BOOST_REQUIRE(peer.ok());
  BOOST_TEST(peer->id == "host-b");
  BOOST_TEST(peer->address.host == "2001:db8::2");
  BOOST_TEST(peer->address.port == 7401);

  BOOST_TEST(!ParsePeerSpec("10.0.0.3:7401").ok());
  CheckContains(ParsePeerSpec("10.0.0.3:7401").status().message(), {"ID@HOST:PORT"});
  CheckContains(ParsePeerSpec("@10.0.0.3:7401").status().message(), {"peer id", "invalid"});
  CheckContains(ParsePeerSpec("../x@10.0.0.3:7401").status().message(), {"peer id"});
  CheckContains(ParsePeerSpec("host-b@10.0.0.3").status().message(),
                {"host-b", "'10.0.0.3'", "missing port"});
}

BOOST_AUTO_TEST_CASE(agent_peers_are_parsed) {
  Config config = MustParse(std::string(kAgentPrefix) +
                            "peers = [\"host-b@10.0.0.3:7401\", \"host-c@[::1]:7402\"]\n");
  BOOST_REQUIRE_EQUAL(config.agent.peers.size(), 2u);
  BOOST_TEST(config.agent.peers[0].id == "host-b");
  BOOST_TEST(config.agent.peers[0].address.ToString() == "10.0.0.3:7401");
  BOOST_TEST(config.agent.peers[1].id == "host-c");
  BOOST_TEST(config.agent.peers[1].address.ToString() == "[::1]:7402");
}

BOOST_AUTO_TEST_CASE(agent_peers_are_validated) {
  CheckContains(ErrorWithAgent("peers = [\n  \"host-b@h:1\",\n  \"host-b@h:2\",\n]\n"),
                {"test.conf:9: ", "agent.peers[1]", "duplicate peer id 'host-b'"});
  CheckContains(ErrorWithAgent("peers = [\"host-a@h:1\"]\n"),
                {"test.conf:7: ", "agent.peers[0]", "own id"});
  CheckContains(ErrorWithAgent("peers = [\"host-b\"]\n"),
                {"test.conf:7: ", "agent.peers[0]", "ID@HOST:PORT"});
  CheckContains(ErrorWithAgent("peers = [7]\n"), {"test.conf:7: ", "agent.peers[0]", "expected a string"});
}

BOOST_AUTO_TEST_CASE(hooks_are_validated) {
  CheckContains(ErrorWithAgent("[hooks]\nx = []\n"),
                {"test.conf:8: ", "hooks.x", "non-empty array of strings"});
  CheckContains(ErrorWithAgent("[hooks]\nx = \"/bin/true\"\n"),
                {"test.conf:8: ", "hooks.x", "non-empty array of strings"});
  CheckContains(ErrorWithAgent("[hooks]\nx = [\"/bin/echo\", 3]\n"),
                {"test.conf:8: ", "hooks.x[1]", "expected a string"});
  CheckContains(ErrorWithAgent("[hooks]\nx = [\"analyze\", \"--db\"]\n"),
                {"test.conf:8: ", "hooks.x[0]", "must be an absolute path"});
}

BOOST_AUTO_TEST_CASE(bolt_pid_file_and_match_are_exclusive) {
  std::string message = ErrorWithAgent(
      "[[bolt]]\nname = \"b\"\nfile = \"/f\"\npid_file = \"/p\"\nmatch = { exe = \"/e\" }\n");
  CheckContains(message, {"test.conf:11: ", "bolt 'b'.match", "pid_file and match are exclusive"});
}

BOOST_AUTO_TEST_CASE(bolt_hook_must_be_defined) {
  CheckContains(ErrorWithAgent("[hooks]\nweblog = [\"/bin/true\"]\n"
                               "[[bolt]]\nname = \"x\"\nfile = \"/f\"\nhook = \"y\"\n"),
                {"test.conf:12: ", "bolt 'x'.hook: 'y' is not defined in [hooks]"});
  // A hook that is written but broken is reported as broken, not as undefined.
  CheckContains(ErrorWithAgent("[[bolt]]\nname = \"x\"\nfile = \"/f\"\nhook = \"y\"\n"
                               "[hooks]\ny = [\"relative\"]\n"),
                {"test.conf:12: ", "hooks.y[0]", "absolute"});
}

BOOST_AUTO_TEST_CASE(bolt_names_and_files_are_unique) {
  CheckContains(ErrorWithAgent("[[bolt]]\nname = \"b\"\nfile = \"/f1\"\n"
                               "[[bolt]]\nname = \"b\"\nfile = \"/f2\"\n"),
                {"test.conf:11: ", "bolt 'b'.name", "duplicate bolt name", "line 7"});
  CheckContains(ErrorWithAgent("[[bolt]]\nname = \"a\"\nfile = \"/spool/f\"\n"
                               "[[bolt]]\nname = \"b\"\nfile = \"/spool//./f\"\n"),
                {"test.conf:12: ", "bolt 'b'.file", "already the file of bolt 'a'"});
  CheckContains(ErrorWithAgent("[[bolt]]\nname = \"a\"\nfile = \"/f\"\ncheckpoint_file = \"/f\"\n"),
                {"test.conf:10: ", "bolt 'a'.checkpoint_file", "is the file of bolt 'a'"});
}

BOOST_AUTO_TEST_CASE(bolt_requires_agent_table) {
  std::string message = ErrorOf("[cluster]\nname = \"c\"\n\n[[bolt]]\nname = \"b\"\nfile = \"/f\"\n");
  CheckContains(message, {"test.conf:4: ", "bolt 'b'", "[agent]"});
}

BOOST_AUTO_TEST_CASE(bolt_without_name_is_reported_by_index) {
  CheckContains(ErrorWithAgent("[[bolt]]\nname = \"a\"\nfile = \"/f1\"\n[[bolt]]\nfile = \"/f2\"\n"),
                {"test.conf:10: ", "bolt[1].name", "missing"});
}

BOOST_AUTO_TEST_CASE(first_error_in_file_order_is_reported) {
  // The bolt (line 7) is checked after [hooks] (line 11) but comes first in the file.
  std::string message = ErrorWithAgent(
      "[[bolt]]\nname = \"b\"\nfile = \"rel\"\n\n[hooks]\nx = []\n");
  CheckContains(message, {"test.conf:9: ", "bolt 'b'.file"});
}

BOOST_AUTO_TEST_CASE(nothing_throws_on_hostile_input) {
  for (std::string_view text : {std::string_view("\xff\xfe[cluster]"), std::string_view("a = [", 5),
                                std::string_view("[cluster]\nname = \"c\\u0000\"\n"),
                                std::string_view("x = \"\0\"", 7)}) {
    Result<Config> result = ParseConfig(text, "test.conf");
    BOOST_TEST(!result.ok());
    BOOST_TEST(result.status().message().rfind("test.conf:", 0) == 0, result.status().message());
  }
}

BOOST_AUTO_TEST_CASE(load_config_reads_a_file) {
  TempDir dir;
  std::string path = dir.path + "/tailsafe.conf";
  std::ofstream(path) << kFullConfig;
  Result<Config> config = LoadConfig(path);
  BOOST_REQUIRE_MESSAGE(config.ok(), config.status().message());
  BOOST_TEST(config->source == path);
  BOOST_TEST(config->bolts.size() == 2u);

  std::ofstream(path) << "[cluster]\nname = \"c\"\nbogus = 1\n";
  Result<Config> bad = LoadConfig(path);
  BOOST_REQUIRE(!bad.ok());
  CheckContains(bad.status().message(), {path + ":3: ", "unknown key 'cluster.bogus'"});
}

BOOST_AUTO_TEST_CASE(load_config_reports_unreadable_files) {
  TempDir dir;
  std::string missing = dir.path + "/missing.conf";
  Result<Config> result = LoadConfig(missing);
  BOOST_REQUIRE(!result.ok());
  BOOST_TEST(result.status().message() == missing + ": No such file or directory");

  Result<Config> directory = LoadConfig(dir.path);
  BOOST_REQUIRE(!directory.ok());
  CheckContains(directory.status().message(), {dir.path + ": ", "Is a directory"});

  if (geteuid() != 0) {  // root reads mode-0000 files anyway
    std::string secret = dir.path + "/secret.conf";
    std::ofstream(secret) << kFullConfig;
    BOOST_REQUIRE(chmod(secret.c_str(), 0) == 0);
    CheckContains(LoadConfig(secret).status().message(), {secret + ": Permission denied"});
  }
}

BOOST_AUTO_TEST_CASE(hooks_may_name_a_user_to_run_as) {
  Result<Config> c = ParseConfig("[cluster]\nname = \"c\"\n[hooks]\nplain = [\"/bin/true\"]\n"
                                 "as_nobody = { command = [\"/usr/bin/analyze\", \"--db\", \"/x\"], user = \"nobody\" }\n",
                                 "test.conf");
  BOOST_REQUIRE_MESSAGE(c.ok(), c.status().message());
  BOOST_TEST(c->hooks.at("as_nobody").size() == 3u);
  BOOST_TEST(c->hook_users.at("as_nobody") == "nobody");
  BOOST_TEST(c->hook_users.count("plain") == 0u);
  std::string base = "[cluster]\nname = \"c\"\n[hooks]\n";
  CheckContains(ErrorOf(base + "h = { command = [\"/bin/true\"], user = \"../root\" }\n"),
                {"test.conf:4", "hooks.h.user: expected a user name"});
  CheckContains(ErrorOf(base + "h = { command = [\"/bin/true\"], user = \"-x\" }\n"), {"hooks.h.user"});
  CheckContains(ErrorOf(base + "h = { user = \"nobody\" }\n"), {"hooks.h.command: required key is missing"});
  CheckContains(ErrorOf(base + "h = { command = [\"/bin/true\"], shell = true }\n"), {"hooks.h: unknown key 'shell'"});
  CheckContains(ErrorOf(base + "h = { command = [\"true\"] }\n"), {"hooks.h.command[0]: must be an absolute path"});
}

BOOST_AUTO_TEST_CASE(bolt_patterns_are_read_with_their_hooks) {
  Config c = MustParse(std::string(kAgentPrefix) +
                       "[hooks]\nstorm-replay = [\"/usr/bin/tailsafe-storm-replay\"]\n"
                       "[[bolt_pattern]]\nfiles = \"/var/spool/tailsafe-storm/*/*/task-*.log\"\nhook = \"storm-replay\"\n"
                       "[[bolt_pattern]]\nfiles = \"/var/spool/other/*.log\"\n");
  BOOST_REQUIRE_EQUAL(c.bolt_patterns.size(), 2u);
  BOOST_TEST(c.bolt_patterns[0].files == "/var/spool/tailsafe-storm/*/*/task-*.log");
  BOOST_TEST(c.bolt_patterns[0].hook == "storm-replay");
  BOOST_TEST(c.bolt_patterns[0].line == 9);
  BOOST_TEST(c.bolt_patterns[1].hook.empty());
  BOOST_TEST(c.bolts.empty());  // the bolts are found at run time, not parsed
}

BOOST_AUTO_TEST_CASE(bolt_pattern_errors_name_file_line_and_key) {
  CheckContains(ErrorWithAgent("[[bolt_pattern]]\nfiles = \"spool/*/task-*.log\"\n"),
                {"test.conf:8: ", "bolt_pattern[0].files", "absolute path"});
  CheckContains(ErrorWithAgent("[[bolt_pattern]]\nfiles = \"/spool/*/task-?.log\"\n"),
                {"test.conf:8: ", "bolt_pattern[0].files", "'?' is not allowed"});
  CheckContains(ErrorWithAgent("[[bolt_pattern]]\nfiles = \"/spool/*/task\"\n"),
                {"test.conf:8: ", "bolt_pattern[0].files", "literal suffix"});
  CheckContains(ErrorWithAgent("[[bolt_pattern]]\nfiles = \"/spool/task.log\"\n"),
                {"test.conf:8: ", "bolt_pattern[0].files", "no '*'"});
  CheckContains(ErrorWithAgent("[[bolt_pattern]]\nfiles = 7\n"), {"test.conf:8: ", "bolt_pattern[0].files", "expected a string"});
  CheckContains(ErrorWithAgent("[[bolt_pattern]]\nhook = \"x\"\n"),
                {"test.conf:7: ", "bolt_pattern[0].files", "required key is missing"});
  CheckContains(ErrorWithAgent("[[bolt_pattern]]\nfiles = \"/s/*.log\"\npid_file = \"/s/x.pid\"\n"),
                {"test.conf:9: ", "unknown key 'bolt_pattern[0].pid_file'"});
  CheckContains(ErrorWithAgent("[[bolt_pattern]]\nfiles = \"/s/*.log\"\nhook = \"nope\"\n"),
                {"test.conf:9: ", "bolt_pattern[0].hook", "'nope' is not defined in [hooks]"});
  CheckContains(ErrorWithAgent("[[bolt_pattern]]\nfiles = \"/s/*.log\"\n[[bolt_pattern]]\nfiles = \"/s/*.log\"\n"),
                {"test.conf:10: ", "bolt_pattern[1].files", "the same pattern as the rule at line 7"});
  CheckContains(ErrorWithAgent("bolt_pattern = \"/s/*.log\"\n"), {"test.conf:7: ", "unknown key 'agent.bolt_pattern'"});
  CheckContains(ErrorWithAgent("[x]\n"), {"test.conf:7: ", "unknown key 'x'"});
  CheckContains(ErrorOf("[cluster]\nname = \"c\"\nbolt_pattern = 1\n"),
                {"test.conf:3: ", "unknown key 'cluster.bolt_pattern'"});
  CheckContains(ErrorOf("[cluster]\nname = \"c\"\n\n[[bolt_pattern]]\nfiles = \"/s/*.log\"\n"),
                {"test.conf:4: ", "bolt_pattern[0]", "[agent]"});
  CheckContains(ErrorOf(std::string(kAgentPrefix) + "[bolt_pattern]\nfiles = \"/s/*.log\"\n"),
                {"test.conf:7: ", "expected [[bolt_pattern]] tables"});
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_CASE(cluster_coordinator_is_one_address_or_a_list) {
  auto one = ParseConfig("[cluster]\nname = \"c\"\ncoordinator = \"10.0.0.1:7400\"\n", "test.conf");
  BOOST_REQUIRE_MESSAGE(one, one.status().message());
  BOOST_TEST(one->cluster.coordinators == std::vector<std::string>{"10.0.0.1:7400"});
  auto three = ParseConfig("[cluster]\nname = \"c\"\ncoordinator = [\"10.0.0.1:7400\", \"10.0.0.2:7400\", \"[::1]:7400\"]\n",
                           "test.conf");
  BOOST_REQUIRE_MESSAGE(three, three.status().message());
  BOOST_TEST((three->cluster.coordinators == std::vector<std::string>{"10.0.0.1:7400", "10.0.0.2:7400", "[::1]:7400"}));
  CheckContains(ErrorOf("[cluster]\nname = \"c\"\ncoordinator = []\n"),
                {"test.conf:3: ", "cluster.coordinator", "empty list"});
  CheckContains(ErrorOf("[cluster]\nname = \"c\"\ncoordinator = [\"10.0.0.1:7400\", \"h\"]\n"),
                {"test.conf:3: ", "cluster.coordinator[1]", "missing port"});
  CheckContains(ErrorOf("[cluster]\nname = \"c\"\ncoordinator = [\"10.0.0.1:7400\", 7400]\n"),
                {"test.conf:3: ", "cluster.coordinator[1]", "expected a string"});
  CheckContains(ErrorOf("[cluster]\nname = \"c\"\ncoordinator = [\"10.0.0.1:7400\", \"10.0.0.1:7400\"]\n"),
                {"test.conf:3: ", "cluster.coordinator[1]", "listed twice"});
  CheckContains(ErrorOf("[cluster]\nname = \"c\"\ncoordinator = 7400\n"),
                {"test.conf:3: ", "cluster.coordinator", "a string \"HOST:PORT\" or an array"});
}

constexpr std::string_view kCoordinatorPrefix =
    "[cluster]\nname = \"weblog\"\n[coordinator]\nlisten = \"127.0.0.1:7400\"\nstate_dir = \"/s\"\n";

BOOST_AUTO_TEST_CASE(coordinator_store_defaults_to_sqlite) {
  auto c = ParseConfig(kCoordinatorPrefix, "test.conf");
  BOOST_REQUIRE_MESSAGE(c, c.status().message());
  BOOST_TEST((c->coordinator.store == CoordinatorConfig::Store::kSqlite));
  BOOST_TEST(c->coordinator.zookeeper.empty());
  auto explicit_sqlite = ParseConfig(std::string(kCoordinatorPrefix) + "store = \"sqlite\"\n", "test.conf");
  BOOST_REQUIRE_MESSAGE(explicit_sqlite, explicit_sqlite.status().message());
  CheckContains(ErrorOf(std::string(kCoordinatorPrefix) + "store = \"etcd\"\n"),
                {"test.conf:6: ", "coordinator.store", "\"sqlite\" or \"zookeeper\"", "'etcd'"});
  // ZooKeeper keys without the ZooKeeper store are a forgotten line, not something to ignore.
  CheckContains(ErrorOf(std::string(kCoordinatorPrefix) + "zookeeper = \"127.0.0.1:2181\"\n"),
                {"test.conf:6: ", "coordinator.zookeeper", "only used with store = \"zookeeper\""});
  CheckContains(ErrorOf(std::string(kCoordinatorPrefix) + "zookeeper_session_ms = 4000\n"),
                {"test.conf:6: ", "coordinator.zookeeper_session_ms", "only used with store"});
}

BOOST_AUTO_TEST_CASE(zookeeper_store_reads_the_ensemble_root_and_session) {
  auto c = ParseConfig(std::string(kCoordinatorPrefix) +
                           "store = \"zookeeper\"\nzookeeper = \"10.0.0.1:2181,10.0.0.2:2181,[::1]:2181\"\n",
                       "test.conf");
  BOOST_REQUIRE_MESSAGE(c, c.status().message());
  BOOST_TEST((c->coordinator.store == CoordinatorConfig::Store::kZookeeper));
  BOOST_REQUIRE(c->coordinator.zookeeper.size() == 3u);
  BOOST_TEST(c->coordinator.zookeeper[0].ToString() == "10.0.0.1:2181");
  BOOST_TEST(c->coordinator.zookeeper[2].ToString() == "[::1]:2181");
  BOOST_TEST(c->coordinator.zookeeper_root == "/tailsafe/weblog");
  BOOST_TEST(c->coordinator.zookeeper_session_ms == 6000u);
  auto set = ParseConfig(std::string(kCoordinatorPrefix) +
                             "store = \"zookeeper\"\nzookeeper = \"127.0.0.1:2181\"\nzookeeper_root = \"/prod/ts\"\n"
                             "zookeeper_session_ms = 2000\n",
                         "test.conf");
  BOOST_REQUIRE_MESSAGE(set, set.status().message());
  BOOST_TEST(set->coordinator.zookeeper_root == "/prod/ts");
  BOOST_TEST(set->coordinator.zookeeper_session_ms == 2000u);
}

BOOST_AUTO_TEST_CASE(zookeeper_store_errors_name_the_key) {
  std::string zk = std::string(kCoordinatorPrefix) + "store = \"zookeeper\"\n";
  CheckContains(ErrorOf(zk), {"test.conf:3: ", "coordinator.zookeeper", "missing"});
  CheckContains(ErrorOf(zk + "zookeeper = \"127.0.0.1:2181,,127.0.0.2:2181\"\n"),
                {"test.conf:7: ", "coordinator.zookeeper", "member 2", "got ''"});
  CheckContains(ErrorOf(zk + "zookeeper = \"127.0.0.1\"\n"),
                {"test.conf:7: ", "coordinator.zookeeper", "member 1", "missing port"});
  CheckContains(ErrorOf(zk + "zookeeper = \"127.0.0.1:2181,127.0.0.1:2181\"\n"),
                {"test.conf:7: ", "coordinator.zookeeper", "listed twice"});
  CheckContains(ErrorOf(zk + "zookeeper = \"127.0.0.1:2181\"\nzookeeper_root = \"tailsafe\"\n"),
                {"test.conf:8: ", "coordinator.zookeeper_root", "absolute znode path"});
  CheckContains(ErrorOf(zk + "zookeeper = \"127.0.0.1:2181\"\nzookeeper_root = \"/\"\n"),
                {"test.conf:8: ", "coordinator.zookeeper_root", "not be the root"});
  CheckContains(ErrorOf(zk + "zookeeper = \"127.0.0.1:2181\"\nzookeeper_root = \"/a//b\"\n"),
                {"test.conf:8: ", "coordinator.zookeeper_root", "component ''"});
  CheckContains(ErrorOf(zk + "zookeeper = \"127.0.0.1:2181\"\nzookeeper_session_ms = 50\n"),
                {"test.conf:8: ", "coordinator.zookeeper_session_ms", "100..600000"});
}
