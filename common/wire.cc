#include "common/wire.h"

#include <cstring>

#include "common/hash.h"

namespace tailsafe {
namespace {

void PutLE(char* p, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}
uint64_t GetLE(const char* p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(p[i])) << (8 * i);
  return v;
}

bool KnownType(uint8_t t) {
  return t >= static_cast<uint8_t>(MessageType::kHello) && t <= static_cast<uint8_t>(MessageType::kSealed);
}

// The payload hash is seeded with the header's hash, so the checksum covers both.
uint64_t FrameHash(const char* header8, std::string_view payload) {
  return XXH3_64bits_withSeed(payload.data(), payload.size(), XXH3_64bits(header8, 8));
}

Status ExpectType(const Frame& f, MessageType want) {
  if (f.type != want) {
    return Status::Error(std::string("expected ") + MessageTypeName(want) + ", got " +
                         MessageTypeName(f.type));
  }
  if (want != MessageType::kData && f.flags != 0) {
    return Status::Error(std::string(MessageTypeName(want)) + ": flags must be zero");
  }
  return Status::Ok();
}

Status Finish(const PayloadReader& r, MessageType t) {
  if (!r.ok()) return Status::Error(std::string(MessageTypeName(t)) + ": payload too short or string too long");
  if (!r.done()) return Status::Error(std::string(MessageTypeName(t)) + ": trailing bytes in payload");
  return Status::Ok();
}

}  // namespace

const char* MessageTypeName(MessageType type) {
  switch (type) {
    case MessageType::kHello: return "HELLO";
    case MessageType::kWelcome: return "WELCOME";
    case MessageType::kReject: return "REJECT";
    case MessageType::kOpen: return "OPEN";
    case MessageType::kPosition: return "POSITION";
    case MessageType::kData: return "DATA";
    case MessageType::kSeal: return "SEAL";
    case MessageType::kAck: return "ACK";
    case MessageType::kCut: return "CUT";
    case MessageType::kCheckpoint: return "CHECKPOINT";
    case MessageType::kControl: return "CONTROL";
    case MessageType::kStreamError: return "STREAM_ERROR";
    case MessageType::kSealed: return "SEALED";
  }
  return "UNKNOWN";
}

// ---- FrameReader ----

void FrameReader::Feed(const char* data, size_t size) {
  if (!error_.empty()) return;
  // Compact when the consumed prefix dominates, so the buffer stays about one frame long.
  if (start_ > 0 && (start_ == buf_.size() || start_ > (1u << 16))) {
    buf_.erase(0, start_);
    start_ = 0;
  }
  buf_.append(data, size);
}

FrameReader::Result FrameReader::Next(Frame* frame, Status* error) {
  if (!error_.empty()) {
    *error = Status::Error(error_);
    return Result::kError;
  }
  size_t avail = buf_.size() - start_;
  if (avail < kFrameHeaderSize) return Result::kNeedMore;
  const char* h = buf_.data() + start_;
  uint32_t len = static_cast<uint32_t>(GetLE(h, 4));
  uint8_t type = static_cast<uint8_t>(h[4]);
  uint8_t flags = static_cast<uint8_t>(h[5]);
  uint16_t reserved = static_cast<uint16_t>(GetLE(h + 6, 2));
  // Header sanity first: a corrupt length must not make us wait for (or allocate) gigabytes.
  if (len > max_payload_) {
    error_ = "frame length " + std::to_string(len) + " exceeds the limit of " + std::to_string(max_payload_);
  } else if (!KnownType(type)) {
    error_ = "unknown frame type " + std::to_string(type);
  } else if ((flags & ~kFlagCompressed) != 0 || reserved != 0) {
    error_ = "frame has unknown flags or nonzero reserved bits";
  }
  if (!error_.empty()) {
    *error = Status::Error(error_);
    return Result::kError;
  }
  if (avail < kFrameHeaderSize + len) return Result::kNeedMore;
  std::string_view payload(h + kFrameHeaderSize, len);
  if (FrameHash(h, payload) != GetLE(h + 8, 8)) {
    error_ = std::string("checksum mismatch in ") + MessageTypeName(static_cast<MessageType>(type)) +
             " frame of " + std::to_string(len) + " bytes";
    *error = Status::Error(error_);
    return Result::kError;
  }
  frame->type = static_cast<MessageType>(type);
  frame->flags = flags;
  frame->payload = payload;
  start_ += kFrameHeaderSize + len;
  return Result::kFrame;
}

