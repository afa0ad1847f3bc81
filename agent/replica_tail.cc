#include "agent/replica_tail.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "common/hash.h"

namespace tailsafe {

PositionMsg PositionOf(const Replica& r, uint32_t stream) {
  PositionMsg pos;
  pos.stream = stream;
  pos.durable = r.durable;
  pos.verified = std::min(r.verified, r.durable);
  pos.window_len = static_cast<uint32_t>(pos.durable - pos.verified + std::min<uint64_t>(pos.verified, kWindowHashBytes));
  return pos;
}

PositionMsg PositionAfterCut(uint64_t offset, uint32_t stream) {
  Replica after;
  after.durable = after.verified = offset;
  return PositionOf(after, stream);
}

Status CopyTailAside(int fd, uint64_t offset, uint64_t len, const std::string& path) {
  Fd out(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (!out) return ErrnoStatus("create " + path);
  loff_t in_off = static_cast<loff_t>(offset);
  uint64_t done = 0;
  while (done < len) {
    ssize_t n = ::copy_file_range(fd, &in_off, out.get(), nullptr, len - done, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus("copy into " + path);
    if (n == 0) return Status::Error("the replica ended early while copying into " + path);
    done += static_cast<uint64_t>(n);
  }
  if (::fdatasync(out.get()) != 0) return ErrnoStatus("fdatasync " + path);
  std::string dir = path.substr(0, path.rfind('/'));
  Fd d(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!d || ::fsync(d.get()) != 0) return ErrnoStatus("fsync " + dir);
  return Status::Ok();
}

void RunTailJob(TailJob* job) {
  if (job->cut) {
    job->cut_status = CopyTailAside(job->fd->get(), job->cut_at, job->cut_len, job->aside);
    if (!job->cut_status) {
      job->cut_status = job->cut_status.Context("cannot set aside the tail of " + job->path);
      return;
    }
    if (::ftruncate(job->fd->get(), static_cast<off_t>(job->cut_at)) != 0) {
      job->cut_status = ErrnoStatus("cannot cut " + job->path);
      return;
    }
  }
  PositionMsg& pos = job->position;
  if (pos.window_len == 0) return;
  Result<uint64_t> h = HashFileRange(job->fd->get(), pos.durable - pos.window_len, pos.window_len);
  if (!h) {
    job->hash_status = Status::Error("cannot read the resume window of replica " + job->path + ": " + h.status().message());
    return;
  }
  pos.window_hash = *h;
}

}  // namespace tailsafe
