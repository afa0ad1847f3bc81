// ZookeeperEnsemble: a real ZooKeeper ensemble on loopback for the tests, from Debian's
// zookeeper package: one QuorumPeerMain (on the Debian jars in /usr/share/java) per member, each
// with its own zoo.cfg, myid and data directory under one temporary directory, the admin server
// off, and the four-letter words `srvr` and `ruok` allowed so that the harness can ask each
// member whether it serves. Members can be killed, paused and started again; the destructor
// kills them all.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/config.h"
#include "common/status.h"
#include "tests/support/cluster.h"
#include "tests/support/process.h"

namespace tailsafe::testing {

// Why this machine cannot run an ensemble (no Java, no zookeeper package), or "" if it can.
std::string ZookeeperMissing();

// One request to an ensemble, from a session of its own, on a loop of its own (for tests that
// act on ZooKeeper as an operator would).
Result<std::vector<std::string>> ZkChildren(const std::string& connect, const std::string& path);
Status ZkDelete(const std::string& connect, const std::string& path);

class ZookeeperEnsemble {
 public:
  struct Options {
    int members = 3;
    int tick_ms = 200;  // sessions may be 2 to 20 ticks unless the bounds below say otherwise
    int min_session_ms = 400;
    int max_session_ms = 60000;
    // Where every member listens (clients and peers), and the network namespace it runs in
    // ("": this one). With a VirtualNetwork: its host's Address() and NamespacePath().
    std::string address = "127.0.0.1";
    std::string netns;
  };
  // Writes the configuration and starts every member; Wait() until it serves.
  static Result<std::unique_ptr<ZookeeperEnsemble>> Start(const std::string& name, Options options);
  static Result<std::unique_ptr<ZookeeperEnsemble>> Start(const std::string& name) { return Start(name, Options{}); }
  ~ZookeeperEnsemble();

  // "ADDRESS:P1,ADDRESS:P2,..." and the same as config addresses.
  std::string connect_string() const;
  std::vector<HostPort> members() const;
  int size() const { return static_cast<int>(members_.size()); }

  // What member i says of itself: "leader", "follower", "standalone", or "" if it does not
  // serve (down, paused, or without a quorum).
  std::string Mode(int i) const;
  // Until a quorum serves: a leader and enough followers (every running member, at most).
  bool WaitServing(double seconds) const;
  int Leader() const;  // the index of the member that leads, or -1

  void Kill(int i);    // SIGKILL, reaped
  void Pause(int i);   // SIGSTOP
  void Resume(int i);  // SIGCONT
  Status Restart(int i);  // after Kill: the same configuration and data
  bool running(int i);
  // The member's log, for messages.
  std::string LogTail(int i, size_t bytes = 4000) const;

 private:
  struct Member {
    int id = 0;
    uint16_t client_port = 0, peer_port = 0, election_port = 0;
    std::string dir, cfg, log;
    Child child;
    bool paused = false;
  };
  ZookeeperEnsemble() = default;
  Status Spawn(Member& m);

  ScopedTempDir dir_;
  Options options_;
  std::vector<Member> members_;
};

}  // namespace tailsafe::testing
