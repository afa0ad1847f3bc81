#include "agent/frame_cache.h"

#include <algorithm>

#include "agent/bolt_files.h"
#include "common/pool_work.h"
#include "common/wire.h"

namespace tailsafe {
namespace {

constexpr uint64_t kMaxCachedFrameBytes = 16u << 20;  // encoded bytes per generation
constexpr uint64_t kInlineEncodeBytes = 64u << 10;     // larger frames are encoded off the loop
constexpr size_t kMaxEncodeJobs = 3;                   // per generation, counting prefetch

// Reads and encodes bytes [offset, offset + n) of a generation: runs on the loop for small
// frames and on a worker thread for large ones, so it touches nothing but its arguments.
Result<std::string> EncodeRange(int fd, uint32_t stream, uint64_t offset, uint64_t n, Compressor* c,
                                std::unique_ptr<char[]>* buf, size_t* buf_size) {
  if (*buf_size < n) {
    buf->reset(new char[n]);  // not zero-filled: pread overwrites it
    *buf_size = n;
  }
  if (!PreadFull(fd, buf->get(), n, offset)) {
    return Status::Error("short read at offset " + std::to_string(offset));
  }
  return EncodeData(stream, offset, std::string_view(buf->get(), n), c);
}

}  // namespace

struct FrameCache::EncodeJob {
  std::shared_ptr<Generation> gen;
  std::shared_ptr<Fd> fd;  // the file read: the generation may switch files meanwhile
  uint64_t offset = 0;
  uint64_t n = 0;
  std::unique_ptr<Compressor> compressor;
  EncodeSlots::Slot slot;  // given back when the job is destroyed, run or not
  std::unique_ptr<char[]> buf;
  size_t buf_size = 0;
  Result<std::string> out = Status::Error("not run");
};

FrameCache::FrameCache(uv_loop_t* loop, std::string bolt, uint32_t chunk_bytes, uint32_t window_bytes,
                       int compression_level, std::shared_ptr<EncodeSlots> slots, Hooks hooks)
    : loop_(loop),
      bolt_(std::move(bolt)),
      chunk_bytes_(chunk_bytes),
      window_bytes_(window_bytes),
      compression_level_(compression_level),
      slots_(std::move(slots)),
      hooks_(std::move(hooks)),
      wake_(std::make_shared<std::function<void()>>([this] {
        waiting_ = false;
        hooks_.ready();
      })) {}

std::unique_ptr<Compressor> FrameCache::TakeCompressor() {
  if (compressors_.empty()) return std::make_unique<Compressor>(compression_level_);
  auto c = std::move(compressors_.back());
  compressors_.pop_back();
  return c;
}

FrameCache::FrameStatus FrameCache::Get(Generation& g, uint64_t offset, uint64_t max_len, uint32_t* raw_len,
                                        std::shared_ptr<const std::string>* frame, Status* error) {
  if (auto h = held_.find(g.stream); h != held_.end()) {
    auto it = h->second.frames.find(offset);
    if (it != h->second.frames.end() && it->second.raw_len <= max_len) {
      ++cache_hits_;
      *raw_len = it->second.raw_len;
      *frame = it->second.bytes;
      return FrameStatus::kReady;
    }
    if (h->second.encoding.count(offset)) return FrameStatus::kPending;
  }
  if (!g.fd()) {
    *error = Status::Error("generation " + std::to_string(g.gen) + " is closed");
    return FrameStatus::kError;
  }
  uint64_t n = std::min<uint64_t>({max_len, chunk_bytes_, kMaxDataRaw});
  if (n == 0) {
    *error = Status::Error("empty read");
    return FrameStatus::kError;
  }
  Held& held = held_[g.stream];  // forgotten when the generation is lost or closed
  if (n <= kInlineEncodeBytes) {
    // Inline: bounds the loop's pause to ~0.1 ms.
    if (!inline_compressor_) inline_compressor_ = TakeCompressor();
    Result<std::string> encoded =
        EncodeRange(g.fd()->get(), g.stream, offset, n, inline_compressor_.get(), &read_buf_, &read_buf_size_);
    if (!encoded) {
      *error = encoded.status().Context("bolt " + bolt_ + " generation " + std::to_string(g.gen));
      return FrameStatus::kError;
    }
    *frame = Cache(g, held, offset, n, std::move(encoded.value()));
    *raw_len = static_cast<uint32_t>(n);
    return FrameStatus::kReady;
  }
  if (g.weak_from_this().expired()) {
    *error = Status::Error("generation is gone");
    return FrameStatus::kError;
  }
  EncodeSlots::Slot slot = slots_->Take();
  if (!slot) {
    if (!waiting_ && wake_) {
      waiting_ = true;
      slots_->Wait(wake_);
    }
    return FrameStatus::kPending;
  }
  StartEncode(g, held, offset, n, std::move(slot));
  // Prefetch only within one window of cached frames, and on spare slots: the budgets limit
  // reading ahead, never what a cursor asked for.
  for (uint64_t next = offset + n; held.encoding.size() < kMaxEncodeJobs && next + chunk_bytes_ <= g.size() &&
                                   held.raw_bytes + chunk_bytes_ * held.encoding.size() < window_bytes_;
       next += chunk_bytes_) {
    if (held.frames.count(next) || held.encoding.count(next)) continue;
    EncodeSlots::Slot spare = slots_->Take(true);
    if (!spare) break;
    StartEncode(g, held, next, chunk_bytes_, std::move(spare));
  }
  return FrameStatus::kPending;
}

void FrameCache::StartEncode(Generation& g, Held& held, uint64_t offset, uint64_t n, EncodeSlots::Slot slot) {
  auto job = std::make_shared<EncodeJob>();
  job->slot = std::move(slot);
  job->gen = g.shared_from_this();
  job->fd = g.fd();
  job->offset = offset;
  job->n = n;
  job->compressor = TakeCompressor();
  held.encoding.insert(offset);
  uint32_t stream = g.stream;
  Status queued = QueueWork(
      loop_, alive_,
      [job, stream] {
        job->out = EncodeRange(job->fd->get(), stream, job->offset, job->n, job->compressor.get(), &job->buf,
                               &job->buf_size);
      },
      [this, job] { FinishEncode(*job); });
  if (!queued) {
    held.encoding.erase(offset);
    compressors_.push_back(std::move(job->compressor));
    job->slot.Drop();  // within our caller's Get: no waiter is woken from here
  }
}

void FrameCache::FinishEncode(EncodeJob& j) {
  compressors_.push_back(std::move(j.compressor));
  Generation& g = *j.gen;
  auto it = held_.find(g.stream);
  if (it != held_.end()) it->second.encoding.erase(j.offset);
  if (!j.out) {
    hooks_.failed(g, j.out.status());
    return;
  }
  // A generation that switched files meanwhile (continued from a copytruncate copy) or was
  // lost must not receive bytes read from the file it had before.
  if (g.shippable() && g.fd() && g.fd() == j.fd) Cache(g, held_[g.stream], j.offset, j.n, std::move(j.out.value()));
  hooks_.ready();
}

std::shared_ptr<const std::string> FrameCache::Cache(const Generation& g, Held& held, uint64_t offset, uint64_t n,
                                                     std::string encoded) {
  auto shared = std::make_shared<const std::string>(std::move(encoded));
  ++frames_encoded_;
  // Keep the frames of one window, so peers anywhere within a window of each other share one
  // compression; frames every peer has acknowledged are dropped by DropBefore.
  if (auto old = held.frames.find(offset); old != held.frames.end()) Drop(held, old);
  // Frames every connected peer has already sent are of no more use.
  uint64_t behind = hooks_.min_cursor(g);
  while (!held.frames.empty() && held.frames.begin()->first + held.frames.begin()->second.raw_len <= behind) {
    Drop(held, held.frames.begin());
  }
  held.frames[offset] = {static_cast<uint32_t>(n), shared};
  held.bytes += shared->size();
  held.raw_bytes += n;
  // Over the memory cap (peers far apart), shed the oldest frames, or the furthest prefetch when
  // the oldest is this one: the frame just asked for must survive, or its cursor would ask again
  // forever.
  while (held.frames.size() > 1 && held.bytes > kMaxCachedFrameBytes) {
    auto victim = held.frames.begin()->first != offset ? held.frames.begin() : std::prev(held.frames.end());
    Drop(held, victim);
  }
  return shared;
}

void FrameCache::DropBefore(const Generation& g, uint64_t offset) {
  auto it = held_.find(g.stream);
  if (it == held_.end()) return;
  Held& held = it->second;
  while (!held.frames.empty() && held.frames.begin()->first + held.frames.begin()->second.raw_len <= offset) {
    Drop(held, held.frames.begin());
  }
}

void FrameCache::Forget(const Generation& g) { held_.erase(g.stream); }

void FrameCache::Drop(Held& held, std::map<uint64_t, Frame>::iterator it) {
  held.bytes -= it->second.bytes->size();
  held.raw_bytes -= it->second.raw_len;
  held.frames.erase(it);
}

size_t FrameCache::frames_held(const Generation& g) const {
  auto it = held_.find(g.stream);
  return it == held_.end() ? 0 : it->second.frames.size();
}

uint64_t FrameCache::bytes_held(const Generation& g) const {
  auto it = held_.find(g.stream);
  return it == held_.end() ? 0 : it->second.bytes;
}

size_t FrameCache::jobs_running(const Generation& g) const {
  auto it = held_.find(g.stream);
  return it == held_.end() ? 0 : it->second.encoding.size();
}

}  // namespace tailsafe
