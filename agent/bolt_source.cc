#include "agent/bolt_source.h"

#include <sys/stat.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>

#include "agent/bolt_files.h"
#include "agent/generation_transition.h"
#include "common/clock.h"
#include "common/log.h"

namespace tailsafe {
namespace {

void SplitPath(const std::string& file, std::string* dir, std::string* base) {
  size_t slash = file.rfind('/');
  *dir = slash == 0 ? "/" : file.substr(0, slash);
  *base = file.substr(slash + 1);
}

}  // namespace

BoltSource::BoltSource(uv_loop_t* loop, InotifyWatcher* watcher, const BoltConfig& bolt, const AgentConfig& agent,
                       Hooks hooks, uint32_t* next_stream, std::shared_ptr<EncodeSlots> slots)
    : loop_(loop),
      bolt_(bolt),
      seal_after_ns_(uint64_t{agent.seal_after_ms} * 1000000),
      rescan_ms_(agent.rescan_interval_ms),
      hooks_(std::move(hooks)),
      watch_(watcher, bolt.name, [this](bool path_may_differ) { Check(path_may_differ); }),
      gens_(bolt.name, next_stream),
      frames_(loop, bolt.name, agent.chunk_bytes, agent.window_bytes, agent.compression_level, std::move(slots),
              {hooks_.min_cursor, [this] { hooks_.changed(nullptr); }, [this](const Generation& g, const Status& why) {
                 LOG_WARN("bolt %s: generation %llu: %s", bolt_.name.c_str(), static_cast<unsigned long long>(g.gen),
                          why.message().c_str());
                 Check();  // a short read means the file changed under us
               }}) {
  SplitPath(bolt_.file, &dir_, &base_);
}

BoltSource::Stats BoltSource::stats() const {
  Stats s = stats_;
  s.frames_encoded = frames_.frames_encoded();
  s.frame_cache_hits = frames_.cache_hits();
  s.events = watch_.events();
  s.rescans_overflow = watch_.overflows();
  return s;
}

BoltSource::~BoltSource() { Stop(); }

void BoltSource::Reconfigure(const BoltConfig& bolt) {
  if (retiring_ || bolt.file == bolt_.file) {
    bolt_ = bolt;
    return;
  }
  Check();  // the old file's last bytes belong to its generation
  if (Generation* g = gens_.active()) {
    g->Retire(NowNs());
    ++stats_.rotations;
    LOG_INFO("bolt %s: the configuration moved it from %s to %s; generation %llu continues until it stops growing",
             bolt.name.c_str(), bolt_.file.c_str(), bolt.file.c_str(), static_cast<unsigned long long>(g->gen));
  }
  gens_.ForgetPendingCheckpoint();  // it was about the old file
  bolt_ = bolt;
  SplitPath(bolt_.file, &dir_, &base_);
  watch_.MoveTo(dir_, base_);
  Check();  // opens the new path's generation, if the file is there
}

void BoltSource::Retire() {
  if (retiring_) return;
  Check();  // read every generation to the end the files have now
  for (auto& g : gens_.all()) {
    if (g->state() != GenState::kActive && g->state() != GenState::kRetired) continue;
    g->Seal();
    LOG_INFO("bolt %s: removed; generation %llu sealed at %llu bytes", bolt_.name.c_str(),
             static_cast<unsigned long long>(g->gen), static_cast<unsigned long long>(g->size()));
  }
  retiring_ = true;
  StopWatching();  // encode jobs in flight still deliver, for the peers to catch up
  ReleaseAcked();
  hooks_.request_commit();
  hooks_.changed(nullptr);
}

void BoltSource::Stop() {
  frames_.Stop();  // encode jobs still in flight deliver nothing after this
  StopWatching();
}

void BoltSource::StopWatching() {
  watch_.Stop();
  rescan_timer_.Reset();
  seal_timer_.Reset();
}

void BoltSource::Restore(const OriginGenRow& row, uint64_t now) {
  gens_.NoteRow(row);
  if (row.state == GenState::kReleased || row.state == GenState::kLost) return;
  FileAgain found = FindFileAgain(bolt_.file, dir_, row);
  // Rotated while the agent was down: it continues as a rotated-away generation.
  GenState state = found.renamed && row.state == GenState::kActive ? GenState::kRetired : row.state;
  Generation& g = gens_.Restore(row, state, now);
  if (found.fd) {
    g.Reopen(std::make_shared<Fd>(std::move(found.fd)), found.size, now);
    RecordWindow(g);
    return;
  }
  // copytruncate (or a copy and a delete) while the agent was down: a copy in the directory
  // that begins with the generation's head holds its bytes.
  if (FindCopy(g)) {
    ++stats_.copies_found;
    return;
  }
  if (found.head_changed) {
    ++stats_.divergences;
    LOG_WARN("bolt %s: generation %llu: the file's first %u bytes changed while the agent was down and "
             "no copy of it was found; it is treated as a new generation", bolt_.name.c_str(),
             static_cast<unsigned long long>(row.gen), row.head_len);
  }
  MarkLost(g, "its file is gone from " + dir_ + " (rotated away or deleted while the agent was down)");
}

Status BoltSource::Start(const std::vector<OriginGenRow>& rows) {
  uint64_t now = NowNs();
  for (const OriginGenRow& row : rows) Restore(row, now);

  auto timer = MakeUv<uv_timer_t>(uv_timer_init, loop_);
  if (!timer) return timer.status();
  rescan_timer_ = std::move(timer.value());
  rescan_timer_->data = this;
  uv_timer_start(rescan_timer_.get(), [](uv_timer_t* t) {
    auto* self = static_cast<BoltSource*>(t->data);
    if (!self) return;
    ++self->stats_.rescans_timer;
    self->watch_.Retry();
    self->Check();
    self->ReleaseAcked();
    // The safety net also retries shipping that stopped on an error (a failed read or encode)
    // while the file itself did not change.
    self->TouchAll();
  }, rescan_ms_, rescan_ms_);

  auto seal = MakeUv<uv_timer_t>(uv_timer_init, loop_);
  if (!seal) return seal.status();
  seal_timer_ = std::move(seal.value());
  seal_timer_->data = this;

  watch_.Start(dir_, base_);
  for (auto& g : gens_.all()) watch_.WatchInode(*g);
  Check();
  return Status::Ok();
}

void BoltSource::SetCheckpoint(uint64_t offset) {
  // Without an active generation (its checkpoint's event came first) it is kept for the file
  // about to be found.
  if (gens_.SetCheckpoint(offset)) TouchAll();
}

void BoltSource::Check(bool path_may_differ) {
  if (retiring_) {  // sealed: only acknowledgements matter now
    ReleaseAcked();
    return;
  }
  uint64_t now = NowNs();
  uint64_t shape = Generation::ShapeEpoch();
  bool changed = false;
  // 1. Sizes of every open generation (fstat is the truth, events only hints). Indexed: a
  //    truncation appends the next generation.
  for (size_t i = 0; i < gens_.all().size(); ++i) changed |= CheckSize(*gens_.all()[i], now);
  // 2. Does the path still name the active generation? (Not after writes alone: BoltWatch.)
  if (path_may_differ) changed |= CheckPath(now);
  // 3. Seal rotated-away generations that stopped growing and that nobody holds open for
  //    writing any more (a bolt that has not reopened its file yet may write again later).
  for (auto& g : gens_.all()) changed |= CheckSeal(*g, now);
  // Growth releases nothing (acknowledgements do, through the links); a generation that
  // changed state here (sealed, rotated, truncated) may now be closable.
  bool reshaped = Generation::ShapeEpoch() != shape;
  if (reshaped) ReleaseAcked();
  ArmSealTimer();
  if (gens_.dirty()) hooks_.request_commit();
  if (!changed) return;
  if (reshaped) return hooks_.changed(nullptr);
  TouchAll();  // grown: only this bolt's streams have news
}

void BoltSource::TouchAll() {
  for (const auto& g : gens_.all()) hooks_.changed(g.get());
}

bool BoltSource::CheckSize(Generation& g, uint64_t now) {
  if (!g.fd() || g.state() == GenState::kLost) return false;
  struct stat st;
  if (::fstat(g.fd()->get(), &st) != 0) return false;
  SizeFacts f{g.state(), g.size(), static_cast<uint64_t>(st.st_size), g.head_len(), HeadCheck::kSame};
  // A file truncated and refilled past its old size between two checks looks like growth to
  // fstat; its first bytes give it away, so they are compared on every growth.
  if (NeedsHeadCheck(f)) f.head = ReadHead(g.fd()->get(), g.head_len(), g.head_hash());
  switch (JudgeSize(f)) {
    case SizeChange::kNone:
      return false;
    case SizeChange::kUndecided:  // logged at the 1st, 2nd, 4th, 8th... failure
      if (std::has_single_bit(++stats_.head_read_errors)) {
        LOG_WARN("bolt %s: generation %llu grew but its first %u bytes cannot be read (failure %llu): growth and "
                 "rewrite cannot be told apart; nothing is decided until they can", bolt_.name.c_str(),
                 static_cast<unsigned long long>(g.gen), g.head_len(),
                 static_cast<unsigned long long>(stats_.head_read_errors));
      }
      return false;
    case SizeChange::kAppendedAfterSeal:
      // Nothing should write to a sealed generation; if something does, say so loudly.
      stats_.bytes_after_seal += f.now_size - f.size;
      LOG_ERROR("bolt %s: %llu bytes were appended to generation %llu after it was sealed at %llu bytes; "
                "they are not replicated (a process wrote to the rotated file long after rotation)",
                bolt_.name.c_str(), static_cast<unsigned long long>(f.now_size - f.size),
                static_cast<unsigned long long>(g.gen), static_cast<unsigned long long>(g.final_size()));
      g.AppendedAfterSeal(f.now_size);
      return false;
    case SizeChange::kTruncated:
    case SizeChange::kRewritten:
      HandleShrink(g, f.now_size);
      return true;
    case SizeChange::kGrew:
      g.Grow(f.now_size, now);
      if (g.head_len() < kHeadBytes) ExtendHead(g);
      if (WindowStale(g)) RecordWindow(g);
      return true;
  }
  return false;
}

bool BoltSource::CheckPath(uint64_t now) {
  struct stat pst;
  if (::stat(bolt_.file.c_str(), &pst) != 0) return false;
  Generation* active = gens_.active();
  PathFacts f{S_ISREG(pst.st_mode), active != nullptr,
              active != nullptr && active->dev() == pst.st_dev && active->ino() == pst.st_ino};
  switch (JudgePath(f)) {
    case PathChange::kNone:
      return false;
    case PathChange::kRotated:
      // Renamed or deleted, and a new file created: read the old one to its end.
      active->Retire(now);
      ++stats_.rotations;
      LOG_INFO("bolt %s: %s names a new file; generation %llu continues until it stops growing",
               bolt_.name.c_str(), bolt_.file.c_str(), static_cast<unsigned long long>(active->gen));
      OpenNewGeneration("rotation");
      return true;
    case PathChange::kAppeared:
      OpenNewGeneration("file appeared");
      return true;
  }
  return false;
}

bool BoltSource::CheckSeal(Generation& g, uint64_t now) {
  SealFacts f{g.state(), now, g.last_growth_ns(), g.seal_check_ns(), seal_after_ns_, false};
  if (SealDue(f)) f.writer_open = g.fd() && OpenForWritingElsewhere(g.fd()->get());
  switch (JudgeSeal(f)) {
    case SealStep::kWait:
      return false;
    case SealStep::kDefer:
      if (g.seal_check_ns() == 0) {
        LOG_INFO("bolt %s: generation %llu is quiet but still open for writing by another process; "
                 "it stays open until that process closes it", bolt_.name.c_str(),
                 static_cast<unsigned long long>(g.gen));
      }
      g.DeferSeal(now + seal_after_ns_);
      return false;
    case SealStep::kSeal:
      g.Seal();
      LOG_INFO("bolt %s: generation %llu sealed at %llu bytes", bolt_.name.c_str(),
               static_cast<unsigned long long>(g.gen), static_cast<unsigned long long>(g.size()));
      return true;
  }
  return false;
}

void BoltSource::ArmSealTimer() {
  uint64_t now = NowNs();
  uint64_t soonest = UINT64_MAX;
  for (auto& g : gens_.all()) {
    if (g->state() != GenState::kRetired) continue;
    uint64_t due = SealDueAt({g->state(), now, g->last_growth_ns(), g->seal_check_ns(), seal_after_ns_, false});
    soonest = std::min(soonest, due > now ? due - now : 0);
  }
  if (!seal_timer_) return;  // stopped
  if (soonest == UINT64_MAX) {
    uv_timer_stop(seal_timer_.get());
    return;
  }
  uv_timer_start(seal_timer_.get(), [](uv_timer_t* t) {
    if (auto* self = static_cast<BoltSource*>(t->data)) self->Check();
  }, soonest / 1000000 + 1, 0);
}

void BoltSource::OpenNewGeneration(const char* why) {
  Fd fd = OpenForReading(bolt_.file);
  if (!fd) {
    LOG_WARN("bolt %s: cannot open %s: %s", bolt_.name.c_str(), bolt_.file.c_str(), strerror(errno));
    return;
  }
  Generation* g = AddGeneration(std::make_shared<Fd>(std::move(fd)));
  if (g == nullptr) return;
  watch_.WatchInode(*g);
  LOG_INFO("bolt %s: generation %llu starts (%s, %llu bytes already in %s)", bolt_.name.c_str(),
           static_cast<unsigned long long>(g->gen), why, static_cast<unsigned long long>(g->size()),
           bolt_.file.c_str());
}

Generation* BoltSource::AddGeneration(std::shared_ptr<Fd> fd) {
  struct stat st;
  if (::fstat(fd->get(), &st) != 0) return nullptr;
  Generation& g = gens_.Add(std::move(fd), st.st_dev, st.st_ino, static_cast<uint64_t>(st.st_size), NowNs());
  ExtendHead(g);
  RecordWindow(g);
  hooks_.request_commit();
  return &g;
}

void BoltSource::HandleShrink(Generation& g, uint64_t new_size) {
  ++stats_.truncations;
  GenState was = g.state();
  LOG_INFO("bolt %s: generation %llu was truncated (%llu bytes before, %llu now)", bolt_.name.c_str(),
           static_cast<unsigned long long>(g.gen), static_cast<unsigned long long>(g.size()),
           static_cast<unsigned long long>(new_size));
  bool copy_found = FindCopy(g);  // first: a copy found continues `g`
  TruncationPlan plan = PlanTruncation(was, copy_found, hooks_.min_acked(g) >= g.size());
  if (plan.from_copy) {
    ++stats_.copies_found;
  } else if (plan.seal_as_is) {
    LOG_INFO("bolt %s: generation %llu ends at %llu bytes, all held by every peer", bolt_.name.c_str(),
             static_cast<unsigned long long>(g.gen), static_cast<unsigned long long>(g.size()));
    g.Seal();
    g.Close();  // the inode goes on as the next generation
    frames_.Forget(g);
  } else {
    MarkLost(g, "the file was truncated in place and no copy of it was found in " + dir_ +
                    "; bytes not yet shipped are lost");
  }
  // The truncated inode itself continues as a new generation from offset 0.
  if (plan.new_generation) OpenNewGeneration("truncation");
}

bool BoltSource::FindCopy(Generation& g) {
  std::optional<FoundCopy> copy = FindCopyInDir(dir_, base_, g);
  if (!copy) return false;
  LOG_INFO("bolt %s: generation %llu continues from its copy %s/%s (%llu bytes)", bolt_.name.c_str(),
           static_cast<unsigned long long>(g.gen), dir_.c_str(), copy->name.c_str(),
           static_cast<unsigned long long>(copy->size));
  g.ContinueFrom(std::make_shared<Fd>(std::move(copy->fd)), copy->dev, copy->ino, copy->size, NowNs());
  RecordWindow(g);
  frames_.Forget(g);
  watch_.WatchInode(g);
  return true;
}

void BoltSource::MarkLost(Generation& g, const std::string& why) {
  if (hooks_.lost) hooks_.lost(g);
  ++stats_.generations_lost;
  LOG_WARN("bolt %s: generation %llu can no longer be read: %s", bolt_.name.c_str(),
           static_cast<unsigned long long>(g.gen), why.c_str());
  g.Lose();
  frames_.Forget(g);
}

void BoltSource::Diverged(Generation& g, const std::string& why) {
  if (g.state() == GenState::kLost) return;
  ++stats_.divergences;
  LOG_ERROR("bolt %s: generation %llu diverged: %s; the replicas are kept as they are and the file "
            "continues as a new generation", bolt_.name.c_str(), static_cast<unsigned long long>(g.gen), why.c_str());
  bool was_active = g.active();
  std::shared_ptr<Fd> fd = g.fd();
  MarkLost(g, "diverged");
  if (!was_active || !fd) return;
  AddGeneration(fd);
  hooks_.changed(nullptr);
}

void BoltSource::ReleaseAcked() {
  for (const auto& g : gens_.all()) {
    uint64_t acked = hooks_.min_acked(*g);
    frames_.DropBefore(*g, std::max(acked, hooks_.min_cursor(*g)));
    g->PruneGrowth(acked);
  }
  bool closed = gens_.Close(hooks_.min_acked, hooks_.seal_held, [this](Generation& g, bool released) {
    frames_.Forget(g);
    if (hooks_.closed) hooks_.closed(g);
    if (!released) return;
    LOG_INFO("bolt %s: generation %llu fully acknowledged by every peer; closed", bolt_.name.c_str(),
             static_cast<unsigned long long>(g.gen));
    // Its row must reach state.db, also when nothing else is committed soon: a removed bolt
    // leaves sources_ only once its rows are written (Drained()).
    hooks_.request_commit();
  });
  if (closed) watch_.ForgetClosedInodes(gens_.all());
}

void BoltSource::Collect(Committer::Batch* batch) {
  gens_.Collect(batch, [this](Generation& g) {
    if (g.MarkPersisted()) hooks_.changed(nullptr);
    if (g.state() == GenState::kLost || g.sealed()) ReleaseAcked();
  });
}

}  // namespace tailsafe
