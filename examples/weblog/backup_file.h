// weblog-bolt's backup file: the requests it received, appended before it analyses them, in
// chunks that each start with a marker line (examples/weblog/log_format.h):
//
//   #tailsafe-weblog file=<id> run=<spout run> seq=<seq of the chunk's first request>
//   <request line>
//   ...
//
// One write(2) per chunk, so a chunk is whole unless the bolt died inside the write. The bolt
// processes whole chunks and checkpoints at chunk ends, so every checkpoint (and so every
// recovery range tailsafe plans from one) starts on a marker.
//
// A restarted bolt takes the file over: it keeps the file id of the last marker, ends a line cut
// by the crash with a newline and a fresh marker (so the fragment is a line of its own and is
// never taken for a received request), and from the last marker's run and seq plus the whole
// request lines after it knows how far the spout's run got.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/fd.h"
#include "common/status.h"

namespace weblog {

using tailsafe::Result;
using tailsafe::Status;

class BackupFile {
 public:
  // Opens `path` for appending (creating it, mode 0644) and takes over what it already holds.
  static Result<BackupFile> Open(const std::string& path);

  const std::string& path() const { return path_; }
  const std::string& file_id() const { return file_id_; }
  uint64_t size() const { return size_; }
  int fd() const { return fd_.get(); }
  // What taking the file over found: bytes of a cut line ended with a newline (0 if none).
  uint64_t repaired_fragment() const { return repaired_fragment_; }

  // The next sequence number the spout run `run_id` should send: one past the last request of
  // that run in the file, or 0 if the file holds none of it.
  uint64_t ResumeSeq(const std::string& run_id) const;

  // Appends a marker and `lines` (whole lines, each ending in '\n'; `first_seq` is the first
  // one's) in one write. On error the file may hold part of it: the bolt must stop.
  Status Append(const std::string& run_id, uint64_t first_seq, uint64_t count, std::string_view lines);

 private:
  Status TakeOver();
  Status WriteAll(std::string_view bytes);

  std::string path_;
  tailsafe::Fd fd_;
  std::string file_id_;
  std::string run_id_;  // of the last chunk
  uint64_t next_seq_ = 0;
  uint64_t size_ = 0;
  uint64_t repaired_fragment_ = 0;
};

}  // namespace weblog
