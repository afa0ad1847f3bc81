// The agent-to-agent wire protocol: frames and the messages they carry.
//
// Frame layout (all integers little-endian):
//
//   offset size  field
//   0      4     payload length N (bytes after the header); at most kMaxFramePayload
//   4      1     message type (MessageType)
//   5      1     flags: bit 0 = the DATA body is zstd-compressed; other bits must be zero
//   6      2     reserved, must be zero
//   8      8     XXH3-64 of the N payload bytes, seeded with XXH3-64 of header bytes [0, 8)
//   16     N     payload
//
// Why this shape: the length comes first so a reader knows how much to wait for, but it is
// checked against a hard limit before anything is allocated, and it is covered by the checksum.
// A frame whose checksum fails ends the connection: after a bad checksum nothing in that frame,
// the length included, is trusted, and TCP gives no way to resynchronise, so the peer simply
// reconnects and resumes from its durable offset. A connection that ends inside a frame is
// "truncated": the partial frame is dropped, never applied.
//
// Conversation (the origin agent connects to each peer agent and ships its own bolts):
//
//   origin -> peer   HELLO     magic "TSAF", versions [min,max], cluster name, origin id
//   peer -> origin   WELCOME   chosen version, peer id          (or REJECT reason, then close)
//   origin -> peer   OPEN      stream id, bolt, generation       (one per generation it holds)
//   peer -> origin   POSITION  stream id, durable size, verified size, hash of the window
//                              ending at the durable size
//   origin -> peer   CUT       stream id, offset                  (only in answer to POSITION)
//   origin -> peer   DATA      stream id, offset, raw length, raw XXH3, body (zstd or raw)
//   origin -> peer   SEAL      stream id, final size             (generation complete)
//   origin -> peer   CHECKPOINT stream id, offset                 (the bolt has processed
//                              [0, offset) of this generation; sent when it changes)
//   peer -> origin   ACK       stream id, durable size           (after fdatasync)
//   peer -> origin   STREAM_ERROR stream id, reason              (this stream only: see below)
//   peer -> origin   SEALED    stream id, final size             (the seal is durable here)
//
// Stream ids are chosen by the origin and bind to (bolt, generation) for one connection's life.
// The origin uses the same id on every connection so that one encoded DATA frame can be sent to
// every peer. A peer accepts DATA only at exactly its expected offset; the origin resumes at the
// POSITION the peer reports and compares the window hash with its own bytes to detect a file
// rewritten in place (divergence).
//
// The origin keeps a sealed generation until every peer has answered its SEAL with SEALED, not
// only acknowledged its bytes: a peer that was away at the seal gets OPEN, POSITION and SEAL when
// it is back, so no replica stays unsealed for want of a message.
//
// A failure that concerns one stream only (its replica cannot be created or written, its window
// cannot be read) is answered with STREAM_ERROR, not by ending the session: the peer forgets the
// stream and ignores the frames for it still on the way (DATA, SEAL, CUT, CHECKPOINT), the origin
// marks that stream failed and keeps shipping the others. The origin retries it later with a new
// OPEN of the same stream id, which the peer takes up as usual.
//
// Verified and unverified bytes: a peer fdatasyncs before every ACK but records its durable sizes
// in state.db only now and then (every kRecordEveryBytes), so after a restart the bytes between
// the recorded size and the file's end are on disk but unproven: after a power loss they may be
// whatever the filesystem left there. POSITION then reports `verified` < `durable`, and its window
// covers every unproven byte plus up to kWindowHashBytes before them. If the origin's bytes
// match, it resumes at `durable` (the tail is proven). If they do not, the origin answers CUT at
// `verified`: the peer drops the unproven tail and sends a new POSITION, whose window (proven
// bytes only) must then match or the generation has diverged.
//
// Versioning: HELLO carries the range of versions the origin speaks; the peer picks the highest
// it also speaks or REJECTs with a reason naming both ranges.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/compress.h"
#include "common/status.h"

