// Frame and message codec: round trips, limits, and the corruption contract (a truncated or
// bit-flipped frame is rejected cleanly and never yields a message).
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <random>
#include <string>
#include <vector>

#include "common/hash.h"
#include "common/wire.h"

using namespace tailsafe;

namespace {

// Feeds `bytes` in pieces of `step` and collects every frame; returns the first error if any.
struct Decoded {
  std::vector<std::pair<MessageType, std::string>> frames;
  std::vector<uint8_t> flags;
  Status error;
  bool error_seen = false;
};

Decoded DecodeAll(const std::string& bytes, size_t step, bool eof = true) {
  Decoded out;
  FrameReader reader;
  for (size_t i = 0; i < bytes.size() && !out.error_seen; i += step) {
    reader.Feed(bytes.data() + i, std::min(step, bytes.size() - i));
    for (;;) {
      Frame f;
      Status err;
      auto r = reader.Next(&f, &err);
      if (r == FrameReader::Result::kNeedMore) break;
      if (r == FrameReader::Result::kError) {
        out.error = err;
        out.error_seen = true;
        break;
      }
      out.frames.emplace_back(f.type, std::string(f.payload));
      out.flags.push_back(f.flags);
    }
  }
  if (!out.error_seen && eof) {
    Status s = reader.AtEof();
    if (!s.ok()) {
      out.error = s;
      out.error_seen = true;
    }
  }
  return out;
}

std::string LogLikeText(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  static const char* kPaths[] = {"/index.html", "/api/v1/items?id=", "/static/app.js", "/login"};
  std::string s;
  while (s.size() < n) {
    s += "10.0." + std::to_string(rng() % 256) + "." + std::to_string(rng() % 256) +
         " - - [24/Nov/2026:01:02:03 +0000] \"GET " + kPaths[rng() % 4] + std::to_string(rng() % 1000) +
         " HTTP/1.1\" 200 " + std::to_string(rng() % 50000) + "\n";
  }
  s.resize(n);
  return s;
}

Frame FrameOf(const std::string& encoded, FrameReader* holder) {
  holder->Feed(encoded.data(), encoded.size());
  Frame f;
  Status err;
  BOOST_REQUIRE(holder->Next(&f, &err) == FrameReader::Result::kFrame);
  return f;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(wire)

BOOST_AUTO_TEST_CASE(control_messages_round_trip) {
  FrameReader r1, r2, r3, r4, r5, r6;
  HelloMsg h{1, 1, "weblog", "host-a"};
  HelloMsg h2;
  BOOST_TEST(DecodeHello(FrameOf(EncodeHello(h), &r1), &h2).ok());
  BOOST_TEST(h2.cluster == "weblog");
  BOOST_TEST(h2.origin == "host-a");
  BOOST_TEST(h2.version_max == 1);

  OpenMsg o{7, 42, "bolt-1"}, o2;
  BOOST_TEST(DecodeOpen(FrameOf(EncodeOpen(o), &r2), &o2).ok());
  BOOST_TEST(o2.stream == 7u);
  BOOST_TEST(o2.generation == 42u);
  BOOST_TEST(o2.bolt == "bolt-1");

  PositionMsg p{7, 1 << 20, (1 << 20) - 100, 4196, 0x1234567890abcdefULL}, p2;
  BOOST_TEST(DecodePosition(FrameOf(EncodePosition(p), &r3), &p2).ok());
  BOOST_TEST(p2.durable == (1u << 20));
  BOOST_TEST(p2.verified == (1u << 20) - 100);
  BOOST_TEST(p2.window_len == 4196u);
  BOOST_TEST(p2.window_hash == 0x1234567890abcdefULL);

  CutMsg cut{7, 5000}, cut2;
  FrameReader r7;
  BOOST_TEST(DecodeCut(FrameOf(EncodeCut(cut), &r7), &cut2).ok());
  BOOST_TEST(cut2.stream == 7u);
  BOOST_TEST(cut2.offset == 5000u);

  CheckpointMsg ck{7, 123456}, ck2;
  FrameReader r8;
  BOOST_TEST(DecodeCheckpoint(FrameOf(EncodeCheckpoint(ck), &r8), &ck2).ok());
  BOOST_TEST(ck2.stream == 7u);
  BOOST_TEST(ck2.offset == 123456u);

  AckMsg a{3, 99}, a2;
  BOOST_TEST(DecodeAck(FrameOf(EncodeAck(a), &r4), &a2).ok());
  BOOST_TEST(a2.durable == 99u);

  SealMsg s{3, 1000}, s2;
  BOOST_TEST(DecodeSeal(FrameOf(EncodeSeal(s), &r5), &s2).ok());
  BOOST_TEST(s2.final_size == 1000u);

  SealedMsg sd{3, 1000}, sd2;
  FrameReader r9;
  BOOST_TEST(DecodeSealed(FrameOf(EncodeSealed(sd), &r9), &sd2).ok());
  BOOST_TEST(sd2.stream == 3u);
  BOOST_TEST(sd2.final_size == 1000u);
  FrameReader r10;
  BOOST_TEST(!DecodeSealed(FrameOf(EncodeSeal(s), &r10), &sd2).ok());
  FrameReader r11;
  BOOST_TEST(!DecodeSealed(FrameOf(FrameWriter(MessageType::kSealed).U32(3).Finish(), &r11), &sd2).ok());

  // A frame of one type is not accepted as another.
  AckMsg wrong;
  BOOST_TEST(!DecodeAck(FrameOf(EncodeSeal(s), &r6), &wrong).ok());
}

BOOST_AUTO_TEST_CASE(data_round_trip_compressed_and_raw) {
  Compressor c(1);
  Decompressor d;
  std::string text = LogLikeText(200000, 1);
  auto enc = EncodeData(5, 1000, text, &c);
  BOOST_REQUIRE(enc.ok());
  BOOST_TEST(enc->size() < text.size() / 3);  // log text compresses well
  FrameReader r;
  Frame f = FrameOf(*enc, &r);
  DataMsg m;
  BOOST_REQUIRE(DecodeData(f, &m).ok());
  BOOST_TEST(m.compressed);
  BOOST_TEST(m.offset == 1000u);
  std::string out(m.raw_len, '\0');
  BOOST_REQUIRE(InflateData(m, &d, out.data()).ok());
  BOOST_TEST(out == text);

  // Incompressible bytes go raw.
  std::mt19937 rng(2);
  std::string noise(5000, '\0');
  for (auto& ch : noise) ch = static_cast<char>(rng());
  auto enc2 = EncodeData(5, 0, noise, &c);
  BOOST_REQUIRE(enc2.ok());
  FrameReader r2;
  DataMsg m2;
  BOOST_REQUIRE(DecodeData(FrameOf(*enc2, &r2), &m2).ok());
  BOOST_TEST(!m2.compressed);
  std::string out2(m2.raw_len, '\0');
  BOOST_REQUIRE(InflateData(m2, &d, out2.data()).ok());
  BOOST_TEST(out2 == noise);

  // A few lines go raw however well they would compress; from kMinCompressBytes on they do not.
  for (size_t len : {kMinCompressBytes - 1, kMinCompressBytes}) {
    auto enc3 = EncodeData(5, 0, text.substr(0, len), &c);
    BOOST_REQUIRE(enc3.ok());
    FrameReader r3;
    DataMsg m3;
    BOOST_REQUIRE(DecodeData(FrameOf(*enc3, &r3), &m3).ok());
    BOOST_TEST(m3.compressed == (len >= kMinCompressBytes), len << " bytes");
    std::string out3(m3.raw_len, '\0');
    BOOST_REQUIRE(InflateData(m3, &d, out3.data()).ok());
    BOOST_TEST(out3 == text.substr(0, len));
  }
}

BOOST_AUTO_TEST_CASE(data_size_limits) {
  Compressor c(1);
  BOOST_TEST(!EncodeData(1, 0, "", &c).ok());
  std::string big(kMaxDataRaw + 1, 'x');
  BOOST_TEST(!EncodeData(1, 0, big, &c).ok());
  BOOST_TEST(EncodeData(1, 0, std::string_view(big).substr(0, kMaxDataRaw), &c).ok());
}

BOOST_AUTO_TEST_CASE(oversized_length_is_rejected_before_waiting) {
  // A header that claims 4 GiB must be refused at once, not buffered for.
  std::string frame = EncodeAck({1, 2});
  frame[0] = frame[1] = frame[2] = frame[3] = '\xff';
  FrameReader r;
  r.Feed(frame.data(), kFrameHeaderSize);
  Frame f;
  Status err;
  BOOST_TEST((r.Next(&f, &err) == FrameReader::Result::kError));
  BOOST_TEST(err.message().find("exceeds the limit") != std::string::npos);
  // Poisoned: later calls keep failing.
  BOOST_TEST((r.Next(&f, &err) == FrameReader::Result::kError));
}

BOOST_AUTO_TEST_CASE(split_delivery_yields_same_frames) {
  Compressor c(1);
  std::string stream = EncodeHello({1, 1, "c", "a"}) + EncodeOpen({1, 1, "b"}) +
                       *EncodeData(1, 0, LogLikeText(3000, 3), &c) + EncodeSeal({1, 3000});
  for (size_t step : {size_t{1}, size_t{7}, size_t{16}, size_t{4096}}) {
    Decoded d = DecodeAll(stream, step);
    BOOST_TEST(!d.error_seen);
    BOOST_TEST(d.frames.size() == 4u);
  }
}

// Acceptance 6: truncation at every length is rejected cleanly.
BOOST_AUTO_TEST_CASE(truncation_at_every_length_is_rejected) {
  Compressor c(1);
  std::string frame = *EncodeData(9, 123, LogLikeText(2000, 4), &c);
  for (size_t len = 0; len < frame.size(); ++len) {
    Decoded d = DecodeAll(frame.substr(0, len), 1);
    BOOST_TEST(d.frames.empty(), "a truncated frame of " << len << " bytes yielded a frame");
    if (len > 0) BOOST_TEST(d.error_seen, "truncation at " << len << " was not reported at EOF");
  }
  BOOST_TEST(DecodeAll(frame, 1).frames.size() == 1u);
}

// Acceptance 6: every single-bit flip anywhere in a frame is rejected, never decoded.
BOOST_AUTO_TEST_CASE(every_single_bit_flip_is_rejected) {
  Compressor c(1);
  Decompressor dz;
  std::vector<std::string> frames = {
      *EncodeData(9, 123, LogLikeText(700, 5), &c),
      EncodeHello({1, 1, "weblog", "host-a"}),
      EncodeAck({4, 77}),
      EncodePosition({4, 10000, 9000, 5096, 0xabcdef}),
      EncodeCut({4, 9000}),
      EncodeCheckpoint({4, 8000}),
  };
  size_t flips = 0;
  for (const std::string& frame : frames) {
    for (size_t bit = 0; bit < frame.size() * 8; ++bit) {
      std::string bad = frame;
      bad[bit / 8] = static_cast<char>(bad[bit / 8] ^ (1 << (bit % 8)));
      Decoded d = DecodeAll(bad, 64);
      ++flips;
      BOOST_TEST(d.frames.empty(), "bit " << bit << " flipped still decoded");
      BOOST_TEST(d.error_seen, "bit " << bit << " flipped was not reported");
    }
  }
  BOOST_TEST_MESSAGE("rejected " << flips << " single-bit flips");
}

// A POSITION's window must cover exactly its unverified bytes plus at most kWindowHashBytes.
BOOST_AUTO_TEST_CASE(position_window_rules) {
  auto ok = [](PositionMsg p) {
    FrameReader r;
    PositionMsg out;
    return DecodePosition(FrameOf(EncodePosition(p), &r), &out).ok();
  };
  BOOST_TEST(ok({1, 0, 0, 0, 0}));                 // empty replica
  BOOST_TEST(ok({1, 100, 100, 100, 1}));           // short file, whole window
  BOOST_TEST(ok({1, 10000, 10000, 4096, 1}));      // the usual: fully verified
  BOOST_TEST(ok({1, 10000, 10000, 0, 0}));         // a window may be shorter
  BOOST_TEST(ok({1, 10000, 6000, 8096, 1}));       // 4000 unverified + 4096 before
  BOOST_TEST(!ok({1, 10000, 6000, 3999, 1}));      // does not cover the unverified bytes
  BOOST_TEST(!ok({1, 10000, 6000, 8097, 1}));      // more than 4096 verified bytes
  BOOST_TEST(!ok({1, 100, 101, 0, 0}));            // verified past durable
  BOOST_TEST(!ok({1, 100, 100, 101, 0}));          // window past the start of the file
  BOOST_TEST(!ok({1, kMaxUnverifiedBytes + 10, 9, 0, 0}));  // too many unverified bytes
}

BOOST_AUTO_TEST_CASE(valid_checksum_but_hostile_fields_are_rejected) {
  // A frame built correctly (so the checksum passes) but with a lying raw_len: the message
  // layer must refuse it, and decompression must never write past raw_len.
  Compressor c(1);
  Decompressor d;
  std::string text = LogLikeText(4000, 6);
  std::string body;
  BOOST_REQUIRE(c.Compress(text, &body).ok());
  std::string frame = FrameWriter(MessageType::kData, kFlagCompressed)
                          .U32(1).U64(0).U32(100).U64(Hash64(text)).Bytes(body).Finish();
  FrameReader r;
  DataMsg m;
  BOOST_REQUIRE(DecodeData(FrameOf(frame, &r), &m).ok());
  std::string out(m.raw_len, '\0');
  Status s = InflateData(m, &d, out.data());
  BOOST_TEST(!s.ok());
  BOOST_TEST(s.message().find("declares") != std::string::npos);

  // raw_len beyond the limit.
  std::string frame2 = FrameWriter(MessageType::kData, 0).U32(1).U64(0).U32(kMaxDataRaw + 1).U64(0).Finish();
  FrameReader r2;
  BOOST_TEST(!DecodeData(FrameOf(frame2, &r2), &m).ok());

  // A string longer than the protocol allows.
  std::string frame3 = FrameWriter(MessageType::kOpen).U32(1).U64(1).U16(2000).Bytes(std::string(2000, 'a')).Finish();
  FrameReader r3;
  OpenMsg o;
  BOOST_TEST(!DecodeOpen(FrameOf(frame3, &r3), &o).ok());

  // Trailing garbage after the fields.
  std::string frame4 = FrameWriter(MessageType::kAck).U32(1).U64(1).U8(0).Finish();
  FrameReader r4;
  AckMsg a;
  BOOST_TEST(!DecodeAck(FrameOf(frame4, &r4), &a).ok());

  // Wrong content hash on a raw body.
  std::string frame5 = FrameWriter(MessageType::kData, 0).U32(1).U64(0).U32(3).U64(1).Bytes("abc").Finish();
  FrameReader r5;
  BOOST_REQUIRE(DecodeData(FrameOf(frame5, &r5), &m).ok());
  char small[3];
  BOOST_TEST(!InflateData(m, &d, small).ok());
}

BOOST_AUTO_TEST_CASE(stream_error_round_trip_and_malformed) {
  StreamErrorMsg e{9, "open replica /d/replicas/h1/b/00000000000000000002: Is a directory"}, e2;
  FrameReader r1;
  BOOST_REQUIRE(DecodeStreamError(FrameOf(EncodeStreamError(e), &r1), &e2).ok());
  BOOST_TEST(e2.stream == 9u);
  BOOST_TEST(e2.reason == e.reason);

  // A reason longer than the protocol allows is cut when encoded, and still decodes.
  StreamErrorMsg longer{1, std::string(3000, 'x')};
  FrameReader r2;
  BOOST_REQUIRE(DecodeStreamError(FrameOf(EncodeStreamError(longer), &r2), &e2).ok());
  BOOST_TEST(e2.reason.size() == kMaxWireString);

  // Malformed: short, a string past the limit, trailing bytes, the wrong type, nonzero flags.
  std::vector<std::string> bad = {
      FrameWriter(MessageType::kStreamError).U16(1).Finish(),
      FrameWriter(MessageType::kStreamError).U32(1).U16(10).Bytes("abc").Finish(),
      FrameWriter(MessageType::kStreamError).U32(1).U16(2000).Bytes(std::string(2000, 'a')).Finish(),
      FrameWriter(MessageType::kStreamError).U32(1).Str("why").U8(0).Finish(),
      FrameWriter(MessageType::kStreamError, kFlagCompressed).U32(1).Str("why").Finish(),
      EncodeAck({1, 2}),
  };
  for (const std::string& frame : bad) {
    FrameReader r;
    BOOST_TEST(!DecodeStreamError(FrameOf(frame, &r), &e2).ok());
  }
  // Every truncation of a valid frame is refused by the reader, never decoded.
  std::string whole = EncodeStreamError(e);
  for (size_t n = 0; n < whole.size(); ++n) {
    Decoded d = DecodeAll(whole.substr(0, n), 3);
    BOOST_TEST(d.frames.empty());
    if (n > 0) BOOST_TEST(d.error_seen);
  }
}

BOOST_AUTO_TEST_CASE(random_garbage_never_crashes) {
  std::mt19937 rng(7);
  for (int i = 0; i < 2000; ++i) {
    std::string junk(rng() % 300, '\0');
    for (auto& ch : junk) ch = static_cast<char>(rng());
    Decoded d = DecodeAll(junk, 1 + rng() % 32);
    BOOST_TEST(d.frames.empty());
  }
}

BOOST_AUTO_TEST_SUITE_END()
