#include "agent/range_pull.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "common/coord_protocol.h"
#include "common/log.h"
#include "common/names.h"
#include "common/pool_work.h"

namespace tailsafe {

using nlohmann::json;

namespace {

unsigned long long U(uint64_t v) { return static_cast<unsigned long long>(v); }

// Writes all of `bytes` at `offset`; errno's text if it cannot.
std::string WriteAt(int fd, const std::string& bytes, uint64_t offset) {
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::pwrite(fd, bytes.data() + done, bytes.size() - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return n < 0 ? strerror(errno) : "nothing written";
    done += static_cast<size_t>(n);
  }
  return "";
}

}  // namespace

RangePull::RangePull(Env env, uint64_t recovery, uint64_t epoch, uint64_t from, uint64_t to, Done done)
    : env_(std::move(env)), recovery_(recovery), epoch_(epoch), from_(from), to_(to), next_(from),
      done_(std::move(done)) {}

RangePull::~RangePull() = default;

void RangePull::Start() {
  if (::mkdir(env_.dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return Fail("cannot create " + env_.dir + ": " + strerror(errno));
  }
  // Unlinked at once: the descriptor is the only name, so nothing is left behind by a crash.
  std::string path = env_.dir + "/" + std::to_string(recovery_) + "-" + std::to_string(epoch_);
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Fail("cannot create " + path + ": " + strerror(errno));
  file_ = std::make_shared<Fd>(fd);
  ::unlink(path.c_str());
  auto t = MakeUv<uv_timer_t>(uv_timer_init, env_.loop);
  if (!t) return Fail(t.status().message());
  timer_ = std::move(t.value());
  timer_->data = this;
  Ask();
}

void RangePull::Ask() {
  if (next_ >= to_) {
    Done done = std::move(done_);
    done_ = nullptr;
    return done(file_);  // may destroy this
  }
  uint64_t length = std::min(kChunkBytes, to_ - next_);
  if (!env_.send({{"type", "pull"}, {"recovery", recovery_}, {"epoch", epoch_}, {"offset", next_}, {"length", length}})) {
    return Fail("not connected to the coordinator");
  }
  asked_ = true;
  uv_timer_start(timer_.get(), [](uv_timer_t* t) {
    auto* self = static_cast<RangePull*>(t->data);
    self->Fail("no chunk within " + std::to_string(self->env_.chunk_timeout_ms) + " ms of asking for it at " +
               std::to_string(self->next_));
  }, env_.chunk_timeout_ms, 0);
}

Status RangePull::OnPulled(const json& msg) {
  uint64_t offset = 0;
  if (Status s = ReadUint(msg, "offset", &offset); !s) return s;
  if (!asked_ || offset != next_) return Status::Ok();  // an answer to an ask given up on
  auto e = msg.find("error");
  bool refused = e != msg.end() && e->is_string();
  std::string hex;
  // A malformed answer leaves the ask standing: its timer still ends the pull if no good one comes.
  if (!refused) {
    if (Status s = ReadString(msg, "data", &hex); !s) return s;
  }
  asked_ = false;
  uv_timer_stop(timer_.get());
  if (refused) {
    Fail(e->get<std::string>());
    return Status::Ok();
  }
  Result<std::string> data = HexDecode(hex);
  if (!data) {  // the holder's fault, not the coordinator's: this pull ends, the connection stays
    Fail("the holder's chunk at " + std::to_string(next_) + ": " + data.status().message());
    return Status::Ok();
  }
  if (data->empty() || data->size() > to_ - next_) {
    Fail("the holder sent " + std::to_string(data->size()) + " bytes at " + std::to_string(next_) + " of " +
         std::to_string(to_ - next_) + " still to pull");
    return Status::Ok();
  }
  writing_ = true;
  auto error = std::make_shared<std::string>();
  auto bytes = std::make_shared<std::string>(std::move(*data));
  std::shared_ptr<Fd> file = file_;
  uint64_t at = next_;
  Status s = QueueWork(env_.loop, alive_, [file, bytes, at, error] { *error = WriteAt(file->get(), *bytes, at); },
                       [this, bytes, error] {
                         writing_ = false;
                         if (!error->empty()) return Fail("cannot write the pulled bytes: " + *error);
                         next_ += bytes->size();
                         Ask();
                       });
  if (!s) Fail(s.message());
  return Status::Ok();
}

void RangePull::Fail(const std::string& why) {
  if (!done_) return;
  LOG_WARN("recovery %llu: the pull of [%llu, %llu) failed at %llu: %s", U(recovery_), U(from_), U(to_), U(next_),
           why.c_str());
  if (timer_) uv_timer_stop(timer_.get());
  asked_ = false;
  Done done = std::move(done_);
  done_ = nullptr;
  done(Status::Error(why));  // may destroy this
}

Status RangeShipper::OnShip(const json& msg) {
  uint64_t id = 0, epoch = 0, gen = 0, offset = 0, length = 0;
  std::string origin, bolt;
  for (Status s : {ReadUint(msg, "recovery", &id), ReadUint(msg, "epoch", &epoch), ReadString(msg, "origin", &origin),
                   ReadString(msg, "bolt", &bolt), ReadUint(msg, "generation", &gen), ReadUint(msg, "offset", &offset),
                   ReadUint(msg, "length", &length)}) {
    if (!s) return s;
  }
  if (!IsValidName(origin) || !IsValidName(bolt)) return Status::Error("ship: invalid origin or bolt name");
  json reply = {{"type", "shipped"}, {"recovery", id}, {"epoch", epoch}, {"offset", offset}};
  if (length == 0 || length > RangePull::kChunkBytes) {
    reply["error"] = "a chunk of " + std::to_string(length) + " bytes is asked; 1 to " +
                     std::to_string(RangePull::kChunkBytes) + " can be shipped";
    (void)env_.send(reply);
    return Status::Ok();
  }
  HeldRange held = env_.held(origin, bolt, gen, offset + length);
  if (!held.fd || held.durable < offset + length) {
    reply["error"] = "holds " + std::to_string(held.durable) + " bytes of " + origin + "/" + bolt + " generation " +
                     std::to_string(gen) + ", not up to " + std::to_string(offset + length);
    (void)env_.send(reply);
    return Status::Ok();
  }
  auto data = std::make_shared<std::string>(length, '\0');
  auto error = std::make_shared<std::string>();
  std::shared_ptr<Fd> fd = held.fd;
  auto read = [fd, data, offset, error] {
    size_t done = 0;
    while (done < data->size()) {
      ssize_t n = ::pread(fd->get(), data->data() + done, data->size() - done, static_cast<off_t>(offset + done));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        *error = n < 0 ? std::string("cannot read the replica: ") + strerror(errno) : "the replica ends early";
        return;
      }
      done += static_cast<size_t>(n);
    }
  };
  auto send = [this, reply, data, error]() mutable {
    if (error->empty()) {
      reply["data"] = HexEncode(*data);
    } else {
      reply["error"] = *error;
    }
    (void)env_.send(reply);  // not connected: the assignee's ask times out, and it falls back
  };
  return QueueWork(env_.loop, alive_, std::move(read), std::move(send));
}

}  // namespace tailsafe
