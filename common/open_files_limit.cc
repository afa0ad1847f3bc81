#include "common/open_files_limit.h"

#include <sys/resource.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

#include "common/log.h"

namespace tailsafe {

OpenFilesPlan PlanOpenFilesLimit(uint64_t soft, uint64_t hard, uint64_t nr_open, uint64_t need) {
  OpenFilesPlan plan;
  plan.soft = soft;
  uint64_t ceiling = std::min(hard, nr_open);
  if (soft < ceiling) {
    plan.raise = true;
    plan.soft = ceiling;
    plan.note = "open files: soft limit raised from " + std::to_string(soft) + " to " + std::to_string(ceiling) +
                (hard <= nr_open ? " (the hard limit)" : " (fs.nr_open)");
  }
  if (plan.soft < need) {
    plan.short_of_need = true;
    plan.note = (plan.note.empty() ? "open files: the limit of " + std::to_string(plan.soft) + " is"
                                   : plan.note + ", still") +
                " below the " + std::to_string(need) + " descriptors the configured bolts need; raise the hard limit "
                "(LimitNOFILE= in the service, or limits.conf)";
  }
  return plan;
}

uint64_t OpenFilesNeeded(uint64_t bolts) { return 256 + 3 * bolts; }

void RaiseOpenFilesLimit(uint64_t need) {
  struct rlimit rl;
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) {
    LOG_WARN("open files: getrlimit: %s", strerror(errno));
    return;
  }
  uint64_t nr_open = 1048576;  // the kernel's default ceiling
  std::ifstream("/proc/sys/fs/nr_open") >> nr_open;
  OpenFilesPlan plan = PlanOpenFilesLimit(rl.rlim_cur, rl.rlim_max, nr_open, need);
  if (plan.raise) {
    rl.rlim_cur = plan.soft;
    if (::setrlimit(RLIMIT_NOFILE, &rl) != 0) {
      LOG_WARN("open files: cannot raise the soft limit to %llu: %s", static_cast<unsigned long long>(plan.soft),
               strerror(errno));
      return;
    }
  }
  if (plan.short_of_need) {
    LOG_WARN("%s", plan.note.c_str());
  } else if (!plan.note.empty()) {
    LOG_NOTICE("%s", plan.note.c_str());
  }
}

}  // namespace tailsafe
