// FramedChannel: the two layers every tailsafe connection speaks, without any I/O: the secure
// channel (common/secure_channel.h) and the frames inside it (common/wire.h). Bytes received from
// the socket go in and frames come out; frames go in and bytes for the socket come out. The libuv
// connection (common/framed_conn.h) and the blocking client (common/secure_client.h) each drive
// one, so the handshake, the records and the framing are written once.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/secure_channel.h"
#include "common/status.h"
#include "common/wire.h"

namespace tailsafe {

class FramedChannel {
 public:
  // `keys` must outlive the channel.
  FramedChannel(SecureChannel::Role role, const ClusterKeys* keys, uint32_t max_payload = kMaxFramePayload)
      : channel_(role, keys), reader_(max_payload) {}

  // The bytes to send when the connection opens.
  std::string Start() { return channel_.Start(); }
  // Feeds bytes from the socket. Bytes to send back (the handshake, and frames sealed before it
  // completed) are appended to *to_send; complete frames then come from Next(). An error means
  // the connection must close (the channel stays failed).
  Status Receive(std::string_view in, std::string* to_send);
  // The next complete frame (valid until the next Receive or Next). After kError, always kError.
  FrameReader::Result Next(Frame* frame, Status* error) { return reader_.Next(frame, error); }
  // Seals bytes (one or more encoded frames) into records appended to *out; before the handshake
  // completes they are held and leave with its last message.
  void Seal(std::string_view frames, std::string* out) { channel_.Seal(frames, out); }
  // At end of stream: an error if it ended inside the handshake, a record or a frame.
  Status AtEof() const;

  bool established() const { return channel_.established(); }
  uint64_t key_id() const { return channel_.key_id(); }

 private:
  SecureChannel channel_;
  FrameReader reader_;
  std::string plain_;  // reused buffer of decrypted bytes
};

}  // namespace tailsafe
