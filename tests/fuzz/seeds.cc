// Writes the fuzz targets' seed corpora into tests/fuzz/corpus/ (`make fuzz-seeds`; the output is
// committed). Seeds are real messages, so the fuzzers start from inputs that reach deep.
#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "common/cluster_key.h"
#include "common/compress.h"
#include "common/coord_protocol.h"
#include "common/secure_channel.h"
#include "common/wire.h"

using namespace tailsafe;

namespace {

void Write(const std::string& dir, const std::string& name, const std::string& bytes) {
  ::mkdir(dir.c_str(), 0755);
  std::ofstream(dir + "/" + name, std::ios::binary) << bytes;
}

}  // namespace

int main(int argc, char** argv) {
  std::string root = argc > 1 ? argv[1] : "tests/fuzz/corpus";
  ::mkdir(root.c_str(), 0755);

  // Frames, each after a step byte (the chunk size the stream arrives in).
  Compressor comp(1);
  std::string lines;
  for (int i = 0; i < 200; ++i) lines += "10.0.0." + std::to_string(i % 250) + " - - \"GET /item/" + std::to_string(i) + "\" 200\n";
  std::vector<std::pair<std::string, std::string>> frames = {
      {"hello", EncodeHello({kWireVersionMin, kWireVersionMax, "weblog", "host-a"})},
      {"welcome", EncodeWelcome({kWireVersionMax, "host-b"})},
      {"reject", EncodeReject({"no common protocol version"})},
      {"open", EncodeOpen({7, 3, "bolt-1"})},
      {"position", EncodePosition({7, 8192, 4096, 4096, 0x1234})},
      {"data-compressed", EncodeData(7, 0, lines, &comp).value()},
      {"data-raw", EncodeData(7, 0, "x\n", &comp).value()},
      {"seal", EncodeSeal({7, 100})},
      {"ack", EncodeAck({7, 100})},
      {"cut", EncodeCut({7, 50})},
      {"checkpoint", EncodeCheckpoint({7, 64})},
      {"sealed", EncodeSealed({7, 100})},
      {"stream-error", EncodeStreamError({7, "open replica: Is a directory"})},
      {"control", ControlFrame({{"type", "heartbeat"}, {"bolts", nlohmann::json::array()}})},
  };
  std::string session;
  for (const auto& [name, bytes] : frames) {
    Write(root + "/fuzz_frame", name, std::string(1, '\xff') + bytes);
    session += bytes;
  }
  Write(root + "/fuzz_frame", "session-whole", std::string(1, '\xff') + session);
  Write(root + "/fuzz_frame", "session-split-7", std::string(1, '\x06') + session);

  // Handshakes: a client's opening, and a whole client transcript, for the server side; a
  // server's answer for the client side. First byte: 1 = server, 0 = client; second: step.
  uint8_t bytes[kClusterKeyBytes];
  for (size_t i = 0; i < sizeof bytes; ++i) bytes[i] = static_cast<uint8_t>(i * 29 + 3);
  ClusterKeys keys;
  keys.keys.push_back(MakeClusterKey(bytes, "fuzz"));
  SecureChannel client(SecureChannel::Role::kClient, &keys), server(SecureChannel::Role::kServer, &keys);
  std::string c2s = client.Start(), s2c, c2s2, plain;
  (void)server.Receive(c2s, &s2c, &plain);
  (void)client.Receive(s2c, &c2s2, &plain);
  client.Seal(session, &c2s2);
  Write(root + "/fuzz_handshake", "client-hello", std::string("\x01\xff", 2) + c2s);
  Write(root + "/fuzz_handshake", "client-transcript", std::string("\x01\x1f", 2) + c2s + c2s2);
  Write(root + "/fuzz_handshake", "server-hello", std::string("\x00\xff", 2) + s2c);
  Write(root + "/fuzz_handshake", "plaintext-hello", std::string("\x01\xff", 2) + frames[0].second);

  // Configurations.
  Write(root + "/fuzz_config", "full.conf",
        "[cluster]\nname = \"weblog\"\ncoordinator = \"10.0.0.1:7400\"\nkey_file = \"/etc/tailsafe/cluster.key\"\n"
        "previous_key_files = [\"/etc/tailsafe/old.key\"]\n\n[coordinator]\nlisten = \"10.0.0.1:7400\"\n"
        "state_dir = \"/var/lib/tailsafe/coordinator\"\nhost_timeout_ms = 1000\n\n[agent]\nid = \"host-a\"\n"
        "listen = \"[::1]:7401\"\ndata_dir = \"/var/lib/tailsafe/agent\"\npeers = [\"host-b@10.0.0.3:7401\"]\n"
        "window_bytes = 1048576\ncompression_level = -3\n\n[hooks]\nweblog = [\"/usr/bin/weblog-analyze\", \"--db\", "
        "\"/var/lib/weblog/results.db\"]\n\n[[bolt]]\nname = \"bolt-1\"\nfile = \"/var/spool/storm/bolt-1.log\"\n"
        "pid_file = \"/run/storm/bolt-1.pid\"\ncheckpoint_file = \"/var/spool/storm/bolt-1.ckpt\"\nhook = \"weblog\"\n\n"
        "[[bolt]]\nname = \"bolt-2\"\nfile = \"/var/spool/storm/bolt-2.log\"\nmatch = { exe = \"/usr/bin/java\", "
        "arg = \"bolt-2\" }\n");
  Write(root + "/fuzz_config", "minimal.conf", "[cluster]\nname = \"c\"\n");
  Write(root + "/fuzz_config", "bad.conf", "[cluster]\nname = \"c\"\n[agent]\nid = \"..\"\nbogus = 1\n");

  // Namespace paths.
  int i = 0;
  for (const char* p : {"/", "/agents", "/agents/host-a", "/bolts/host-a/bolt-1", "/recoveries/12", "//", "/..",
                        "/agents/", "agents"}) {
    Write(root + "/fuzz_namespace_path", "path-" + std::to_string(i++), p);
  }
  // HTTP requests for the daemons' HTTP server (tests/fuzz/fuzz_http.cc).
  i = 0;
  // The first byte picks the server: '0' the agents' /metrics, '1' the coordinator's status page.
  for (const char* h : {"0GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:9741\r\nUser-Agent: Prometheus/2.42.0\r\n"
                        "Accept: application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5\r\n\r\n",
                        "0HEAD / HTTP/1.0\r\n\r\n", "0POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
                        "0GET /metrics HTTP/2.0\r\n\r\n", "0GET /metrics HTTP/1.1\r\nHost",
                        "0GET /metrics HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
                        "0GET /metrics HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
                        "1GET /?token=fuzz-token-0123456789 HTTP/1.1\r\nHost: a\r\n\r\n",
                        "1GET /api/events HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer fuzz-token-0123456789\r\n\r\n",
                        "1GET /api/status HTTP/1.1\r\nHost: a\r\nCookie: tailsafe_token=fuzz-token-0123456789\r\n\r\n",
                        "1GET /app.js HTTP/1.1\r\nHost: a\r\n\r\nGET /style.css HTTP/1.1\r\nHost: a\r\n\r\n",
                        "1GET /metrics?token=nope HTTP/1.1\r\nHost: a\r\n\r\n",
                        "1GET /api/role HTTP/1.1\r\nHost: a\r\nOrigin: http://b:9750\r\n\r\n"}) {
    Write(root + "/fuzz_http", "head-" + std::to_string(i++), h);
  }
  // Coordinator records: the first byte picks the reader (tests/fuzz/fuzz_coordinator_records.cc).
  i = 0;
  for (const char* d :
       {"\x00{\"address\":\"10.0.0.1:7400\",\"alive\":true,\"bolts\":[\"bolt-1\"],\"hooks\":[\"count\"],"
        "\"since_unix_ms\":1764700000000,\"storage_error\":\"disk full\",\"storage_error_since_unix_ms\":1}",
        "\x00{\"address\":\"a:1\",\"alive\":false,\"bolts\":[],\"hooks\":[],\"dead_since_unix_ms\":5}",
        "\x01{\"bolt\":\"bolt-1\",\"checkpoint\":{\"gen\":2,\"offset\":1000,\"read_unix_ns\":55},"
        "\"deaths_done\":[{\"pid\":3000,\"start_ns\":11}],\"deaths_pending\":[{\"checkpoint\":{\"gen\":1,"
        "\"offset\":800},\"pid\":4000,\"recorded_unix_ms\":9,\"start_ns\":17}],\"hook\":\"count\","
        "\"host_alive\":true,\"origin\":\"h1\",\"process\":{\"deaths\":3,\"detail\":\"exited\",\"pid\":4242,"
        "\"state\":\"dead\"}}",
        "\x02{\"agent\":\"h2\",\"assignments\":[{\"agent\":\"h2\",\"epoch\":12,\"unix_ms\":1001}],"
        "\"attempts\":2,\"bolt\":\"b1\",\"cause\":\"process died\",\"created_unix_ms\":1000,"
        "\"delivered_to\":880,\"epoch\":12,\"from\":100,\"generation\":3,\"hook\":\"count\",\"origin\":\"h1\","
        "\"state\":\"recovered\",\"to\":900}",
        "\x03{\"name\":\"bolt-1\",\"process\":{\"state\":\"running\",\"pid\":5000,\"deaths\":4,"
        "\"since_unix_ns\":99},\"checkpoint\":{\"gen\":2,\"offset\":10},\"deaths\":[{\"pid\":4242,"
        "\"start_ns\":20},{\"pid\":4300,\"start_ns\":21,\"gen\":3,\"offset\":7}],\"gens\":[]}"}) {
    Write(root + "/fuzz_coordinator_records", "record-" + std::to_string(i++), std::string(d, 1) + (d + 1));
  }
  printf("seed corpora written under %s\n", root.c_str());
  return 0;
}
