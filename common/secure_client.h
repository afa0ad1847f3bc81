// SecureClient: one blocking TCP client connection carrying frames inside the secure channel,
// with deadlines. tailsafectl's requests to the coordinator use it, and so do the tests that play
// a hostile or foreign peer. The handshake, records and framing are the FramedChannel that the
// daemons' connections (common/framed_conn.h) use; only the I/O here is blocking.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "common/fd.h"
#include "common/framed_channel.h"
#include "common/status.h"

namespace tailsafe {

class SecureClient {
 public:
  // Connects to "HOST:PORT" and completes the secure handshake within `timeout_ms`. `what` names
  // the other side in messages ("the coordinator"). `keys` outlives the client.
  static Result<std::unique_ptr<SecureClient>> Connect(const std::string& address, const ClusterKeys* keys,
                                                       int timeout_ms, const std::string& what);
  // Seals and sends one or more encoded frames (tests send malformed ones on purpose).
  Status Send(std::string_view frames);
  // Waits up to `timeout_ms` for the next frame, valid until the next call. An error if none
  // came in time, the connection ended ("... closed the connection") or a frame was bad.
  Status ReadFrame(Frame* frame, int timeout_ms);

  int fd() const { return fd_.get(); }

 private:
  SecureClient(Fd fd, const ClusterKeys* keys, std::string where);
  Status WriteAll(std::string_view bytes);
  // One read into the channel; *eof set at end of stream.
  Status ReadOnce(int timeout_ms, bool* eof);

  Fd fd_;
  FramedChannel channel_;
  std::string where_;
};

// Connects a blocking TCP socket to "HOST:PORT" (no handshake). `what` names the other side.
Result<Fd> ConnectTcpBlocking(const std::string& address, const std::string& what);

}  // namespace tailsafe
