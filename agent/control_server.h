// ControlServer: the agent's local control socket (a Unix stream socket, mode 0660), used by
// tailsafectl. One request line per connection ("status"), one JSON reply, then close.
#pragma once

#include <uv.h>

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "common/status.h"
#include "common/uv_handle.h"

namespace tailsafe {

class ControlServer {
 public:
  // `handler` maps a request line (without the newline) to the reply.
  ControlServer(uv_loop_t* loop, std::string path, std::function<std::string(const std::string&)> handler);
  ~ControlServer();
  Status Listen();
  void Stop();

 private:
  struct Client;
  void OnConnection();
  void Finish(Client* c);

  uv_loop_t* loop_;
  std::string path_;
  std::function<std::string(const std::string&)> handler_;
  UvPtr<uv_pipe_t> listener_;
  std::map<Client*, std::unique_ptr<Client>> clients_;
};

}  // namespace tailsafe
