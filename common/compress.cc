#include "common/compress.h"

#include <zstd.h>

namespace tailsafe {

void Compressor::Free::operator()(ZSTD_CCtx_s* c) const { ZSTD_freeCCtx(c); }
void Decompressor::Free::operator()(ZSTD_DCtx_s* c) const { ZSTD_freeDCtx(c); }

Compressor::Compressor(int level) : ctx_(ZSTD_createCCtx()), level_(level) {}
Compressor::~Compressor() = default;

Status Compressor::Compress(std::string_view src, std::string* dst) {
  if (!ctx_) return Status::Error("zstd: cannot allocate a compression context");
  // Compress into a reused scratch buffer and append only the result: growing `dst` by the
  // worst-case bound would zero-fill (and page-fault) ~chunk bytes per call for nothing.
  size_t bound = ZSTD_compressBound(src.size());
  if (scratch_size_ < bound) {
    scratch_.reset(new char[bound]);
    scratch_size_ = bound;
  }
  size_t n = ZSTD_compressCCtx(ctx_.get(), scratch_.get(), bound, src.data(), src.size(), level_);
  if (ZSTD_isError(n)) return Status::Error(std::string("zstd compress: ") + ZSTD_getErrorName(n));
  dst->append(scratch_.get(), n);
  return Status::Ok();
}

Decompressor::Decompressor() : ctx_(ZSTD_createDCtx()) {}
Decompressor::~Decompressor() = default;

Status Decompressor::Decompress(std::string_view src, size_t expected_size, char* dst) {
  if (!ctx_) return Status::Error("zstd: cannot allocate a decompression context");
  unsigned long long declared = ZSTD_getFrameContentSize(src.data(), src.size());
  if (declared == ZSTD_CONTENTSIZE_ERROR) return Status::Error("zstd: not a zstd frame");
  if (declared == ZSTD_CONTENTSIZE_UNKNOWN) return Status::Error("zstd: frame has no content size");
  if (declared != expected_size) {
    return Status::Error("zstd: frame declares " + std::to_string(declared) + " bytes, expected " +
                         std::to_string(expected_size));
  }
  size_t frame = ZSTD_findFrameCompressedSize(src.data(), src.size());
  if (ZSTD_isError(frame) || frame != src.size()) {
    return Status::Error("zstd: payload is not exactly one complete frame");
  }
  size_t n = ZSTD_decompressDCtx(ctx_.get(), dst, expected_size, src.data(), src.size());
  if (ZSTD_isError(n)) return Status::Error(std::string("zstd decompress: ") + ZSTD_getErrorName(n));
  if (n != expected_size) {
    return Status::Error("zstd: decompressed " + std::to_string(n) + " bytes, expected " +
                         std::to_string(expected_size));
  }
  return Status::Ok();
}

}  // namespace tailsafe
