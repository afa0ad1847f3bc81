// LinkRig: an origin agent and a peer agent in one process, on one TestLoop, wired as
// agent/agent.cc wires them (less the coordinator, the control socket and the bolt roster), for
// the unit tests of PeerLink and ReplicaServer.
//
// The origin: BoltSources over files in a temporary directory, watched through one
// InotifyWatcher, and one PeerLink to the peer. The peer: a ReplicaStore under its own data
// directory and a ReplicaServer listening on 127.0.0.1 (a port FreePort() gave). Each side has
// its own state.db and Committer, so a generation is shipped only once its row is durable and an
// ACK leaves the peer only from its committer's durable callback, as in the agent. Commits and
// pumps are deferred to an idle turn of the loop (the agent's Kick), never run inside the
// callback that asked. HoldPeerCommits() keeps the peer from making anything durable, so a test
// can look at what the origin knows before the peer's commit.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "agent/bolt_source.h"
#include "agent/committer.h"
#include "agent/peer_link.h"
#include "agent/replica_server.h"
#include "agent/replica_store.h"
#include "agent/state_store.h"
#include "common/cluster_key.h"
#include "common/config.h"
#include "common/inotify_watcher.h"
#include "common/uv_handle.h"
#include "tests/support/cluster.h"
#include "tests/support/test_loop.h"

namespace tailsafe::testing {

class LinkRig {
 public:
  LinkRig();
  ~LinkRig();
  LinkRig(const LinkRig&) = delete;
  LinkRig& operator=(const LinkRig&) = delete;

  // Declared first, destroyed last: everything below lives on it.
  TestLoop loop;
  ScopedTempDir dir{"link_rig"};
  ClusterKeys keys;
  Config peer_config;       // the peer agent: cluster "c1", id "peer", data_dir dir/peer
  AgentConfig origin;       // the origin agent's tunables: id "origin", small frames and window
  PeerLinkEnv link_env;     // filled by the constructor; tests may change it before StartLink
  std::string commit_error; // what a committer reported, if anything failed

  // The origin's bolt `name` (file dir/bolts/NAME.log), started from no rows.
  BoltSource& AddBolt(const std::string& name);
  std::string BoltFile(const std::string& name) const { return dir.path + "/bolts/" + name + ".log"; }
  BoltSource& Source(size_t i) { return *sources_.at(i); }
  // The newest generation of source `i` (aborts the test if it has none).
  std::shared_ptr<Generation> Newest(size_t i);

  // The peer: its store (taking up what its state.db recorded) and its server, listening.
  void StartPeer();
  // The server stops listening and closes its sessions (StartPeer listens again); with
  // `restart`, the server and the store go, as in a restart of the peer agent.
  void StopPeer(bool restart = false);
  ReplicaStore* store() { return store_.get(); }
  ReplicaServer* server() { return server_.get(); }
  uint16_t peer_port() const { return peer_config.agent.listen.port; }
  std::string ReplicaPath(const std::string& bolt, uint64_t gen) const;
  // The peer's replica of this origin's (bolt, gen), or null.
  const Replica* ReplicaOf(const std::string& bolt, uint64_t gen) const;
  // While true the peer commits nothing: nothing becomes durable, nothing is acknowledged.
  void HoldPeerCommits(bool hold);

  // The link to `peer` (default: the rig's peer, by id and port), started.
  PeerLink& StartLink(std::optional<PeerSpec> peer = std::nullopt);
  PeerLink& link() { return *link_; }
  void StopLink();
  // Waits until the link's peer acknowledged `bytes` of `g`.
  bool WaitAcked(const Generation& g, uint64_t bytes, uint64_t ms = 10000);
  // Frames are handled in order: has the peer's only session fail the stream of `marker` (a
  // generation the link has OPENed) and waits until the link counted that STREAM_ERROR, so
  // whatever the peer sent before it has been handled too.
  bool RoundTrip(const Generation& marker);
  // Generations the origin closed (BoltSource's `closed` hook), in order.
  const std::vector<uint64_t>& closed() const { return closed_; }
  // Appends to a bolt's file and has its source look (inotify would too, a little later).
  void Append(size_t source, const std::string& bytes);

 private:
  void DropServer();
  void Kick(bool pump, bool commit);
  void OnIdle();
  BoltSource::Hooks Hooks();

  std::unique_ptr<InotifyWatcher> watcher_;
  std::optional<StateStore> origin_state_, peer_state_;
  std::unique_ptr<Committer> origin_committer_, peer_committer_;
  uint32_t next_stream_ = 1;
  std::shared_ptr<EncodeSlots> slots_;
  std::vector<std::unique_ptr<BoltSource>> sources_;
  std::unique_ptr<ReplicaStore> store_;
  std::unique_ptr<ReplicaServer> server_;
  std::unique_ptr<PeerLink> link_;
  UvPtr<uv_idle_t> kick_;
  bool pump_pending_ = false, commit_pending_ = false, hold_peer_ = false;
  std::vector<uint64_t> closed_;
};

// Bytes that do not compress to nothing and show where a copy went wrong: `n` bytes of numbered
// lines, seeded by `seed`.
std::string Lines(size_t n, unsigned seed = 1);

}  // namespace tailsafe::testing
