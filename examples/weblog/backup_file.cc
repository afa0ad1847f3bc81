#include "examples/weblog/backup_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "examples/weblog/log_format.h"

namespace weblog {
namespace {

constexpr size_t kScanBlock = 1 << 20;
// A chunk is at most what one read from the spout returned, far below this: a file with no
// marker in its last 64 MiB was not written by weblog-bolt.
constexpr size_t kScanLimit = 64 << 20;

}  // namespace

Result<BackupFile> BackupFile::Open(const std::string& path) {
  BackupFile f;
  f.path_ = path;
  f.fd_ = tailsafe::Fd(::open(path.c_str(), O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0644));
  if (!f.fd_) return tailsafe::ErrnoStatus("backup file " + path + ": open");
  if (Status s = f.TakeOver(); !s) return s.Context("backup file " + path);
  return f;
}

Status BackupFile::TakeOver() {
  struct stat st;
  if (fstat(fd_.get(), &st) != 0) return tailsafe::ErrnoStatus("fstat");
  size_ = static_cast<uint64_t>(st.st_size);
  file_id_.clear();
  if (size_ == 0) {
    file_id_ = RandomId();
    return Status::Ok();
  }
  // Find the last marker: read backwards a block at a time until one appears at a line start.
  std::string tail;  // the file's bytes from `tail_start` to the end
  uint64_t tail_start = size_;
  std::optional<Marker> marker;
  size_t marker_end = 0;  // in `tail`, just past the marker's newline
  while (tail_start > 0 && !marker && tail.size() < kScanLimit) {
    uint64_t n = std::min<uint64_t>(kScanBlock, tail_start);
    std::string block(n, '\0');
    ssize_t got = pread(fd_.get(), block.data(), n, static_cast<off_t>(tail_start - n));
    if (got != static_cast<ssize_t>(n)) return tailsafe::ErrnoStatus("read while looking for the last marker");
    tail_start -= n;
    tail = block + tail;
    // Scan the lines of `tail` that are known to start at a line start, from the end.
    size_t end = tail.size();
    while (end > 0) {
      size_t nl = end >= 2 ? tail.rfind('\n', end - 2) : std::string::npos;
      size_t begin = nl == std::string::npos ? 0 : nl + 1;
      if (nl == std::string::npos && tail_start > 0) break;  // this line may start in an earlier block
      std::string_view line(tail.data() + begin, end - begin);
      bool whole = !line.empty() && line.back() == '\n';
      if (whole) line.remove_suffix(1);
      if (whole) {
        if (auto m = ParseMarker(line)) {
          marker = m;
          marker_end = end;
          break;
        }
      }
      end = begin;
    }
  }
  if (!marker) {
    // Not written by weblog-bolt (or its markers are gone): a new id, nothing to resume.
    file_id_ = RandomId();
    run_id_.clear();
    next_seq_ = 0;
    if (tail.empty() || tail.back() == '\n') return Status::Ok();
    // End the cut line so the next chunk's marker starts a line.
    repaired_fragment_ = 1;
    return WriteAll("\n");
  }
  file_id_ = marker->file_id;
  run_id_ = marker->run_id;
  next_seq_ = marker->seq;
  // Whole request lines after the marker were received from that run.
  size_t pos = marker_end;
  while (pos < tail.size()) {
    size_t nl = tail.find('\n', pos);
    if (nl == std::string::npos) {
      repaired_fragment_ = tail.size() - pos;
      break;
    }
    if (tail[pos] != '#') ++next_seq_;
    pos = nl + 1;
  }
  if (repaired_fragment_ > 0) {
    Marker m{file_id_, run_id_, next_seq_};
    return WriteAll("\n" + FormatMarker(m));
  }
  return Status::Ok();
}

uint64_t BackupFile::ResumeSeq(const std::string& run_id) const { return run_id == run_id_ ? next_seq_ : 0; }

Status BackupFile::Append(const std::string& run_id, uint64_t first_seq, uint64_t count, std::string_view lines) {
  std::string chunk = FormatMarker(Marker{file_id_, run_id, first_seq});
  chunk.append(lines);
  if (Status s = WriteAll(chunk); !s) return s;
  run_id_ = run_id;
  next_seq_ = first_seq + count;
  return Status::Ok();
}

Status BackupFile::WriteAll(std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::write(fd_.get(), bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return tailsafe::ErrnoStatus("backup file " + path_ + ": write");
    }
    size_ += static_cast<uint64_t>(n);
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return Status::Ok();
}

}  // namespace weblog
