// ZkStore: the coordinator's namespace (coordinator/namespace_store.h) in ZooKeeper.
//
// Each document /agents/ID, /bolts/ORIGIN/BOLT, /recoveries/N is the data of the znode
// ROOT/ns/agents/ID and so on; the znodes above documents hold no data. The leader loads the
// whole tree once it has claimed its term (a sync first, so the read sees every write the
// ensemble committed before), keeps it in memory, and makes each Commit one multi: a check
// that its election candidate still exists (coordinator/zk_election.h), then the creates, sets
// and deletes. A deposed leader's commit therefore fails in ZooKeeper itself.
//
// Commits are pipelined: each is applied to memory at once and is durable when its multi
// succeeds (they complete in order). The first one that fails (a failed check, a lost
// connection: the multi may or may not have been applied) makes the store refuse every later
// commit and report on_failed; the coordinator gives its leadership up and whoever leads next
// loads what ZooKeeper really holds.
#pragma once

#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "coordinator/namespace_store.h"
#include "coordinator/zk_election.h"

namespace tailsafe {

class ZkStore : public NamespaceStore {
 public:
  // A multi is one ZooKeeper request, which the ensemble refuses past jute.maxbuffer (1 MiB by
  // default): a commit larger than this is refused here, with an error that says so.
  static constexpr size_t kMaxCommitBytes = 900 * 1024;

  explicit ZkStore(ZkElection& election);
  std::optional<std::string> Get(const std::string& path) const override { return docs_.Get(path); }
  std::vector<std::string> Children(const std::string& path) const override { return docs_.Children(path); }
  Status Commit(const std::vector<Write>& writes) override;
  bool ready() const { return ready_; }

 private:
  void Load(std::function<void(const Status&)> done);
  void Reset();
  std::string Znode(const std::string& path) const { return ns_ + path; }

  ZkElection& election_;
  std::string ns_;                 // ROOT/ns
  DocumentTree docs_;
  std::set<std::string> znodes_;   // namespace paths that exist as znodes (documents and the nodes above them)
  bool ready_ = false;             // loaded, and no commit failed since
  uint64_t generation_ = 0;        // bumped by Reset: replies for an older load or commit are dropped
};

}  // namespace tailsafe
