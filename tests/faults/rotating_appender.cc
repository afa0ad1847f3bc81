#include "tests/faults/rotating_appender.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>

#include "tests/support/writer.h"

namespace tailsafe::testing {

const char* RotationName(RotationKind k) { return k == RotationKind::kRename ? "rename" : "copytruncate"; }

RotatingAppender::RotatingAppender(std::string path, uint64_t total, uint64_t seed, double bytes_per_second,
                                   size_t max_write)
    : path_(std::move(path)), total_(total), seed_(seed), rate_(bytes_per_second), max_write_(max_write) {}

RotatingAppender::~RotatingAppender() {
  Join();
  if (fd_ >= 0) ::close(fd_);
}

void RotatingAppender::Start() {
  error_ = Open();
  if (error_.empty()) thread_ = std::thread([this] { Run(); });
}

void RotatingAppender::Join() {
  if (thread_.joinable()) thread_.join();
}

std::string RotatingAppender::Open() {
  fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  return fd_ < 0 ? path_ + ": " + strerror(errno) : "";
}

uint64_t RotatingAppender::generations() const {
  std::lock_guard<std::mutex> lock(mu_);
  return gens_.size();
}

uint64_t RotatingAppender::current_bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return gens_.back().size();
}

std::string RotatingAppender::Rotate(RotationKind kind) {
  std::lock_guard<std::mutex> lock(mu_);
  std::string aside = path_ + "." + std::to_string(++rotations_);
  if (kind == RotationKind::kRename) {
    if (::rename(path_.c_str(), aside.c_str()) != 0) return "rename " + path_ + ": " + strerror(errno);
    ::close(fd_);
    gens_.emplace_back();
    return Open();
  }
  {
    std::ifstream in(path_, std::ios::binary);
    std::ofstream out(aside, std::ios::binary);
    out << in.rdbuf();
    out.close();
    if (!out) return "copy " + path_ + " to " + aside + " failed";
  }
  if (::truncate(path_.c_str(), 0) != 0) return "truncate " + path_ + ": " + strerror(errno);
  gens_.emplace_back();  // O_APPEND: the next write lands at offset 0 of the same inode
  return "";
}

void RotatingAppender::Run() {
  WriteChunks chunks(seed_, max_write_);
  auto start = std::chrono::steady_clock::now();
  uint64_t written = 0;
  while (written < total_) {
    std::string_view chunk = chunks.Next(total_ - written);
    while (held_) std::this_thread::sleep_for(std::chrono::milliseconds(5));  // the writer's own pace
    {
      std::lock_guard<std::mutex> lock(mu_);
      ssize_t w = ::write(fd_, chunk.data(), chunk.size());
      if (w < 0) {
        error_ = path_ + ": write: " + strerror(errno);
        return;
      }
      gens_.back().append(chunk.substr(0, static_cast<size_t>(w)));
      chunks.Consumed(static_cast<size_t>(w));
      written += static_cast<uint64_t>(w);
    }
    written_ = written;
    auto due = start + std::chrono::duration<double>(static_cast<double>(written) / rate_);
    std::this_thread::sleep_until(due);  // pacing the workload
  }
}

}  // namespace tailsafe::testing
