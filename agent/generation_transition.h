// GenerationTransition: what BoltSource::Check() makes of what fstat and stat said about a
// bolt's generations, decided from plain facts (no I/O) so every rule is unit-tested apart
// from the files, like agent/reload_plan.h.
//
// The shell (BoltSource) gathers the facts, asks, and applies the answer. Some facts cost a
// read, so it gathers them only when a first answer says they matter: a file's head bytes only
// when it grew (NeedsHeadCheck), a copy of the file only after a truncation, whether another
// process still writes the file only when a seal is due (SealDue).
//
// The rules:
// - Size: a file that grew grew, unless its head bytes changed (truncated and refilled past the
//   old size between two checks: a rewrite). If its head cannot be read now (an I/O error, or
//   the file shrank under the read), nothing is decided: the next check reads it again. A file
//   that shrank was truncated. A sealed
//   generation is never re-judged: bytes appended to it are counted, not replicated.
// - Truncation (or rewrite): the generation continues from a copy of its file if one is found
//   (copytruncate: nothing lost), else it is lost. If it was the bolt's file (active), the
//   truncated file itself goes on as a new generation from offset 0.
// - Path: a regular file at the bolt's path that is not the active generation's inode is a
//   rotation (the active one retires and is read to its end), or the first file (none active).
// - Seal: a retired generation quiet for seal_after and not deferred is sealed, unless another
//   process still holds it open for writing: then it is asked again seal_after later.
// - Copy: a file in the directory other than the bolt's, not hidden, regular, another inode,
//   at least as long as the generation (MayBeCopy), beginning with its head bytes (a head must
//   be known) and holding its bytes before the last size seen (agent/bolt_files.h reads both);
//   the most recently modified one wins.
#pragma once

#include <cstdint>

#include "agent/state_store.h"

namespace tailsafe {

// What reading a generation's recorded head bytes found.
enum class HeadCheck { kSame, kChanged, kUnreadable };

struct SizeFacts {
  GenState state = GenState::kActive;
  uint64_t size = 0;          // as last seen
  uint64_t now_size = 0;      // as fstat says now
  uint32_t head_len = 0;      // head bytes recorded; 0 if none yet
  HeadCheck head = HeadCheck::kSame;  // read only when NeedsHeadCheck
};
// kUndecided: it grew but its head could not be read; ask again at the next check.
enum class SizeChange { kNone, kGrew, kTruncated, kRewritten, kAppendedAfterSeal, kUndecided };
bool NeedsHeadCheck(const SizeFacts& f);
SizeChange JudgeSize(const SizeFacts& f);

struct TruncationPlan {
  bool from_copy = false;       // continue from the copy found
  bool seal_as_is = false;      // no copy, but every peer holds every byte: sealed, nothing lost
  // (neither: the generation is lost)
  bool new_generation = false;  // the truncated file goes on as the next generation
};
// `all_acked`: every peer acknowledged every byte the generation had before the truncation.
TruncationPlan PlanTruncation(GenState state, bool copy_found, bool all_acked);

struct PathFacts {
  bool regular_file = false;  // stat of the bolt's path found a regular file
  bool has_active = false;    // there is an active generation
  bool same_inode = false;    // the path's inode is the active generation's
};
enum class PathChange { kNone, kAppeared, kRotated };
PathChange JudgePath(const PathFacts& f);

struct SealFacts {
  GenState state = GenState::kActive;
  uint64_t now_ns = 0;
  uint64_t last_growth_ns = 0;
  uint64_t seal_check_ns = 0;  // deferred until then
  uint64_t seal_after_ns = 0;
  bool writer_open = false;  // another process has it open for writing (asked only when SealDue)
};
enum class SealStep { kWait, kDefer, kSeal };
bool SealDue(const SealFacts& f);
SealStep JudgeSeal(const SealFacts& f);
// When a retired generation is next due for a seal check (for the timer).
uint64_t SealDueAt(const SealFacts& f);

struct CopyFacts {
  bool named_as_bolt = false;  // the bolt's own file name
  bool hidden = false;         // name starts with '.'
  bool regular_file = false;
  bool same_inode = false;     // the generation's own inode
  uint64_t size = 0;
  uint64_t generation_size = 0;  // the generation's last known size
  uint32_t head_len = 0;         // the generation's recorded head bytes
};
// Worth opening to compare its head bytes.
bool MayBeCopy(const CopyFacts& f);

}  // namespace tailsafe
