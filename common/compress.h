// zstd wrappers. Contexts are reused across calls (one per thread that compresses).
//
// Decompression is always bounded by a size the caller knows in advance (from a frame header
// that the checksum covered), so a small frame can never expand into a large allocation.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"

struct ZSTD_CCtx_s;
struct ZSTD_DCtx_s;

namespace tailsafe {

class Compressor {
 public:
  explicit Compressor(int level);
  ~Compressor();
  // Appends the compressed form of `src` (one zstd frame with its content size) to `dst`.
  Status Compress(std::string_view src, std::string* dst);

 private:
  struct Free { void operator()(ZSTD_CCtx_s* c) const; };
  std::unique_ptr<ZSTD_CCtx_s, Free> ctx_;
  int level_;
  std::unique_ptr<char[]> scratch_;
  size_t scratch_size_ = 0;
};

class Decompressor {
 public:
  Decompressor();
  ~Decompressor();
  // Decompresses `src`, which must hold one zstd frame of exactly `expected_size` bytes, into
  // `dst[0, expected_size)`. Anything else (a larger declared size, garbage, trailing bytes) is
  // an error and `dst` contents are unspecified.
  Status Decompress(std::string_view src, size_t expected_size, char* dst);

 private:
  struct Free { void operator()(ZSTD_DCtx_s* c) const; };
  std::unique_ptr<ZSTD_DCtx_s, Free> ctx_;
};

}  // namespace tailsafe
