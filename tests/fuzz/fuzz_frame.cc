// libFuzzer target: the wire frame decoder (common/wire.h) and every message decoder, fed an
// arbitrary byte stream split at arbitrary points, as a hostile peer that holds the cluster key
// could send it. Nothing may crash, hang, read out of bounds or allocate past the limits.
#include <cstddef>
#include <cstdint>
#include <string>

#include "common/compress.h"
#include "common/wire.h"

using namespace tailsafe;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  // The first byte picks the chunk size the stream arrives in (1..256 bytes).
  size_t step = static_cast<size_t>(data[0]) + 1;
  const char* p = reinterpret_cast<const char*>(data + 1);
  size_t n = size - 1;
  static Decompressor decompressor;
  static std::string out(kMaxDataRaw, '\0');
  FrameReader reader;
  for (size_t at = 0; at < n; at += step) {
    reader.Feed(p + at, std::min(step, n - at));
    for (;;) {
      Frame f;
      Status err;
      FrameReader::Result r = reader.Next(&f, &err);
      if (r != FrameReader::Result::kFrame) break;
      HelloMsg hello;
      WelcomeMsg welcome;
      RejectMsg reject;
      OpenMsg open;
      PositionMsg position;
      DataMsg dm;
      SealMsg seal;
      AckMsg ack;
      CutMsg cut;
      CheckpointMsg checkpoint;
      StreamErrorMsg stream_error;
      SealedMsg sealed;
      std::string_view json;
      (void)DecodeHello(f, &hello);
      (void)DecodeWelcome(f, &welcome);
      (void)DecodeReject(f, &reject);
      (void)DecodeOpen(f, &open);
      (void)DecodePosition(f, &position);
      (void)DecodeSeal(f, &seal);
      (void)DecodeAck(f, &ack);
      (void)DecodeCut(f, &cut);
      (void)DecodeCheckpoint(f, &checkpoint);
      (void)DecodeStreamError(f, &stream_error);
      (void)DecodeSealed(f, &sealed);
      (void)DecodeControl(f, &json);
      if (DecodeData(f, &dm).ok()) (void)InflateData(dm, &decompressor, out.data());
    }
  }
  (void)reader.AtEof();
  return 0;
}