namespace tailsafe {

constexpr uint32_t kWireMagic = 0x46415354;  // "TSAF" little-endian
// Version 2: POSITION carries `verified`, and CUT exists. Version 3: CHECKPOINT. Version 4:
// STREAM_ERROR and SEALED. Nothing speaking an earlier version was released, so only the newest is spoken.
constexpr uint16_t kWireVersionMin = 4;
constexpr uint16_t kWireVersionMax = 4;
constexpr size_t kFrameHeaderSize = 16;
constexpr uint32_t kMaxDataRaw = 1 << 20;           // largest DATA chunk before compression
constexpr uint32_t kMaxFramePayload = (1 << 20) + (64 << 10);  // a raw 1 MiB chunk + slack
constexpr size_t kMaxWireString = 1024;
constexpr uint32_t kWindowHashBytes = 4096;         // POSITION window before the verified size
constexpr uint64_t kMaxUnverifiedBytes = 64 << 20;  // POSITION: durable - verified at most this

enum class MessageType : uint8_t {
  kHello = 1,
  kWelcome = 2,
  kReject = 3,
  kOpen = 4,
  kPosition = 5,
  kData = 6,
  kSeal = 7,
  kAck = 8,
  kCut = 9,
  kCheckpoint = 10,
  kControl = 11,  // the coordinator protocol: one JSON object (common/coord_protocol.h)
  kStreamError = 12,
  kSealed = 13,
};
constexpr uint8_t kFlagCompressed = 1;

const char* MessageTypeName(MessageType type);

// A decoded frame. `payload` points into the FrameReader's buffer and stays valid until the
// next call to Feed() or Next().
struct Frame {
  MessageType type = MessageType::kHello;
  uint8_t flags = 0;
  std::string_view payload;
};

// Incremental frame decoder for one connection's byte stream.
class FrameReader {
 public:
  explicit FrameReader(uint32_t max_payload = kMaxFramePayload) : max_payload_(max_payload) {}

  void Feed(const char* data, size_t size);
  enum class Result { kFrame, kNeedMore, kError };
  // Extracts the next complete frame. After kError the reader is poisoned: every later call
  // returns kError with the same message.
  Result Next(Frame* frame, Status* error);
  // Bytes buffered that do not yet form a frame.
  size_t pending() const { return buf_.size() - start_; }
  // At end of stream: an error if a partial frame is buffered.
  Status AtEof() const;

 private:
  uint32_t max_payload_;
  std::string buf_;
  size_t start_ = 0;
  std::string error_;
};

// Builds one frame: the payload is appended field by field, Finish() writes the header.
class FrameWriter {
 public:
  FrameWriter(MessageType type, uint8_t flags = 0);
  FrameWriter& U8(uint8_t v);
  FrameWriter& U16(uint16_t v);
  FrameWriter& U32(uint32_t v);
  FrameWriter& U64(uint64_t v);
  FrameWriter& Str(std::string_view s);  // u16 length + bytes; callers keep s <= kMaxWireString
  FrameWriter& Bytes(std::string_view s);  // raw, to the end of the payload
  std::string* buffer() { return &buf_; }  // for appending a body in place (compression)
  std::string Finish();

 private:
  std::string buf_;
};

// Bounds-checked reader over a payload. Any short read or overlong string sets !ok().
class PayloadReader {
 public:
  explicit PayloadReader(std::string_view p) : p_(p) {}
  uint8_t U8();
  uint16_t U16();
  uint32_t U32();
  uint64_t U64();
  std::string Str();
  std::string_view Rest();  // the remaining bytes
  bool ok() const { return ok_; }
  bool done() const { return ok_ && p_.empty(); }

