#include "tests/support/writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>


namespace tailsafe::testing {

std::string_view WriteChunks::Next(uint64_t limit) {
  size_t n = RandomWriteSize(rng_, max_write_);
  if (n > limit) n = static_cast<size_t>(limit);
  if (buf_.size() < n) lines_.AppendBytes(&buf_, n - buf_.size() + 4096);
  return std::string_view(buf_).substr(0, n);
}

AppendWriter::AppendWriter(std::string path, uint64_t total, uint64_t seed, double rate_mbps, size_t max_write)
    : path_(std::move(path)), total_(total), seed_(seed), rate_(rate_mbps), max_write_(max_write) {}

AppendWriter::~AppendWriter() { Join(); }

void AppendWriter::Start() { thread_ = std::thread([this] { Run(); }); }

void AppendWriter::Join() {
  if (thread_.joinable()) thread_.join();
}

void AppendWriter::Run() {
  int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) {
    error_ = path_ + ": " + strerror(errno);
    done_ = true;
    return;
  }
  WriteChunks chunks(seed_, max_write_);
  auto start = std::chrono::steady_clock::now();
  uint64_t written = 0;
  while (written < total_) {
    std::string_view chunk = chunks.Next(total_ - written);
    ssize_t w = ::write(fd, chunk.data(), chunk.size());
    if (w < 0) {
      error_ = path_ + ": write: " + strerror(errno);
      break;
    }
    chunks.Consumed(static_cast<size_t>(w));
    written += static_cast<uint64_t>(w);
    written_ = written;
    if (rate_ > 0) {
      auto due = start + std::chrono::duration<double>(static_cast<double>(written) / (rate_ * 1e6));
      std::this_thread::sleep_until(due);  // pacing the workload
    }
  }
  ::close(fd);
  done_ = true;
}

}  // namespace tailsafe::testing
