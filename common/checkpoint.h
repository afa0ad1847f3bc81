// Checkpoint files: how far a bolt has processed its current backup file.
//
// The bolt (or `tailsafectl checkpoint BOLT OFFSET`) writes the byte offset, decimal, one line,
// atomically: a temporary file in the same directory, synced, renamed over the checkpoint, and
// the directory synced. A reader therefore sees the old offset or the new one, never a mix.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace tailsafe {

// A decimal offset, optionally surrounded by whitespace; at most 2^63 - 1.
Result<uint64_t> ParseCheckpoint(std::string_view text);
// Reads and parses `path`; errors name it.
Result<uint64_t> ReadCheckpointFile(const std::string& path);
// Writes `offset` to `path` atomically and durably (see above).
Status WriteCheckpointFile(const std::string& path, uint64_t offset);

}  // namespace tailsafe