Status FrameReader::AtEof() const {
  if (!error_.empty()) return Status::Error(error_);
  if (pending() > 0) {
    return Status::Error("connection ended inside a frame (" + std::to_string(pending()) +
                         " bytes of a truncated frame dropped)");
  }
  return Status::Ok();
}

// ---- FrameWriter ----

FrameWriter::FrameWriter(MessageType type, uint8_t flags) {
  buf_.reserve(64);
  buf_.resize(kFrameHeaderSize);
  buf_[4] = static_cast<char>(type);
  buf_[5] = static_cast<char>(flags);
}

FrameWriter& FrameWriter::U8(uint8_t v) { buf_.push_back(static_cast<char>(v)); return *this; }
FrameWriter& FrameWriter::U16(uint16_t v) { char b[2]; PutLE(b, v, 2); buf_.append(b, 2); return *this; }
FrameWriter& FrameWriter::U32(uint32_t v) { char b[4]; PutLE(b, v, 4); buf_.append(b, 4); return *this; }
FrameWriter& FrameWriter::U64(uint64_t v) { char b[8]; PutLE(b, v, 8); buf_.append(b, 8); return *this; }
FrameWriter& FrameWriter::Str(std::string_view s) {
  U16(static_cast<uint16_t>(s.size()));
  buf_.append(s);
  return *this;
}
FrameWriter& FrameWriter::Bytes(std::string_view s) { buf_.append(s); return *this; }

std::string FrameWriter::Finish() {
  uint32_t len = static_cast<uint32_t>(buf_.size() - kFrameHeaderSize);
  PutLE(buf_.data(), len, 4);
  PutLE(buf_.data() + 6, 0, 2);
  uint64_t hash = FrameHash(buf_.data(), std::string_view(buf_).substr(kFrameHeaderSize));
  PutLE(buf_.data() + 8, hash, 8);
  return std::move(buf_);
}

// ---- PayloadReader ----

bool PayloadReader::Take(size_t n, const char** out) {
  if (!ok_ || p_.size() < n) {
    ok_ = false;
    return false;
  }
  *out = p_.data();
  p_.remove_prefix(n);
  return true;
}
uint8_t PayloadReader::U8() { const char* p; return Take(1, &p) ? static_cast<uint8_t>(*p) : 0; }
uint16_t PayloadReader::U16() { const char* p; return Take(2, &p) ? static_cast<uint16_t>(GetLE(p, 2)) : 0; }
uint32_t PayloadReader::U32() { const char* p; return Take(4, &p) ? static_cast<uint32_t>(GetLE(p, 4)) : 0; }
uint64_t PayloadReader::U64() { const char* p; return Take(8, &p) ? GetLE(p, 8) : 0; }
std::string PayloadReader::Str() {
  uint16_t n = U16();
  if (n > kMaxWireString) ok_ = false;
  const char* p;
  if (!Take(n, &p)) return {};
  return std::string(p, n);
}
std::string_view PayloadReader::Rest() {
  std::string_view r = ok_ ? p_ : std::string_view();
  p_ = {};
  return r;
}

// ---- messages ----

