// VirtualNetwork: hosts that are apart. One network namespace per host, each with a veth pair
// whose other end is on a bridge in the root namespace (which also holds the bridge's address,
// so the test process reaches every host). Each namespace has an nftables table whose input
// chain the fault tests fill to cut links: Block(to, from) drops what `from` sends to `to`.
// Everything is removed in the destructor. Needs root, iproute2 and nft (tests skip without).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

namespace tailsafe::testing {

class VirtualNetwork {
 public:
  // Hosts are named by the caller ("h1", "co", ...). Names of namespaces and links carry this
  // process's pid and a letter per instance, so two test processes, or two networks one after
  // the other in one process, do not collide.
  static Result<std::unique_ptr<VirtualNetwork>> Create(const std::vector<std::string>& hosts);
  ~VirtualNetwork();
  VirtualNetwork(const VirtualNetwork&) = delete;
  VirtualNetwork& operator=(const VirtualNetwork&) = delete;

  // "" if this machine can make one (root, ip, nft, namespaces); else why not, for a skip message.
  static std::string Unavailable();

  const std::vector<std::string>& hosts() const { return hosts_; }
  std::string Namespace(const std::string& host) const;      // the `ip netns` name
  std::string NamespacePath(const std::string& host) const;  // /run/netns/NAME, for setns
  std::string Address(const std::string& host) const;        // its IPv4 address, no port

  // Packets from `from` to `to` are dropped at `to` (one direction).
  Status Block(const std::string& to, const std::string& from);
  // Every Block undone.
  Status HealAll();
  // Runs `command` (a shell command line) inside host's namespace.
  Status Exec(const std::string& host, const std::string& command);

 private:
  VirtualNetwork() = default;
  size_t Index(const std::string& host) const;
  std::vector<std::string> hosts_;
  std::string tag_;     // "tsf" + pid + a letter per instance
  std::string prefix_;  // "10.A.B."
  bool bridge_made_ = false;
  std::vector<std::string> made_;  // namespaces created
};

}  // namespace tailsafe::testing
