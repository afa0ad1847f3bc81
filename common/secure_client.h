// SecureClient: one blocking TCP client connection inside a SecureChannel, with deadlines.
// tailsafectl's requests to the coordinator use it, and so do the tests that play a hostile or
// foreign peer.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "common/fd.h"
#include "common/secure_channel.h"
#include "common/status.h"

namespace tailsafe {

class SecureClient {
 public:
  // Connects to "HOST:PORT" and completes the secure handshake within `timeout_ms`. `what` names
  // the other side in messages ("the coordinator"). `keys` outlives the client.
  static Result<std::unique_ptr<SecureClient>> Connect(const std::string& address, const ClusterKeys* keys,
                                                       int timeout_ms, const std::string& what);
  // Seals and sends application bytes.
  Status Send(std::string_view plain);
  // Waits up to `timeout_ms` for application bytes and appends them to *plain. Returns the
  // number appended; 0 means the other side closed the connection cleanly.
  Result<size_t> Receive(std::string* plain, int timeout_ms);

  int fd() const { return fd_.get(); }

 private:
  SecureClient(Fd fd, const ClusterKeys* keys, std::string where);
  Status WriteAll(std::string_view bytes);
  // One read into the channel; *eof set at end of stream.
  Status ReadOnce(std::string* plain, int timeout_ms, bool* eof);

  Fd fd_;
  SecureChannel channel_;
  std::string where_;
};

// Connects a blocking TCP socket to "HOST:PORT" (no handshake). `what` names the other side.
Result<Fd> ConnectTcpBlocking(const std::string& address, const std::string& what);

}  // namespace tailsafe
