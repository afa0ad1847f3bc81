#include "tests/support/net.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "tests/support/cluster.h"

namespace tailsafe::testing {

Fd ConnectTo(uint16_t port, const std::string& host) {
  Fd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  if (::inet_pton(AF_INET, host.c_str(), &a.sin_addr) != 1) return Fd();
  if (::connect(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return Fd();
  return s;
}

uint16_t ListenPort(TestCluster& c, int agent) {
  std::ifstream in(c.ConfigPath(agent));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("listen = \"127.0.0.1:", 0) == 0) return static_cast<uint16_t>(std::stoi(line.substr(20)));
  }
  return 0;
}

ClusterKeys KeysOf(TestCluster& c) {
  Result<ClusterKey> k = LoadClusterKey(c.KeyPath(), "test key");
  if (!k) {
    fprintf(stderr, "%s\n", k.status().message().c_str());
    std::abort();
  }
  ClusterKeys keys;
  keys.keys.push_back(std::move(k.value()));
  return keys;
}

ClusterKeys ForeignKeys() {
  uint8_t bytes[kClusterKeyBytes];
  for (size_t i = 0; i < sizeof bytes; ++i) bytes[i] = static_cast<uint8_t>(0xa5 ^ (i * 13));
  ClusterKeys keys;
  keys.keys.push_back(MakeClusterKey(bytes, "foreign"));
  return keys;
}

std::unique_ptr<SecureClient> SecureTo(uint16_t port, const ClusterKeys* keys, std::string* why) {
  auto c = SecureClient::Connect("127.0.0.1:" + std::to_string(port), keys, 10000, "the agent");
  if (!c) {
    if (why) *why = c.status().message();
    return nullptr;
  }
  return std::move(c.value());
}

namespace {

// Waits for the other side to close `fd`; true if it did within 10 s.
bool AwaitClose(int fd) {
  ::shutdown(fd, SHUT_WR);
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char buf[4096];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n == 0) return true;
    if (n < 0) return errno == ECONNRESET;
  }
}

}  // namespace

bool SendAndExpectClose(uint16_t port, const std::string& bytes) {
  Fd s = ConnectTo(port);
  if (!s) return false;
  ::send(s.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL);
  return AwaitClose(s.get());
}

bool SecureSendAndExpectClose(uint16_t port, const ClusterKeys* keys, const std::string& plain) {
  auto c = SecureTo(port, keys);
  if (!c) return false;
  (void)c->Send(plain);
  return AwaitClose(c->fd());
}

}  // namespace tailsafe::testing
