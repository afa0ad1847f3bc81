#include "tests/support/virtual_network.h"

#include <unistd.h>

#include <cstdio>

#include "tests/support/process.h"

namespace tailsafe::testing {

namespace {

Status Run(const std::string& command) {
  CommandResult r = RunCommand(command);
  if (r.code != 0) return Status::Error(command + ": " + (r.out.empty() ? "exit " + std::to_string(r.code) : r.out));
  return Status::Ok();
}

}  // namespace

std::string VirtualNetwork::Unavailable() {
  if (::geteuid() != 0) return "not root (network namespaces and nftables need root)";
  if (::access("/usr/sbin/ip", X_OK) != 0 && ::access("/sbin/ip", X_OK) != 0) return "ip(8) is not installed (iproute2)";
  if (::access("/usr/sbin/nft", X_OK) != 0) return "nft(8) is not installed (apt-get install nftables; make deps does)";
  std::string probe = "tsfprobe" + std::to_string(::getpid());
  CommandResult r = RunCommand("ip netns add " + probe + " && ip netns exec " + probe +
                               " nft add table inet probe; rc=$?; ip netns del " + probe + " 2>/dev/null; exit $rc");
  if (r.code != 0) return "cannot make a network namespace with an nftables table: " + r.out;
  return "";
}

Result<std::unique_ptr<VirtualNetwork>> VirtualNetwork::Create(const std::vector<std::string>& hosts) {
  std::unique_ptr<VirtualNetwork> n(new VirtualNetwork());
  n->hosts_ = hosts;
  unsigned pid = static_cast<unsigned>(::getpid());
  // A letter per instance as well: a namespace deleted by the last one in this process may
  // still hold its veth for a while (the kernel tears namespaces down asynchronously).
  static unsigned instances = 0;
  n->tag_ = "tsf" + std::to_string(pid % 10000000) + static_cast<char>('a' + instances++ % 26);
  n->prefix_ = "10." + std::to_string(200 + pid % 50) + "." + std::to_string((pid / 50) % 250) + ".";
  std::string bridge = n->tag_ + "b";
  if (Status s = Run("ip link add " + bridge + " type bridge && ip addr add " + n->prefix_ + "1/24 dev " + bridge +
                     " && ip link set " + bridge + " up");
      !s) {
    return s;
  }
  n->bridge_made_ = true;
  for (size_t i = 0; i < hosts.size(); ++i) {
    std::string ns = n->Namespace(hosts[i]);
    std::string veth = n->tag_ + "v" + std::to_string(i);
    if (Status s = Run("ip netns add " + ns); !s) return s;
    n->made_.push_back(ns);
    std::string in = "ip -n " + ns + " ";
    if (Status s = Run("ip link add " + veth + " type veth peer name eth0 netns " + ns + " && ip link set " + veth +
                       " master " + bridge + " up && " + in + "addr add " + n->Address(hosts[i]) + "/24 dev eth0 && " +
                       in + "link set eth0 up && " + in + "link set lo up");
        !s) {
      return s;
    }
    // The table the partitions go into: an input chain that accepts unless told otherwise.
    if (Status s = n->Exec(hosts[i], "nft add table inet tailsafe_faults && nft add chain inet tailsafe_faults input "
                                     "'{ type filter hook input priority 0; policy accept; }'");
        !s) {
      return s;
    }
  }
  return n;
}

VirtualNetwork::~VirtualNetwork() {
  // Each veth pair goes with its root end, at once; then the namespaces.
  for (size_t i = 0; i < made_.size(); ++i) RunCommand("ip link del " + tag_ + "v" + std::to_string(i) + " 2>/dev/null");
  for (const std::string& ns : made_) RunCommand("ip netns del " + ns);
  if (bridge_made_) RunCommand("ip link del " + tag_ + "b");
}

size_t VirtualNetwork::Index(const std::string& host) const {
  for (size_t i = 0; i < hosts_.size(); ++i)
    if (hosts_[i] == host) return i;
  fprintf(stderr, "virtual network: no host '%s'\n", host.c_str());
  std::abort();
}

std::string VirtualNetwork::Namespace(const std::string& host) const { return tag_ + "-" + host; }
std::string VirtualNetwork::NamespacePath(const std::string& host) const { return "/run/netns/" + Namespace(host); }
std::string VirtualNetwork::Address(const std::string& host) const {
  return prefix_ + std::to_string(10 + Index(host));
}

Status VirtualNetwork::Exec(const std::string& host, const std::string& command) {
  return Run("ip netns exec " + Namespace(host) + " sh -c \"" + command + "\"");
}

Status VirtualNetwork::Block(const std::string& to, const std::string& from) {
  return Exec(to, "nft add rule inet tailsafe_faults input ip saddr " + Address(from) + " drop");
}

Status VirtualNetwork::HealAll() {
  for (const std::string& h : hosts_) {
    if (Status s = Exec(h, "nft flush chain inet tailsafe_faults input"); !s) return s;
  }
  return Status::Ok();
}

}  // namespace tailsafe::testing
