#include "agent/generation_transition.h"

#include <algorithm>

namespace tailsafe {

bool NeedsHeadCheck(const SizeFacts& f) {
  return f.state != GenState::kSealed && f.now_size > f.size && f.head_len > 0;
}

SizeChange JudgeSize(const SizeFacts& f) {
  if (f.state == GenState::kSealed) {
    return f.now_size > f.size ? SizeChange::kAppendedAfterSeal : SizeChange::kNone;
  }
  if (f.now_size < f.size) return SizeChange::kTruncated;
  if (f.now_size == f.size) return SizeChange::kNone;
  if (!NeedsHeadCheck(f)) return SizeChange::kGrew;
  switch (f.head) {
    case HeadCheck::kSame:
      return SizeChange::kGrew;
    case HeadCheck::kChanged:
      return SizeChange::kRewritten;
    case HeadCheck::kUnreadable:
      return SizeChange::kUndecided;
  }
  return SizeChange::kUndecided;
}

TruncationPlan PlanTruncation(GenState state, bool copy_found, bool all_acked) {
  return {copy_found, !copy_found && all_acked, state == GenState::kActive};
}

PathChange JudgePath(const PathFacts& f) {
  if (!f.regular_file) return PathChange::kNone;
  if (!f.has_active) return PathChange::kAppeared;
  return f.same_inode ? PathChange::kNone : PathChange::kRotated;
}

bool SealDue(const SealFacts& f) {
  // now_ns may predate last_growth_ns: a Check() takes `now` once, and a copy found during it
  // (ContinueFrom) stamps its growth later. That is no quiet time, not a wrapped-around one.
  return f.state == GenState::kRetired && f.now_ns >= f.last_growth_ns &&
         f.now_ns - f.last_growth_ns >= f.seal_after_ns && f.now_ns >= f.seal_check_ns;
}

SealStep JudgeSeal(const SealFacts& f) {
  if (!SealDue(f)) return SealStep::kWait;
  return f.writer_open ? SealStep::kDefer : SealStep::kSeal;
}

uint64_t SealDueAt(const SealFacts& f) { return std::max(f.last_growth_ns + f.seal_after_ns, f.seal_check_ns); }

bool MayBeCopy(const CopyFacts& f) {
  return !f.named_as_bolt && !f.hidden && f.regular_file && !f.same_inode && f.size >= f.generation_size &&
         f.head_len > 0;
}

}  // namespace tailsafe
