// The cluster key: 32 random bytes shared by every node of a cluster ([cluster] key_file), from
// which every connection derives its own keys (common/secure_channel.h).
//
// A node refuses to start without a usable key: the file must exist, be a regular file readable
// by its owner only (no group or other permission bits), and hold exactly 32 bytes. Every error
// says how to make a good one (`tailsafectl keygen FILE`).
//
// Rotation without downtime: [cluster] previous_key_files lists keys still accepted. A client
// offers the ids of all the keys it holds, current first, and the server answers with the first
// it also holds, so nodes that already have the new key and nodes that do not yet have it keep
// talking while the new key is rolled out; the old one is dropped once every node has the new.
//
// A key is known in logs and messages only by its id, a keyed hash of it (KeyIdHex); the key
// itself is never printed.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace tailsafe {

struct ClusterConfig;

constexpr size_t kClusterKeyBytes = 32;

struct ClusterKey {
  std::array<uint8_t, kClusterKeyBytes> bytes{};
  uint64_t id = 0;   // KeyId(bytes)
  std::string path;  // where it was read from, for messages
  ~ClusterKey();     // wipes the bytes
};

// The keys a node holds: keys[0] is the current one (it is offered first); the rest are the
// previous keys still accepted during a rotation. Never empty once loaded.
struct ClusterKeys {
  std::vector<ClusterKey> keys;
  const ClusterKey* Find(uint64_t id) const;
};

// The id of a key: the first 8 bytes of BLAKE2b(key, "tailsafe cluster key id").
uint64_t KeyId(const uint8_t* key);
// 16 lowercase hex digits.
std::string KeyIdHex(uint64_t id);

// Builds a key from bytes (tests, the fuzz targets).
ClusterKey MakeClusterKey(const uint8_t* bytes, std::string path = "<memory>");

// Reads one key file, enforcing the rules above. `what` names the setting in messages
// ("[cluster] key_file").
Result<ClusterKey> LoadClusterKey(const std::string& path, const std::string& what);
// [cluster] key_file and previous_key_files. An error if key_file is not set.
Result<ClusterKeys> LoadClusterKeys(const ClusterConfig& cluster, const std::string& config_source);

// `tailsafectl keygen FILE`: 32 bytes from the kernel's random source, written to a new file
// of mode 0600 (an existing file is an error unless `force`), fsynced.
Status WriteNewClusterKey(const std::string& path, bool force);

}  // namespace tailsafe
