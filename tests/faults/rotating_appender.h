// RotatingAppender: the fault suite's raw bolt. A thread appends log lines to a file at a fixed
// rate, as a bolt writes its backup file; Rotate(), called from the nemesis's thread, rotates
// the file between two writes, the way logrotate does it (rename and create, or copy and
// truncate in place). It remembers what it wrote into each generation, so the checker can
// compare every generation's replica with exactly that.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace tailsafe::testing {

enum class RotationKind { kRename, kCopyTruncate };
const char* RotationName(RotationKind k);

class RotatingAppender {
 public:
  // Writes `total` bytes to `path` at `bytes_per_second`, in writes of up to `max_write`.
  RotatingAppender(std::string path, uint64_t total, uint64_t seed, double bytes_per_second, size_t max_write);
  ~RotatingAppender();
  void Start();
  void Join();

  // Rotates now (between two writes): kRename moves the file to PATH.N and the appender
  // continues in a new PATH; kCopyTruncate copies the file to PATH.N and truncates it (the
  // appender writes on at offset 0, O_APPEND). An error message, or "".
  std::string Rotate(RotationKind kind);
  // While held, the appender writes nothing (after a copytruncate, until the agent has seen
  // the file shrink: a file that regrows past what the agent read before it looked is, by
  // copytruncate's nature, indistinguishable from one that only grew).
  void Hold(bool held) { held_ = held; }
  // Generations so far (1 before any rotation), and the bytes in the current one.
  uint64_t generations() const;
  uint64_t current_bytes() const;
  uint64_t written() const { return written_; }
  const std::string& error() const { return error_; }
  // After Join(): what each generation holds, oldest first.
  const std::vector<std::string>& contents() const { return gens_; }

 private:
  void Run();
  std::string Open();

  std::string path_;
  uint64_t total_;
  uint64_t seed_;
  double rate_;
  size_t max_write_;
  std::thread thread_;
  mutable std::mutex mu_;  // the file, fd_ and gens_: a rotation never lands inside a write
  int fd_ = -1;
  int rotations_ = 0;
  std::vector<std::string> gens_{1};
  std::atomic<uint64_t> written_{0};
  std::atomic<bool> held_{false};
  std::string error_;
};

}  // namespace tailsafe::testing