std::string EncodeHello(const HelloMsg& m) {
  return FrameWriter(MessageType::kHello).U32(kWireMagic).U16(m.version_min).U16(m.version_max)
      .Str(m.cluster).Str(m.origin).Finish();
}
std::string EncodeWelcome(const WelcomeMsg& m) {
  return FrameWriter(MessageType::kWelcome).U16(m.version).Str(m.peer).Finish();
}
std::string EncodeReject(const RejectMsg& m) {
  return FrameWriter(MessageType::kReject).Str(m.reason.substr(0, kMaxWireString)).Finish();
}
std::string EncodeOpen(const OpenMsg& m) {
  return FrameWriter(MessageType::kOpen).U32(m.stream).U64(m.generation).Str(m.bolt).Finish();
}
std::string EncodePosition(const PositionMsg& m) {
  return FrameWriter(MessageType::kPosition).U32(m.stream).U64(m.durable).U64(m.verified)
      .U32(m.window_len).U64(m.window_hash).Finish();
}
std::string EncodeSeal(const SealMsg& m) {
  return FrameWriter(MessageType::kSeal).U32(m.stream).U64(m.final_size).Finish();
}
std::string EncodeCut(const CutMsg& m) {
  return FrameWriter(MessageType::kCut).U32(m.stream).U64(m.offset).Finish();
}
std::string EncodeCheckpoint(const CheckpointMsg& m) {
  return FrameWriter(MessageType::kCheckpoint).U32(m.stream).U64(m.offset).Finish();
}
std::string EncodeStreamError(const StreamErrorMsg& m) {
  return FrameWriter(MessageType::kStreamError).U32(m.stream).Str(std::string_view(m.reason).substr(0, kMaxWireString))
      .Finish();
}
std::string EncodeSealed(const SealedMsg& m) {
  return FrameWriter(MessageType::kSealed).U32(m.stream).U64(m.final_size).Finish();
}
std::string EncodeAck(const AckMsg& m) {
  return FrameWriter(MessageType::kAck).U32(m.stream).U64(m.durable).Finish();
}

Result<std::string> EncodeData(uint32_t stream, uint64_t offset, std::string_view raw, Compressor* c) {
  if (raw.empty() || raw.size() > kMaxDataRaw) {
    return Status::Error("DATA chunk of " + std::to_string(raw.size()) + " bytes is out of range");
  }
  FrameWriter w(MessageType::kData, kFlagCompressed);
  w.U32(stream).U64(offset).U32(static_cast<uint32_t>(raw.size())).U64(Hash64(raw));
  std::string* buf = w.buffer();
  size_t body_at = buf->size();
  bool compressed = false;
  if (c != nullptr && raw.size() >= kMinCompressBytes) {
    Status st = c->Compress(raw, buf);
    compressed = st.ok() && buf->size() - body_at < raw.size();
  }
  if (!compressed) {
    buf->resize(body_at);
    buf->append(raw);
    (*buf)[5] = 0;  // flags: raw body
  }
  return w.Finish();
}

