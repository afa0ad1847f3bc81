// Network helpers for tests that play a peer by hand: plain TCP connections, and connections
// inside the cluster's secure channel (common/secure_client.h) that then send chosen frames.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "common/cluster_key.h"
#include "common/fd.h"
#include "common/secure_client.h"

namespace tailsafe::testing {

class TestCluster;

// A plain TCP connection to host:port, host an IPv4 literal (invalid Fd if refused).
Fd ConnectTo(uint16_t port, const std::string& host = "127.0.0.1");
// The port agent `agent` of `c` listens on for peers (0 if not found).
uint16_t ListenPort(TestCluster& c, int agent);
// The cluster's key, loaded from its key file (aborts the test if unreadable).
ClusterKeys KeysOf(TestCluster& c);
// A key nobody in any cluster holds.
ClusterKeys ForeignKeys();
// A secure connection to 127.0.0.1:port, handshake done; null (with *why) if that failed.
std::unique_ptr<SecureClient> SecureTo(uint16_t port, const ClusterKeys* keys, std::string* why = nullptr);

// Sends `bytes` on a fresh plain connection, then waits (10 s at most) for the other side to
// close it. True if it did.
bool SendAndExpectClose(uint16_t port, const std::string& bytes);
// The same inside the secure channel: `plain` is sealed and sent after the handshake.
bool SecureSendAndExpectClose(uint16_t port, const ClusterKeys* keys, const std::string& plain);

}  // namespace tailsafe::testing
