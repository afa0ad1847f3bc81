// NamespaceReader: the namespace as tailsafectl reads it: ls, get, dump (paged), and watch
// (pushed).
//
// A reply carries at most about kPageBytes of names (and kPageNames of them) or documents, far
// under one CONTROL frame (1 MiB) and ZooKeeper's own limit: `ls` and `dump` take `after` (the
// last name or path of the page before) and say `more` while anything is left. Documents come in
// the order of the tree (each path, then what lies below it, names sorted). Documents of agents
// and bolts carry live facts kept in memory (last heard, connected, the replication lag).
//
// `watch PATH` answers with the documents at or below PATH, in pages, then pushes every change
// to them: one {type: "changes", changes: [{path, value}]} per commit (value null: removed),
// sent once that commit is durable like every decision, and a {type: "watch_alive"} every
// second, so a tailsafectl that hears nothing for longer knows to find the leader again. The
// changes are the leader's own commits: the only writer of the namespace (in ZooKeeper too,
// where every write is fenced by the leader's candidate znode), so no store watch is needed.
// A watch ends with its connection, which closes when this instance stops leading.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/framed_conn.h"
#include "common/status.h"
#include "coordinator/namespace_store.h"
#include "coordinator/term_state.h"

namespace tailsafe {

class NamespaceReader {
 public:
  // Sends a frame once every commit made so far is durable (the coordinator's Deliver).
  using DeliverFn = std::function<void(FramedConn* conn, std::string frame)>;
  static constexpr size_t kPageBytes = 256 * 1024;  // per ls, dump or changes reply
  static constexpr size_t kPageNames = 4096;         // per ls reply

  // `store` and `state` outlive the reader.
  NamespaceReader(const NamespaceStore* store, const TermState* state, DeliverFn deliver);

  // An ls, get, dump or watch request ({type, path[, after]}). A bad path or a missing document
  // is answered with an error message; an error Status is a malformed request.
  Status OnRead(FramedConn* conn, const nlohmann::json& msg);
  // Every document at or below `path`, read live: {path: document} (the status page's).
  nlohmann::json Documents(const std::string& path) const;
  // A stored document plus the live facts kept in memory (last heard, lag, file size).
  nlohmann::json LiveDoc(const std::string& path, const std::string& stored) const;
  // A commit succeeded: its writes go to every watch they fall under.
  void OnCommitted(const std::vector<NamespaceStore::Write>& writes);
  // Called often: a watch_alive to every watch, at most once a second (`now`: monotonic ns).
  void KeepAlive(uint64_t now);
  // The connection closed: its watch ends.
  void Drop(FramedConn* conn) { watchers_.erase(conn); }
  // Every watch ends (the connections are closing).
  void Clear() { watchers_.clear(); }
  size_t watches() const { return watchers_.size(); }

 private:
  void Deliver(FramedConn* conn, std::string frame);
  void CollectPaths(const std::string& path, std::vector<std::string>* out) const;
  // One page of the documents at or below `path` after `after` (every page, for a watch).
  void DeliverDocuments(FramedConn* conn, const std::string& path, const std::string& after, bool all_pages);

  const NamespaceStore* store_;
  const TermState* state_;
  DeliverFn deliver_;
  std::map<FramedConn*, std::string> watchers_;  // tailsafectl watch: the path watched
  uint64_t watch_alive_ns_ = 0;
};

}  // namespace tailsafe
