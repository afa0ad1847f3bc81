#include "agent/replica_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <algorithm>

#include "common/log.h"
#include "common/wire.h"

namespace tailsafe {

std::string GenerationFileName(uint64_t gen) {
  char buf[32];
  snprintf(buf, sizeof buf, "%020" PRIu64, gen);
  return buf;
}

ReplicaStore::ReplicaStore(std::string data_dir, std::function<void()> request_commit)
    : data_dir_(std::move(data_dir)), root_(data_dir_ + "/replicas"), request_commit_(std::move(request_commit)) {}

Status ReplicaStore::Init(const std::vector<ReplicaRow>& rows, const std::vector<CheckpointRow>& checkpoints) {
  for (const CheckpointRow& c : checkpoints) checkpoints_[{c.origin, c.bolt}] = c;
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
    r->written = r->durable = r->recorded = r->verified = row.durable;
    r->in_db = true;
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
  // Names are validated before they get here ([a-zA-Z0-9._-], not "." or ".."); OpenBeneath is the
  // second wall: a symlink planted in the replica tree is refused, never followed.
  int fd = OpenBeneath((*parent)->get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("open " + root_ + "/" + rel);
  auto dir = std::make_shared<Fd>(fd);
  dirs_[rel] = dir;
  return dir;
}

Result<std::shared_ptr<Replica>> ReplicaStore::Open(const std::string& origin, const std::string& bolt, uint64_t gen) {
  Key key{origin, bolt, gen};
  if (deleting_.count(key) != 0) {
    return Status::Error("replica " + root_ + "/" + origin + "/" + bolt + "/" + GenerationFileName(gen) +
                         " is being deleted (retention): try again once that commit is durable");
  }
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
  int fd = OpenBeneath((*dir)->get(), name.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NONBLOCK, 0644);
  if (fd < 0) return ErrnoStatus("open replica " + r->path);
  auto file = std::make_shared<Fd>(fd);
  struct stat st;
  if (::fstat(fd, &st) != 0) return ErrnoStatus("fstat " + r->path);
  if (!S_ISREG(st.st_mode)) return Status::Error("replica " + r->path + " is not a regular file");
  uint64_t size = static_cast<uint64_t>(st.st_size);
  if (!known) {
    created.push_back(*dir);
    r->written = r->durable = r->recorded = r->verified = 0;
    r->dirty = true;  // the first commit records its row
  }
  // Bytes past `verified` were found on disk, not received in this run: after a restart, those
  // past the recorded size; after an idle close and reopen, normally none.
  if (size < r->verified) {
    LOG_ERROR("replica %s holds %llu bytes but %llu were durable: the disk lost acknowledged bytes; "
              "fetching them again", r->path.c_str(), static_cast<unsigned long long>(size),
              static_cast<unsigned long long>(r->verified));
    r->verified = size;
    r->recorded = std::min(r->recorded, size);
    r->sealed = r->sealed_durable = false;
    r->in_db = false;  // record the smaller size
    r->dirty = true;
  } else if (size - r->verified > kMaxUnverifiedBytes) {
    // More than a POSITION can prove (only a file written behind the agent's back gets here).
    if (::ftruncate(fd, static_cast<off_t>(r->verified)) != 0) return ErrnoStatus("truncate " + r->path);
    LOG_WARN("replica %s: cut %llu bytes past the verified size %llu: too many to verify", r->path.c_str(),
             static_cast<unsigned long long>(size - r->verified), static_cast<unsigned long long>(r->verified));
    size = r->verified;
  } else if (size > r->verified) {
    // Kept, synced by the next commit, and proven by the POSITION window (see common/wire.h).
    LOG_INFO("replica %s: %llu bytes past the recorded durable size %llu, to be verified with the origin",
             r->path.c_str(), static_cast<unsigned long long>(size - r->verified),
             static_cast<unsigned long long>(r->verified));
  }
  r->written = size;
  r->durable = std::min(std::max(r->durable, r->verified), size);
  if (r->written > r->durable) r->dirty = true;  // the next commit syncs them
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
  if (r.session == nullptr && !r.dirty && !r.busy && r.written == r.durable) r.fd.reset();
  auto plan = retain_from_.find({r.origin, r.bolt});
  if (plan != retain_from_.end() && Deletable(r, plan->second)) {
    sweep_ = true;
    request_commit_();
  }
}

bool Deletable(const Replica& r, uint64_t from) {
  return r.gen < from && r.sealed && r.sealed_durable && !r.dirty && r.written == r.durable && r.session == nullptr &&
         !r.busy && !r.position_pending;
}

void ReplicaStore::Retain(std::map<BoltKey, uint64_t> from) {
  retain_from_ = std::move(from);
  retention_stats_.bolts_planned = retain_from_.size();
  sweep_ = true;
  request_commit_();
}

void ReplicaStore::CollectDeletions(Committer::Batch* batch) {
  sweep_ = false;
  for (const auto& [bolt, from] : retain_from_) {
    auto it = replicas_.lower_bound({bolt.first, bolt.second, 0});
    while (it != replicas_.end() && std::get<0>(it->first) == bolt.first && std::get<1>(it->first) == bolt.second &&
           std::get<2>(it->first) < from) {
      std::shared_ptr<Replica> r = it->second;
      if (!Deletable(*r, from)) {
        ++it;
        continue;
      }
      Key key = it->first;
      it = replicas_.erase(it);
      r->fd.reset();
      deleting_.insert(key);
      batch->rows.replicas.push_back({r->origin, r->bolt, r->gen, 0, false, /*remove=*/true});
      batch->unlink.push_back(r->path);
      batch->on_durable.push_back([this, key, bytes = r->durable] {
        deleting_.erase(key);
        ++retention_stats_.deleted;
        retention_stats_.bytes_deleted += bytes;
      });
      LOG_INFO("replica %s: deleting it, no longer needed (its bolt is processed from generation %llu on)",
               r->path.c_str(), static_cast<unsigned long long>(from));
    }
  }
}

void ReplicaStore::SetCheckpoint(const std::string& origin, const std::string& bolt, uint64_t gen, uint64_t offset) {
  auto it = checkpoints_.find({origin, bolt});
  if (it != checkpoints_.end() &&
      (it->second.gen > gen || (it->second.gen == gen && it->second.offset == offset))) {
    return;  // stale or unchanged
  }
  CheckpointRow row{origin, bolt, gen, offset};
  checkpoints_[{origin, bolt}] = row;
  dirty_checkpoints_.push_back(std::move(row));
  request_commit_();
}

void ReplicaStore::Collect(Committer::Batch* batch) {
  if (sweep_) CollectDeletions(batch);
  for (auto& d : dirs_to_sync_) batch->dirs.push_back(d);
  dirs_to_sync_.clear();
  for (auto& c : dirty_checkpoints_) batch->rows.checkpoints.push_back(std::move(c));
  dirty_checkpoints_.clear();
  for (auto& r : dirty_) {
    if (!r->dirty) continue;  // listed twice
    r->dirty = false;
    uint64_t written = r->written;
    bool sealed = r->sealed;
    // Only proven bytes are ever recorded: recording is what makes them trusted after a restart.
    uint64_t provable = std::min(written, r->verified);
    bool record = !r->in_db || sealed != r->sealed_durable || record_all_ ||
                  provable - r->recorded >= kRecordEveryBytes;
    if (record && (provable != r->recorded || !r->in_db || sealed != r->sealed_durable)) {
      batch->rows.replicas.push_back({r->origin, r->bolt, r->gen, provable, sealed});
    } else {
      record = false;
    }
    if (r->fd) {
      Committer::Batch::File f{r->fd, 0};
      if (written - r->dropped >= kDropCacheBytes) f.drop_below = r->dropped = written;
      batch->files.push_back(std::move(f));
    }
    batch->on_durable.push_back([this, r, written, sealed, record, provable, epoch = r->epoch] {
      if (epoch != r->epoch) {
        // A CUT came meanwhile: `written` may name bytes that no longer exist. The row, if any,
        // holds a verified size, which stays true.
        if (record) {
          r->recorded = std::min(provable, r->durable);
          r->in_db = true;
        }
        return;
      }
      if (written > r->durable) r->durable = written;
      if (record) {
        r->recorded = provable;
        r->in_db = true;
        if (sealed) r->sealed_durable = true;
      }
      if (on_durable) on_durable(*r);
    });
  }
  dirty_.clear();
  record_all_ = false;
}

void ReplicaStore::RecordAll() {
  record_all_ = true;
  for (auto& [key, r] : replicas_) {
    if (r->recorded != std::min(r->written, r->verified) || r->sealed != r->sealed_durable) MarkDirty(*r);
  }
}

}  // namespace tailsafe
