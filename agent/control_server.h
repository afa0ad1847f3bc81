// ControlServer: the agent's local control socket (a Unix stream socket, mode 0660), used by
// tailsafectl. One request line per connection ("status"), one JSON reply, then close. A client
// gets kTimeoutMs for the whole exchange: one that connects and never finishes its request line
// (or never reads the reply) is closed then, so idle clients cannot pile up.
// ControlReply maps a request line to its reply: an unknown request, or a reply builder that
// throws, gets {"error": ...}, valid JSON whatever bytes the request held.
#pragma once

#include <uv.h>

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "common/status.h"
#include "common/stream_conn.h"
#include "common/stream_endpoints.h"
#include "common/uv_handle.h"

namespace tailsafe {

// The reply to request line `req`: the builder `routes` names for it, or {"error": ...} for an
// unknown request or a builder that throws (an exception never reaches libuv's C callbacks).
std::string ControlReply(const std::string& req, const std::map<std::string, std::function<std::string()>>& routes);

class ControlServer {
 public:
  static constexpr uint64_t kTimeoutMs = 5000;
  static constexpr size_t kMaxRequest = 4096;

  // `handler` maps a request line (without the newline) to the reply.
  ControlServer(uv_loop_t* loop, std::string path, std::function<std::string(const std::string&)> handler);
  ~ControlServer();
  Status Listen();
  void Stop();

 private:
  struct Client;
  void OnAccept(UvPtr<uv_pipe_t> pipe);
  void OnData(Client* c, std::string_view bytes);
  void Answer(Client* c);

  uv_loop_t* loop_;
  std::string path_;
  std::function<std::string(const std::string&)> handler_;
  UnixListener listener_;
  std::map<Client*, std::unique_ptr<Client>> clients_;
};

}  // namespace tailsafe
