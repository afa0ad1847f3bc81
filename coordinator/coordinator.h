// Coordinator: one tailsafe-coordinator process on a single-threaded libuv loop.
//
// Agents connect, register (id, address, hook names, bolts) and heartbeat with their bolts'
// states; tailsafectl connects to read the namespace (ls, get). An agent silent for
// `host_timeout_ms` is dead, and so are its bolts: /agents/ID and /bolts/ID/* say so. A
// connection that closes is not a death by itself (an agent restarting reconnects within the
// timeout); silence is. Every change of an agent's membership is pushed to every connected agent.
//
// State lives in the NamespaceStore (coordinator/namespace_store.h), written through to SQLite
// before anyone is told. Heartbeats are kept in memory only: after a coordinator restart every
// agent gets a fresh `host_timeout_ms` to reconnect before it is declared dead.
//
// Still to come (issue 3): election and recovery assignments with fencing epochs.
#pragma once

#include <uv.h>

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "common/config.h"
#include "common/framed_conn.h"
#include "common/status.h"
#include "common/uv_handle.h"
#include "coordinator/namespace_store.h"

namespace tailsafe {

class Coordinator {
 public:
  Coordinator(uv_loop_t* loop, Config config, std::unique_ptr<NamespaceStore> store);
  ~Coordinator();
  Status Start();
  // Closes the listener, every connection and the timers; runs `on_stopped` once.
  void Stop();
  std::function<void()> on_stopped;
  const std::string& cluster() const { return config_.cluster.name; }
  const std::string& listen() const { return config_.coordinator.listen; }
  // Set when the store could not commit: the coordinator stops, since it cannot keep promises.
  const Status& fatal() const { return fatal_; }

 private:
  struct Agent {
    std::string id;
    std::string address;
    std::shared_ptr<FramedConn> conn;  // null while not connected
    uint64_t last_heard_ns = 0;
    bool alive = false;
  };

  void OnAccept(UvPtr<uv_tcp_t> tcp);
  Status OnFrame(FramedConn* conn, const Frame& f);
  Status OnRegister(FramedConn* conn, const nlohmann::json& msg);
  Status OnHeartbeat(FramedConn* conn, const nlohmann::json& msg);
  Status OnRead(FramedConn* conn, const nlohmann::json& msg);
  void OnClose(FramedConn* conn, const std::string& why);
  void CheckSilence();
  Status DeclareDead(Agent& a, uint64_t silent_ms);
  void PushMembership();
  Agent* AgentOf(FramedConn* conn);
  // Writes a document if it differs from what the store holds.
  Status PutIfChanged(std::vector<NamespaceStore::Write>* writes, const std::string& path, const nlohmann::json& doc);
  Status CommitOrFail(const std::vector<NamespaceStore::Write>& writes);

  uv_loop_t* loop_;
  Config config_;
  std::unique_ptr<NamespaceStore> store_;
  TcpListener listener_;
  UvPtr<uv_timer_t> silence_timer_;
  std::map<FramedConn*, std::shared_ptr<FramedConn>> conns_;  // every open connection
  std::map<std::string, Agent> agents_;
  uint64_t heartbeat_ms_ = 250;
  Status fatal_;
  bool stopped_ = false;
};

}  // namespace tailsafe
