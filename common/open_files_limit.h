// The open-files limit (RLIMIT_NOFILE) of a daemon that holds a descriptor per file it serves.
//
// An agent holds about three descriptors per bolt (the bolt's file, its pidfd, a rotated
// generation being read to its end) and one per replica it keeps for its peers while they are
// connected, which it cannot count at start. Linux starts processes with a soft limit of 1024
// (systemd too, with a hard limit of 524288), which 1,000 bolts exceed. systemd.exec(5) asks
// programs that do not use select(2) to raise their soft limit to the hard limit themselves, so
// the agent does that at start whenever the soft limit is lower, and says so; it warns when the
// hard limit itself is below what its own bolts need (LimitNOFILE=, or limits.conf, must rise).
#pragma once

#include <cstdint>
#include <string>

namespace tailsafe {

struct OpenFilesPlan {
  uint64_t soft = 0;   // the soft limit to set (the current one if nothing changes)
  bool raise = false;  // whether to set it
  std::string note;    // what to log ("" if nothing): what was set and why, or what falls short
  bool short_of_need = false;  // even the new limit is below `need`: a warning
};

// Pure: the soft limit to set, from the current `soft` and `hard` limits, the kernel's ceiling
// `nr_open` (fs.nr_open; an unlimited hard limit cannot be reached) and the descriptors `need`ed
// for the configured bolts.
OpenFilesPlan PlanOpenFilesLimit(uint64_t soft, uint64_t hard, uint64_t nr_open, uint64_t need);

// The descriptors `bolts` bolts need on their own, with a margin for sockets, state.db and hooks.
uint64_t OpenFilesNeeded(uint64_t bolts);

// Reads the limits, applies the plan and logs its note (NOTICE, or WARNING when short).
void RaiseOpenFilesLimit(uint64_t need);

}  // namespace tailsafe