 private:
  bool Take(size_t n, const char** out);
  std::string_view p_;
  bool ok_ = true;
};

struct HelloMsg {
  uint16_t version_min = kWireVersionMin;
  uint16_t version_max = kWireVersionMax;
  std::string cluster;
  std::string origin;
};
struct WelcomeMsg {
  uint16_t version = kWireVersionMax;
  std::string peer;
};
struct RejectMsg {
  std::string reason;
};
struct OpenMsg {
  uint32_t stream = 0;
  uint64_t generation = 0;
  std::string bolt;
};
struct PositionMsg {
  uint32_t stream = 0;
  uint64_t durable = 0;       // bytes of the generation the peer holds durably
  uint64_t verified = 0;      // of which [0, verified) are known to equal the origin's
  uint32_t window_len = 0;    // the window is [durable - window_len, durable)
  uint64_t window_hash = 0;   // XXH3-64 of that window (0 when window_len is 0)
};
struct CutMsg {
  uint32_t stream = 0;
  uint64_t offset = 0;  // the POSITION's `verified`: drop everything past it
};
struct CheckpointMsg {
  uint32_t stream = 0;
  uint64_t offset = 0;  // the bolt has processed [0, offset) of the stream's generation
};
struct DataMsg {
  uint32_t stream = 0;
  uint64_t offset = 0;
  uint32_t raw_len = 0;
  uint64_t raw_hash = 0;
  bool compressed = false;
  std::string_view body;  // points into the frame payload
};
struct SealMsg {
  uint32_t stream = 0;
  uint64_t final_size = 0;
};
struct AckMsg {
  uint32_t stream = 0;
  uint64_t durable = 0;
};
struct SealedMsg {
  uint32_t stream = 0;
  uint64_t final_size = 0;
};
struct StreamErrorMsg {
  uint32_t stream = 0;
  std::string reason;  // at most kMaxWireString bytes (longer ones are cut when encoded)
};

std::string EncodeHello(const HelloMsg& m);
std::string EncodeWelcome(const WelcomeMsg& m);
std::string EncodeReject(const RejectMsg& m);
std::string EncodeOpen(const OpenMsg& m);
std::string EncodePosition(const PositionMsg& m);
std::string EncodeSeal(const SealMsg& m);
std::string EncodeAck(const AckMsg& m);
std::string EncodeCut(const CutMsg& m);
std::string EncodeCheckpoint(const CheckpointMsg& m);
std::string EncodeStreamError(const StreamErrorMsg& m);
std::string EncodeSealed(const SealedMsg& m);
// A CONTROL frame carrying `json` (the caller's JSON text, at most kMaxFramePayload bytes).
std::string EncodeControl(std::string_view json);
// DATA bodies shorter than this are sent raw, never compressed: zstd's fixed cost per call is
// most of what a few lines cost (on the bench VM, 200 bytes of access log took 3.3 us to
// compress and 1.2 us per peer to inflate, for a ratio of 1.23; 512 bytes 4.0 us for 1.87), and
// an agent with many quiet bolts ships mostly such frames.
constexpr size_t kMinCompressBytes = 512;
// Encodes a DATA frame for `raw` (1..kMaxDataRaw bytes) at `offset`; compresses with `c` when
// `raw` has at least kMinCompressBytes and that makes the frame smaller, otherwise sends the
// bytes raw.
Result<std::string> EncodeData(uint32_t stream, uint64_t offset, std::string_view raw,
                               Compressor* c);

// Decoders check the frame's type and that the payload has exactly the expected fields; names
// are validated by the caller (they depend on context).
Status DecodeHello(const Frame& f, HelloMsg* m);
Status DecodeWelcome(const Frame& f, WelcomeMsg* m);
Status DecodeReject(const Frame& f, RejectMsg* m);
Status DecodeOpen(const Frame& f, OpenMsg* m);
Status DecodePosition(const Frame& f, PositionMsg* m);
Status DecodeData(const Frame& f, DataMsg* m);
Status DecodeSeal(const Frame& f, SealMsg* m);
Status DecodeAck(const Frame& f, AckMsg* m);
Status DecodeCut(const Frame& f, CutMsg* m);
Status DecodeCheckpoint(const Frame& f, CheckpointMsg* m);
Status DecodeStreamError(const Frame& f, StreamErrorMsg* m);
Status DecodeSealed(const Frame& f, SealedMsg* m);
// The JSON text of a CONTROL frame (points into the frame).
Status DecodeControl(const Frame& f, std::string_view* json);
// Produces the raw bytes of a decoded DATA message into out[0, m.raw_len) and checks raw_hash.
Status InflateData(const DataMsg& m, Decompressor* d, char* out);

}  // namespace tailsafe
