#include "coordinator/zk_store.h"

#include <memory>

#include "common/log.h"

namespace tailsafe {

ZkStore::ZkStore(ZkElection& election) : election_(election), ns_(election.root() + "/ns") {
  election_.prepare = [this](std::function<void(const Status&)> done) { Load(std::move(done)); };
  election_.on_reset = [this] { Reset(); };
}

void ZkStore::Reset() {
  ++generation_;
  ready_ = false;
  docs_.Clear();
  znodes_.clear();
  committed_ = durable_ = 0;
}

// Reads every znode under ROOT/ns, after a sync: documents into memory, every node's path into
// znodes_. One request per node, all under way at once; done runs when the last is answered.
// The requests' callbacks own the load; a load whose session closed is dropped with them.
void ZkStore::Load(std::function<void(const Status&)> done) {
  Reset();
  struct Loading {
    ZkStore* store = nullptr;
    ZkClient* zk = nullptr;
    uint64_t gen = 0;
    size_t pending = 0;
    size_t nodes = 0;
    Status error;
    std::function<void(const Status&)> done;
    void Fail(const std::string& what, int rc) {
      if (error.ok()) error = Status::Error(what + ": " + ZkError(rc));
    }
    void FinishOne() {
      if (--pending != 0 || gen != store->generation_) return;
      if (error.ok()) {
        store->ready_ = true;
        LOG_INFO("zookeeper: loaded %zu znodes, %zu documents", nodes, store->docs_.size());
      }
      auto d = std::move(done);
      if (d) d(error);
    }
    // `path` is a namespace path ("" for the namespace's own node).
    static void Visit(const std::shared_ptr<Loading>& self, const std::string& path) {
      ZkStore* st = self->store;
      std::string znode = path.empty() ? st->ns_ : st->Znode(path);
      self->pending += 2;
      ++self->nodes;
      bool ok = self->zk->Get(znode, nullptr, [self, path, znode](int rc, const std::string& data, const ZkClient::NodeStat&) {
        ZkStore* s = self->store;
        if (self->gen != s->generation_) return;
        if (rc == ZOK && !path.empty()) {
          s->znodes_.insert(path);
          if (data.empty()) {
            // a node above documents
          } else if (Status bad = CheckNamespacePath(path); !bad) {
            LOG_WARN("zookeeper: ignoring %s: %s", znode.c_str(), bad.message().c_str());
          } else {
            s->docs_.Put(path, data);
          }
        } else if (rc != ZOK && rc != ZNONODE) {  // ZNONODE: deleted meanwhile, nothing to keep
          self->Fail("reading " + znode, rc);
        }
        self->FinishOne();
      });
      ok = ok && self->zk->Children(znode, nullptr, [self, path, znode](int rc, std::vector<std::string> names) {
        if (self->gen != self->store->generation_) return;
        if (rc == ZOK) {
          for (const std::string& n : names) Visit(self, path + "/" + n);
        } else if (rc != ZNONODE) {
          self->Fail("listing " + znode, rc);
        }
        self->FinishOne();
      });
      if (!ok) self->Fail("reading " + znode, ZINVALIDSTATE);
    }
  };
  auto state = std::make_shared<Loading>();
  state->store = this;
  state->zk = election_.client();
  state->gen = generation_;
  state->done = std::move(done);
  state->pending = 1;  // the sync
  bool synced = state->zk != nullptr && state->zk->Sync(ns_, [state](int rc, const std::string&) {
    if (state->gen != state->store->generation_) return;
    if (rc != ZOK) {
      state->Fail("sync of " + state->store->ns_, rc);
    } else {
      Loading::Visit(state, "");
    }
    state->FinishOne();
  });
  if (!synced) {
    auto d = std::move(state->done);
    d(Status::Error("zookeeper: no session to load the namespace with"));
  }
}

Status ZkStore::Commit(const std::vector<Write>& writes) {
  if (!ready_) return Status::Error("the ZooKeeper store takes no writes now (not leading, or a commit failed)");
  ZkClient* zk = election_.client();
  if (zk == nullptr || election_.candidate().empty()) return Status::Error("no ZooKeeper session");
  for (const Write& w : writes) {
    if (Status s = CheckNamespacePath(w.path); !s) return s;
    if (w.path == "/") return Status::Error("the root holds no document");
  }
  // The ops, against what memory says exists; nodes this commit creates count as existing.
  std::vector<ZkClient::Op> ops = {ZkClient::Op::Check(election_.candidate(), -1)};
  std::set<std::string> exists = znodes_;
  size_t bytes = 0;
  auto has_children = [&exists](const std::string& path) {
    auto it = exists.upper_bound(path + "/");
    return it != exists.end() && it->compare(0, path.size() + 1, path + "/") == 0;
  };
  for (const Write& w : writes) {
    bytes += w.path.size() + ns_.size() + (w.value ? w.value->size() : 0) + 32;
    if (w.value) {
      if (exists.count(w.path)) {
        ops.push_back(ZkClient::Op::Set(Znode(w.path), *w.value));
        continue;
      }
      // The nodes above it first, from the top.
      for (size_t at = w.path.find('/', 1); at != std::string::npos; at = w.path.find('/', at + 1)) {
        std::string parent = w.path.substr(0, at);
        if (exists.insert(parent).second) ops.push_back(ZkClient::Op::Create(Znode(parent), ""));
      }
      exists.insert(w.path);
      ops.push_back(ZkClient::Op::Create(Znode(w.path), *w.value));
    } else if (exists.count(w.path)) {
      if (has_children(w.path)) {
        ops.push_back(ZkClient::Op::Set(Znode(w.path), ""));  // still above other documents
      } else {
        exists.erase(w.path);
        ops.push_back(ZkClient::Op::Delete(Znode(w.path)));
      }
    }
  }
  if (bytes > kMaxCommitBytes) {
    return Status::Error("a commit of " + std::to_string(bytes) + " bytes is larger than one ZooKeeper request may be (" +
                         std::to_string(kMaxCommitBytes) + ")");
  }
  uint64_t seq = committed_ + 1;
  uint64_t gen = generation_;
  size_t count = ops.size();
  bool queued = zk->Multi(std::move(ops), [this, seq, gen, count](int rc, const std::vector<ZkClient::OpResult>& results) {
    if (gen != generation_ || !ready_) return;
    if (rc == ZOK) {
      durable_ = seq;
      if (on_durable) on_durable();
      return;
    }
    ready_ = false;  // nothing after this one may be durable on top of an unknown state
    std::string which;
    for (size_t i = 0; i < results.size() && which.empty(); ++i) {
      if (results[i].rc != ZOK && results[i].rc != ZRUNTIMEINCONSISTENCY) {
        which = i == 0 ? " (this instance's candidate is gone: another instance may lead)" : "";
      }
    }
    Status s = Status::Error("zookeeper: commit " + std::to_string(seq) + " (" + std::to_string(count) +
                             " ops) failed: " + ZkError(rc) + which);
    if (on_failed) on_failed(s);
  });
  if (!queued) return Status::Error("zookeeper: the commit could not be queued");
  committed_ = seq;
  znodes_ = std::move(exists);
  for (const Write& w : writes) {
    if (w.value) {
      docs_.Put(w.path, *w.value);
    } else {
      docs_.Erase(w.path);
    }
  }
  return Status::Ok();
}

}  // namespace tailsafe
