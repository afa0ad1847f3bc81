// NamespaceStore: the coordinator's state as a tree of paths, each holding a JSON document:
//
//   /agents/ID             an agent: address, hooks, last heartbeat, alive or dead
//   /bolts/ORIGIN/BOLT     a bolt: its process state, checkpoint, the replicas' sizes
//   /recoveries/N          a recovery: range, elected agent, epoch, state
//
// Only documents (leaves) are stored; a path's children are whatever stored paths lie below it.
// Every path component is a valid name ([A-Za-z0-9._-]+, not "." or ".."), so a path means the
// same thing here, in `tailsafectl ls|get`, and in ZooKeeper znodes, where a later step keeps
// the same tree: this interface is what that step implements again.
//
// Every store keeps the whole tree in memory (it is small: agents, bolts, recoveries), and a
// Commit applies its writes there at once, so the next decision sees them. Making them durable
// may take longer: each Commit gets the next number, durable() is the highest number whose
// writes will survive this process, and the coordinator sends nothing that depends on a commit
// before it is durable. A store that cannot make an accepted commit durable says so through
// on_failed; its memory is then ahead of what survives, and its owner must not act on it.
//
// SqliteNamespaceStore writes through to STATE_DIR/namespace.db: a Commit returns only after
// SQLite committed (WAL, synchronous=FULL), so every commit is durable when it returns and what
// a coordinator said before a crash it still says after the restart. The ZooKeeper store
// (coordinator/zk_store.h) holds the same tree in znodes.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/sqlite.h"
#include "common/status.h"

namespace tailsafe {

// Checks a namespace path: "/" or "/" followed by valid names joined by "/". The error says
// which component is wrong.
Status CheckNamespacePath(std::string_view path);

// The documents of a tree, in memory: what every store's Get and Children read.
class DocumentTree {
 public:
  std::optional<std::string> Get(const std::string& path) const;
  std::vector<std::string> Children(const std::string& path) const;
  void Put(const std::string& path, std::string value) { docs_[path] = std::move(value); }
  void Erase(const std::string& path) { docs_.erase(path); }
  void Clear() { docs_.clear(); }
  size_t size() const { return docs_.size(); }

 private:
  std::map<std::string, std::string> docs_;
};

class NamespaceStore {
 public:
  struct Write {
    std::string path;
    std::optional<std::string> value;  // nullopt: delete the document
  };
  virtual ~NamespaceStore() = default;
  virtual std::optional<std::string> Get(const std::string& path) const = 0;
  // The names directly below `path` (documents or inner nodes), sorted.
  virtual std::vector<std::string> Children(const std::string& path) const = 0;
  // Applies every write or none. Paths must pass CheckNamespacePath and not be "/". An error
  // means nothing was applied (and, for SQLite, that the store can take no more writes).
  virtual Status Commit(const std::vector<Write>& writes) = 0;
  // The number of the last Commit accepted, and of the last one durable.
  uint64_t committed() const { return committed_; }
  uint64_t durable() const { return durable_; }
  // durable() grew after Commit returned (asynchronous stores only).
  std::function<void()> on_durable;
  // An accepted commit will never be durable (asynchronous stores only).
  std::function<void(const Status&)> on_failed;

 protected:
  uint64_t committed_ = 0;
  uint64_t durable_ = 0;
};

class SqliteNamespaceStore : public NamespaceStore {
 public:
  static Result<std::unique_ptr<SqliteNamespaceStore>> Open(const std::string& db_path);
  std::optional<std::string> Get(const std::string& path) const override;
  std::vector<std::string> Children(const std::string& path) const override;
  Status Commit(const std::vector<Write>& writes) override;

 private:
  SqliteNamespaceStore() = default;
  Db db_;
  Stmt put_, del_;
  DocumentTree docs_;
};

}  // namespace tailsafe
