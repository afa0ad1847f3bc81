#include "agent/bolt_files.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "agent/generation_transition.h"
#include "common/hash.h"
#include "common/wire.h"

namespace tailsafe {

Fd OpenForReading(const std::string& path, int dirfd) {
  // O_NOATIME spares the disk an inode write per read; only the owner (or root) may use it.
  int fd = ::openat(dirfd, path.c_str(), O_RDONLY | O_CLOEXEC | O_NOATIME | O_NOFOLLOW);
  if (fd < 0 && errno == EPERM) fd = ::openat(dirfd, path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  return Fd(fd);
}

bool OpenForWritingElsewhere(int fd) {
  if (::fcntl(fd, F_SETLEASE, F_RDLCK) == 0) {
    ::fcntl(fd, F_SETLEASE, F_UNLCK);
    return false;
  }
  return errno == EAGAIN;
}

bool PreadFull(int fd, char* buf, size_t n, uint64_t offset) {
  size_t done = 0;
  while (done < n) {
    ssize_t r = ::pread(fd, buf + done, n - done, static_cast<off_t>(offset + done));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    done += static_cast<size_t>(r);
  }
  return true;
}

HeadCheck ReadHead(int fd, uint32_t head_len, uint64_t head_hash) {
  if (head_len == 0) return HeadCheck::kSame;
  // Read at every growth of every bolt: on the stack, neither allocated nor zeroed (a row from
  // an older state.db could name a longer head: that one is allocated).
  char stack[kHeadBytes];
  std::string heap;
  char* buf = stack;
  if (head_len > sizeof stack) {
    heap.resize(head_len);
    buf = heap.data();
  }
  if (!PreadFull(fd, buf, head_len, 0)) return HeadCheck::kUnreadable;
  return Hash64(buf, head_len) == head_hash ? HeadCheck::kSame : HeadCheck::kChanged;
}

void ExtendHead(Generation& g) {
  uint32_t want = static_cast<uint32_t>(std::min<uint64_t>(g.size(), kHeadBytes));
  if (want <= g.head_len()) return;
  std::string buf(want, '\0');
  if (!PreadFull(g.fd()->get(), buf.data(), want, 0)) return;
  g.SetHead(want, Hash64(buf));
}

namespace {

// The bytes before `g`'s last known size are the generation's (true when no window is known).
bool WindowMatches(int fd, const Generation& g) {
  if (g.window_len() == 0) return true;
  std::string buf(g.window_len(), '\0');
  return PreadFull(fd, buf.data(), buf.size(), g.window_end() - g.window_len()) && Hash64(buf) == g.window_hash();
}

}  // namespace

bool WindowStale(const Generation& g) {
  return g.window_len() < kWindowHashBytes || g.size() < g.window_end() ||
         g.size() - g.window_end() >= kWindowRefreshBytes;
}

void RecordWindow(Generation& g) {
  uint32_t len = static_cast<uint32_t>(std::min<uint64_t>(g.size(), kWindowHashBytes));
  std::string buf(len, '\0');
  if (g.fd() && PreadFull(g.fd()->get(), buf.data(), len, g.size() - len)) {
    g.SetWindow(g.size(), len, Hash64(buf));
  } else {
    g.SetWindow(0, 0, 0);
  }
}

Fd FindInodeInDir(const std::string& dir, uint64_t dev, uint64_t ino) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return Fd();
  Fd found;
  while (struct dirent* e = readdir(d)) {
    if (e->d_ino != ino) continue;
    struct stat st;
    if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_dev == dev && st.st_ino == ino &&
        S_ISREG(st.st_mode)) {
      found = OpenForReading(e->d_name, dirfd(d));
      break;
    }
  }
  closedir(d);
  return found;
}

FileAgain FindFileAgain(const std::string& path, const std::string& dir, const OriginGenRow& row) {
  FileAgain out;
  struct stat st;
  if (::stat(path.c_str(), &st) == 0 && st.st_dev == row.dev && st.st_ino == row.ino) {
    out.fd = OpenForReading(path);
  } else {
    out.fd = FindInodeInDir(dir, row.dev, row.ino);
    out.renamed = static_cast<bool>(out.fd);
  }
  out.head_changed = out.fd && !HeadMatches(out.fd.get(), row.head_len, row.head_hash);
  if (out.head_changed) out.fd.Reset();
  if (out.fd && ::fstat(out.fd.get(), &st) == 0) out.size = static_cast<uint64_t>(st.st_size);
  return out;
}

std::optional<FoundCopy> FindCopyInDir(const std::string& dir, const std::string& base, const Generation& g) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return std::nullopt;
  std::optional<FoundCopy> best;
  int64_t best_mtime = 0;
  while (struct dirent* e = readdir(d)) {
    struct stat st;
    if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    CopyFacts f{e->d_name == base, e->d_name[0] == '.', S_ISREG(st.st_mode) != 0,
                st.st_ino == g.ino() && st.st_dev == g.dev(), static_cast<uint64_t>(st.st_size), g.size(),
                g.head_len()};
    if (!MayBeCopy(f)) continue;
    if (best && st.st_mtim.tv_sec < best_mtime) continue;
    Fd fd = OpenForReading(e->d_name, dirfd(d));
    if (!fd || !HeadMatches(fd.get(), g.head_len(), g.head_hash()) || !WindowMatches(fd.get(), g)) continue;
    best = FoundCopy{std::move(fd), e->d_name, st.st_dev, st.st_ino, static_cast<uint64_t>(st.st_size)};
    best_mtime = st.st_mtim.tv_sec;
  }
  closedir(d);
  return best;
}

}  // namespace tailsafe
