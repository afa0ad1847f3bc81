// Checksums: XXH3-64 everywhere (frames, data chunks, replica windows). Not a MAC: integrity
// against corruption and bugs, not against an adversary (see issue on the cluster key).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include <xxhash.h>

namespace tailsafe {

inline uint64_t Hash64(const void* data, size_t size) { return XXH3_64bits(data, size); }
inline uint64_t Hash64(std::string_view s) { return XXH3_64bits(s.data(), s.size()); }

}  // namespace tailsafe
