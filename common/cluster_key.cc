#include "common/cluster_key.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "common/config.h"
#include "common/fd.h"

namespace tailsafe {

namespace {

std::string HowToMake(const std::string& path) {
  return "make one with 'tailsafectl keygen " + path + "' and copy it (mode 0600) to every host of the cluster";
}

std::string Octal(mode_t mode) {
  char buf[16];
  snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

}  // namespace

ClusterKey::~ClusterKey() { sodium_memzero(bytes.data(), bytes.size()); }

const ClusterKey* ClusterKeys::Find(uint64_t id) const {
  for (const ClusterKey& k : keys) {
    if (k.id == id) return &k;
  }
  return nullptr;
}

uint64_t KeyId(const uint8_t* key) {
  static const char kLabel[] = "tailsafe cluster key id";
  uint8_t out[crypto_generichash_BYTES_MIN];
  crypto_generichash(out, sizeof out, reinterpret_cast<const uint8_t*>(kLabel), sizeof kLabel - 1, key,
                     kClusterKeyBytes);
  uint64_t id = 0;
  for (int i = 0; i < 8; ++i) id = (id << 8) | out[i];
  return id;
}

std::string KeyIdHex(uint64_t id) {
  char buf[17];
  snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(id));
  return buf;
}

ClusterKey MakeClusterKey(const uint8_t* bytes, std::string path) {
  ClusterKey k;
  memcpy(k.bytes.data(), bytes, kClusterKeyBytes);
  k.id = KeyId(bytes);
  k.path = std::move(path);
  return k;
}

Result<ClusterKey> LoadClusterKey(const std::string& path, const std::string& what) {
  if (sodium_init() < 0) return Status::Error("libsodium failed to initialise");
  std::string where = what + " " + path;
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
  if (!fd) {
    int err = errno;
    return Status::Error(where + ": " + strerror(err) + (err == ENOENT ? "; " + HowToMake(path) : std::string()));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return ErrnoStatus("fstat " + where);
  if (!S_ISREG(st.st_mode)) return Status::Error(where + " is not a regular file; " + HowToMake(path));
  if ((st.st_mode & 077) != 0) {
    return Status::Error(where + " has mode " + Octal(st.st_mode) +
                         ": a cluster key must be readable by its owner only (chmod 600 " + path + ")");
  }
  if (st.st_size == 0) return Status::Error(where + " is empty; " + HowToMake(path));
  if (st.st_size != static_cast<off_t>(kClusterKeyBytes)) {
    return Status::Error(where + " holds " + std::to_string(st.st_size) + " bytes; a cluster key is exactly " +
                         std::to_string(kClusterKeyBytes) + " random bytes: " + HowToMake(path));
  }
  uint8_t buf[kClusterKeyBytes];
  size_t got = 0;
  while (got < sizeof buf) {
    ssize_t n = ::read(fd.get(), buf + got, sizeof buf - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus("read " + where);
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  if (got != sizeof buf) {
    sodium_memzero(buf, sizeof buf);
    return Status::Error(where + " ended after " + std::to_string(got) + " bytes while being read");
  }
  bool all_same = true;
  for (size_t i = 1; i < sizeof buf; ++i) all_same = all_same && buf[i] == buf[0];
  if (all_same) {
    sodium_memzero(buf, sizeof buf);
    return Status::Error(where + " holds one byte value repeated, not random bytes; " + HowToMake(path));
  }
  ClusterKey key = MakeClusterKey(buf, path);
  sodium_memzero(buf, sizeof buf);
  return key;
}

Result<ClusterKeys> LoadClusterKeys(const ClusterConfig& cluster, const std::string& config_source) {
  if (cluster.key_file.empty()) {
    return Status::Error(config_source + ": [cluster] key_file is not set; every connection of a cluster is "
                         "authenticated with a shared key: " + HowToMake("/etc/tailsafe/cluster.key") +
                         ", then set key_file to its path");
  }
  ClusterKeys keys;
  Result<ClusterKey> current = LoadClusterKey(cluster.key_file, "[cluster] key_file");
  if (!current) return current.status();
  keys.keys.push_back(std::move(current.value()));
  for (const std::string& path : cluster.previous_key_files) {
    Result<ClusterKey> k = LoadClusterKey(path, "[cluster] previous_key_files");
    if (!k) return k.status();
    if (keys.Find(k->id) != nullptr) {
      return Status::Error("[cluster] previous_key_files " + path + " holds the same key (id " + KeyIdHex(k->id) +
                           ") as another key file");
    }
    keys.keys.push_back(std::move(k.value()));
  }
  return keys;
}

Status WriteNewClusterKey(const std::string& path, bool force) {
  if (sodium_init() < 0) return Status::Error("libsodium failed to initialise");
  uint8_t buf[kClusterKeyBytes];
  randombytes_buf(buf, sizeof buf);
  // A temporary file beside the target, renamed over it: a crash leaves the old key or the new
  // one, never half a key.
  std::string tmp = path + ".tmp-keygen";
  if (!force && ::access(path.c_str(), F_OK) == 0) {
    return Status::Error(path + " already exists; give --force to replace it (every host then needs the new key)");
  }
  Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd) return ErrnoStatus("create " + tmp);
  Status st;
  if (::fchmod(fd.get(), 0600) != 0) st = ErrnoStatus("chmod " + tmp);
  if (st.ok() && ::write(fd.get(), buf, sizeof buf) != static_cast<ssize_t>(sizeof buf)) st = ErrnoStatus("write " + tmp);
  if (st.ok() && ::fsync(fd.get()) != 0) st = ErrnoStatus("fsync " + tmp);
  sodium_memzero(buf, sizeof buf);
  fd.Reset();
  if (st.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) st = ErrnoStatus("rename " + tmp + " to " + path);
  if (!st.ok()) {
    ::unlink(tmp.c_str());
    return st;
  }
  return Status::Ok();
}

}  // namespace tailsafe
