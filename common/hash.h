// Checksums: XXH3-64 everywhere (frames, data chunks, replica windows). Not a MAC: integrity
// against corruption and bugs, not against an adversary (the AEAD records of docs/security.md are).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include <xxhash.h>

#include "common/status.h"

namespace tailsafe {

inline uint64_t Hash64(const void* data, size_t size) { return XXH3_64bits(data, size); }
inline uint64_t Hash64(std::string_view s) { return XXH3_64bits(s.data(), s.size()); }

// Hash64 of the file's bytes [offset, offset + len), read in bounded chunks: equal to Hash64 of
// those bytes in one buffer. An error names the offset where the file ended or a read failed.
Result<uint64_t> HashFileRange(int fd, uint64_t offset, uint64_t len);

}  // namespace tailsafe
