// ZkClient: one ZooKeeper session driven from the libuv loop, with Debian's single-threaded C
// client (libzookeeper_st).
//
// The library does no I/O of its own: zookeeper_interest says which socket, which events and
// how long to wait; a uv_poll waits for those events and a uv_timer for that time;
// zookeeper_process does the work and runs completions and watches, here, on the loop. The
// library may close or replace its socket inside either call, so the poll is closed before
// each call into it and a new one made on whatever socket it names afterwards. Requests made
// outside a callback wake the driver at once so that they are sent.
//
// Nothing blocks the loop: members are given as IP literals (a DNS name is resolved once, on
// libuv's thread pool, before the session starts), and the handle is closed on the thread pool,
// because zookeeper_close waits up to 4.5 s for the server to confirm. Close() drops every
// callback still pending: none runs after it.
//
// Every completion runs exactly once, with ZOK or an error code (ZCONNECTIONLOSS when the
// connection broke before the reply: the request may or may not have been applied). Watches
// are one-shot as in ZooKeeper; session state changes go to on_state instead.
#pragma once

#include <uv.h>
#include <zookeeper/zookeeper.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/config.h"
#include "common/status.h"
#include "common/uv_handle.h"

namespace tailsafe {

// "ZNONODE (no node)": the code's name and ZooKeeper's words for it.
std::string ZkError(int rc);

class ZkClient {
 public:
  enum class State {
    kConnecting,  // no server reached yet, or the connection broke: requests wait or fail
    kConnected,   // the session is live on a server
    kExpired,     // the ensemble ended the session: ephemeral nodes are gone; make a new client
  };
  static const char* StateName(State s);

  struct Options {
    std::vector<HostPort> members;  // the ensemble's client addresses
    uint32_t session_ms = 6000;     // asked for; the ensemble may grant another value
  };

  struct NodeStat {
    int64_t czxid = 0, mzxid = 0;
    int32_t version = 0, cversion = 0;
    int64_t ephemeral_owner = 0;
    int32_t num_children = 0;
  };
  // One operation of a Multi.
  struct Op {
    enum class Kind { kCreate, kDelete, kSet, kCheck } kind;
    std::string path;
    std::string data;   // kCreate, kSet
    int flags = 0;      // kCreate: ZOO_EPHEMERAL, ZOO_SEQUENCE...
    int version = -1;   // kDelete, kSet, kCheck: the version expected, -1 any
    static Op Create(std::string path, std::string data, int flags = 0) {
      return {Kind::kCreate, std::move(path), std::move(data), flags, -1};
    }
    static Op Delete(std::string path, int version = -1) { return {Kind::kDelete, std::move(path), {}, 0, version}; }
    static Op Set(std::string path, std::string data, int version = -1) {
      return {Kind::kSet, std::move(path), std::move(data), 0, version};
    }
    static Op Check(std::string path, int version) { return {Kind::kCheck, std::move(path), {}, 0, version}; }
  };
  struct OpResult {
    int rc = ZOK;
    std::string created;  // kCreate: the node's path (with its sequence number)
  };

  using WatchFn = std::function<void(int type, const std::string& path)>;  // ZOO_CHANGED_EVENT...
  using VoidDone = std::function<void(int rc)>;
  using StringDone = std::function<void(int rc, const std::string& value)>;
  using DataDone = std::function<void(int rc, const std::string& data, const NodeStat& stat)>;
  using StatDone = std::function<void(int rc, const NodeStat& stat)>;
  using ChildrenDone = std::function<void(int rc, std::vector<std::string> names)>;
  using MultiDone = std::function<void(int rc, const std::vector<OpResult>& results)>;

  ZkClient(uv_loop_t* loop, Options options);
  ~ZkClient();
  ZkClient(const ZkClient&) = delete;
  ZkClient& operator=(const ZkClient&) = delete;

  // Starts the session: resolves names (thread pool), then connects. on_state reports progress.
  Status Start();
  // Ends the session (its ephemeral nodes go at once) off the loop; drops pending callbacks.
  // May be called from a callback; the client itself must then be destroyed later, outside it.
  void Close();

  std::function<void(State)> on_state;
  State state() const { return state_; }
  int64_t session_id() const;
  // The session timeout the ensemble granted (0 before the first connection).
  int negotiated_ms() const;

  // Each returns false (and never calls `done`) if the request could not be queued: not
  // started, closed, expired, or a path the library refuses.
  bool Create(const std::string& path, const std::string& data, int flags, StringDone done);
  bool Delete(const std::string& path, int version, VoidDone done);
  bool Set(const std::string& path, const std::string& data, int version, StatDone done);
  bool Get(const std::string& path, WatchFn watch, DataDone done);
  bool Exists(const std::string& path, WatchFn watch, StatDone done);
  bool Children(const std::string& path, WatchFn watch, ChildrenDone done);
  // A read after Sync sees every write the ensemble committed before it.
  bool Sync(const std::string& path, StringDone done);
  // All of `ops` or none; results[i] says how op i fared (the first failure, and ZRUNTIMEINCONSISTENCY
  // for the ops rolled back with it).
  bool Multi(std::vector<Op> ops, MultiDone done);

  struct Call;   // one pending completion (public for the library's C callbacks only)

 private:
  struct Watch;  // one registered watch
  void Connect();
  void Drive(int zk_events, bool from_poll);
  void Kick();
  void ClosePoll();
  void HandOff();
  void OnSessionEvent(int state);
  void FollowLibrary();
  Call* NewCall();
  void* WatchCtx(WatchFn fn);
  bool Queued(int rc, Call* call);
  static void GlobalWatcher(zhandle_t* zh, int type, int state, const char* path, void* ctx);
  static void PathWatcher(zhandle_t* zh, int type, int state, const char* path, void* ctx);

  uv_loop_t* loop_;
  Options options_;
  std::string hosts_;  // "IP:PORT,..." for zookeeper_init
  zhandle_t* zh_ = nullptr;
  State state_ = State::kConnecting;
  UvPtr<uv_poll_t> poll_;
  UvPtr<uv_timer_t> timer_;
  bool in_drive_ = false;
  bool closed_ = false;
  bool handed_off_ = false;
  std::shared_ptr<ZkClient*> self_;  // reset at Close: a name resolution finishing later sees null
  std::set<Call*> calls_;
  std::map<Watch*, std::unique_ptr<Watch>> watches_;
};

}  // namespace tailsafe
