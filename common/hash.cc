#include "common/hash.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <string>
#include <vector>

namespace tailsafe {

Result<uint64_t> HashFileRange(int fd, uint64_t offset, uint64_t len) {
  std::unique_ptr<XXH3_state_t, decltype(&XXH3_freeState)> state(XXH3_createState(), &XXH3_freeState);
  if (!state || XXH3_64bits_reset(state.get()) != XXH_OK) return Status::Error("cannot allocate a hash state");
  std::vector<char> buf(std::min<uint64_t>(len, 256 << 10));
  uint64_t done = 0;
  while (done < len) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(buf.size(), len - done));
    ssize_t n = ::pread(fd, buf.data(), want, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus("read at offset " + std::to_string(offset + done));
    if (n == 0) return Status::Error("the file ends at offset " + std::to_string(offset + done));
    XXH3_64bits_update(state.get(), buf.data(), static_cast<size_t>(n));
    done += static_cast<uint64_t>(n);
  }
  return static_cast<uint64_t>(XXH3_64bits_digest(state.get()));
}

}  // namespace tailsafe
