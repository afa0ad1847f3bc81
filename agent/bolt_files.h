// BoltFiles: the reads the origin makes of a bolt's directory and files, apart from the
// decisions (agent/generation_transition.h) and the watching (agent/bolt_source.h). The agent
// only ever reads bolt files: everything here opens O_RDONLY (O_NOATIME where allowed),
// O_NOFOLLOW, O_CLOEXEC.
#pragma once

#include <fcntl.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "agent/generation.h"
#include "agent/generation_transition.h"
#include "common/fd.h"

namespace tailsafe {

Fd OpenForReading(const std::string& path, int dirfd = AT_FDCWD);
// True if another process has the file open for writing: the kernel refuses a read lease then.
// Without the right to take leases (not the owner, no CAP_LEASE) this cannot be known: false,
// and time alone decides. The lease is dropped at once; SIGIO is ignored by the agent.
bool OpenForWritingElsewhere(int fd);
// Reads exactly n bytes at offset; false on an error or end of file first.
bool PreadFull(int fd, char* buf, size_t n, uint64_t offset);
// Whether the file's first head_len bytes hash (Hash64) to head_hash (kSame when head_len is 0);
// kUnreadable if they cannot all be read (an error, or the file is shorter now).
HeadCheck ReadHead(int fd, uint32_t head_len, uint64_t head_hash);
inline bool HeadMatches(int fd, uint32_t head_len, uint64_t head_hash) {
  return ReadHead(fd, head_len, head_hash) == HeadCheck::kSame;
}
// Records the file's first bytes as `g`'s head, up to kHeadBytes, if it now has more of them.
void ExtendHead(Generation& g);
// Records the hash of the kWindowHashBytes (common/wire.h) before `g`'s size, or of all of it
// when shorter; no window if they cannot be read.
void RecordWindow(Generation& g);
// The window is read again on growth once it is shorter than kWindowHashBytes (a small file)
// or kWindowRefreshBytes behind the size: any window before the size tells a copy made since
// from a file that merely begins the same, so a bolt writing small lines pays one read and hash
// per kWindowRefreshBytes rather than one per growth.
constexpr uint64_t kWindowRefreshBytes = 64 * 1024;
bool WindowStale(const Generation& g);
// The regular file of inode dev:ino in `dir`, opened; empty if no entry names it.
Fd FindInodeInDir(const std::string& dir, uint64_t dev, uint64_t ino);
struct FileAgain {
  Fd fd;                      // empty if not found, or if its head changed
  uint64_t size = 0;          // as fstat says
  bool renamed = false;       // found under another name in the directory
  bool head_changed = false;  // found, but its first head_len bytes changed: not taken
};
// The file of `row`'s generation (inode dev:ino, beginning with its head bytes), found again
// after a restart: at `path`, or else under another name in `dir`.
FileAgain FindFileAgain(const std::string& path, const std::string& dir, const OriginGenRow& row);

struct FoundCopy {
  Fd fd;
  std::string name;
  uint64_t dev = 0;
  uint64_t ino = 0;
  uint64_t size = 0;
};
// A copy of `g` in `dir` (copytruncate: the copy holds every byte the generation had, so it
// begins with its head bytes and has its window before its last known size; see MayBeCopy),
// the most recently modified; none if there is none.
std::optional<FoundCopy> FindCopyInDir(const std::string& dir, const std::string& base, const Generation& g);

}  // namespace tailsafe