Status DecodeHello(const Frame& f, HelloMsg* m) {
  if (Status s = ExpectType(f, MessageType::kHello); !s) return s;
  PayloadReader r(f.payload);
  uint32_t magic = r.U32();
  m->version_min = r.U16();
  m->version_max = r.U16();
  m->cluster = r.Str();
  m->origin = r.Str();
  if (r.ok() && magic != kWireMagic) return Status::Error("HELLO: bad magic (not a tailsafe agent)");
  return Finish(r, f.type);
}
Status DecodeWelcome(const Frame& f, WelcomeMsg* m) {
  if (Status s = ExpectType(f, MessageType::kWelcome); !s) return s;
  PayloadReader r(f.payload);
  m->version = r.U16();
  m->peer = r.Str();
  return Finish(r, f.type);
}
Status DecodeReject(const Frame& f, RejectMsg* m) {
  if (Status s = ExpectType(f, MessageType::kReject); !s) return s;
  PayloadReader r(f.payload);
  m->reason = r.Str();
  return Finish(r, f.type);
}
Status DecodeOpen(const Frame& f, OpenMsg* m) {
  if (Status s = ExpectType(f, MessageType::kOpen); !s) return s;
  PayloadReader r(f.payload);
  m->stream = r.U32();
  m->generation = r.U64();
  m->bolt = r.Str();
  return Finish(r, f.type);
}
Status DecodePosition(const Frame& f, PositionMsg* m) {
  if (Status s = ExpectType(f, MessageType::kPosition); !s) return s;
  PayloadReader r(f.payload);
  m->stream = r.U32();
  m->durable = r.U64();
  m->verified = r.U64();
  m->window_len = r.U32();
  m->window_hash = r.U64();
  if (Status s = Finish(r, f.type); !s) return s;
  if (m->verified > m->durable || m->durable - m->verified > kMaxUnverifiedBytes) {
    return Status::Error("POSITION: verified size " + std::to_string(m->verified) + " is invalid for durable size " +
                         std::to_string(m->durable));
  }
  // The window covers every unverified byte and at most kWindowHashBytes before them.
  uint64_t unverified = m->durable - m->verified;
  if (m->window_len > m->durable || m->window_len < unverified || m->window_len > unverified + kWindowHashBytes) {
    return Status::Error("POSITION: window of " + std::to_string(m->window_len) + " bytes is invalid");
  }
  return Status::Ok();
}
Status DecodeData(const Frame& f, DataMsg* m) {
  if (Status s = ExpectType(f, MessageType::kData); !s) return s;
  PayloadReader r(f.payload);
  m->stream = r.U32();
  m->offset = r.U64();
  m->raw_len = r.U32();
  m->raw_hash = r.U64();
  m->body = r.Rest();
  m->compressed = (f.flags & kFlagCompressed) != 0;
  if (!r.ok()) return Status::Error("DATA: payload too short");
  if (m->raw_len == 0 || m->raw_len > kMaxDataRaw) {
    return Status::Error("DATA: raw length " + std::to_string(m->raw_len) + " is out of range");
  }
  if (!m->compressed && m->body.size() != m->raw_len) {
    return Status::Error("DATA: raw body of " + std::to_string(m->body.size()) + " bytes, header says " +
                         std::to_string(m->raw_len));
  }
  if (m->offset > (UINT64_MAX >> 1) - m->raw_len) return Status::Error("DATA: offset out of range");
  return Status::Ok();
}
// SEAL, SEALED, CUT, CHECKPOINT and ACK all carry (u32 stream, u64 offset).
static Status DecodeStreamOffset(const Frame& f, MessageType type, uint32_t* stream, uint64_t* offset) {
  if (Status s = ExpectType(f, type); !s) return s;
  PayloadReader r(f.payload);
  *stream = r.U32();
  *offset = r.U64();
  return Finish(r, f.type);
}
Status DecodeSeal(const Frame& f, SealMsg* m) {
  return DecodeStreamOffset(f, MessageType::kSeal, &m->stream, &m->final_size);
}
Status DecodeSealed(const Frame& f, SealedMsg* m) {
  return DecodeStreamOffset(f, MessageType::kSealed, &m->stream, &m->final_size);
}
Status DecodeCut(const Frame& f, CutMsg* m) { return DecodeStreamOffset(f, MessageType::kCut, &m->stream, &m->offset); }
Status DecodeCheckpoint(const Frame& f, CheckpointMsg* m) {
  return DecodeStreamOffset(f, MessageType::kCheckpoint, &m->stream, &m->offset);
}
std::string EncodeControl(std::string_view json) {
  return FrameWriter(MessageType::kControl).Bytes(json).Finish();
}
Status DecodeControl(const Frame& f, std::string_view* json) {
  if (Status s = ExpectType(f, MessageType::kControl); !s) return s;
  *json = f.payload;
  return Status::Ok();
}
Status DecodeStreamError(const Frame& f, StreamErrorMsg* m) {
  if (Status s = ExpectType(f, MessageType::kStreamError); !s) return s;
  PayloadReader r(f.payload);
  m->stream = r.U32();
  m->reason = r.Str();
  return Finish(r, f.type);
}
Status DecodeAck(const Frame& f, AckMsg* m) {
  return DecodeStreamOffset(f, MessageType::kAck, &m->stream, &m->durable);
}

Status InflateData(const DataMsg& m, Decompressor* d, char* out) {
  if (m.compressed) {
    if (Status s = d->Decompress(m.body, m.raw_len, out); !s) return s.Context("DATA");
  } else {
    std::memcpy(out, m.body.data(), m.raw_len);
  }
  if (Hash64(out, m.raw_len) != m.raw_hash) return Status::Error("DATA: content checksum mismatch");
  return Status::Ok();
}

}  // namespace tailsafe
