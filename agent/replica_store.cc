#include "agent/replica_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>

#include "common/log.h"

namespace tailsafe {

std::string GenerationFileName(uint64_t gen) {
  char buf[32];
  snprintf(buf, sizeof buf, "%020" PRIu64, gen);
  return buf;
}

ReplicaStore::ReplicaStore(std::string data_dir, std::function<void()> request_commit)
    : data_dir_(std::move(data_dir)), root_(data_dir_ + "/replicas"), request_commit_(std::move(request_commit)) {}

Status ReplicaStore::Init(const std::vector<ReplicaRow>& rows) {
  if (::mkdir(root_.c_str(), 0755) != 0 && errno != EEXIST) return ErrnoStatus("mkdir " + root_);
  int fd = ::open(root_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("open " + root_);
  dirs_[""] = std::make_shared<Fd>(fd);
  for (const ReplicaRow& row : rows) {
    auto r = std::make_shared<Replica>();
    r->origin = row.origin;
    r->bolt = row.bolt;
    r->gen = row.gen;
    r->path = root_ + "/" + row.origin + "/" + row.bolt + "/" + GenerationFileName(row.gen);
    r->written = r->durable = row.durable;
    r->sealed = r->sealed_durable = row.sealed;
    replicas_[{row.origin, row.bolt, row.gen}] = std::move(r);
  }
  return Status::Ok();
}

Result<std::shared_ptr<Fd>> ReplicaStore::OpenDir(const std::string& rel, std::vector<std::shared_ptr<Fd>>* created_parents) {
  auto it = dirs_.find(rel);
  if (it != dirs_.end()) return it->second;
  size_t slash = rel.rfind('/');
  std::string parent_rel = slash == std::string::npos ? "" : rel.substr(0, slash);
  std::string name = slash == std::string::npos ? rel : rel.substr(slash + 1);
  Result<std::shared_ptr<Fd>> parent = OpenDir(parent_rel, created_parents);
  if (!parent) return parent.status();
  if (::mkdirat((*parent)->get(), name.c_str(), 0755) == 0) {
    created_parents->push_back(*parent);  // a new entry: the parent must be fsync'd
  } else if (errno != EEXIST) {
    return ErrnoStatus("mkdir " + root_ + "/" + rel);
  }
  int fd = ::openat((*parent)->get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return ErrnoStatus("open " + root_ + "/" + rel);
  auto dir = std::make_shared<Fd>(fd);
  dirs_[rel] = dir;
  return dir;
}

Result<std::shared_ptr<Replica>> ReplicaStore::Open(const std::string& origin, const std::string& bolt, uint64_t gen) {
  Key key{origin, bolt, gen};
  auto it = replicas_.find(key);
  std::shared_ptr<Replica> r;
  bool known = it != replicas_.end();
  if (known) {
    r = it->second;
    if (r->fd) return r;
  } else {
    r = std::make_shared<Replica>();
    r->origin = origin;
    r->bolt = bolt;
    r->gen = gen;
    r->path = root_ + "/" + origin + "/" + bolt + "/" + GenerationFileName(gen);
  }
  std::vector<std::shared_ptr<Fd>> created;
  Result<std::shared_ptr<Fd>> dir = OpenDir(origin + "/" + bolt, &created);
  if (!dir) return dir.status();
  std::string name = GenerationFileName(gen);
  int fd = ::openat((*dir)->get(), name.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) return ErrnoStatus("open replica " + r->path);
  auto file = std::make_shared<Fd>(fd);
  struct stat st;
  if (::fstat(fd, &st) != 0) return ErrnoStatus("fstat " + r->path);
  uint64_t size = static_cast<uint64_t>(st.st_size);
  if (!known) {
    created.push_back(*dir);
    r->written = r->durable = 0;
    r->dirty = true;  // the row must exist before anything is acknowledged
  }
  if (size > r->durable) {
    // Bytes past the durable mark were never acknowledged; the origin sends them again.
    if (::ftruncate(fd, static_cast<off_t>(r->durable)) != 0) return ErrnoStatus("truncate " + r->path);
    LOG_INFO("replica %s: cut %llu unacknowledged bytes", r->path.c_str(),
             static_cast<unsigned long long>(size - r->durable));
  } else if (size < r->durable) {
    LOG_ERROR("replica %s holds %llu bytes but %llu were recorded durable: the disk lost acknowledged "
              "bytes; fetching them again", r->path.c_str(), static_cast<unsigned long long>(size),
              static_cast<unsigned long long>(r->durable));
    r->durable = size;
    r->sealed = r->sealed_durable = false;
    r->dirty = true;
  }
  r->written = r->durable;
  r->fd = std::move(file);
  for (auto& d : created) dirs_to_sync_.push_back(d);
  replicas_[key] = r;
  if (r->dirty) MarkDirty(*r);
  return r;
}

void ReplicaStore::MarkDirty(Replica& r) {
  r.dirty = true;
  auto it = replicas_.find({r.origin, r.bolt, r.gen});
  if (it != replicas_.end()) dirty_.push_back(it->second);
  request_commit_();
}

void ReplicaStore::MaybeClose(Replica& r) {
  if (r.session == nullptr && !r.dirty && r.written == r.durable) r.fd.reset();
}

void ReplicaStore::Collect(Committer::Batch* batch) {
  for (auto& d : dirs_to_sync_) batch->dirs.push_back(d);
  dirs_to_sync_.clear();
  for (auto& r : dirty_) {
    if (!r->dirty) continue;  // listed twice
    r->dirty = false;
    uint64_t written = r->written;
    bool sealed = r->sealed;
    batch->rows.replicas.push_back({r->origin, r->bolt, r->gen, written, sealed});
    if (r->fd) {
      Committer::Batch::File f{r->fd, 0};
      if (written - r->dropped >= kDropCacheBytes) f.drop_below = r->dropped = written;
      batch->files.push_back(std::move(f));
    }
    batch->on_durable.push_back([this, r, written, sealed] {
      if (written > r->durable) r->durable = written;
      if (sealed) r->sealed_durable = true;
      if (on_durable) on_durable(*r);
    });
  }
  dirty_.clear();
}

}  // namespace tailsafe
